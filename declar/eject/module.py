"""The ejected module: header, helpers, the custom types' classes, one function per block, build_model.

The graph is written in declar's build order (`declar.sections.model.build.build_order`), each
layer made where declar makes it, so Keras draws initial weights in the same order from Python's
`random`, seeded with the spec's seed inside ``build_model`` as `declar.keras.model.seeded` does.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras

from declar._version import __version__
from declar.eject.expr import Unsupported, literal_source, rebuild, shape_call, source, tensor_call
from declar.eject.layers import TypeClass
from declar.eject.names import FUNCTION_LOCALS, GLOBALS, Names, class_name
from declar.errors import DeclarError
from declar.expr.ops import OPS
from declar.expr.parse import Context, check
from declar.keras.layer import layer_class
from declar.limits import DEFAULT_LIMITS, Limits, current_limits
from declar.sections.compile.build import _by_lower_name
from declar.sections.model.build import build_order
from declar.spec.block_args import check_expression, is_param_expression
from declar.spec.catalog import catalog
from declar.spec.facts import snake_case
from declar.spec.keras_objects import LAYER_ARGS
from declar.spec.load import SpecSource, load_spec
from declar.spec.loaded import LoadedSpec
from declar.spec.model import BUILD_KEY, CompileObject, GraphSpec, JsonPath, NodeSpec, PerOutput, Spec
from declar.spec.nested_layers import spec_form
from declar.spec.refs import op_check, parse_ref

EJECT_HINT = "this construct cannot be ejected to Python yet; build the spec with declar instead"


class EjectError(DeclarError):
    """A spec construct the ejected module cannot express, located in the spec."""

    code = "eject-unsupported"


class _Refused(Exception):
    def __init__(self, path: JsonPath, construct: str):
        super().__init__(construct)
        self.path, self.construct = path, construct


HELPERS: dict[str, list[str]] = {
    "draw_seed": [
        "def draw_seed(seed, name):",
        "    \"\"\"The seed of a layer's random draws: a function of the model's seed and the layer's name.\"\"\"",
        "    digest = hashlib.sha256(f\"{seed}/{name}\".encode()).digest()",
        "    return int.from_bytes(digest[:4], \"big\") & 0x7FFFFFFF"],
    "join_scope": [
        "def join_scope(scope, name):",
        "    \"\"\"The path of a block use or repeat copy (``encoder/block_2``), which seeds its custom layers.\"\"\"",
        "    return f\"{scope}/{name}\" if scope else name"],
    "as_shape": [
        "def as_shape(input_shape):",
        "    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):",
        "        return [tuple(s) for s in input_shape]",
        "    return tuple(input_shape)"],
    "fitted": [
        "def fitted(value, variable):",
        "    \"\"\"An update's value in its variable's shape (a scalar is broadcast) and dtype.\"\"\"",
        "    tensor = keras.ops.convert_to_tensor(value)",
        "    if tuple(tensor.shape) != tuple(variable.shape):",
        "        tensor = keras.ops.broadcast_to(tensor, variable.shape)",
        "    return keras.ops.cast(tensor, keras.backend.standardize_dtype(variable.dtype))"],
    "SpecLoss": [
        "@keras.saving.register_keras_serializable(package=PACKAGE)",
        "class SpecLoss(keras.losses.Loss):",
        "    \"\"\"A loss written as a function of the spec, found by name in FUNCTIONS, with its params.\"\"\"",
        "",
        "    def __init__(self, function, params=None, name=None, reduction=\"sum_over_batch_size\", dtype=None):",
        "        super().__init__(name=name or function, reduction=reduction, dtype=dtype)",
        "        self.function, self.params = function, dict(params or {})",
        "",
        "    def call(self, y_true, y_pred):",
        "        return FUNCTIONS[self.function](y_true, y_pred, **self.params)",
        "",
        "    def get_config(self):",
        "        return {**super().get_config(), \"function\": self.function, \"params\": self.params}"],
    "SpecMetric": [
        "@keras.saving.register_keras_serializable(package=PACKAGE)",
        "class SpecMetric(keras.metrics.MeanMetricWrapper):",
        "    \"\"\"A metric written as a function of the spec, averaged over batches.\"\"\"",
        "",
        "    def __init__(self, function, params=None, name=None, dtype=None):",
        "        params = dict(params or {})",
        "        super().__init__(fn=FUNCTIONS[function], name=name or function, dtype=dtype, **params)",
        "        self.function, self.params = function, params",
        "",
        "    def get_config(self):",
        "        config = {\"name\": self.name, \"dtype\": self.dtype}",
        "        return {**config, \"function\": self.function, \"params\": self.params}"],
    "sizes": [
        "def sizes(value):",
        "    return tuple(value) if isinstance(value, (list, tuple)) else (value,)"],
    "random_bernoulli": [
        "def random_bernoulli(shape, p=0.5, dtype=None, seed=None):",
        "    # One uniform draw per element, compared with p: what Keras's own dropout does.",
        "    drawn = keras.random.uniform(shape, seed=seed)",
        "    return keras.ops.cast(keras.ops.less(drawn, p), dtype or keras.backend.floatx())"],
    "ConstantTensor": [
        "@keras.saving.register_keras_serializable(package=PACKAGE)",
        "class ConstantTensor(keras.layers.Layer):",
        "    \"\"\"A constant (an op over no tensor of the graph), returned by a layer called on a graph input,",
        "    so that the layers applied to it are part of the model: their weights train and save.\"\"\"",
        "",
        "    def __init__(self, value, dtype_name, **kwargs):",
        "        super().__init__(**kwargs)",
        "        self.value, self.dtype_name = value, dtype_name",
        "",
        "    def call(self, anchor):",
        "        return keras.ops.convert_to_tensor(self.value, dtype=self.dtype_name)",
        "",
        "    def compute_output_spec(self, anchor):",
        "        shape = keras.ops.shape(keras.ops.convert_to_tensor(self.value))",
        "        return keras.KerasTensor(shape, dtype=self.dtype_name)",
        "",
        "    def get_config(self):",
        "        return {**super().get_config(), \"value\": self.value, \"dtype_name\": self.dtype_name}"],
    "in_graph": [
        "def in_graph(value, anchor, name):",
        "    \"\"\"An op's value: a symbolic tensor as it is, a constant computed by a `ConstantTensor` layer.\"\"\"",
        "    if any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(value)):",
        "        return value",
        "    dtype_name = keras.backend.standardize_dtype(value.dtype)",
        "    return ConstantTensor(keras.ops.convert_to_numpy(value).tolist(), dtype_name, name=name)(anchor)"],
}


@dataclass
class _Scope:
    """One function being written: its identifiers and the Python name of every spec name in it."""

    names: Names
    tensors: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    scope: str | None = None  # the Python expression of the block path; None at the top level

    def expression_names(self) -> dict[str, str]:
        return {**self.params, **self.tensors}  # a tensor wins over a parameter, as in run_graph


class _Writer:
    def __init__(self, loaded: LoadedSpec):
        self.loaded = loaded
        self.spec: Spec = loaded.spec
        self.uses: set[str] = set()
        self.extra_classes: list[str] = []
        self.functions: dict[str, list[str]] = {}  # the spec functions compile uses, as Python
        self.function_idents: dict[str, str] = {}
        self.top = top = Names(GLOBALS | set(HELPERS) | {"FUNCTIONS"})
        self.class_names = {t: top.bind(class_name(t)) for t in self.spec.layer_types}
        self.block_names = {b: top.bind(snake_case(class_name(b))) for b in self.spec.blocks}
        # Each block's parameters as the Python names of its function's keyword arguments.
        self._block_params: dict[str, dict[str, str]] = {}
        for name, block in self.spec.blocks.items():
            local = Names()
            self._block_params[name] = {p.name: local.bind(p.name) for p in block.params}

    # -- values -------------------------------------------------------------------------------

    def _value(self, value: Any, scope: _Scope, path: JsonPath) -> str:
        """A node argument: a literal, with the block's parameter expressions as Python expressions."""
        params = scope.params

        def expression(text: str) -> ast.expr | None:
            if not is_param_expression(text, params):
                return None
            checked = check_expression(text, params, self._limits())
            if checked.tree is None:
                raise _Refused(path, f"the parameter expression {text!r}")
            return rebuild(checked.tree, params, shape_call)

        try:
            return literal_source(value, expression if params else None)
        except Unsupported as err:
            raise _Refused(path, str(err)) from None

    @staticmethod
    def _limits() -> Any:
        return current_limits.get()

    @staticmethod
    def _call(func: str, kwargs: list[tuple[str, str]], positional: tuple[str, ...] = (), indent: str = "") -> str:
        """One call on one line; `format_source` wraps the long ones."""
        return f"{func}({', '.join([*positional, *(f'{k}={v}' for k, v in kwargs)])})"

    def _kwargs(self, args: Mapping[str, Any], scope: _Scope, path: JsonPath) -> list[tuple[str, str]]:
        out = []
        for key, value in args.items():
            if not (isinstance(key, str) and key.isidentifier()) or key in ("self",):
                raise _Refused(path, f"the argument name {key!r}")
            out.append((key, self._value(value, scope, (*path, key))))
        return out

    # -- layers -------------------------------------------------------------------------------

    def _builtin(self, layer: str, args: Mapping[str, Any], name_source: str | None, scope: _Scope, path: JsonPath,
                 indent: str) -> str:
        try:
            cls = layer_class(layer)
        except DeclarError:
            raise _Refused(path, f"the layer '{layer}'") from None
        if getattr(keras.layers, layer, None) is not cls or not layer.isidentifier():
            raise _Refused(path, f"the layer '{layer}' (not an attribute of keras.layers)")
        kinds = LAYER_ARGS.get(layer, {})
        kwargs = []
        for key, value in args.items():
            if key in kinds:
                if not key.isidentifier():
                    raise _Refused(path, f"the argument name {key!r}")
                kwargs.append((key, self._layer_value(value, scope, (*path, key), indent + "    ", layer, key)))
            else:
                kwargs += self._kwargs({key: value}, scope, path)
        if name_source is not None:
            kwargs.append(("name", name_source))
        return self._call(f"keras.layers.{layer}", kwargs, indent=indent)

    def _layer_value(self, value: Any, scope: _Scope, path: JsonPath, indent: str, outer: str, key: str) -> str:
        """A layer written inside another's arguments, made as `declar.keras.layer.with_layer_objects` makes it."""
        if isinstance(value, list):
            counts: dict[str, int] = {}
            items = []
            for i, item in enumerate(value):
                form = spec_form(item)
                cls = form[0] if form is not None else None
                if cls is None:
                    raise _Refused((*path, i), "a layer written as class_name/config")
                n = counts.get(snake_case(cls), 0)
                counts[snake_case(cls)] = n + 1
                default = snake_case(cls) if n == 0 else f"{snake_case(cls)}_{n}"
                items.append(self._one_layer(item, scope, (*path, i), indent, default))
            listed = "[" + ", ".join(items) + "]"
            if outer == "RNN" and key == "cell":
                return f"keras.layers.StackedRNNCells({listed}, name=\"stacked_rnn_cells\")"
            return listed
        return self._one_layer(value, scope, path, indent, None)

    def _one_layer(self, value: Any, scope: _Scope, path: JsonPath, indent: str, default: str | None) -> str:
        form = spec_form(value)
        if form is None:
            raise _Refused(path, "a layer written as class_name/config")
        layer, args = form[0], dict(form[1] or {})
        name = args.pop("name", None) or default or snake_case(layer)
        if layer in self.spec.layer_types:
            return self._custom(layer, args, literal_source(name), None, scope, path, indent, nested=True)
        return self._builtin(layer, args, literal_source(name), scope, path, indent)

    def _custom(self, layer: str, args: dict[str, Any], name_source: str, seed: str | None, scope: _Scope,
                path: JsonPath, indent: str, nested: bool = False) -> str:
        build = args.pop(BUILD_KEY, None) or {}
        extra = [(k, self._value(args.pop(k), scope, (*path, k))) for k in ("trainable", "dtype") if k in args]
        kwargs = [("args", self._value(args, scope, path))]
        if build:
            kwargs.append(("build_args", self._value(build, scope, (*path, BUILD_KEY))))
        if not nested:
            kwargs.append(("seed", seed or "None"))
        kwargs += [("name", name_source), *extra]
        return self._call(self.class_names[layer], kwargs, indent=indent)

    def _seed(self, scope: _Scope) -> str:
        if scope.scope is None:
            return "SEED"
        self.uses.add("draw_seed")
        return f"draw_seed(SEED, {scope.scope})"

    def _inner(self, scope: _Scope, name: str) -> str:
        if scope.scope is None:
            return _name(name)
        self.uses.add("join_scope")
        return f"join_scope({scope.scope}, {_name(name)})"

    def _make(self, node: NodeSpec, scope: _Scope, incoming: list[str], lines: list[str], indent: str) -> str:
        """The expression (or, for a repeat, the variable after the lines written) of ``node``'s layer."""
        if node.repeat is not None:
            return self._repeat(node, scope, incoming, lines, indent)
        if node.layer in self.spec.blocks:
            block = self.spec.blocks[node.layer]
            given = {p.name: node.args[p.name] for p in block.params if p.name in node.args}
            kwargs = [("name", _name(node.name)), ("scope", self._inner(scope, node.name))]
            kwargs += [(self._block_params[node.layer][k], self._value(v, scope, (*node.args_path, k)))
                       for k, v in given.items()]
            return self._call(self.block_names[node.layer], kwargs, (f"[{', '.join(incoming)}]",), indent)
        args = dict(node.args)
        name = args.pop("name", None) or node.name
        name_source = _name(name) if name == COPY else self._value(name, scope, (*node.args_path, "name"))
        if self.spec.dtype_policy and "dtype" not in args:
            args["dtype"] = self.spec.dtype_policy  # per layer, as declar builds it: the global policy is left alone
        if node.layer in self.spec.layer_types:
            return self._custom(node.layer, args, name_source, self._seed(scope), scope, node.args_path, indent)
        return self._builtin(node.layer or "", args, name_source, scope, node.args_path, indent)

    def _repeat(self, node: NodeSpec, scope: _Scope, incoming: list[str], lines: list[str], indent: str) -> str:
        count = node.repeat
        if isinstance(count, str):
            count_source = f"{self._value(count, scope, (*node.path, 'repeat'))} + 1"
        else:
            count_source = literal_source(count + 1)
        inner_expr = self._inner(scope, node.name)
        inner_var = scope.names.bind(f"{node.name}_scope")
        entry = scope.names.bind(f"{node.name}_input")
        tensor = scope.names.bind(f"{node.name}_tensor")
        copy_scope = _Scope(scope.names, dict(scope.tensors), dict(scope.params), inner_var)
        lines += [f"{indent}{inner_var} = {inner_expr}",
                  f"{indent}with keras.name_scope({literal_source(node.name)}):",
                  f"{indent}    {entry} = keras.Input(shape={incoming[0]}.shape[1:], dtype={incoming[0]}.dtype, "
                  f"name={literal_source(node.name + '_input')})",
                  f"{indent}    {tensor} = {entry}",
                  f"{indent}    for i in range(1, {count_source}):"]
        copy = NodeSpec(name=COPY, layer=node.layer, args=node.args, path=node.path, args_path=node.args_path)
        made = self._make_copy(copy, copy_scope, tensor, lines, indent + "        ")
        lines.append(f"{indent}        {tensor} = {made}({tensor})")
        model = scope.names.bind(f"{node.name}_model")
        lines.append(f"{indent}{model} = keras.Model({entry}, {tensor}, name={literal_source(node.name)})")
        return model

    def _make_copy(self, copy: NodeSpec, scope: _Scope, tensor: str, lines: list[str], indent: str) -> str:
        # The copy is named block_{i}: written with the loop's i instead of a literal name.
        return self._make(copy, scope, [tensor], lines, indent)

    # -- graphs -------------------------------------------------------------------------------

    def _ref(self, scope: _Scope, ref: str) -> str:
        parsed = parse_ref(ref)
        base = scope.tensors[parsed.name]
        return base if parsed.index is None else f"{base}[{literal_source(parsed.index)}]"

    def graph(self, graph: GraphSpec, scope: _Scope, lines: list[str], indent: str) -> None:
        shared = {n.shares for n in graph.nodes if n.shares}
        layers: dict[str, str] = {}
        names = {*graph.inputs, *(n.name for n in graph.nodes), *scope.params}
        tensor_names = {*graph.inputs, *(n.name for n in graph.nodes)}
        for node in build_order(graph):
            try:
                self._node(node, graph, scope, lines, indent, shared, layers, names, tensor_names)
            except Unsupported as err:
                raise _Refused(node.path, str(err)) from None

    def _node(self, node: NodeSpec, graph: GraphSpec, scope: _Scope, lines: list[str], indent: str,
              shared: set[str | None], layers: dict[str, str], names: set[str], tensor_names: set[str]) -> None:
        if node.op is not None:
            checked = op_check(node.op, names, node.name)
            if checked.tree is None:
                raise _Refused(node.path, "an op that does not check")
            text = source(checked.tree, scope.expression_names(), tensor_call)
            var = scope.names.bind(node.name)
            if _symbolic(checked.tree, tensor_names) or not graph.inputs:
                lines.append(f"{indent}{var} = {text}")
            else:  # perhaps over constants only: then computed by a layer in the graph (declar.keras.constant)
                self.uses.update({"ConstantTensor", "in_graph"})
                anchor = scope.tensors[graph.inputs[0]]
                lines.append(f"{indent}{var} = in_graph({text}, {anchor}, name={literal_source(node.name)})")
            scope.tensors[node.name] = var
            return
        incoming = [self._ref(scope, r) for r in node.inputs]
        if node.shares:
            layer = layers[node.shares]
        else:
            layer = self._make(node, scope, incoming, lines, indent)
            if node.name in shared:
                var = scope.names.bind(f"{node.name}_layer")
                lines.append(f"{indent}{var} = {layer}")
                layer = var
        layers[node.name] = layer
        kwargs = []
        for key, value in node.call.items():
            if not key.isidentifier():
                raise _Refused(node.path, f"the call argument {key!r}")
            if isinstance(value, str):
                kwargs.append((key, self._ref(scope, value)))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                kwargs.append((key, "[" + ", ".join(self._ref(scope, v) for v in value) + "]"))
            else:
                kwargs.append((key, self._value(value, scope, (*node.path, "call", key))))
        positional: tuple[str, ...] = ()
        if incoming:
            positional = (f"[{', '.join(incoming)}]" if node.inputs_as_list else incoming[0],)
        var = scope.names.bind(node.name)
        lines.append(f"{indent}{var} = " + self._call(layer, kwargs, positional))
        scope.tensors[node.name] = var

    def outputs(self, graph: GraphSpec, scope: _Scope) -> str:
        declared = graph.outputs
        refs = [self._ref(scope, r) for r in declared.refs]
        if declared.form == "mapping":
            return "{" + ", ".join(f"{literal_source(n)}: {r}" for n, r in zip(declared.names, refs, strict=True)) + "}"
        return refs[0] if len(refs) == 1 else "[" + ", ".join(refs) + "]"

    # -- blocks -------------------------------------------------------------------------------

    def block(self, name: str) -> list[str]:
        block = self.spec.blocks[name]
        params = self._block_params[name]
        names = Names(GLOBALS | FUNCTION_LOCALS | set(HELPERS) | set(params.values()) | set(self.block_names.values())
                      | set(self.class_names.values()))
        scope = _Scope(names, params=dict(params), scope="scope")
        signature = ["incoming", "*", "name", "scope"]
        for p in block.params:
            default = "" if p.default is None and p.required else f"={literal_source(p.default)}"
            signature.append(f"{params[p.name]}{default}")
        lines = [f"def {self.block_names[name]}({', '.join(signature)}):",
                 f"    \"\"\"The block {literal_source(name)} of the spec, as a nested model named ``name``.\"\"\"",
                 "    with keras.name_scope(name):"]
        inputs = []
        for i, input_name in enumerate(block.graph.inputs):
            var = names.bind(input_name)
            lines.append(f"        {var} = keras.Input(shape=incoming[{i}].shape[1:], dtype=incoming[{i}].dtype, "
                         f"name={literal_source(input_name)})")
            scope.tensors[input_name] = var
            inputs.append(var)
        self.graph(block.graph, scope, lines, "        ")
        model_inputs = inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]"
        outputs = self.outputs(block.graph, scope)
        if block.losses:
            outputs = self._block_losses(name, scope, outputs, lines)
        lines += [f"    return keras.Model({model_inputs}, {outputs}, name=name)", ""]
        return lines

    def _block_losses(self, name: str, scope: _Scope, outputs: str, lines: list[str]) -> str:
        """The block's losses: a layer of the block's graph passing its first output through and
        adding the losses over the tensors they read (declar.keras.aux_losses.with_block_losses)."""
        block = self.spec.blocks[name]
        tensors = {*block.graph.inputs, *(n.name for n in block.graph.nodes)}
        params = {p.name for p in block.params}
        checked = []
        used: dict[str, None] = {}
        for loss in block.losses:
            found = check(loss.value, Context(names={*tensors, *params, "training"}, functions=OPS))
            if found.tree is None:
                raise _Refused(("blocks", name, "losses", loss.name), "a loss that does not check")
            checked.append((loss, found))
            used.update(dict.fromkeys(sorted(n for n in found.names if n in tensors)))
        cls = self.top.bind(f"{name}Losses")
        scope.names.taken.add(cls)
        local = Names()
        names = {n: local.bind(n) for n in used}
        names.update({p: f"self.params[{literal_source(p)}]" for p in params if p not in names})
        names["training"] = "training"
        body = ["@keras.saving.register_keras_serializable(package=PACKAGE)",
                f"class {cls}(keras.layers.Layer):",
                f"    \"\"\"The losses of block {literal_source(name)}; passes its first input through.\"\"\"", "",
                "    def __init__(self, params=None, **kwargs):",
                "        super().__init__(**kwargs)",
                "        self.params = dict(params or {})", "",
                "    def call(self, inputs, training=None):",
                f"        passed, {', '.join(names[n] for n in used)} = inputs" if used else
                "        passed = inputs[0]"]
        for loss, found in checked:
            value = source(found.tree, names, tensor_call)
            weighted = value if loss.weight == 1.0 else f"{loss.weight!r} * ({value})"
            body.append(f"        self.add_loss({weighted})")
        body += ["        return passed", "",
                 "    def compute_output_spec(self, inputs, training=None):",
                 "        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)", "",
                 "    def get_config(self):",
                 "        return {**super().get_config(), \"params\": self.params}", "", ""]
        self.extra_classes += body
        given = "{" + ", ".join(f"{literal_source(p.name)}: {scope.params[p.name]}" for p in block.params) + "}"
        reads = "".join(f", {scope.tensors[n]}" for n in used)
        layer_name = literal_source(f"{snake_case(name)}_losses")
        result, flat = scope.names.bind("outputs"), scope.names.bind("flat")
        lines += [f"        {result} = {outputs}",
                  f"        {flat} = keras.tree.flatten({result})",
                  f"        {flat}[0] = {cls}(params={given}, name={layer_name})([{flat}[0]{reads}])"]
        return f"keras.tree.pack_sequence_as({result}, {flat})"

    # -- compile ------------------------------------------------------------------------------

    def _compile_object(self, value: str | CompileObject, kind: str, path: JsonPath) -> str:
        name, args = (value.name, dict(value.args)) if isinstance(value, CompileObject) else (value, {})
        function = self.spec.functions.get(name)
        if function is not None:
            self._spec_function(name, path)
            self.uses.add("SpecLoss" if kind == "loss" else "SpecMetric")
            values = literal_source(function.param_values(args))
            return f"{'SpecLoss' if kind == 'loss' else 'SpecMetric'}({literal_source(name)}, params={values})"
        if not args and name in (catalog().losses if kind == "loss" else catalog().metrics):
            return literal_source(name)
        classes = catalog().loss_classes if kind == "loss" else catalog().metric_classes
        module = "losses" if kind == "loss" else "metrics"
        cls = classes[name].class_name
        if not cls.isidentifier():
            raise _Refused(path, f"the {kind} class {cls!r}")
        return self._call(f"keras.{module}.{cls}", self._kwargs(args, _Scope(Names()), path))

    def _per_output(self, given: PerOutput, make: Callable[[Any, JsonPath], str], path: JsonPath) -> str:
        def each(value: Any, where: tuple[Any, ...]) -> str:
            if isinstance(value, (list, tuple)):
                return "[" + ", ".join(each(v, (*where, i)) for i, v in enumerate(value)) + "]"
            return make(value, (*path, *where))

        if given.form == "mapping":
            return "{" + ", ".join(f"{literal_source(k)}: {each(v, (k,))}" for k, v in given.items) + "}"
        if given.form == "list":
            return "[" + ", ".join(each(v, (i,)) for i, (_, v) in enumerate(given.items)) + "]"
        return each(given.items[0][1], ())

    def _spec_function(self, name: str, path: JsonPath) -> None:
        """The spec function ``name`` as a Python function of its args and params (once)."""
        if name in self.functions:
            return
        function = self.spec.functions[name]
        local = Names()
        args = {a: local.bind(a) for a in function.args}
        params = {p.name: local.bind(p.name) for p in function.params}
        found = check(function.expr, Context(names=(*function.args, *params), functions=OPS,
                                             kind=f"function {name}"))
        if found.tree is None:
            raise _Refused(path, f"the spec function '{name}', which does not check")
        ident = self.top.bind(name)
        signature = ", ".join([*args.values(), *(f"{params[p.name]}={literal_source(p.default)}"
                                                   for p in function.params)])
        self.functions[name] = [f"def {ident}({signature}):",
                                f"    \"\"\"The spec's function {literal_source(name)}.\"\"\"",
                                f"    return {source(found.tree, {**params, **args}, tensor_call)}", "", ""]
        self.function_idents[name] = ident

    def compile_lines(self) -> list[str]:
        settings = self.spec.compile
        if settings is None:
            return []
        optimizer = settings.optimizer
        classes = _by_lower_name(keras.optimizers, keras.optimizers.Optimizer)
        cls = classes[optimizer.name.lower()].__name__
        opt_args = self._kwargs(dict(optimizer.args), _Scope(Names()), ("compile", "optimizer"))
        if optimizer.schedule is not None:
            schedules = {snake_case(n): n for n in dir(keras.optimizers.schedules) if not n.startswith("_")}
            schedule = self._call(f"keras.optimizers.schedules.{schedules[optimizer.schedule.name]}",
                                  self._kwargs(dict(optimizer.schedule.args), _Scope(Names()),
                                               ("compile", "optimizer", "schedule")))
            opt_args = [*(a for a in opt_args if a[0] != "learning_rate"), ("learning_rate", schedule)]
        opt_args.append(("name", literal_source(optimizer.name.lower())))
        kwargs = [("optimizer", self._call(f"keras.optimizers.{cls}", opt_args, indent="        ")),
                  ("loss", self._per_output(settings.loss, lambda v, p: self._compile_object(v, "loss", p),
                                            ("compile", "loss")))]
        for key, given in (("metrics", settings.metrics), ("weighted_metrics", settings.weighted_metrics)):
            if given is not None:
                kwargs.append((key, self._per_output(given, lambda v, p: self._compile_object(v, "metric", p),
                                                     ("compile", key))))
        if settings.loss_weights is not None:
            kwargs.append(("loss_weights", self._per_output(settings.loss_weights, lambda v, p: literal_source(v),
                                                            ("compile", "loss_weights"))))
        for key, value in (("run_eagerly", settings.run_eagerly), ("jit_compile", settings.jit_compile),
                           ("steps_per_execution", settings.steps_per_execution)):
            if value is not None:
                kwargs.append((key, literal_source(value)))
        return ["    " + self._call("model.compile", kwargs, indent="    "),
                "    # The optimizer's variables exist before any training step (as declar builds it).",
                "    model.optimizer.build(model.trainable_variables)"]

    # -- the module ---------------------------------------------------------------------------

    def module(self) -> str:
        spec = self.spec
        if spec.distribution is not None:
            raise _Refused(("distribution",), "the distribution section")
        classes: list[str] = []
        for name in self._type_order():
            try:
                made = TypeClass(spec.layer_types[name], self.class_names, self.loaded.origin.base_dir)
                classes += [*made.lines(), ""]
            except Unsupported as err:
                raise _Refused(("layers", name), str(err)) from None
            self.uses |= made.uses
        blocks: list[str] = []
        for name in spec.blocks:
            blocks += [*self.block(name), ""]
        top = _Scope(Names(GLOBALS | FUNCTION_LOCALS | set(HELPERS) | set(self.block_names.values())
                           | set(self.class_names.values())))
        body = ["def build_model():",
                f"    \"\"\"The model {literal_source(spec.name)}, its initial weights drawn from SEED as declar draws "
                "them.\"\"\"",
                "    state = random.getstate()",
                "    random.seed(SEED)  # Keras seeds unseeded initializers from Python's random",
                "    try:"]
        for i in spec.inputs:
            var = top.names.bind(i.name)
            dims = [literal_source(d) for d in i.shape]
            shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
            body.append(f"        {var} = keras.Input(shape={shape}, dtype={literal_source(i.dtype)}, "
                        f"name={literal_source(i.name)})")
            top.tensors[i.name] = var
        self.graph(spec.graph, top, body, "        ")
        inputs = [top.tensors[i.name] for i in spec.inputs]
        model_inputs = inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]"
        body += ["    finally:", "        random.setstate(state)",
                 f"    model = keras.Model({model_inputs}, {self.outputs(spec.graph, top)}, "
                 f"name={literal_source(spec.name)})",
                 *([f"    model.dtype_policy = {literal_source(spec.dtype_policy)}  # compile wraps the optimizer"]
                   if spec.dtype_policy else []),
                 *self.compile_lines(), "    return model", ""]
        functions: list[str] = []
        if self.functions:
            for lines in self.functions.values():
                functions += lines
            table = ", ".join(f"{literal_source(n)}: {i}" for n, i in self.function_idents.items())
            functions += ["# The spec's functions by name: what SpecLoss and SpecMetric save and look up.",
                          f"FUNCTIONS = {{{table}}}", "", ""]
        return "\n".join([*self._header(), *functions, *self._helpers(), *classes, *self.extra_classes, *blocks,
                          *body])

    def _type_order(self) -> list[str]:
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order or name not in self.spec.layer_types:
                return
            visit(self.spec.layer_types[name].extends)
            order.append(name)

        for name in self.spec.layer_types:
            visit(name)
        return order

    def _header(self) -> list[str]:
        spec = self.spec
        lines = [f"\"\"\"The model {literal_source(spec.name)}, ejected from its declar spec by declar {__version__}.",
                 "", "Run build_model() for the model; it needs keras (and numpy), not declar.", "\"\"\"", ""]
        if spec.description:
            lines[1:1] = ["", *_comment_lines(spec.description, "")]
        imports = []
        if "json" in self.uses:
            imports.append("import json")
        if "draw_seed" in self.uses:
            imports.append("import hashlib")
        if "math" in self.uses:
            imports.append("import math")
        if "os" in self.uses:
            imports.append("import os")
        imports.append("import random")
        third = ["import keras"]
        if "numpy" in self.uses:
            third.append("import numpy as np")
        if "set_keras_mask" in self.uses:
            third.append("from keras.src.backend import set_keras_mask")
        lines += [*imports, "", *third, "", f"SEED = {spec.seed!r}"]
        if spec.layer_types or self.extra_classes or self.uses & {"ConstantTensor", "SpecLoss", "SpecMetric"}:
            lines.append(f"PACKAGE = {literal_source('ejected_' + spec.name)}  # where Keras registers the classes")
        return [*lines, "", ""]

    def _helpers(self) -> list[str]:
        out: list[str] = []
        for name, lines in HELPERS.items():
            if name in self.uses:
                out += [*lines, "", ""]
        return out


COPY = "block_{i}"
"""The name of a repeat's copy in the loop that makes them (block_1 ... block_N): no spec name has braces."""


def _name(name: str) -> str:
    """A layer name as Python: a string literal, or the f-string of a repeat's copies."""
    return 'f"block_{i}"' if name == COPY else literal_source(name)


def _symbolic(tree: ast.AST, tensors: set[str]) -> bool:
    """Whether an op is surely a symbolic tensor: it reads a tensor of the graph other than through
    ``shape(...)`` (whose value, a static shape, is a constant)."""
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "shape":
        return False
    if isinstance(tree, ast.Name):
        return tree.id in tensors
    return any(_symbolic(child, tensors) for child in ast.iter_child_nodes(tree))


def _comment_lines(text: str, prefix: str) -> list[str]:
    """Free text (a description) as docstring lines: nothing in it can end the string or run."""
    out = []
    for line in text.splitlines() or [""]:
        # a quote and a backslash escaped (no run of quotes can end the docstring), the rest printable
        shown = "".join(c if c.isprintable() and c not in "\\\"" else "\\\"" if c == "\"" else ascii(c)[1:-1]
                        for c in line)
        out.append(f"{prefix}{shown}".rstrip())
    return out


def eject_spec(loaded: LoadedSpec) -> str:
    """The source of the module of a loaded spec; raises `EjectError` (located) for what it cannot write.

    Example:
        >>> text = eject_spec(load_spec("specs/training/mnist_mlp.yaml"))
        >>> "model.compile(" in text and "import declar" not in text
        True
    """
    writer = _Writer(loaded)
    try:
        text = writer.module()
    except _Refused as err:
        problem = loaded.problem(err.path, f"cannot eject {err.construct}", EJECT_HINT, "eject-unsupported")
        raise EjectError(problems=[problem]) from None
    if "math.prod" in text and "import math" not in text:  # a shape function used in a block argument
        text = text.replace("import random\n", "import math\nimport random\n", 1)
    ast.parse(text)  # the module is Python: a last guard against a writer bug
    return format_source(text)


def format_source(text: str) -> str:
    """``text`` formatted by ``ruff format`` when ruff is installed (lines wrapped, quotes made
    double), else as written; the module is the same Python either way.

    Example:
        >>> format_source("x = {'a': 1}\\n") in ("x = {'a': 1}\\n", 'x = {"a": 1}\\n')
        True
    """
    ruff = shutil.which("ruff") or shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:
        return text
    done = subprocess.run([ruff, "format", "--isolated", "--line-length", "100", "-"], input=text,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 and done.stdout else text


def eject(spec: SpecSource, limits: Limits = DEFAULT_LIMITS) -> str:
    """The source of a Python module whose ``build_model()`` builds the model of ``spec`` (checked
    within ``limits``, as `declar.build` checks it).

    Example:
        >>> print(eject("specs/keras_guide/custom_build.yaml").splitlines()[0])
        \"\"\"The model 'custom_build_model', ejected from its declar spec by declar ...
    """
    loaded = load_spec(spec, limits)
    token = current_limits.set(limits)
    try:
        return eject_spec(loaded)
    finally:
        current_limits.reset(token)
