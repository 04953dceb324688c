"""Semantic checks: what the JSON Schema cannot say, each located in the spec.

Every check is a small generator over the (schema-valid) `Spec` and its `Document`, yielding
`Problem`s; `semantic_problems` runs them all, so a user sees every mistake in one run:
references that do not resolve (layer types, node inputs, shared nodes, functions, parameters),
cycles, unused nodes, argument names and types, expressions, shapes, assets and compile settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from declar.expr.evaluate import ExpressionError, shape_functions, to_closure
from declar.expr.ops import SHAPE_FUNCTIONS
from declar.expr.parse import Checked, Context, check
from declar.limits import Limits
from declar.problems import JsonPath, Problem, did_you_mean
from declar.spec.catalog import COMMON_LAYER_ARGS, catalog
from declar.spec.model import BUILD_KEY, LayerTypeSpec, NodeSpec, ParamSpec, Spec
from declar.spec.schema import layer_args_problems
from declar.spec.source import Document

Check = Callable[[Spec, Document, Limits], Iterator[Problem]]

_OBJECT_KINDS = ("initializer", "activation", "regularizer", "constraint")
DTYPE_POLICIES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "int32", "int64")


def semantic_problems(spec: Spec, doc: Document, limits: Limits) -> list[Problem]:
    """Run every check; all problems are returned, none stops the others."""
    return [p for check_fn in CHECKS for p in check_fn(spec, doc, limits)]


def expression_problem(doc: Document, path: JsonPath, checked_col: int, message: str, hint: str,
                       code: str) -> Problem:
    """Locate a problem inside an expression: the string's position plus the column inside it.

    The expression may be quoted, or span several lines (plain, folded or literal scalars): the
    source is walked alongside the expression, whitespace and line breaks matching loosely, to
    find the file line and column of the expression's ``checked_col``.
    """
    line, col = doc.source_map.position(path)
    text = _value_at(doc.data, path)
    found = _locate_in_source(doc.text, line, col, text, checked_col) if isinstance(text, str) else None
    if found:
        return Problem(doc.file, found[0], found[1], path, message, hint, code)
    return Problem(doc.file, line, col, path, f"{message} (column {checked_col} of the expression)", hint, code)


def _locate_in_source(source: str, line: int, col: int, text: str, target: int) -> tuple[int, int] | None:
    lines = source.splitlines(keepends=True)
    if not 0 < line <= len(lines):
        return None
    pos = sum(len(ln) for ln in lines[: line - 1]) + col - 1
    if source[pos:pos + 1] in ("|", ">"):  # block scalar: content starts on the next line
        pos = source.find("\n", pos) + 1
    elif source[pos:pos + 1] in ("'", '"'):
        pos += 1
    for i, char in enumerate(text):
        if pos >= len(source):
            return None
        if char.isspace():
            continue
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source) or source[pos] != char:
            return None  # escapes or folding we do not model: fall back to the string's start
        if i == target - 1:
            before = source[:pos]
            return before.count("\n") + 1, pos - (before.rfind("\n") + 1) + 1
        pos += 1
    return None


def _value_at(data: Any, path: JsonPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _expression(doc: Document, path: JsonPath, text: str, context: Context, limits: Limits
                ) -> tuple[Checked, list[Problem]]:
    checked = check(text, context, limits)
    return checked, [expression_problem(doc, path, p.col, p.message, p.hint, p.code) for p in checked.problems]


# --- layer types -------------------------------------------------------------------------------

def check_layer_types(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    known = catalog().layers
    yield from _check_extends_cycles(spec, doc)
    for name, lt in spec.layer_types.items():
        base = ("layers", name)
        if name in known:
            yield doc.problem(base, f"custom layer type '{name}' has the name of a built-in Keras layer",
                              "choose another name", "shadowed-layer", at_key=True)
        if lt.extends not in known and lt.extends not in spec.layer_types and lt.extends != "Layer":
            hint = did_you_mean(lt.extends, [*known, *spec.layer_types])
            yield doc.problem((*base, "extends"), f"unknown layer type '{lt.extends}' to extend", hint, "unknown-layer")
        first_group: dict[str, str] = {}
        for group in ("params", "build_args", "variables"):
            for member in (doc.data["layers"][name].get(group) or {}):
                if member in first_group:
                    yield doc.problem((*base, group, member), f"'{member}' is declared twice (also in "
                                      f"{first_group[member]})", "give each its own name", "duplicate-name",
                                      at_key=True)
                else:
                    first_group[member] = group
        reserved = {"inputs", "training", "input_shape", "base", BUILD_KEY, "name", "trainable", "dtype"}
        for group in ("params", "build_args", "variables", "assets"):
            for item in (doc.data["layers"][name].get(group) or {}):
                if item in reserved:
                    yield doc.problem((*base, group, item), f"'{item}' is a reserved name", "choose another name",
                                      "reserved-name", at_key=True)
        for group, params in (("params", lt.params), ("build_args", lt.build_args)):
            for p in params:
                if not p.required:
                    yield from _check_value(doc, (*base, group, p.name, "default"), p, p.default)
        yield from _check_variables(spec, doc, lt, limits)
        yield from _check_assets(spec, doc, lt)
        yield from _check_call(doc, lt, limits)


def _check_extends_cycles(spec: Spec, doc: Document) -> Iterator[Problem]:
    """Cycles of `extends`, at each of their types; every type is walked once (linear time)."""
    done: set[str] = set()
    for start in spec.layer_types:
        chain: list[str] = []
        on_chain: set[str] = set()
        current = start
        while current in spec.layer_types and current not in done and current not in on_chain:
            chain.append(current)
            on_chain.add(current)
            current = spec.layer_types[current].extends
        if current in on_chain:
            cycle = chain[chain.index(current):]
            for i, member in enumerate(cycle):  # every `extends` of the cycle is a place to break it
                loop = [*cycle[i:], *cycle[:i], member]
                shown = " -> ".join(loop if len(loop) <= 12 else [*loop[:10], "...", member])
                yield doc.problem(("layers", member, "extends"), f"layer type '{member}' extends itself through "
                                  f"{shown}", "break the cycle", "cycle")
        done.update(chain)


def _check_variables(spec: Spec, doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    names = {p.name for p in (*lt.params, *lt.build_args)} | {"input_shape"}
    if lt.extends != "Layer":
        names.add("output_shape")  # the extended layer's output shape
    context = Context(names=names, functions=SHAPE_FUNCTIONS, kind="shape expression")
    init_params = {p.name for p in (*lt.params, *lt.build_args) if p.type in ("initializer", "any")}
    for v in lt.variables:
        path = ("layers", lt.name, "variables", v.name)
        parts = [((*path, "shape"), v.shape)] if isinstance(v.shape, str) else [
            ((*path, "shape", i), s) for i, s in enumerate(v.shape) if isinstance(s, str)]
        for part_path, text in parts:
            checked, problems = _expression(doc, part_path, text, context, limits)
            yield from problems
            if checked.tree is not None and "input_shape" not in checked.names:
                yield from _check_constant_shape(doc, part_path, checked, lt, limits)
        if isinstance(v.shape, tuple):
            yield from _check_literal_shape(doc, (*path, "shape"), v.shape, lt, limits)
        init = v.initializer
        if isinstance(init, str) and init not in init_params and init not in catalog().initializers:
            hint = did_you_mean(init, [*init_params, *catalog().initializers])
            yield doc.problem((*path, "initializer"), f"unknown initializer '{init}'", hint, "unknown-initializer")


def _check_literal_shape(doc: Document, path: JsonPath, shape: tuple[Any, ...], lt: LayerTypeSpec,
                         limits: Limits) -> Iterator[Problem]:
    """A list shape: each literal size is checked, and the whole when every item can be computed."""
    env = {p.name: p.default for p in (*lt.params, *lt.build_args) if not p.required}
    sizes: list[Any] = []
    for i, item in enumerate(shape):
        if isinstance(item, str):
            checked = check(item, Context(names=env, functions=SHAPE_FUNCTIONS), limits)
            try:
                sizes.append(to_closure(checked.tree, shape_functions(), limits)(env) if checked.tree else None)
            except (ExpressionError, TypeError, ValueError, ArithmeticError, KeyError):
                sizes.append(None)
            continue
        problems = list(shape_errors([item], limits))
        for message, hint in problems:
            yield doc.problem((*path, i), message, hint, "bad-shape")
        sizes.append(item if not problems else None)
    if None not in sizes and all(isinstance(x, int) for x in sizes):
        for message, hint in shape_errors(sizes, limits):
            if "elements" in message:
                yield doc.problem(path, message, hint, "bad-shape")


def _check_constant_shape(doc: Document, path: JsonPath, checked: Checked, lt: LayerTypeSpec,
                          limits: Limits) -> Iterator[Problem]:
    """A shape that does not depend on the input is computed now, with the parameter defaults."""
    env = {p.name: p.default for p in (*lt.params, *lt.build_args) if not p.required}
    if not checked.names <= set(env):
        return
    try:
        value = to_closure(checked.tree, shape_functions(), limits)(env)  # type: ignore[arg-type]
    except ExpressionError as err:
        yield expression_problem(doc, path, err.col, str(err), "", "bad-shape")
        return
    except (TypeError, ValueError, ArithmeticError) as err:
        yield expression_problem(doc, path, 1, f"shape cannot be computed: {err}", "", "bad-shape")
        return
    sizes = value if isinstance(value, (list, tuple)) else [value]
    yield from (doc.problem(path, m, h, "bad-shape") for m, h in shape_errors(sizes, limits))


def shape_errors(sizes: Iterable[Any], limits: Limits) -> Iterator[tuple[str, str]]:
    """Messages for a computed shape that is not a small list of non-negative integers."""
    sizes = list(sizes)
    total = 1
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int):  # 4.0 too: JSON Schema calls it an integer
            yield f"shape size {s!r} is not an integer", "sizes must be whole numbers, e.g. 4 not 4.0"
            return
        if s < 0:
            yield f"shape size {s} is negative", ""
            return
        total *= s
    if total > limits.max_variable_elements:
        yield (f"shape {sizes} has {total:,} elements, over the limit of {limits.max_variable_elements:,}",
               "raise Limits.max_variable_elements if this is intended")


def _check_assets(spec: Spec, doc: Document, lt: LayerTypeSpec) -> Iterator[Problem]:
    params = {p.name: p for p in lt.params}
    for asset in lt.assets:
        path = ("layers", lt.name, "assets", asset.name)
        raw = doc.data["layers"][lt.name]["assets"][asset.name]
        sources = [s for s in ("value", "param", "file") if s in raw]
        if len(sources) != 1:
            yield doc.problem(path, f"asset '{asset.name}' needs exactly one of value, param or file"
                              + (f", got {', '.join(sources)}" if sources else ""), "", "asset-source")
            continue
        if asset.dtype and asset.kind != "array":
            yield doc.problem((*path, "dtype"), "dtype applies only to array assets", "", "asset-kind")
        if asset.transform and asset.kind != "text":
            yield doc.problem((*path, "transform"), "transform applies only to text assets", "", "asset-kind")
        if asset.source == "value":
            yield from _check_asset_value(doc, (*path, "value"), asset.kind, asset.value)
        elif asset.source == "param" and asset.param not in params:
            hint = did_you_mean(asset.param or "", params) or "declare it under params"
            yield doc.problem((*path, "param"), f"unknown parameter '{asset.param}'", hint, "unknown-param")
        elif asset.source == "file":
            yield from _check_asset_file(spec, doc, (*path, "file"), asset.file or "")


def _check_asset_value(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    if kind == "text" and not isinstance(value, str):
        yield doc.problem(path, "a text asset's value must be a string", "", "asset-value")
    if kind == "array" and not _is_numeric_array(value):
        yield doc.problem(path, "an array asset's value must be a (nested) list of numbers", "", "asset-value")


def _is_numeric_array(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_numeric_array(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_asset_file(spec: Spec, doc: Document, path: JsonPath, name: str) -> Iterator[Problem]:
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
        yield doc.problem(path, f"asset path '{name}' leaves the spec's directory",
                          "give a path relative to the spec, without ..", "asset-path")
        return
    if spec.from_archive:
        return  # the content is in the archive's assets
    if spec.base_dir is None:
        yield doc.problem(path, "a spec given as text cannot name asset files", "load the spec from its file",
                          "asset-path")
        return
    root = os.path.realpath(spec.base_dir)
    full = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, full]) != root:
        yield doc.problem(path, f"asset path '{name}' resolves outside the spec's directory (symbolic link?)",
                          "", "asset-path")
    elif not os.path.isfile(full):
        yield doc.problem(path, f"asset file '{name}' does not exist", f"looked in {root}", "asset-file")


def _check_call(doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    names = {"inputs", "training"} | {p.name for p in (*lt.params, *lt.build_args)} | {v.name for v in lt.variables}
    names |= {a.name for a in lt.assets if a.kind == "array"}
    context = Context(names=names, allow_base=lt.extends != "Layer", kind=f"call of {lt.name}")
    path = ("layers", lt.name, "call")
    if "call" in doc.data["layers"][lt.name]:
        yield from _expression(doc, path, lt.call, context, limits)[1]
    elif lt.extends == "Layer" and not lt.variables:
        pass  # an identity layer is allowed, if odd


# --- values of parameters ----------------------------------------------------------------------

_PY_TYPES: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "any": lambda v: True,
}


def _check_value(doc: Document, path: JsonPath, param: ParamSpec, value: Any) -> Iterator[Problem]:
    if param.type in _PY_TYPES:
        if not _PY_TYPES[param.type](value):
            yield doc.problem(path, f"'{param.name}' expects {param.type}, got {type(value).__name__} {value!r}"[:160],
                              "", "param-type")
        return
    yield from check_keras_object(doc, path, param.type, value)


def check_keras_object(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    """An initializer/activation/regularizer/constraint given by name or {class_name, config}."""
    if value is None and kind != "initializer":
        return
    if isinstance(value, dict):
        if "class_name" not in value or set(value) - {"class_name", "config"}:
            yield doc.problem(path, f"a {kind} object needs class_name and optionally config", "", "param-type")
        return
    names = getattr(catalog(), f"{kind}s")
    if not isinstance(value, str):
        yield doc.problem(path, f"expected a {kind} name, got {value!r}", "", "param-type")
    elif value not in names:
        yield doc.problem(path, f"unknown {kind} '{value}'", did_you_mean(value, names), f"unknown-{kind}")


# --- nodes and graph ---------------------------------------------------------------------------

def check_nodes(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    if len(spec.nodes) > limits.max_layers:
        yield doc.problem(("model",), f"model has {len(spec.nodes):,} layers, over the limit of {limits.max_layers:,}",
                          "raise Limits.max_layers", "too-many-layers")
        return
    if spec.sequential and len(spec.inputs) != 1:
        yield doc.problem(("inputs",), f"a Sequential model has one input, this spec declares {len(spec.inputs)}",
                          "use a graph (model: {nodes: ..., outputs: ...}) for several inputs", "sequential-inputs")
    input_names = {i.name for i in spec.inputs}
    node_names = {n.name for n in spec.nodes}
    for inp in spec.inputs:
        for i, size in enumerate(inp.shape):
            if size is not None and not (isinstance(size, int) and not isinstance(size, bool)):
                yield doc.problem(("inputs", inp.name, "shape", i), f"shape size {size!r} is not an integer",
                                  "sizes must be whole numbers, e.g. 4 not 4.0", "bad-shape")
        known = [s for s in inp.shape if isinstance(s, int)]
        for message, hint in shape_errors(known, limits):
            if "elements" in message:
                yield doc.problem(("inputs", inp.name, "shape"), f"input '{inp.name}': {message} per example",
                                  hint, "bad-shape")
    for clash in sorted(input_names & node_names):
        node = spec.node(clash)
        path = (*node.path, "name") if spec.sequential and "name" in node.args else node.path
        yield doc.problem(path, f"{'layer' if spec.sequential else 'node'} '{clash}' has the name of an input",
                          "rename one", "duplicate-name", at_key=not spec.sequential)
    if spec.sequential:
        seen_names: set[str] = set()
        for node in spec.nodes:
            if node.name in seen_names and "name" in node.args:
                yield doc.problem((*node.path, "name"), f"layer name '{node.name}' is used twice",
                                  "Keras needs unique layer names", "duplicate-name")
            seen_names.add(node.name)
    budget = [_MAX_HINTED_REFS]
    for node in spec.nodes:
        yield from _check_node(spec, doc, node, input_names, node_names, budget)
    if not spec.sequential:
        yield from _check_graph(spec, doc, input_names, node_names)


def _check_node(spec: Spec, doc: Document, node: NodeSpec, input_names: set[str], node_names: set[str],
                budget: list[int]) -> Iterator[Problem]:
    if not spec.sequential:
        if (node.layer is None) == (node.shares is None):
            yield doc.problem(node.path, f"node '{node.name}' needs exactly one of layer or shares",
                              "layer: creates a layer; shares: reuses another node's layer", "node-layer")
            return
        if node.shares is not None:
            if node.args:
                yield doc.problem((*node.path, "args"), "a node that shares a layer takes no args",
                                  "the arguments belong to the node that creates the layer", "node-layer")
            target = next((n for n in spec.nodes if n.name == node.shares), None)
            if target is None or target.layer is None:
                hint = did_you_mean(node.shares, [n.name for n in spec.nodes if n.layer])
                yield doc.problem((*node.path, "shares"), f"'{node.shares}' is not a node that creates a layer",
                                  hint, "unknown-node")
        if "name" in node.args:
            yield doc.problem((*node.path, "args", "name"), "in a graph the node's name is the layer's name",
                              "remove name, or rename the node", "node-name", at_key=True)
        for i, ref in enumerate(node.inputs):
            ref_path = (*node.path, "inputs", i) if node.inputs_as_list else (*node.path, "inputs")
            if ref not in input_names and ref not in node_names:
                yield doc.problem(ref_path, f"'{ref}' is neither an input nor a node",
                                  _hint_for_ref(ref, input_names, node_names, budget), "unknown-ref")
            elif ref == node.name and ref not in input_names:
                yield doc.problem(ref_path, f"node '{ref}' takes itself as input", "", "cycle")
    if node.layer is not None:
        yield from _check_layer_use(spec, doc, node)


_MAX_HINTED_REFS = 100  # "did you mean" costs a comparison with every name; enough for any real typo


def _hint_for_ref(ref: str, input_names: set[str], node_names: set[str], budget: list[int]) -> str:
    budget[0] -= 1
    return did_you_mean(ref, [*input_names, *node_names]) if budget[0] >= 0 else ""


def _check_layer_use(spec: Spec, doc: Document, node: NodeSpec) -> Iterator[Problem]:
    layer, args = node.layer or "", node.args
    args_path = node.path if spec.sequential else (*node.path, "args")
    known = catalog().layers
    if layer not in known and layer not in spec.layer_types:
        type_path = node.path if spec.sequential else (*node.path, "layer")
        yield doc.problem(type_path, f"unknown layer type '{layer}'", did_you_mean(layer, [*known, *spec.layer_types]),
                          "unknown-layer", at_key=spec.sequential)
        return
    allowed, params, build_args = _accepted_args(spec, layer)
    root = _root_layer(spec, layer)
    base_args = {k: v for k, v in args.items() if k not in params and k != BUILD_KEY}
    if base_args and root in catalog().layers:
        yield from layer_args_problems(doc, args_path, root, base_args)
    for key, value in args.items():
        if key == BUILD_KEY:
            if not build_args and layer not in spec.layer_types:
                yield doc.problem((*args_path, key), f"'{layer}' has no build arguments", "", "unknown-arg",
                                  at_key=True)
            yield from _check_named_values(doc, (*args_path, key), value, build_args, f"build argument of {layer}")
        elif key in params:
            yield from _check_value(doc, (*args_path, key), params[key], value)
        elif key == "dtype" and value is not None and value not in DTYPE_POLICIES:
            yield doc.problem((*args_path, key), f"unknown dtype policy {value!r}",
                              did_you_mean(str(value), DTYPE_POLICIES), "unknown-dtype")
        elif allowed is not None and key not in allowed:
            hint = did_you_mean(key, sorted(allowed | set(params)))
            yield doc.problem((*args_path, key), f"'{layer}' has no argument '{key}'", hint, "unknown-arg", at_key=True)
    for missing in _required_base_args(spec, layer):
        if missing not in args:
            yield doc.problem(args_path, f"'{layer}' needs argument '{missing}'", "", "missing-arg",
                              at_key=spec.sequential)
    for missing in [p for p in params.values() if p.required and p.name not in args]:
        yield doc.problem(args_path, f"'{layer}' needs parameter '{missing.name}' ({missing.type})", "",
                          "missing-param", at_key=spec.sequential)
    given_build = args.get(BUILD_KEY) or {}
    for missing in [p for p in build_args.values() if p.required and p.name not in given_build]:
        yield doc.problem(args_path, f"'{layer}' needs build argument '{missing.name}' under build:", "",
                          "missing-param", at_key=spec.sequential)


def _root_layer(spec: Spec, layer: str) -> str:
    """The built-in Keras layer (or `Layer`) at the root of a chain of custom types."""
    seen = set()
    while layer in spec.layer_types and layer not in seen:
        seen.add(layer)
        layer = spec.layer_types[layer].extends
    return layer


def _required_base_args(spec: Spec, layer: str) -> tuple[str, ...]:
    """Arguments without a default of the built-in Keras layer at the root of ``layer``."""
    return catalog().layers_required.get(_root_layer(spec, layer), ())


def _accepted_args(spec: Spec, layer: str) -> tuple[set[str] | None, dict[str, ParamSpec], dict[str, ParamSpec]]:
    """(arguments the underlying Keras layer takes or None if any, declared params, build args)."""
    params: dict[str, ParamSpec] = {}
    build_args: dict[str, ParamSpec] = {}
    seen = set()
    while layer in spec.layer_types and layer not in seen:
        seen.add(layer)
        lt = spec.layer_types[layer]
        params.update({p.name: p for p in lt.params if p.name not in params})
        build_args.update({p.name: p for p in lt.build_args if p.name not in build_args})
        layer = lt.extends
    if layer == "Layer":
        return set(COMMON_LAYER_ARGS), params, build_args
    if layer in catalog().layers:
        return set(catalog().layers[layer]) | set(COMMON_LAYER_ARGS), params, build_args
    return None, params, build_args


def _check_named_values(doc: Document, path: JsonPath, given: Any, declared: dict[str, ParamSpec], what: str
                        ) -> Iterator[Problem]:
    if not isinstance(given, dict):
        return
    for key, value in given.items():
        if key not in declared:
            yield doc.problem((*path, key), f"unknown {what} '{key}'", did_you_mean(key, declared), "unknown-arg",
                              at_key=True)
        else:
            yield from _check_value(doc, (*path, key), declared[key], value)


def _check_graph(spec: Spec, doc: Document, input_names: set[str], node_names: set[str]) -> Iterator[Problem]:
    # Self-references are reported by _check_node; a name shared with an input means the input.
    deps = {n.name: [r for r in n.inputs if r in node_names and r not in input_names and r != n.name]
            + ([n.shares] if n.shares in node_names and n.shares != n.name else []) for n in spec.nodes}
    state: dict[str, int] = {}
    for start in deps:
        stack = [(start, iter(deps[start]))]
        state[start] = state.get(start, 0) or 1
        if state[start] == 2:
            continue
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                stack.pop()
            elif state.get(child) == 1:
                cycle = [*[n for n, _ in stack][[n for n, _ in stack].index(child):], child]
                yield doc.problem(("model", "nodes", child), "cycle in the graph: " + " -> ".join(cycle),
                                  "a node cannot depend on itself", "cycle", at_key=True)
                state[name] = 2
                stack.pop()
            elif state.get(child) is None:
                state[child] = 1
                stack.append((child, iter(deps[child])))
    outputs_path = ("model", "outputs")
    raw_outputs = doc.data["model"]["outputs"]
    for i, ref in enumerate(spec.outputs):
        if ref not in node_names:
            path = outputs_path if isinstance(raw_outputs, str) else (
                (*outputs_path, i) if isinstance(raw_outputs, list) else (*outputs_path, spec.output_names[i]))
            yield doc.problem(path, f"output '{ref}' is not a node", did_you_mean(ref, node_names), "unknown-ref")
    used = set()
    frontier = [o for o in spec.outputs if o in node_names]
    while frontier:
        name = frontier.pop()
        if name not in used:
            used.add(name)
            frontier.extend(deps.get(name, []))
    for node in spec.nodes:
        if node.name not in used and all(o in node_names for o in spec.outputs):
            yield doc.problem(node.path, f"node '{node.name}' does not lead to any output",
                              "remove it, or add it to outputs", "unused-node", at_key=True)


# --- functions and compile ---------------------------------------------------------------------

def check_functions(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    for f in spec.functions.values():
        context = Context(names=f.args, kind=f"function {f.name}")
        yield from _expression(doc, ("functions", f.name, "expr"), f.expr, context, limits)[1]


def check_compile(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    if not spec.compile:
        return
    cfg, base = spec.compile, ("compile",)
    yield from _check_optimizer(doc, cfg["optimizer"])
    outputs = list(spec.output_names)
    for key, known in (("loss", catalog().losses), ("metrics", catalog().metrics),
                       ("weighted_metrics", catalog().metrics), ("loss_weights", None)):
        if key not in cfg:
            continue
        value = cfg[key]
        if isinstance(value, dict):
            for out, item in value.items():
                if out not in outputs:
                    yield doc.problem((*base, key, out), f"'{out}' is not an output of the model",
                                      did_you_mean(out, outputs) or f"outputs: {', '.join(outputs)}", "unknown-output",
                                      at_key=True)
                yield from _check_names(spec, doc, (*base, key, out), item, known)
        elif isinstance(value, list) and key in ("loss", "loss_weights"):
            if len(value) != len(outputs):
                yield doc.problem((*base, key), f"{key} lists {len(value)} entries for {len(outputs)} outputs",
                                  f"outputs: {', '.join(outputs)}", "per-output")
            yield from _check_names(spec, doc, (*base, key), value, known)
        else:
            yield from _check_names(spec, doc, (*base, key), value, known)


def _check_names(spec: Spec, doc: Document, path: JsonPath, value: Any, known: frozenset[str] | None
                 ) -> Iterator[Problem]:
    if known is None:
        return
    items = [(path, value)] if isinstance(value, str) else [((*path, i), v) for i, v in enumerate(value)] \
        if isinstance(value, list) else []
    for item_path, name in items:
        if not isinstance(name, str):
            yield doc.problem(item_path, f"expected a name, got {name!r}", "", "schema-type")
        elif name in spec.functions:
            if len(spec.functions[name].args) != 2:
                yield doc.problem(item_path, f"function '{name}' is used as a loss or metric, so it takes "
                                  f"(y_true, y_pred); it declares {len(spec.functions[name].args)} args", "",
                                  "function-args")
        elif name not in known:
            hint = did_you_mean(name, [*known, *spec.functions]) or "define it under functions:"
            yield doc.problem(item_path, f"unknown loss or metric '{name}'", hint, "unknown-function")


def _check_optimizer(doc: Document, raw: Any) -> Iterator[Problem]:
    path = ("compile", "optimizer")
    optimizers = catalog().optimizers
    name = raw if isinstance(raw, str) else raw.get("name")
    if not isinstance(name, str) or name.lower() not in optimizers:
        yield doc.problem(path if isinstance(raw, str) else (*path, "name"), f"unknown optimizer {name!r}",
                          did_you_mean(str(name).lower(), optimizers), "unknown-optimizer")
        return
    if isinstance(raw, dict):
        allowed = set(optimizers[name.lower()])
        for key, value in raw.items():
            if key == "name":
                continue
            if key not in allowed:
                yield doc.problem((*path, key), f"optimizer '{name}' has no argument '{key}'",
                                  did_you_mean(key, allowed), "unknown-arg", at_key=True)
            elif key == "learning_rate" and isinstance(value, dict):
                yield from _check_schedule(doc, (*path, key), value)
            else:
                expected = catalog().optimizer_arg_types.get(name.lower(), {}).get(key)
                if expected and not _PY_TYPES[expected](value):
                    yield doc.problem((*path, key), f"optimizer argument '{key}' expects {expected}, got "
                                      f"{type(value).__name__} {value!r}"[:160], "", "param-type")


def _check_schedule(doc: Document, path: JsonPath, raw: dict[str, Any]) -> Iterator[Problem]:
    schedules = catalog().schedules
    name = raw.get("name")
    if name is None:
        yield doc.problem(path, "a learning-rate schedule needs a name", f"schedules: {', '.join(schedules)}",
                          "unknown-schedule")
        return
    if name not in schedules:
        yield doc.problem((*path, "name") if "name" in raw else path, f"unknown learning-rate schedule {name!r}",
                          did_you_mean(str(name), schedules) or f"schedules: {', '.join(schedules)}",
                          "unknown-schedule")
        return
    for key in raw:
        if key != "name" and key not in schedules[name]:
            yield doc.problem((*path, key), f"schedule '{name}' has no argument '{key}'",
                              did_you_mean(key, schedules[name]), "unknown-arg", at_key=True)


# --- distribution ------------------------------------------------------------------------------

# Which strategies each backend's engine offers (declar.keras.distribute builds them).
STRATEGIES = {
    "tensorflow": ("mirrored", "multi_worker_mirrored"),
    "jax": ("data_parallel", "model_parallel"),
    "torch": (),
}


def configured_backend() -> str:
    """The Keras backend a build would use, read as Keras reads it, without importing keras."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError):
        return "tensorflow"


def check_distribution(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    section = doc.data.get("distribution")
    if not isinstance(section, dict):
        return
    path, strategy, backend = ("distribution",), section.get("strategy"), configured_backend()
    offered = STRATEGIES.get(backend, ())
    if strategy not in offered and not spec.from_archive:  # an archive may load on any backend
        yield doc.problem((*path, "strategy"), f"strategy '{strategy}' does not run on the {backend} backend",
                          f"{backend} offers: {', '.join(offered)}" if offered else
                          f"the {backend} backend has no distribution engine in Keras", "strategy-backend")
    if strategy == "model_parallel":
        mesh = section.get("mesh")
        if not mesh:
            yield doc.problem(path, "model_parallel needs a mesh: {shape, axis_names}", "", "distribution")
            return
        axes = list(mesh.get("axis_names", []))
        if len(axes) != len(mesh.get("shape", [])):
            yield doc.problem((*path, "mesh"), "mesh shape and axis_names differ in length", "", "distribution")
        for pattern, layout in (section.get("layout_map") or {}).items():
            for i, axis in enumerate(layout):
                if axis is not None and axis not in axes:
                    yield doc.problem((*path, "layout_map", pattern, i), f"'{axis}' is not a mesh axis",
                                      did_you_mean(axis, axes) or f"axes: {', '.join(axes)}", "distribution")
        batch = section.get("batch_dim_name")
        if batch is not None and batch not in axes:
            yield doc.problem((*path, "batch_dim_name"), f"'{batch}' is not a mesh axis", did_you_mean(batch, axes),
                              "distribution")
    else:
        for key in ("mesh", "layout_map", "batch_dim_name"):
            if key in section:
                yield doc.problem((*path, key), f"{key} applies only to model_parallel", "", "distribution",
                                  at_key=True)


CHECKS: tuple[Check, ...] = (check_layer_types, check_nodes, check_functions, check_compile, check_distribution)
