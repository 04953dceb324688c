"""References to tensors in a graph: ``x`` (an input or a node) and ``lstm[1]`` (one of its outputs).

A reference is written wherever a tensor goes: a node's ``inputs``, the tensor values of its
``call:``, the graph's ``outputs``. ``name[i]`` picks the output at position ``i`` (0-based) of a
layer returning several (LSTM with ``return_state``), ``name[key]`` the entry ``key`` of one
returning a dict. Nothing here imports keras: the checks and the build read references the same way.

Example:
    >>> parse_ref("lstm[1]"), parse_ref("x"), parse_ref("out[logits]")
    (Ref(name='lstm', index=1), Ref(name='x', index=None), Ref(name='out', index='logits'))
    >>> sorted(op_check("a + b[0]", {"a", "b", "c"}, "s").names)
    ['a', 'b']
    >>> [r for _, r in call_refs({"value": "x", "mask": ["a", "b[0]"], "use_causal_mask": True})]
    ['x', 'a', 'b[0]']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Any

from declar.errors import JsonPath
from declar.expr.parse import Checked, Context, check

# The same grammar as the schema's `ref` (schemas/declar.schema.json).
_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,63})(?:\[([0-9]{1,4}|[A-Za-z_][A-Za-z0-9_]{0,63})\])?")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: the input or node ``name``, and which of its outputs (None: all of it)."""

    name: str
    index: int | str | None = None


def parse_ref(text: str) -> Ref:
    """The reference ``text`` as (name, index); text the schema refuses comes back whole as a name.

    Example:
        >>> parse_ref("enc[2]").index
        2
    """
    match = _REF.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return Ref(str(text))
    index = match.group(2)
    return Ref(match.group(1), None if index is None else int(index) if index.isdigit() else index)


def call_refs(call: Mapping[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    """(path inside ``call``, reference) of every tensor reference among a node's call arguments:
    a string is one, a list of strings is a list of them; any other value is a constant.

    Example:
        >>> list(call_refs({"value": "v", "training": False}))
        [(('value',), 'v')]
    """
    for key, value in call.items():
        if isinstance(value, str):
            yield (key,), value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            for i, item in enumerate(value):
                yield (key, i), item


def node_ref_names(inputs: tuple[str, ...], call: Mapping[str, Any]) -> list[str]:
    """The input and node names a layer node reads through ``inputs`` and ``call`` (with repeats).

    Example:
        >>> node_ref_names(("q",), {"value": "enc[0]"})
        ['q', 'enc']
    """
    return [parse_ref(r).name for r in (*inputs, *(ref for _, ref in call_refs(call)))]


class NamesBut(Set[str]):
    """``names`` without ``left_out``, not copied: each op node of a graph of many thousands is
    checked against all the other names (a copy per node made validate quadratic: 10,000 nodes, 22 s).

    Example:
        >>> names = NamesBut(frozenset({"a", "b"}), "a")
        >>> "a" in names, "b" in names, len(names), sorted(names)
        (False, True, 1, ['b'])
    """

    def __init__(self, names: Set[str], left_out: str):
        self._names, self._left_out = names, left_out

    def __contains__(self, name: object) -> bool:
        return name != self._left_out and name in self._names

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._names if n != self._left_out)

    def __len__(self) -> int:
        return len(self._names) - (self._left_out in self._names)


def op_context(names: Iterable[str], node: str) -> Context:
    """What the ``op:`` of node ``node`` may use: the graph's inputs and other nodes (and, in a
    block, its params), with the function table; ``b[0]`` in it is plain indexing of ``b``."""
    return Context(names=NamesBut(names if isinstance(names, Set) else frozenset(names), node),
                   kind=f"op of node '{node}'")


def op_check(text: str, names: Iterable[str], node: str) -> Checked:
    """The checked ``op:`` expression of node ``node`` over ``names`` (the checks and the build
    both check it this way, so a name bound at validate is bound at build)."""
    return check(text, op_context(names, node))


def node_dependencies(node: Any, names: Set[str]) -> list[str]:
    """The names among ``names`` that the node ``node`` (a `NodeSpec`) reads: its ``inputs``, the
    references under ``call:``, the free names of its ``op:``, and the node it ``shares``.

    Example:
        >>> from declar.spec.model import NodeSpec
        >>> node_dependencies(NodeSpec("s", None, op="a * 2 + x"), {"a", "x", "s"})
        ['a', 'x']
    """
    known = names  # not copied: called once per node of graphs of many thousands
    if isinstance(node.op, str):
        found = sorted(op_check(node.op, known, node.name).names & known)
    else:
        found = node_ref_names(node.inputs, node.call)
    if node.shares:
        found.append(node.shares)
    return [n for n in dict.fromkeys(found) if n in known and n != node.name]
