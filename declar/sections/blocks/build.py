"""The blocks section's build step: a block use, or a repeated node, as a nested functional Keras model.

A block use is a `keras.Model` named after the node, built at the use site from `keras.Input`s
shaped like the incoming tensors, its nodes created by the model's own `run_graph` inside
``keras.name_scope(node.name)``: its weights are path-named (``encoder/attention/query/kernel``)
and ``model.get_layer("encoder")`` is a model a user can call. ``repeat: N`` makes a sub-model
named after the node holding N chained copies ``block_1 ... block_N``, each with its own weights
(``encoder/block_2/attention/query/kernel``). Parameter expressions are computed first, and the
computed arguments pass the same argument gate as written ones before Keras sees them. A block's
``losses:`` are an `AuxiliaryLoss` layer in its graph (`declar.keras.aux_losses.with_block_losses`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import keras

from declar.errors import ModelBuildError
from declar.keras.aux_losses import with_block_losses
from declar.limits import current_limits
from declar.spec.block_args import gate_refusals, substitute
from declar.spec.layer_count import block_env, repeat_count
from declar.spec.model import GraphSpec, JsonMap, NodeSpec, Spec

RunGraph = Callable[[GraphSpec, dict[str, Any], Mapping[str, Any]], Any]
"""Creates and calls a graph's nodes on the given input tensors (its `op:` nodes may use the block's
parameters, given by value), and returns its outputs."""


def _inputs_like(incoming: list[Any], names: tuple[str, ...]) -> list[Any]:
    return [keras.Input(shape=tuple(t.shape)[1:], dtype=t.dtype, name=name)
            for t, name in zip(incoming, names, strict=False)]


def _single(tensors: list[Any]) -> Any:
    return tensors[0] if len(tensors) == 1 else tensors


def concrete_graph(spec: Spec, graph: GraphSpec, env: Mapping[str, Any]) -> GraphSpec:
    """``graph`` with every parameter expression of its nodes computed under ``env``."""
    limits = current_limits.get()
    nodes = []
    for node in graph.nodes:
        args = substitute(dict(node.args), env, limits)
        if node.layer and node.layer not in spec.blocks:
            _gate(node, args)
        repeat = repeat_count(node, env, limits) if node.repeat is not None else None
        nodes.append(dataclasses.replace(node, args=JsonMap(args), repeat=repeat))
    # Nested block uses get their arguments computed too: carried as constants from here on.
    return dataclasses.replace(graph, nodes=tuple(nodes))


def _gate(node: NodeSpec, args: dict[str, Any]) -> None:
    """The argument gate of validation, applied to computed values (they were expressions there)."""
    refusals = gate_refusals(node.layer or "", args)
    if refusals:
        _, message, hint = refusals[0]
        raise ModelBuildError(node, f"{message} ({hint})" if hint else message, code="path-argument")


def block_model(spec: Spec, node: NodeSpec, incoming: list[Any], run_graph: RunGraph) -> keras.Model:
    """The nested model of one use of a block, built on inputs shaped like ``incoming``."""
    block = spec.blocks[node.layer or ""]
    env = block_env(spec, node, {}, current_limits.get())
    with keras.name_scope(node.name):
        inputs = _inputs_like(incoming, block.graph.inputs)
        tensors = dict(zip(block.graph.inputs, inputs, strict=False))
        outputs = run_graph(concrete_graph(spec, block.graph, env), tensors, env)
        outputs = with_block_losses(block.name, block.losses, tensors, env, outputs)
    model = keras.Model(_single(inputs), outputs, name=node.name)
    model.declar_kind = block.name  # what `declar build` shows as its type
    return model


def repeated_model(spec: Spec, node: NodeSpec, incoming: list[Any], make_copy: Callable[[NodeSpec, Any], Any]
                   ) -> keras.Model:
    """A sub-model named after ``node`` chaining ``node.repeat`` copies ``block_1 ... block_N``."""
    count = node.repeat if isinstance(node.repeat, int) else 1
    with keras.name_scope(node.name):
        (entry,) = _inputs_like(incoming[:1], (f"{node.name}_input",))
        tensor = entry
        for i in range(1, count + 1):
            copy = dataclasses.replace(node, name=f"block_{i}", repeat=None)
            tensor = make_copy(copy, tensor)(tensor)
    model = keras.Model(entry, tensor, name=node.name)
    model.declar_kind = f"{node.layer} x {count}"
    return model
