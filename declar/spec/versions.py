"""Format versions of the spec: the current one, and the chain of upgraders from every older one.

A spec says which format it is written in (``declar: 2``). `FORMAT_VERSION` is the format this
declar reads; every other place (the schema's hint, ``declar init``, the docs) takes it from here.
An older spec is upgraded on read, in memory, one step at a time: ``UPGRADERS[n]`` turns format
``n`` into ``n + 1``. The same steps rewrite a file (`declar migrate`), so each is written once,
against `SpecTree`: a small editing interface over plain data and its source map (what validation
reads, so a mistake in an old file is still reported at its line and column) and over
ruamel.yaml's round-trip tree (what ``declar migrate`` rewrites, keeping comments and layout).

Example:
    >>> from declar.spec.source import parse_yaml
    >>> doc = parse_yaml("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\n"
    ...                  "model: {nodes: {out: {layer: Dense, args: {units: 1}, inputs: x}}, outputs: out}\\n")
    >>> upgraded = upgrade(doc).document
    >>> upgraded.data["declar"], upgraded.data["model"]["nodes"]["out"]
    (2, {'Dense': {'units': 1}, 'inputs': 'x'})
    >>> upgraded.source_map.key_position(("model", "nodes", "out", "Dense"))  # where `layer: Dense` said it
    (4, 30)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from declar.errors import JsonPath, Problem
from declar.spec.source import Document, SourceMap

FORMAT_VERSION = 2
"""The spec format this declar reads and writes."""

class SpecTree(Protocol):
    """What an upgrader edits: a spec document, read as nested mappings and lists.

    ``root`` is read like plain data (its mappings are dicts, its scalars str, int, ...); changes
    go through the methods, so each form keeps what it must: the source map of plain data, the
    comments of a round-trip tree.
    """

    root: Any

    def set_value(self, path: JsonPath, key: str, value: Any) -> None:
        """Give ``key`` of the mapping at ``path`` a new scalar value, where it is."""

    def replace_key(self, path: JsonPath, old: str, new: str, value_from: str) -> None:
        """Put ``new: <the value of value_from>`` (or an empty mapping) where ``old`` is; drop both."""

    def remove_key(self, path: JsonPath, key: str) -> None:
        """Drop ``key`` from the mapping at ``path``."""

    def report(self, path: JsonPath, message: str, hint: str, code: str) -> None:
        """A mistake of the old format that the new one cannot express."""


def graph_nodes_name_their_layer(tree: SpecTree) -> str:
    """Format 1 -> 2: a graph node writes its layer as a key, ``{Dense: {units: 8}, inputs: x}``.

    Format 1 wrote ``{layer: Dense, args: {units: 8}, inputs: x}``. Format 2 writes a layer one way
    everywhere, as the Sequential list always did (``- Dense: {units: 8}``): nested layers (a
    Bidirectional LSTM, TimeDistributed, blocks) need that one form, and the editor schema can then
    attach each layer's argument schema to graph nodes too. The new key takes the place of
    ``layer:``; a node without ``args`` gets an empty mapping (``{Flatten: {}, inputs: x}``), and
    nodes that share a layer (``{shares: other, inputs: y}``) do not change.
    """
    model = tree.root.get("model")
    nodes = model.get("nodes") if isinstance(model, dict) else None
    if not isinstance(nodes, dict):
        return ""
    upgraded = 0
    for name, node in list(nodes.items()):
        path = ("model", "nodes", name)
        if not isinstance(node, dict):
            continue
        layer = node.get("layer")
        if isinstance(layer, str) and layer not in node:
            tree.replace_key(path, "layer", layer, "args")
            upgraded += 1
            continue
        if "layer" in node:  # a layer format 2 cannot write as a key: say why, once, where `layer:` is
            if isinstance(layer, str):
                tree.report((*path, "layer"), f"node '{name}' names its layer twice: `layer: {layer}` and `{layer}:`",
                            f"keep one; format 2 writes `{layer}: {{...arguments}}`", "node-layer")
            else:
                tree.report((*path, "layer"), f"node '{name}': layer must be a layer type's name, "
                            f"got {json.dumps(layer, default=str)[:40]}", "write it as `layer: Dense`", "node-layer")
            tree.remove_key(path, "layer")
        elif "args" in node:  # arguments without a layer: format 2 has nowhere to put them
            if "shares" in node:
                tree.report((*path, "args"), "a node that shares a layer takes no args",
                            "the arguments belong to the node that creates the layer", "node-layer")
            else:
                tree.report((*path, "args"), f"node '{name}' has args but no layer",
                            "name the layer: `layer: Dense`", "node-layer")
        if "args" in node:  # reported above, with the mistake that leaves it without a place
            tree.remove_key(path, "args")
    return f"{upgraded} graph node{'s' * (upgraded != 1)}" if upgraded else ""


Upgrader = Callable[[SpecTree], str]
"""One step: edits a tree of format n into format n + 1, and says what it changed ("" for nothing)."""

UPGRADERS: dict[int, Upgrader] = {1: graph_nodes_name_their_layer}
"""``UPGRADERS[n]`` upgrades format ``n`` to ``n + 1``; one entry for each version before the current."""

def known_version(version: Any) -> bool:
    """True when ``version`` is a format version this declar reads (a whole number from 1 to the current).

    Example:
        >>> known_version(1), known_version(FORMAT_VERSION + 1), known_version("1"), known_version(True)
        (True, False, False, False)
    """
    return isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= FORMAT_VERSION


def version_problem(doc: Document) -> Problem | None:
    """Why this document's format version cannot be read, or None (a known version, or no mapping yet).

    A missing ``declar`` key is left to the schema, which reports it with the others.
    """
    data = doc.data
    if not isinstance(data, dict) or "declar" not in data:
        return None
    version = data["declar"]
    if known_version(version):
        return None
    if isinstance(version, int) and not isinstance(version, bool):
        if version > FORMAT_VERSION:
            return doc.problem(("declar",), f"format version {version} is newer than this declar reads "
                               f"(up to {FORMAT_VERSION})", "upgrade declar: pip install -U declar",
                               "format-too-new")
    shown = json.dumps(version)[:40]
    return doc.problem(("declar",), f"{shown} is not a format version",
                       f"write `declar: {FORMAT_VERSION}`; this declar reads format versions 1 to {FORMAT_VERSION}, "
                       "as whole numbers", "format-version")


def upgrade_tree(tree: SpecTree) -> list[str]:
    """Apply the chain from the tree's (known) version to the current one; what each step changed."""
    changes = [UPGRADERS[version](tree) for version in range(tree.root["declar"], FORMAT_VERSION)]
    tree.set_value((), "declar", FORMAT_VERSION)
    return [c for c in changes if c]


@dataclass(frozen=True)
class Upgraded:
    """A document at the current format version, the version it was written in, and what did not carry over."""

    document: Document
    from_version: int
    problems: list[Problem]
    """Mistakes of the old format that the new one cannot express, located in the original text."""


def upgrade(doc: Document) -> Upgraded:
    """The document at the current format version (itself when it is current), located as written.

    The version must be known (`version_problem` is None). Source-map paths move with the values,
    so every later problem points into the original text.
    """
    data = doc.data
    version = data.get("declar", FORMAT_VERSION) if isinstance(data, dict) else FORMAT_VERSION
    if version == FORMAT_VERSION:
        return Upgraded(doc, FORMAT_VERSION, [])
    tree = PlainTree(doc.file, copy.deepcopy(data), doc.source_map)
    upgrade_tree(tree)
    return Upgraded(Document(doc.file, doc.text, tree.root, tree.finish()), version, tree.problems)


def upgraded_data(data: Any) -> Any:
    """Plain spec data at the current format version (a copy when it was older; as given otherwise)."""
    if not isinstance(data, dict) or not known_version(data.get("declar")):
        return data
    return upgrade(Document("<data>", "", data, SourceMap())).document.data


@dataclass
class PlainTree:
    """Plain data and its source map as a `SpecTree`: positions move with the values they locate."""

    file: str
    root: Any
    source_map: SourceMap
    problems: list[Problem] = field(default_factory=list)
    _moves: dict[JsonPath, JsonPath] = field(default_factory=dict)  # old path prefix -> new (None: dropped)
    _new_keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    _new_values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def _mapping(self, path: JsonPath) -> dict[str, Any]:
        node = self.root
        for part in path:
            node = node[part]
        return node

    def set_value(self, path: JsonPath, key: str, value: Any) -> None:
        self._mapping(path)[key] = value  # the position stays that of the value as written

    def replace_key(self, path: JsonPath, old: str, new: str, value_from: str) -> None:
        mapping = self._mapping(path)
        value = mapping[value_from] if value_from in mapping else {}
        items = [(new, value) if k == old else (k, v) for k, v in mapping.items() if k != value_from]
        mapping.clear()
        mapping.update(items)
        positions = self.source_map
        # The new key stands where the old key's value was written (`layer: Dense`), its value
        # where `args:` had its value; everything below `args` moves below the new key.
        self._new_keys[(*path, new)] = positions.values.get((*path, old), positions.position(path))
        if (*path, value_from) in positions.values:
            self._new_values[(*path, new)] = positions.values[(*path, value_from)]
        self._moves[(*path, value_from)] = (*path, new)
        self._moves[(*path, old)] = ()

    def remove_key(self, path: JsonPath, key: str) -> None:
        del self._mapping(path)[key]
        self._moves[(*path, key)] = ()

    def report(self, path: JsonPath, message: str, hint: str, code: str) -> None:
        line, col = self.source_map.position(path)
        self.problems.append(Problem(self.file, line, col, tuple(path), message, hint, code))

    def finish(self) -> SourceMap:
        """The source map with every move applied (one pass over it, however many nodes moved)."""
        lengths = sorted({len(p) for p in self._moves})

        def moved(path: JsonPath) -> JsonPath | None:
            for n in lengths:
                target = self._moves.get(path[:n])
                if target is not None:
                    return (*target, *path[n:]) if target else None
            return path

        out = SourceMap()
        for table, new_table, added in ((self.source_map.values, out.values, self._new_values),
                                        (self.source_map.keys, out.keys, self._new_keys)):
            for path, position in table.items():
                where = moved(path)
                if where is not None:
                    new_table[where] = position
            new_table.update(added)
        return out
