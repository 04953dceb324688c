"""How many Keras layers a spec builds, blocks and `repeat` expanded: what `Limits.max_layers` bounds.

A block use counts as one layer (its sub-model) plus the layers inside it; `repeat: N` as one
(the sub-model holding the copies) plus N times its layer. A block's count is computed once per
distinct set of parameter values, and counting stops as soon as the total passes ``cap``, so
counting is linear in the spec's size even when repeats multiply to astronomic numbers. Nothing
here imports Keras; broken parts (unknown blocks, bad repeats, cycles) count as one layer and are
reported by the checks.

Example:
    >>> from declar.spec.model import Spec
    >>> spec = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
    ...                        "model": [{"Dense": {"units": 3}, "repeat": 4}, {"Dense": {"units": 1}}]})
    >>> node_layer_counts(spec, 10_000)
    [5, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from declar.expr.evaluate import ExpressionError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.block_args import substitute
from declar.spec.model import NodeSpec, Spec, canonical_json


def repeat_count(node: NodeSpec, env: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> int | None:
    """The node's `repeat` as a number (1 when absent), or None when it is not a positive integer."""
    value = node.repeat
    if value is None:
        return 1
    if isinstance(value, str):
        try:
            value = substitute(value, env, limits)
        except ExpressionError:
            return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def block_env(spec: Spec, node: NodeSpec, env: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS
              ) -> dict[str, Any]:
    """The parameter values a block use gives its block: its arguments (computed) or the defaults.

    Raises `ExpressionError` when an argument expression (inside an enclosing block) fails.
    """
    args = substitute(dict(node.args), env, limits) if env else dict(node.args)
    return {p.name: args.get(p.name, p.default) for p in spec.blocks[node.layer or ""].params}


class _Counter:
    def __init__(self, spec: Spec, cap: int, limits: Limits):
        self.spec, self.cap, self.limits = spec, cap, limits
        self.memo: dict[tuple[str, str], int] = {}
        self.open: list[str] = []  # the blocks being counted, outermost first (a cycle counts once)

    def nodes(self, nodes: Sequence[NodeSpec], env: Mapping[str, Any]) -> int:
        total = 0
        for node in nodes:
            total += self.node(node, env)
            if total > self.cap:
                break
        return total

    def node(self, node: NodeSpec, env: Mapping[str, Any]) -> int:
        repeat = repeat_count(node, env, self.limits) or 1
        inner = 1
        name = node.layer or ""
        if name in self.spec.blocks and name not in self.open and len(self.open) < self.limits.max_extends_depth:
            try:
                values = block_env(self.spec, node, env, self.limits)
            except ExpressionError:
                values = {}
            key = (name, canonical_json(values))
            if key not in self.memo:
                self.open.append(name)
                self.memo[key] = 1 + self.nodes(self.spec.blocks[name].graph.nodes, values)
                self.open.pop()
            inner = self.memo[key]
        return repeat * inner + (repeat > 1)


def node_layer_counts(spec: Spec, cap: int, limits: Limits = DEFAULT_LIMITS) -> list[int]:
    """Layers each node of the model builds (blocks and repeats expanded), until the total passes ``cap``."""
    counter, counts, total = _Counter(spec, cap, limits), [], 0
    for node in spec.nodes:
        counts.append(counter.node(node, {}))
        total += counts[-1]
        if total > cap:
            break
    return counts


def layer_count(spec: Spec, cap: int, limits: Limits = DEFAULT_LIMITS) -> int:
    """Layers the model builds, blocks and repeats expanded (counting stops once past ``cap``)."""
    return sum(node_layer_counts(spec, cap, limits))
