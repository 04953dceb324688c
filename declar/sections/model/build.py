"""The model section's build step: Keras layers created and called in node order.

`construct_graph` is what `declar.keras.model.DeclarModel` builds its functional graph with:
built-in layers by their Keras class, custom types as the generic `DeclarLayer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from declar.errors import DeclarError, ModelBuildError
from declar.expr.evaluate import ExpressionError, to_closure
from declar.keras.constant import ConstantTensor, is_symbolic
from declar.keras.layer import DeclarLayer, builtin_layer
from declar.keras.ops import draw_seed, keras_functions
from declar.limits import current_limits
from declar.sections.blocks.build import block_model, repeated_model
from declar.sections.model.batch_axis import batch_axis_problem
from declar.sections.model.vocabulary import read_vocabulary, vocabulary_file
from declar.spec.model import BUILD_KEY, GraphSpec, NodeSpec, Spec
from declar.spec.nested_layers import referenced_types
from declar.spec.refs import node_dependencies, op_check, parse_ref


def _make_layer(spec: Spec, node: NodeSpec, asset_root: str | None, incoming: list[Any] | None = None,
                scope: str = "") -> keras.layers.Layer:
    """The layer of ``node``; ``scope`` is the path of the block uses and repeats it sits in
    (``encoder/block_2``), the name scope its sub-models are built in."""
    inner = f"{scope}/{node.name}" if scope else node.name
    if node.repeat is not None:  # copies block_1 ... block_N in a sub-model named after the node
        return repeated_model(spec, node, incoming or [],
                              lambda copy, t: _make_layer(spec, copy, asset_root, [t], inner))
    if node.layer in spec.blocks:  # a nested model, its graph built like this one
        def run(graph: GraphSpec, tensors: dict[str, Any], params: Mapping[str, Any]) -> Any:
            run_graph(spec, graph, tensors, asset_root, params, inner)
            return graph_outputs(graph, tensors)

        return block_model(spec, node, incoming or [], run)
    args = dict(node.args)
    name = args.pop("name", None) or node.name
    if spec.dtype_policy and "dtype" not in args:
        args["dtype"] = spec.dtype_policy  # per layer: the caller's global policy is left alone
    types = layer_definitions(spec, node)
    if node.layer in spec.layer_types:
        build_args = args.pop(BUILD_KEY, None) or {}
        trainable = args.pop("trainable", True)
        dtype = args.pop("dtype", None)
        return DeclarLayer(types=types, layer_type=node.layer, args=args, build_args=build_args,
                           asset_root=asset_root, name=name, trainable=trainable, dtype=dtype,
                           seed=scoped_seed(spec.seed, scope))
    vocabulary = args.pop("vocabulary") if vocabulary_file(node.layer, args) else None
    layer = builtin_layer(node.layer or "", args, name=name, types=types)
    if vocabulary is not None and asset_root is not None:  # from an archive, Keras restores it from its asset
        layer.set_vocabulary(read_vocabulary(asset_root, vocabulary["file"], node.layer or "", current_limits.get()))
    return layer


def scoped_seed(seed: int | None, scope: str) -> int | None:
    """The seed a custom type's random draws start from: the spec's, or inside a block use or a
    repeat copy (``scope``, such as ``encoder/block_2``) one drawn from it and the scope, so that
    two uses of a block, or two copies, do not draw the same numbers.

    Example:
        >>> scoped_seed(5, ""), scoped_seed(5, "encoder") == draw_seed(5, "encoder")
        (5, True)
    """
    return draw_seed(seed or 0, scope) if scope else seed


def layer_definitions(spec: Spec, node: NodeSpec) -> dict[str, Any]:
    """The custom type definitions ``node``'s layer needs: its own type's chain, and the chains of the
    types written inside its layer-valued arguments (`TimeDistributed: {layer: {MyType: {}}}`)."""
    names = [node.layer] if node.layer in spec.layer_types else []
    types: dict[str, Any] = {}
    for name in [*names, *referenced_types(node.args, spec.layer_types)]:
        types.update(spec.layer_type_definitions(name or ""))
    return types


def check_output_sizes(node: NodeSpec, outputs: Any) -> None:
    """Refuse a layer whose symbolic outputs are too large per example, before anything runs.

    Keras has only computed shapes at this point; a `RepeatVector` of 3e8 or a `CategoryEncoding`
    of 1e9 tokens would allocate its output at the first call. Unknown sizes count as 1 (a lower
    bound); the batch axis is not counted, as for inputs.
    """
    limit = current_limits.get().max_variable_elements
    for tensor in keras.tree.flatten(outputs):
        shape = getattr(tensor, "shape", None)
        if shape is None:
            continue
        elements = 1
        for size in tuple(shape)[1:]:
            elements *= size if isinstance(size, int) else 1
        if elements > limit:
            kind = node.layer or (f"shares '{node.shares}'" if node.shares else "?")
            message = (f"layer '{node.name}' ({kind}): output of shape {list(shape[1:])} has {elements:,} elements "
                       f"per example, over the limit of {limit:,}; raise Limits.max_variable_elements if this "
                       "is intended")
            raise ModelBuildError(node, message, code="output-too-large")


def build_order(graph: GraphSpec | Spec) -> list[NodeSpec]:
    """The nodes in the order they are built: passes over the list, each building (in list order)
    every node whose inputs and shared layer are built by then (so initial weights, drawn in this
    order, do not depend on how it is computed).

    Computed in O(n log n): a node's pass is the latest pass of its dependencies, plus one for a
    dependency listed after it (repeated passes over a reversed 10,000-node list took minutes).
    """
    nodes = graph.nodes
    position = {n.name: i for i, n in enumerate(nodes)}
    # A name shared with an input means the input (a Spec's inputs are InputSpecs, a graph's names).
    names = set(position) - {getattr(i, "name", i) for i in graph.inputs}
    deps = {n.name: node_dependencies(n, names) for n in nodes}
    users: dict[str, list[str]] = {n.name: [] for n in nodes}
    waiting = {name: len(d) for name, d in deps.items()}
    for name, d in deps.items():
        for dep in d:
            users[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    passes: dict[str, int] = {}
    while ready:  # Kahn's algorithm: each node after all its dependencies
        name = ready.pop()
        passes[name] = max((passes[d] + (position[d] > position[name]) for d in deps[name]), default=0)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(passes) < len(nodes):  # the checks guarantee an acyclic graph; this is a last guard
        stuck = next(n for n in nodes if n.name not in passes)
        raise ModelBuildError(stuck, "the graph cannot be ordered")
    return sorted(nodes, key=lambda n: (passes[n.name], position[n.name]))


def construct_graph(spec: Spec, asset_root: str | None) -> tuple[dict[str, Any], Any]:
    """Keras inputs and outputs of the spec's graph, layers created and called in node order."""
    tensors: dict[str, Any] = {i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name) for i in spec.inputs}
    run_graph(spec, spec.graph, tensors, asset_root)
    return {i.name: tensors[i.name] for i in spec.inputs}, graph_outputs(spec.graph, tensors)


def run_graph(spec: Spec, graph: GraphSpec, tensors: dict[str, Any], asset_root: str | None,
              params: Mapping[str, Any] | None = None, scope: str = "") -> None:
    """Create and call every node of ``graph`` in build order; ``tensors`` holds the graph's inputs
    and receives every node's output under its name. ``params`` are further names the ``op:``
    expressions may use (a block's parameters, by value); ``scope`` is the path of the block use
    the graph is built for (see `_make_layer`)."""
    layers: dict[str, keras.layers.Layer] = {}
    names = {*graph.inputs, *(n.name for n in graph.nodes), *(params or {})}
    for node in build_order(graph):
        try:
            if node.op is not None:
                anchor = tensors[graph.inputs[0]] if graph.inputs else None
                tensors[node.name] = _run_op(node, names, {**(params or {}), **tensors}, anchor)
            else:
                incoming = [tensor_of(tensors, r) for r in node.inputs]  # repeats and blocks take their shapes
                layer = layers[node.shares] if node.shares else _make_layer(spec, node, asset_root, incoming, scope)
                layers[node.name] = layer
                tensors[node.name] = _call_layer(layer, node, tensors)
        except ModelBuildError:
            raise  # located already: an op's failure, or a node inside a block (a nested graph)
        except Exception as err:  # Keras reports bad arguments and shapes in many types
            raise ModelBuildError(node, f"{type(err).__name__}: {err}",
                                  code=err.code if isinstance(err, DeclarError) else None) from err
        check_output_sizes(node, tensors[node.name])


def _call_layer(layer: keras.layers.Layer, node: NodeSpec, tensors: dict[str, Any]) -> Any:
    """Call a node's layer: ``inputs`` as the first argument (a list passed as one list), the
    ``call:`` arguments by name."""
    args = [tensor_of(tensors, r) for r in node.inputs]
    kwargs = {key: _call_value(tensors, value) for key, value in node.call.items()}
    if not args:  # the first call argument is given by name under call:
        return layer(**kwargs)
    return layer(args if node.inputs_as_list else args[0], **kwargs)


def tensor_of(tensors: dict[str, Any], ref: str) -> Any:
    """The tensor a reference names: ``x``, or output ``i`` (key ``k``) of a node, ``lstm[1]``."""
    parsed = parse_ref(ref)
    value = tensors[parsed.name]
    return value if parsed.index is None else value[parsed.index]


def _call_value(tensors: dict[str, Any], value: Any) -> Any:
    """A ``call:`` value as the layer receives it: references resolved, constants as written."""
    if isinstance(value, str):
        return tensor_of(tensors, value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [tensor_of(tensors, v) for v in value]
    return value


def _run_op(node: NodeSpec, names: set[str], tensors: Mapping[str, Any], anchor: Any = None) -> Any:
    """An ``op:`` node's expression over keras.ops on the symbolic tensors: Keras infers its shape."""
    checked = op_check(node.op or "", names, node.name)
    if checked.tree is None:  # validation refuses it first; this is the last guard
        raise ModelBuildError(node, f"op: {checked.problems[0].message}")
    env = {name: tensors[name] for name in checked.names if name in tensors}
    compute = to_closure(checked.tree, keras_functions())
    try:
        value = compute(env)
        # the size guards count per example at a batch of None: an op moving examples would hide its cost
        moved = batch_axis_problem(compute, env)
    except ExpressionError as err:  # a guard of the evaluator (a size limit): its own message, one line
        raise ModelBuildError(node, f"op: {err}", code=err.code) from None
    if moved is not None:
        raise ModelBuildError(node, f"op: {node.op}: {moved}; an op keeps axis 0 as the batch (it may not join, "
                                    "repeat, reshape or move examples; reduce over them or keep them apart)",
                              code="op-batch-axis")
    if is_symbolic(value) or anchor is None:
        return value
    # Over constants only (`arange(0, maxlen)`): computed by a layer in the graph, so that a layer
    # applied to it is part of the model, its weights trained and saved (see declar.keras.constant).
    return ConstantTensor(lambda: compute(env), name=node.name)(anchor)


def graph_outputs(graph: GraphSpec, tensors: dict[str, Any]) -> Any:
    """What Keras returns for the graph: one tensor (a list of one is one), a list or a mapping."""
    declared = graph.outputs
    if declared.form == "mapping":
        return {name: tensor_of(tensors, ref) for name, ref in zip(declared.names, declared.refs, strict=True)}
    if len(declared.refs) == 1:
        return tensor_of(tensors, declared.refs[0])
    return [tensor_of(tensors, ref) for ref in declared.refs]
