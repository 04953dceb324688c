"""A Keras model of built-in layers as spec data: its serialized config, read back as the language.

Arguments equal to what the layer class gives by default are left out (the default is the config
of a fresh instance made with the same required arguments, so Keras's own normalisation of
initializers, dtype policies and tuples is compared like for like). Layer names are kept (a
node's name is its layer's name); a layer called more than once becomes one node and a `shares`
node per further call; a nested model becomes a block, named after it in CamelCase. A plain chain is written as a
Sequential list, with a ``name`` only where the list's own (Keras's) numbering would give another.

Only configs that `declar.importer.config.survey` accepted come here: every class named is a
Keras built-in, so the fresh instances made to read defaults run no code from the model.

Example:
    >>> import keras
    >>> x = keras.Input((4,), name="x")
    >>> m = keras.Model(x, keras.layers.Dense(2, activation="relu", name="d")(x), name="m")
    >>> spec_data(m, keras.saving.serialize_keras_object(m))["model"]
    [{'Dense': {'units': 2, 'activation': 'relu', 'name': 'd'}}]
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import keras
import numpy as np

from declar.expr.ops import OPS
from declar.importer.config import Unimportable, is_model
from declar.spec.catalog import COMMON_LAYER_ARGS, catalog
from declar.spec.facts import snake_case
from declar.spec.model import model_from_data
from declar.spec.versions import FORMAT_VERSION

KERAS_TENSOR = "__keras_tensor__"
OBJECT_MODULES = {"keras.initializers": keras.initializers, "keras.regularizers": keras.regularizers,
                  "keras.constraints": keras.constraints}
# Call arguments Keras records that change nothing in inference or that the spec has no place for.
IGNORED_CALL_ARGS = frozenset({"training"})


def identifier(name: str) -> str:
    """A Keras name as a spec identifier (``conv-1`` -> ``conv_1``); Keras's own names already are."""
    fixed = re.sub(r"\W", "_", name)[:64]
    return fixed if re.match(r"^[A-Za-z_]", fixed) else f"_{fixed}"[:64]


def spec_data(model: keras.Model, config: dict[str, Any], *, description: str | None = None) -> dict[str, Any]:
    """The spec (as YAML-ready data) of ``model``, whose serialized config is ``config``."""
    config = _unshared(config)
    converter = _Converter()
    data: dict[str, Any] = {"declar": FORMAT_VERSION, "name": identifier(model.name)}
    if description:
        data["description"] = description
    data["seed"] = 0  # the archive gets the model's own weights; the seed only gives the initial ones
    graph = converter.graph(model, config)
    data["inputs"] = graph.pop("_inputs")
    if converter.blocks:
        data["blocks"] = converter.blocks
    sequential = _as_sequential(graph, next(iter(data["inputs"])))
    data["model"] = sequential if sequential is not None else graph
    compile_config = config.get("compile_config") or (model.get_compile_config() if model.compiled else None)
    if compile_config:
        data["compile"] = compile_section(compile_config)
    return data


class _Converter:
    def __init__(self) -> None:
        self.blocks: dict[str, dict[str, Any]] = {}
        self._block_of: dict[int, str] = {}
        self._ops: set[str] = set()
        self._inputs: set[str] = set()
        self._offsets: dict[str, int] = {}

    def graph(self, model: keras.Model, config: dict[str, Any]) -> dict[str, Any]:
        """``{_inputs, nodes, outputs}`` of a Functional or Sequential config."""
        inner = config["config"]
        if config["class_name"] == "Sequential":
            inner = _sequential_as_functional(inner)
        entries = [e for e in inner["layers"]]
        inputs = {}
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                inputs[identifier(entry["config"]["name"])] = _input(entry["config"])
        names = self._call_names(entries)
        outer_inputs, outer_offsets = self._inputs, self._offsets
        self._offsets = _call_offsets(inner)
        self._inputs = {e["config"]["name"] for e in entries if e["class_name"] == "InputLayer"}
        # Operations whose only use is a layer's mask (an Embedding's not_equal): the spec's graph
        # propagates masks itself. Other operations become op nodes.
        outer_ops, self._ops = self._ops, {e["config"]["name"] for e in entries
                                           if _is_op(e) and self._feeds_masks_only(e, entries)
                                           and not any(h[0] == e["config"]["name"]
                                                       for h in _histories(inner["output_layers"]))}
        nodes: dict[str, Any] = {}
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                continue
            if _is_op(entry):
                if not self._feeds_masks_only(entry, entries):
                    nodes[names[(entry["config"]["name"], 0)]] = {"op": self._expression(entry, names, model)}
                continue
            layer = model.get_layer(entry["config"]["name"] if "name" not in entry else entry["name"])
            for k, call in enumerate(entry.get("inbound_nodes") or [{"args": [], "kwargs": {}}]):
                node = self._layer(layer, entry) if k == 0 else {"shares": names[(layer.name, 0)]}
                node.update(self._call(layer, entry, call, names, model))
                nodes[names[(layer.name, k)]] = node
        refs = [self._ref(h, names, model) for h in _histories(inner["output_layers"])]
        self._ops, self._inputs, self._offsets = outer_ops, outer_inputs, outer_offsets
        order = [identifier(n) for n, *_ in _histories(inner["input_layers"])]
        return {"_inputs": {n: inputs[n] for n in order}, "nodes": nodes,
                "outputs": refs[0] if len(refs) == 1 and not _is_list_of_histories(inner["output_layers"], 1)
                else refs}

    def _call_names(self, entries: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
        """The node name of each call: the layer's name, then ``name_call2``... for a shared layer."""
        # An op node is named apart from the functions an expression can call (Keras names the
        # operation `multiply` after its function).
        names = {(e["config"]["name"], 0): identifier(e["config"]["name"]) + ("_op" if _is_op(e) else "")
                 for e in entries}
        taken = set(names.values())
        for entry in entries:
            for k in range(1, len(entry.get("inbound_nodes") or ())):
                base, n = identifier(entry["config"]["name"]), k + 1
                while f"{base}_call{n}" in taken:
                    n += 1
                names[(entry["config"]["name"], k)] = f"{base}_call{n}"
                taken.add(f"{base}_call{n}")
        return names

    def _layer(self, layer: keras.layers.Layer, entry: dict[str, Any]) -> dict[str, Any]:
        if is_model(entry):
            return {self._block(layer, entry): {}}
        return {entry["class_name"]: layer_args(entry)}

    def _block(self, model: keras.Model, entry: dict[str, Any]) -> str:
        """The block type of a nested model (made once per model object)."""
        if id(model) in self._block_of:
            return self._block_of[id(model)]
        base = "".join(part[:1].upper() + part[1:] for part in identifier(model.name).split("_")) or "Block"
        name, n = base, 2
        while name in self.blocks or hasattr(keras.layers, name):
            name, n = f"{base}{n}", n + 1
        graph = self.graph(model, entry)
        self.blocks[name] = {"inputs": list(graph.pop("_inputs")), **graph}
        self._block_of[id(model)] = name
        return name

    def _call(self, layer: keras.layers.Layer, entry: dict[str, Any], call: dict[str, Any],
              names: dict[tuple[str, int], str], model: keras.Model) -> dict[str, Any]:
        """``inputs`` and ``call`` of one call of a layer, from its recorded arguments."""
        args, kwargs = list(call.get("args") or ()), dict(call.get("kwargs") or {})
        out: dict[str, Any] = {}
        if args:
            out["inputs"] = self._value(args.pop(0), names, model)
        if args:
            params = [p for p in inspect.signature(layer.call).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
            kwargs = {**{p.name: a for p, a in zip(params, args, strict=False)}, **kwargs}
        extra = {k: self._value(v, names, model) for k, v in kwargs.items()
                 if k not in IGNORED_CALL_ARGS and v is not None and not self._is_mask(k, v)}
        if extra:
            out["call"] = extra
        return out

    def _is_mask(self, key: str, value: Any) -> bool:
        """A ``mask`` Keras computed by an operation (an Embedding's ``not_equal(ids, 0)``): the spec's
        graph propagates masks as Keras does, so the call gets it without saying so (the archive's
        predictions are checked against the original's, which would show a mask given otherwise)."""
        return key == "mask" and isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR and \
            value["config"]["keras_history"][0] in self._ops

    @staticmethod
    def _feeds_masks_only(op: dict[str, Any], entries: list[dict[str, Any]]) -> bool:
        name = op["config"]["name"]
        uses = [k for e in entries for call in e.get("inbound_nodes") or () for k, h in _call_tensors(call)
                if h[0] == name]
        return bool(uses) and all(k == "mask" for k in uses)

    def _expression(self, op: dict[str, Any], names: dict[tuple[str, int], str], model: keras.Model) -> str:
        """A keras.ops call of the functional graph as an expression (``multiply(h, 2.0)``), when the
        expression language has the function; arguments are the recorded call's, then its config's."""
        function = snake_case(op["class_name"])
        signature = OPS.get(function)
        calls = op.get("inbound_nodes") or ()
        if signature is None or len(calls) != 1:
            raise Unimportable(f"operation '{op['config']['name']}' (keras.ops {op['class_name']}) has no function of "
                               "the expression language")
        args = [self._term(a, names, model) for a in calls[0].get("args") or ()]
        keywords = {**{k: v for k, v in op["config"].items() if k != "name"}, **(calls[0].get("kwargs") or {})}
        for key, value in keywords.items():
            if key not in signature.params:
                raise Unimportable(f"operation '{op['config']['name']}' (keras.ops {op['class_name']}): argument "
                                   f"'{key}' has no place in the expression language's {function}")
            args.append(f"{key}={self._term(value, names, model)}")
        return f"{function}({', '.join(args)})"

    def _term(self, value: Any, names: dict[tuple[str, int], str], model: keras.Model) -> str:
        if isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR:
            return self._ref(value["config"]["keras_history"], names, model)
        if isinstance(value, (list, tuple)):
            return f"[{', '.join(self._term(v, names, model) for v in value)}]"
        if isinstance(value, bool) or value is None:
            return repr(value)  # the expression language's literals are Python's: True, None
        if isinstance(value, (int, float)):
            return repr(_number(value))
        if isinstance(value, str) and len(value) <= 64:
            return json.dumps(value)  # a function argument such as a dtype: "float32"
        raise Unimportable(f"an operation's argument {value!r} has no form in the expression language")

    def _value(self, value: Any, names: dict[tuple[str, int], str], model: keras.Model) -> Any:
        if isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR:
            return self._ref(value["config"]["keras_history"], names, model)
        if isinstance(value, list):
            return [self._value(v, names, model) for v in value]
        if isinstance(value, dict):
            raise Unimportable(f"a call argument holds a mapping ({sorted(value)[:3]}), which a spec cannot say")
        return value

    def _ref(self, history: list[Any], names: dict[tuple[str, int], str], model: keras.Model) -> str:
        layer_name, node_index, tensor_index = history
        if layer_name in self._inputs:
            return identifier(layer_name)
        call = node_index - self._offsets.get(layer_name, 0)
        if layer_name not in {layer.name for layer in model.layers}:  # an op node: one output
            return names[(layer_name, call)]
        name, layer = names[(layer_name, call)], model.get_layer(layer_name)
        # Every call of a layer returns the same structure; the last is one of this model's calls
        # (a nested Functional's node 0 links its own inputs to its outputs).
        outputs = layer._inbound_nodes[-1].outputs
        return f"{name}[{tensor_index}]" if len(outputs) > 1 else name


def _call_offsets(config: dict[str, Any]) -> dict[str, int]:
    """Where each nested model's call numbers start in the references to it: Keras numbers them from
    0 or from 1 (its node 0 links its own inputs to outputs) depending on how the model was made, so
    a reference past the last call means the numbering starts at 1."""
    calls = {e["config"]["name"]: len(e.get("inbound_nodes") or ()) for e in config["layers"]}
    offsets: dict[str, int] = {}
    histories = [h for e in config["layers"] for call in e.get("inbound_nodes") or ()
                 for _, h in _call_tensors(call)] + _histories(config["output_layers"])
    for name, index, _ in histories:
        if name in calls and calls[name] and index >= calls[name]:
            offsets[name] = 1
    return offsets


def _call_tensors(call: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(argument, keras_history) of each tensor a recorded call takes (positional ones as ``""``)."""
    found: list[tuple[str, list[Any]]] = []

    def visit(key: str, value: Any) -> None:
        if isinstance(value, dict) and value.get("class_name") == KERAS_TENSOR:
            found.append((key, value["config"]["keras_history"]))
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(key, v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(key, v)

    for arg in call.get("args") or ():
        visit("", arg)
    for key, arg in (call.get("kwargs") or {}).items():
        visit(key, arg)
    return found


def _unshared(value: Any) -> Any:
    """The config without Keras's ``shared_object_id`` marks (one dtype policy object serialized
    for several layers carries one), which say nothing about the layer itself."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def _is_op(entry: dict[str, Any]) -> bool:
    """A keras.ops operation the functional API recorded (``NotEqual`` computing an Embedding's mask)."""
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _histories(value: Any) -> list[list[Any]]:
    """Keras writes one input/output as ``[name, 0, 0]`` and several as a list of those."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _histories(v)]
    return [h for v in value for h in _histories(v)]


def _is_list_of_histories(value: Any, n: int) -> bool:
    return not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)) and len(value) == n


def _sequential_as_functional(config: dict[str, Any]) -> dict[str, Any]:
    """A Sequential config as a Functional one: a chain from its InputLayer."""
    layers = [dict(e) for e in config["layers"]]
    if not layers or layers[0]["class_name"] != "InputLayer":
        shape = config.get("build_input_shape")
        if shape is None:
            raise Unimportable("a Sequential model without an input shape (never built) has no inputs to write")
        layers.insert(0, {"class_name": "InputLayer", "config": {"name": "inputs", "batch_shape": shape,
                                                                 "dtype": "float32"}})
    previous = layers[0]["config"]["name"]
    for entry in layers[1:]:
        entry["inbound_nodes"] = [{"args": [{"class_name": KERAS_TENSOR, "config": {
            "keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        previous = entry["config"]["name"]
    return {"layers": layers, "input_layers": [[layers[0]["config"]["name"], 0, 0]],
            "output_layers": [previous, 0, 0]}


def _input(config: dict[str, Any]) -> dict[str, Any]:
    if config.get("sparse") or config.get("ragged"):
        raise Unimportable(f"input '{config['name']}' is sparse or ragged, which a spec cannot declare")
    shape = list(config["batch_shape"])
    if shape[0] is not None:
        raise Unimportable(f"input '{config['name']}' fixes the batch size to {shape[0]}; a spec's inputs leave it "
                           "open")
    out: dict[str, Any] = {"shape": shape[1:]}
    if config.get("dtype", "float32") != "float32":
        out["dtype"] = config["dtype"]
    return out


def _as_sequential(graph: dict[str, Any], input_name: str) -> list[dict[str, Any]] | None:
    """The graph as a Sequential list when it is a plain chain of layers (names written only where
    the list's own naming, Keras's, would give another)."""
    previous, items = input_name, []
    for node in graph["nodes"].values():
        if set(node) - {"inputs"} == set() or node.get("inputs") != previous or "shares" in node or "call" in node:
            return None
        previous = next(n for n, v in graph["nodes"].items() if v is node)
        items.append({k: dict(v) for k, v in node.items() if k != "inputs"})
    if graph["outputs"] != previous:
        return None
    wanted = list(graph["nodes"])
    for _ in range(len(items) + 1):  # a given name changes the numbering after it: settle in turns
        nodes, _outputs, _sequential = model_from_data(items, input_name)
        wrong = [i for i, (n, w) in enumerate(zip(nodes, wanted, strict=True)) if n.name != w]
        if not wrong:
            return items
        layer = next(iter(items[wrong[0]]))
        items[wrong[0]][layer] = {**items[wrong[0]][layer], "name": wanted[wrong[0]]}
    return None


# -- layer arguments -------------------------------------------------------------------------

_DEFAULTS: dict[str, dict[str, Any]] = {}


def layer_args(entry: dict[str, Any]) -> dict[str, Any]:
    """A built-in layer's arguments that differ from its class's defaults, in the spec's forms."""
    cls = getattr(keras.layers, entry["class_name"])
    config = entry["config"]
    required = _required(cls, config)
    defaults = _default_config(cls, config, required)
    accepted = {*catalog().layers.get(entry["class_name"], ()), *COMMON_LAYER_ARGS}
    args = {}
    for key, value in config.items():
        if key in ("name", "build_config") or (key == "trainable" and value is True):
            continue
        if key not in accepted:  # set by Keras, not by the caller (Bidirectional's zero_output_for_mask)
            continue
        if key not in required and key in defaults and (
                _same(defaults[key], value)
                # a layer made by the class (Bidirectional's backward layer) differs only by its name
                or (_is_layer(value) and _is_layer(defaults[key]) and spec_value(defaults[key]) == spec_value(value))):
            continue
        args[key] = spec_value(value)
    for key in [k for k in args if k not in required]:
        if _implied(cls, config, [k for k in args if k != key], key):
            del args[key]
    return args


def _implied(cls: type, config: dict[str, Any], others: list[str], key: str) -> bool:
    """Whether the other arguments give ``key`` its value (MaxPooling2D's ``strides`` from its
    ``pool_size``): then writing it says nothing the reader needs."""
    given = {k: keras.layers.deserialize(config[k]) if _is_layer(config[k]) else config[k] for k in others}
    try:
        made = cls(**given).get_config()
    except (TypeError, ValueError):  # some arguments only make sense together: keep it written
        return False
    return key in made and _same(made[key], config[key])


def _required(cls: type, config: dict[str, Any]) -> list[str]:
    return [p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name in config]


def _default_config(cls: type, config: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The config of a fresh instance given only the required arguments (cached by them)."""
    given = {k: config[k] for k in required}
    key = f"{cls.__name__}:{json.dumps(given, sort_keys=True, default=str)}"
    if key not in _DEFAULTS:
        args = {k: keras.layers.deserialize(v) if _is_layer(v) else v for k, v in given.items()}
        _DEFAULTS[key] = cls(**args).get_config()
    return _DEFAULTS[key]


def _is_layer(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("module", "")).startswith("keras.layers")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and np.float32(a) == np.float32(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def spec_value(value: Any) -> Any:
    """A config value as a spec writes it: a nested layer as ``{LSTM: {...}}``, an initializer by
    name when its config is the default, a dtype policy by name."""
    if isinstance(value, list):
        return [spec_value(v) for v in value]
    if not isinstance(value, dict):
        return _number(value)
    if _is_layer(value):
        return {value["class_name"]: layer_args(value)}
    if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
        return value["config"]["name"]
    module = OBJECT_MODULES.get(str(value.get("module")))
    if module is not None:
        cls = getattr(module, value["class_name"])
        config = value.get("config") or {}
        try:
            default = cls().get_config()
        except TypeError:  # a required argument (L1L2 has none; Constant has none): keep the config
            default = {}
        changed = {k: spec_value(v) for k, v in config.items() if not (k in default and _same(default[k], v))}
        return {"class_name": value["class_name"], "config": changed} if changed else snake_case(value["class_name"])
    return {k: spec_value(v) for k, v in value.items()}


def _number(value: Any) -> Any:
    """A float stored as float32 by Keras (0.0010000000474974513) written as the float32 it is."""
    if isinstance(value, float) and np.isfinite(value) and float(np.float32(value)) == value:
        return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))
    return value


# -- compile settings ------------------------------------------------------------------------

def compile_section(config: dict[str, Any]) -> dict[str, Any]:
    """The compile section of a model's compile config: the optimizer with its non-default
    arguments, losses and metrics by name or ``{name, ...arguments}``."""
    out: dict[str, Any] = {"optimizer": _optimizer(config["optimizer"])}
    if config.get("loss") is not None:
        out["loss"] = _per_output(config["loss"], keras.losses)
    if config.get("loss_weights") is not None:
        out["loss_weights"] = config["loss_weights"]
    for key in ("metrics", "weighted_metrics"):
        if config.get(key):
            out[key] = _per_output(config[key], keras.metrics)
    if config.get("run_eagerly"):
        out["run_eagerly"] = True
    if config.get("jit_compile") is True:
        out["jit_compile"] = True
    if config.get("steps_per_execution", 1) != 1:
        out["steps_per_execution"] = config["steps_per_execution"]
    return out


def _optimizer(value: Any) -> Any:
    if isinstance(value, str):
        return value
    cls = getattr(keras.optimizers, value["class_name"])
    name, defaults = value["class_name"].lower(), cls().get_config()
    args: dict[str, Any] = {}
    for key, given in value["config"].items():
        if key == "name" or (key in defaults and _same(defaults[key], given)):
            continue
        if isinstance(given, dict) and "class_name" in given:  # a learning-rate schedule
            schedule = {k: _number(v) for k, v in given["config"].items() if k != "name"}
            given = {"name": snake_case(given["class_name"]), **schedule}
        args[key] = _number(given)
    return {"name": name, **args} if args else name


def _per_output(value: Any, module: Any) -> Any:
    if isinstance(value, list):
        return [_per_output(v, module) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _per_output(v, module) for k, v in value.items()}
    return _named_object(value, module)


def _named_object(value: Any, module: Any) -> Any:
    """A loss or metric: its name, or ``{name, ...}`` with the arguments that differ from the class's."""
    if isinstance(value, str) or value is None:
        return value
    cls = getattr(module, value["class_name"], None)
    if cls is None:
        kind = module.__name__.split(".")[-1]
        raise Unimportable(f"compile setting {value['class_name']} is not a Keras {kind} class")
    fresh = cls()
    defaults = fresh.get_config()
    args = {k: _number(v) for k, v in value["config"].items()
            if k not in ("name", "reduction", "dtype") and not (k in defaults and _same(defaults[k], v))}
    name = snake_case(value["class_name"]) if module is keras.metrics else defaults.get("name", fresh.name)
    return {"name": name, **args} if args else name


__all__ = ["Unimportable", "compile_section", "identifier", "layer_args", "spec_data", "spec_value"]
