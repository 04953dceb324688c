"""Inputs, nodes and the graph: references, names, layer arguments, cycles, unused nodes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from declar.errors import JsonPath, Problem
from declar.expr.evaluate import ExpressionError
from declar.hints import did_you_mean
from declar.limits import DEFAULT_LIMITS, Limits, current_limits
from declar.sections.model.calls import (
    call_parameters,
    call_problems,
    constant_ops,
    constant_problem,
    may_return_several,
    node_ref_problems,
    op_problems,
    ref_problems,
)
from declar.sections.model.vocabulary import vocabulary_problems
from declar.spec.block_args import check_expression, expressions_in, gate_refusals, is_param_expression, substitute
from declar.spec.catalog import COMMON_LAYER_ARGS, catalog
from declar.spec.checks.locate import expression_problem
from declar.spec.checks.values import argument_problems, check_value, object_problems
from declar.spec.facts import DTYPE_POLICIES, UNSAFE_LAYERS, UNUSABLE_LAYERS
from declar.spec.json_types import typed_repr
from declar.spec.keras_objects import LAYER_ARGS, MAX_NESTING, path_refusals
from declar.spec.layer_count import node_layer_counts
from declar.spec.loaded import LoadedSpec
from declar.spec.model import BUILD_KEY, GraphSpec, JsonMap, NodeSpec, ParamSpec, Spec, node_layers
from declar.spec.nested_layers import requirement_problem, spec_form
from declar.spec.refs import node_dependencies, parse_ref
from declar.spec.schema import layer_args_problems
from declar.spec.shapes import shape_errors
from declar.spec.source import Document


def check_nodes(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    if len(spec.nodes) > limits.max_layers:
        yield doc.problem(("model",), f"model has {len(spec.nodes):,} layers, over the limit of {limits.max_layers:,}",
                          "raise Limits.max_layers", "too-many-layers")
        return
    over = _expanded_over_limit(spec, doc, limits)
    if over is not None:
        yield over
        return
    if spec.sequential and len(spec.inputs) != 1:
        yield doc.problem(("inputs",), f"a Sequential model has one input, this spec declares {len(spec.inputs)}",
                          "use a graph (model: {nodes: ..., outputs: ...}) for several inputs", "sequential-inputs")
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
    infos = layer_infos(spec, limits.max_extends_depth)
    yield from check_graph(spec, doc, spec.graph, infos, limits)
    yield from vocabulary_problems(loaded, limits)


def check_graph(spec: Spec, doc: Document, graph: GraphSpec, infos: dict[str, LayerInfo],
                limits: Limits = DEFAULT_LIMITS, params: Iterable[str] = ()) -> Iterator[Problem]:
    """Every problem of one graph's nodes, references and outputs: the model's, or a block's
    (whose ``params`` its ``op:`` expressions may use as well)."""
    op_names = frozenset(params) | block_params(spec, graph)
    input_names = set(graph.inputs)
    node_names = {n.name for n in graph.nodes}
    for clash in sorted(input_names & node_names):
        node = graph.node(clash)
        path = (*node.path, "name") if graph.sequential and "name" in node.args else node.path
        yield doc.problem(path, f"{'layer' if graph.sequential else 'node'} '{clash}' has the name of an input",
                          "rename one", "duplicate-name", at_key=not graph.sequential)
    if graph.sequential:
        seen_names: set[str] = set()
        for i, item in enumerate(_written(doc, graph.path)):
            named = node_layers(item)
            if len(named) != 1:
                yield doc.problem((*graph.path, i), "a list item names one layer, this one "
                                  + (f"{len(named)} ({', '.join(named)})" if named else "none"),
                                  "each layer is an item of its own (`- Dense: {units: 8}`), with `repeat: N` "
                                  "beside it to chain N copies", "node-layer")
        for node in graph.nodes:
            if node.name in seen_names and "name" in node.args:
                yield doc.problem((*node.path, "name"), f"layer name '{node.name}' is used twice",
                                  "Keras needs unique layer names", "duplicate-name")
            seen_names.add(node.name)
    several = _several_outputs(spec, graph)
    visible = frozenset(input_names | node_names | op_names)  # once: a copy per op node was quadratic
    for node in graph.nodes:
        yield from _check_node(spec, doc, graph, node, input_names, node_names, infos, limits, several, op_names,
                               visible)
    if not graph.sequential:
        yield from _check_graph(doc, graph, input_names, node_names, several)


def _several_outputs(spec: Spec, graph: GraphSpec) -> dict[str, bool]:
    """Node name -> whether it may return several tensors (where the catalog cannot tell: True)."""
    by_name = {n.name: n for n in graph.nodes}
    out = {}
    for node in graph.nodes:
        owner = by_name.get(node.shares or "", node) if node.shares else node
        layer = owner.layer
        out[node.name] = (node.op is not None or layer is None or layer in spec.layer_types
                          or may_return_several(layer, owner.args, node.call))
    return out


def _check_node(spec: Spec, doc: Document, graph: GraphSpec, node: NodeSpec, input_names: set[str],
                node_names: set[str], infos: dict[str, LayerInfo], limits: Limits = DEFAULT_LIMITS,
                several: dict[str, bool] | None = None, params: frozenset[str] = frozenset(),
                visible: frozenset[str] | None = None) -> Iterator[Problem]:
    several = several if several is not None else _several_outputs(spec, graph)
    if not graph.sequential:
        written = _written(doc, node.path)
        layers = node_layers(written)
        if len(layers) > 1:
            yield doc.problem((*node.path, layers[1]), f"node '{node.name}' names two layers, {layers[0]} and "
                              f"{layers[1]}", "a node applies one layer: give the other a node of its own",
                              "node-layer", at_key=True)
            return
        if node.op is not None:
            yield from op_problems(doc, graph, node, written, limits,
                                   visible if visible is not None else input_names | node_names | params)
            return
        if (node.layer is None) == (node.shares is None):
            yield doc.problem(node.path, f"node '{node.name}' needs exactly one of layer or shares, or an op",
                              "`Dense: {units: 8}` creates a layer; `shares: other` reuses another node's layer; "
                              "`op: a + b` computes an expression", "node-layer")
            return
        params = _called_layer_params(spec, graph, node, infos)
        first = params[0] if params else "inputs"
        if not node.inputs and first not in node.call:
            yield doc.problem(node.path, f"node '{node.name}' has no inputs",
                              "say what the layer is called on: `inputs: <a model input or a node>`", "missing-inputs",
                              at_key=True)
        if node.shares is not None:
            target = graph.nodes_by_name.get(node.shares)
            if target is None or target.layer is None:
                hint = did_you_mean(node.shares, [n.name for n in graph.nodes if n.layer])
                yield doc.problem((*node.path, "shares"), f"'{node.shares}' is not a node that creates a layer",
                                  hint, "unknown-node")
            else:
                yield from _check_call(spec, doc, node, target.layer or "", infos)
        if "name" in node.args:
            yield doc.problem((*node.args_path, "name"), "in a graph the node's name is the layer's name",
                              "remove name, or rename the node", "node-name", at_key=True)
        yield from node_ref_problems(doc, graph, node, several)
    params = block_params(spec, graph)
    if node.repeat is not None:
        yield from _check_repeat(doc, graph, node, params, current_limits.get())
    if node.layer in spec.blocks and node.layer not in catalog().layers and node.layer not in spec.layer_types:
        yield from _check_block_use(spec, doc, node, params, current_limits.get(), graph.sequential)
    elif node.layer is not None:
        yield from _check_layer_use(spec, doc, node, infos, graph.sequential, params)
        if not graph.sequential:
            yield from _check_call(spec, doc, node, node.layer, infos)


def _root(infos: dict[str, LayerInfo], layer: str) -> str:
    """The built-in at the root of a layer type's `extends` chain (the layer itself if built in)."""
    return (infos[layer] if layer in infos else _builtin_info(layer)).root


def _called_layer_params(spec: Spec, graph: GraphSpec, node: NodeSpec, infos: dict[str, LayerInfo]
                         ) -> tuple[str, ...]:
    """The call parameters of the layer the node calls (its own, or the one it shares)."""
    layer = node.layer
    if layer is None and node.shares:
        target = graph.nodes_by_name.get(node.shares)
        layer = target.layer if target is not None else None
    if layer is None:
        return ("inputs",)
    return call_parameters(_root(infos, layer), layer in spec.layer_types)


def _check_call(spec: Spec, doc: Document, node: NodeSpec, layer: str, infos: dict[str, LayerInfo]
                ) -> Iterator[Problem]:
    if layer in catalog().layers or layer in spec.layer_types:  # an unknown layer is reported already
        yield from call_problems(doc, node, layer, _root(infos, layer), layer in spec.layer_types)


def _expanded_over_limit(spec: Spec, doc: Document, limits: Limits) -> Problem | None:
    """The layer limit counts the layers inside blocks and repeats: located at the node that passes it."""
    counts = node_layer_counts(spec, limits.max_layers, limits)
    total = sum(counts)
    if total <= limits.max_layers:
        return None
    node = spec.nodes[len(counts) - 1]
    path = repeat_path(spec.graph, node) if node.repeat is not None else node.path
    return doc.problem(path, f"node '{node.name}' takes the model over the limit of {limits.max_layers:,} layers "
                       f"(blocks and repeats expanded, {total:,} or more)",
                       "repeat less, or raise Limits.max_layers", "too-many-layers",
                       at_key=node.repeat is None and not spec.sequential)


def repeat_path(graph: GraphSpec, node: NodeSpec) -> JsonPath:
    """Where a node's `repeat` is written (beside the layer key in a Sequential item)."""
    return (*node.path[:-1], "repeat") if graph.sequential else (*node.path, "repeat")


def _check_repeat(doc: Document, graph: GraphSpec, node: NodeSpec, params: frozenset[str], limits: Limits
                  ) -> Iterator[Problem]:
    path = repeat_path(graph, node)
    if isinstance(node.repeat, str):
        if not is_param_expression(node.repeat, params):
            yield doc.problem(path, f"repeat {node.repeat!r} is not a number", "repeat: N with N a whole number"
                              + (f" or an expression over the block's parameters {sorted(params)}" if params else ""),
                              "bad-repeat")
            return
        yield from _expression_problems(doc, path, node.repeat, params, limits)
    if node.shares is not None or len(node.inputs) > 1 or node.call or node.op is not None:
        yield doc.problem(path, f"node '{node.name}' cannot repeat: repeat chains a layer with one input and "
                          "one output", "remove repeat, or write the copies as nodes", "bad-repeat", at_key=True)


def _expression_problems(doc: Document, path: JsonPath, text: str, params: frozenset[str], limits: Limits
                         ) -> Iterator[Problem]:
    for problem in check_expression(text, params, limits).problems:
        yield expression_problem(doc, path, problem.col, problem.message, problem.hint, problem.code)


def block_params(spec: Spec, graph: GraphSpec) -> frozenset[str]:
    """The parameter names in scope in ``graph``: its block's (none in the model's graph)."""
    if graph.path[:1] == ("blocks",) and len(graph.path) > 1 and graph.path[1] in spec.blocks:
        return frozenset(p.name for p in spec.blocks[graph.path[1]].params)
    return frozenset()


def _check_block_use(spec: Spec, doc: Document, node: NodeSpec, params: frozenset[str], limits: Limits,
                     sequential: bool) -> Iterator[Problem]:
    """A block use: its arguments are the block's parameters, its inputs as many as the block's."""
    block = spec.blocks[node.layer or ""]
    declared = {p.name: p for p in block.params}
    for key, value in node.args.items():
        if key not in declared:
            hint = did_you_mean(key, declared) or (f"{block.name} takes {', '.join(declared)}" if declared else
                                                   f"{block.name} has no parameters")
            yield doc.problem((*node.args_path, key), f"block '{block.name}' has no parameter '{key}'", hint,
                              "unknown-arg", at_key=True)
        elif is_param_expression(value, params):
            yield from _expression_problems(doc, (*node.args_path, key), value, params, limits)
        else:
            yield from check_value(doc, (*node.args_path, key), declared[key], value)
    for missing in [p for p in block.params if p.required and p.name not in node.args]:
        yield doc.problem(node.args_path, f"block '{block.name}' needs parameter '{missing.name}' ({missing.type})",
                          "", "missing-param", at_key=sequential)
    if not params:  # the values are known here: the gate sees the block's layers' computed arguments
        yield from _computed_refusals(spec, doc, node, limits)
    wanted = len(block.graph.inputs)
    if node.inputs and len(node.inputs) != wanted and not sequential:
        path = (*node.path, "inputs")
        yield doc.problem(path, f"block '{block.name}' takes {wanted} input{'s' * (wanted > 1)} "
                          f"({', '.join(block.graph.inputs)}), this node gives {len(node.inputs)}",
                          "give the block's inputs in order", "block-inputs")
    elif sequential and wanted != 1:
        yield doc.problem(node.args_path, f"block '{block.name}' takes {wanted} inputs; a Sequential layer "
                          "gets one", "use it in a graph", "block-inputs", at_key=True)


def _computed_refusals(spec: Spec, doc: Document, use: NodeSpec, limits: Limits) -> Iterator[Problem]:
    """The argument gate on the computed arguments of a block's own layers, located at the use."""
    block = spec.blocks[use.layer or ""]
    given = {p.name: use.args.get(p.name, p.default) for p in block.params}
    declared = {p.name: p for p in block.params}
    # a missing or ill-typed value (given or default) is reported already: its consequences are not
    missing = any(p.required and p.name not in use.args for p in block.params) or any(
        any(check_value(doc, (*use.args_path, k), declared[k], v)) for k, v in given.items() if v is not None)
    for node in block.graph.nodes:
        if node.layer in catalog().layers and any(expressions_in(dict(node.args), given)):
            try:
                args = substitute(dict(node.args), given, limits)
            except ExpressionError as err:
                written_badly = any(check_expression(text, given, limits).problems
                                    for _, text in expressions_in(dict(node.args), given))
                if not missing and not written_badly:
                    # well written, but not computable with these values (a limit): the build would refuse it
                    yield doc.problem(use.args_path, f"block '{block.name}', node '{node.name}': {err}",
                                      "give the block other values", "bad-expression")
                continue  # a bad expression or a missing parameter: reported where it is written
            refusals = gate_refusals(node.layer or "", args)
            for _, message, hint in refusals:
                yield doc.problem(use.args_path, f"block '{block.name}', node '{node.name}': {message}", hint,
                                  "path-argument", at_key=True)
            if missing or refusals:
                continue
            # the computed values against the layer's argument types, as the build would pass them
            computed = {k: v for k, v in args.items() if any(expressions_in(node.args.get(k), given))}
            for problem in layer_args_problems(doc, use.args_path, node.layer or "", computed):
                yield replace(problem, message=f"block '{block.name}', node '{node.name}': {problem.message}")


def _written(doc: Document, path: JsonPath) -> Any:
    """The document's data at ``path`` (a node as written, with keys the typed NodeSpec drops)."""
    value: Any = doc.data
    for key in path:
        value = value[key]
    return value


def _check_layer_use(spec: Spec, doc: Document, node: NodeSpec, infos: dict[str, LayerInfo],
                     sequential: bool, block_params: frozenset[str] = frozenset()) -> Iterator[Problem]:
    yield from check_layer(spec, doc, node.layer or "", node.args, node.args_path, infos, sequential,
                           block_params=block_params)


def check_layer(spec: Spec, doc: Document, layer: str, args: Any, args_path: JsonPath, infos: dict[str, LayerInfo],
                missing_at_key: bool, depth: int = 0, block_params: frozenset[str] = frozenset()
                ) -> Iterator[Problem]:
    """Problems of one use of ``layer`` (a built-in or a custom type) with ``args`` written at
    ``args_path``: a node's layer, or a layer inside a layer-valued argument (``depth`` levels down),
    whose own nested layers are checked the same way. ``missing_at_key`` puts a missing argument at
    the layer's key rather than its value; inside a block, values naming ``block_params`` are
    expressions."""
    known = catalog().layers
    if layer not in known and layer not in spec.layer_types:
        yield doc.problem(args_path, f"unknown layer type '{layer}'",
                          did_you_mean(layer, [*known, *spec.layer_types, *spec.blocks]), "unknown-layer", at_key=True)
        return
    # Inside a block, values naming its parameters are expressions: checked as such here, their
    # values (known at build) by the layer when built; the other arguments are checked as usual.
    dynamic = {key for key, value in args.items() if any(expressions_in(value, block_params))}
    for key in sorted(dynamic):
        for where, text in expressions_in(args[key], block_params):
            yield from _expression_problems(doc, (*args_path, key, *where), text, block_params, current_limits.get())
    args = JsonMap({k: v for k, v in args.items() if k not in dynamic})
    info = infos[layer] if layer in infos else _builtin_info(layer)
    allowed, params, build_args, root = info.allowed, info.params, info.build_args, info.root
    # `extends: Layer` is the way to use Layer; a list item naming no layer stands for "Layer" unwritten
    if (root in UNUSABLE_LAYERS and root != "Layer") or (layer == "Layer" and _names_key(doc, args_path)):
        what, hint = UNUSABLE_LAYERS[root]
        yield doc.problem(args_path, f"layer '{root}' {what}; it cannot be a layer of a model", hint,
                          "unusable-layer", at_key=True)
        return
    if root in UNSAFE_LAYERS:
        yield doc.problem(args_path, f"layer '{root}' {UNSAFE_LAYERS[root]}; declar refuses it",
                          "write a custom layer type with a call expression instead", "unsafe-layer", at_key=True)
        return
    for where, message, hint in path_refusals(root, args):  # the gate applies the same rule to nested layers
        yield doc.problem((*args_path, *where), message, hint, "path-argument")
    base_args = {k: v for k, v in args.items() if k not in params and k != BUILD_KEY}
    if base_args and root in catalog().layers:
        yield from layer_args_problems(doc, args_path, root, base_args)
        yield from argument_problems(doc, args_path, root, base_args)  # the allow-list gate
        yield from _check_nested_layers(spec, doc, root, base_args, args_path, infos, depth)
    for key in info.initializer_params:
        if key in args and args[key] is not None:  # reaches keras.initializers.get at build
            yield from object_problems(doc, (*args_path, key), "initializer", args[key])
    unknown: list[str] = []
    for key, value in args.items():
        if key == BUILD_KEY:
            if not build_args and layer not in spec.layer_types:
                yield doc.problem((*args_path, key), f"'{layer}' has no build arguments", "", "unknown-arg",
                                  at_key=True)
            yield from _check_named_values(doc, (*args_path, key), value, build_args, f"build argument of {layer}")
        elif key in params:
            yield from check_value(doc, (*args_path, key), params[key], value)
        elif key == "dtype" and value is not None and value not in DTYPE_POLICIES:
            yield doc.problem((*args_path, key), f"unknown dtype policy {value!r}",
                              did_you_mean(str(value), DTYPE_POLICIES), "unknown-dtype")
        elif allowed is not None and key not in allowed:
            unknown.append(key)
    for key in [*unknown, *sorted(dynamic - set(params) - (allowed or set()))] if allowed is not None else ():
        hint = did_you_mean(key, sorted(allowed | set(params)))
        yield doc.problem((*args_path, key), f"'{layer}' has no argument '{key}'", hint, "unknown-arg", at_key=True)
    for missing in info.required:
        if missing not in args and missing not in dynamic:
            yield doc.problem(args_path, f"'{layer}' needs argument '{missing}'", "", "missing-arg",
                              at_key=missing_at_key)
    for missing in [p for p in params.values() if p.required and p.name not in args and p.name not in dynamic]:
        yield doc.problem(args_path, f"'{layer}' needs parameter '{missing.name}' ({missing.type})", "",
                          "missing-param", at_key=missing_at_key)
    given_build = args.get(BUILD_KEY) or {}
    for missing in [p for p in build_args.values() if p.required and p.name not in given_build]:
        yield doc.problem(args_path, f"'{layer}' needs build argument '{missing.name}' under build:", "",
                          "missing-param", at_key=missing_at_key)


def _names_key(doc: Document, path: JsonPath) -> bool:
    """Whether the last key of ``path`` is written in the document (not a stand-in of the typed spec)."""
    parent = _written(doc, path[:-1]) if path else None
    return isinstance(parent, dict) and path[-1] in parent


def _check_nested_layers(spec: Spec, doc: Document, wrapper: str, args: dict[str, Any], args_path: JsonPath,
                         infos: dict[str, LayerInfo], depth: int) -> Iterator[Problem]:
    """The layers written ``{LayerName: {arguments}}`` in the layer-valued arguments of the built-in
    ``wrapper``, each checked as a node's layer, and as what the wrapper needs (an RNN...)."""
    for key in LAYER_ARGS.get(wrapper, {}):
        value = args.get(key)
        items = [((*args_path, key, i), v) for i, v in enumerate(value)] if isinstance(value, list) \
            else [((*args_path, key), value)]
        for path, item in items:
            form = spec_form(item)
            if form is None:
                continue  # null, or {class_name, config}: the allow-list gate has checked it
            name, nested_args = form
            requirement = requirement_problem(wrapper, key, name, custom=name in spec.layer_types)
            if depth + 1 >= MAX_NESTING:
                yield doc.problem((*path, name), f"layers nested more than {MAX_NESTING} deep", "", "nested-layer",
                                  at_key=True)
            elif requirement is not None and (name in spec.layer_types or name in catalog().layers):
                yield doc.problem((*path, name), *requirement, "nested-layer", at_key=True)
            elif nested_args is not None and not isinstance(nested_args, dict):
                yield doc.problem((*path, name), f"the arguments of {name} must be a mapping, got "
                                  f"{typed_repr(nested_args)}", f"write {name}: {{...}}", "nested-layer")
            else:
                yield from check_layer(spec, doc, name, nested_args or {}, (*path, name), infos, True, depth + 1)


@dataclass(frozen=True)
class LayerInfo:
    """What a use of a layer type may pass: resolved once per type along its `extends` chain."""

    root: str  # the built-in layer (or `Layer`) at the root of the chain
    allowed: frozenset[str] | None  # arguments the root takes; None when unknown
    params: dict[str, ParamSpec]
    build_args: dict[str, ParamSpec]
    required: tuple[str, ...]  # arguments of the root without a default
    # Parameters of type `any` that a variable along the chain takes as its initializer (those
    # typed `initializer` are checked as such by `check_value`): they reach keras.initializers.get.
    initializer_params: tuple[str, ...] = ()


def layer_infos(spec: Spec, max_depth: int | None = None) -> dict[str, LayerInfo]:
    """LayerInfo of every custom type, each chain walked once (linear in the number of types).

    A type that declares no params, build_args or variables shares its parent's LayerInfo: a chain
    of 40,000 such types used 9,990 times resolved the chain per use (93 s) and would copy its
    dicts per type. A type deeper than ``max_depth`` in its chain (refused by the layer-type
    checks) gets an open LayerInfo without merging, so uses of it add no further problems and the
    merging stays linear: each type merges at most ``max_depth`` ancestors' parameters.
    """
    infos: dict[str, LayerInfo] = {}
    depths: dict[str, int] = {}
    for start in spec.layer_types:
        chain: list[str] = []  # walked without recursion: chains may be thousands of types long
        name = start
        while name in spec.layer_types and name not in infos and name not in chain:
            chain.append(name)
            name = spec.layer_types[name].extends
        info = infos.get(name) or _builtin_info(name if name not in spec.layer_types else "")
        depth = depths.get(name, 0)
        for member in reversed(chain):
            lt = spec.layer_types[member]
            depth += 1
            depths[member] = depth
            if max_depth is not None and depth > max_depth:
                info = LayerInfo(info.root, None, {}, {}, (), ())
            elif lt.params or lt.build_args or lt.variables:
                params = {**info.params, **{p.name: p for p in lt.params}}
                info = LayerInfo(info.root, info.allowed, params,
                                 {**info.build_args, **{p.name: p for p in lt.build_args}}, info.required,
                                 _initializer_params(spec, member, params))
            infos[member] = info
    return infos


def _initializer_params(spec: Spec, layer: str, params: dict[str, ParamSpec]) -> tuple[str, ...]:
    """The `any` parameters that variables along the chain from `layer` take as initializers, in
    chain order (called once per type that declares something, not per use)."""
    found, seen, current = [], set(), layer
    while current in spec.layer_types and current not in seen:
        seen.add(current)
        for var in spec.layer_types[current].variables:
            init = var.initializer
            if isinstance(init, str) and init in params and params[init].type == "any":
                found.append(init)
        current = spec.layer_types[current].extends
    return tuple(found)


def _builtin_info(layer: str) -> LayerInfo:
    if layer == "Layer":
        allowed: frozenset[str] | None = frozenset(COMMON_LAYER_ARGS)
    elif layer in catalog().layers:
        allowed = frozenset(catalog().layers[layer]) | frozenset(COMMON_LAYER_ARGS)
    else:
        allowed = None
    return LayerInfo(layer, allowed, {}, {}, catalog().layers_required.get(layer, ()))


def _check_named_values(doc: Document, path: JsonPath, given: Any, declared: dict[str, ParamSpec], what: str
                        ) -> Iterator[Problem]:
    if not isinstance(given, dict):
        return
    for key, value in given.items():
        if key not in declared:
            yield doc.problem((*path, key), f"unknown {what} '{key}'", did_you_mean(key, declared), "unknown-arg",
                              at_key=True)
        else:
            yield from check_value(doc, (*path, key), declared[key], value)


def _check_graph(doc: Document, graph: GraphSpec, input_names: set[str], node_names: set[str],
                 several: dict[str, bool] | None = None, params: frozenset[str] = frozenset()) -> Iterator[Problem]:
    # Self-references are reported by _check_node; a name shared with an input means the input.
    names = node_names - input_names
    deps = {n.name: node_dependencies(n, names) for n in graph.nodes}
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
                yield doc.problem((*graph.nodes_path, child), "cycle in the graph: " + " -> ".join(cycle),
                                  "a node cannot depend on itself", "cycle", at_key=True)
                state[name] = 2
                stack.pop()
            elif state.get(child) is None:
                state[child] = 1
                stack.append((child, iter(deps[child])))
    constants = constant_ops(graph, deps, input_names)
    outputs_path = graph.outputs_path
    raw_outputs = _written(doc, outputs_path)
    out_names = [parse_ref(ref).name for ref in graph.outputs.refs]
    for i, ref in enumerate(graph.outputs.refs):
        path = outputs_path if isinstance(raw_outputs, str) else (
            (*outputs_path, i) if isinstance(raw_outputs, list) else (*outputs_path, graph.outputs.names[i]))
        if out_names[i] not in node_names:
            yield doc.problem(path, f"output '{out_names[i]}' is not a node", did_you_mean(out_names[i], node_names),
                              "unknown-ref")
        elif out_names[i] in constants:
            yield constant_problem(doc, path, out_names[i], f"output '{ref}'")
        elif several is not None:
            yield from ref_problems(doc, graph, path, ref, None, several)
    used = set()
    frontier = [o for o in out_names if o in node_names]
    while frontier:
        name = frontier.pop()
        if name not in used:
            used.add(name)
            frontier.extend(deps.get(name, []))
    for node in graph.nodes:
        if node.name not in used and all(o in node_names for o in out_names):
            yield doc.problem(node.path, f"node '{node.name}' does not lead to any output",
                              "remove it, or add it to outputs", "unused-node", at_key=True)
