"""Checks of the `blocks` section: each block's graph, its name and parameters, and how blocks use
each other (no cycles, nesting no deeper than `Limits.max_extends_depth`).

A block's uses are checked where they are written, with the graph's nodes
(`declar.sections.model.checks`): arguments against its parameters, the number of inputs.
"""

from __future__ import annotations

from collections.abc import Iterator

from declar.errors import Problem
from declar.limits import Limits
from declar.sections.layers.state_checks import check_block_losses
from declar.sections.model.checks import check_graph, layer_infos
from declar.spec.catalog import catalog
from declar.spec.checks.values import check_value
from declar.spec.loaded import LoadedSpec
from declar.spec.model import BlockSpec, Spec
from declar.spec.source import Document


def check_blocks(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    if not spec.blocks:
        return
    infos = layer_infos(spec, limits.max_extends_depth)
    for block in spec.blocks.values():
        yield from _check_name(spec, doc, block)
        for param in block.params:
            if not param.required:
                yield from check_value(doc, (*block.path, "params", param.name, "default"), param, param.default)
        for clash in sorted(set(block.graph.inputs) & {p.name for p in block.params}):
            yield doc.problem((*block.path, "inputs"), f"block input '{clash}' has the name of a parameter",
                              "rename one", "duplicate-name")
        yield from check_graph(spec, doc, block.graph, infos, limits)
        yield from check_block_losses(doc, block, limits)
    yield from _check_nesting(spec, doc, limits)


def _check_name(spec: Spec, doc: Document, block: BlockSpec) -> Iterator[Problem]:
    if not _clashes(spec, block.name):
        return
    if block.name in catalog().layers or block.name == "Layer":
        yield doc.problem(block.path, f"block '{block.name}' has the name of a Keras layer",
                          f"rename it (e.g. {block.name}Block)", "duplicate-name", at_key=True)
    elif block.name in spec.layer_types:
        yield doc.problem(block.path, f"block '{block.name}' has the name of a custom layer type",
                          "a name means one thing: rename one", "duplicate-name", at_key=True)


def _uses(spec: Spec, block: BlockSpec) -> list[tuple[str, tuple]]:
    """(block used, where the use is written) for every node of ``block`` that uses a block (one
    named like a layer is refused by its name, and not followed)."""
    return [(n.layer, n.args_path) for n in block.graph.nodes
            if n.layer in spec.blocks and not _clashes(spec, n.layer)]


def _clashes(spec: Spec, name: str) -> bool:
    return name in catalog().layers or name == "Layer" or name in spec.layer_types


def _check_nesting(spec: Spec, doc: Document, limits: Limits) -> Iterator[Problem]:
    """Cycles (A uses B uses A) and nesting depth, walked without recursion; each reported once."""
    depth: dict[str, int] = {}  # blocks done: how deep their nesting goes (1: uses no block)
    reported: set[str] = set()
    for start in spec.blocks:
        if start in depth:
            continue
        stack = [(start, iter(_uses(spec, spec.blocks[start])))]
        on_stack = {start}
        while stack:
            name, uses = stack[-1]
            used, path = next(uses, (None, None))
            if used is None:
                stack.pop()
                on_stack.discard(name)
                inner = [depth.get(u, 0) for u, _ in _uses(spec, spec.blocks[name])]
                depth[name] = 1 + max(inner, default=0)
                if depth[name] > limits.max_extends_depth and name not in reported:
                    reported.add(name)
                    yield doc.problem(spec.blocks[name].path, f"block '{name}' nests blocks {depth[name]} deep, "
                                      f"over the limit of {limits.max_extends_depth}",
                                      "flatten the nesting, or raise Limits.max_extends_depth", "block-depth",
                                      at_key=True)
            elif used in on_stack:
                cycle = [n for n, _ in stack][[n for n, _ in stack].index(used):]
                if used not in reported:
                    reported.update(cycle)
                    yield doc.problem(path, "blocks use each other: " + " -> ".join([*cycle, used]),
                                      "a block cannot contain itself", "cycle", at_key=True)
                depth[used] = depth.get(used, 0)
            elif used not in depth:
                on_stack.add(used)
                stack.append((used, iter(_uses(spec, spec.blocks[used]))))
