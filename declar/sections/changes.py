"""The vocabulary of diff rules: changed values and changed entries, and how they read.

Each section's diff rule (see `declar.sections`) reports what differs in its part of two specs as
`Change`s (one value, old -> new, under a dotted key) and `Item`s (an entry added, removed,
renamed or changed); `declar.compare` collects them into a `SpecDiff` and renders it.

Example:
    >>> [c.render() for c in changes({"name": "adam"}, {"name": "adam", "learning_rate": 0.01}, "optimizer")]
    ['optimizer.learning_rate: (unset) -> 0.01']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from declar.spec.model import Spec
from declar.text import escape

if TYPE_CHECKING:
    from declar.compare import SpecDiff

MISSING = "(unset)"


@dataclass(frozen=True)
class Change:
    """One changed value: a dotted key inside the thing compared, rendered old -> new."""

    key: str
    old: Any
    new: Any

    def render(self) -> str:
        return escape(f"{self.key}: {show(self.old)} -> {show(self.new)}")


@dataclass(frozen=True)
class Item:
    """One entry of a section: ``kind`` is added, removed, renamed or changed."""

    kind: str
    name: str
    detail: str = ""
    """The layer type of a node, the extended layer of a custom type."""
    old_name: str | None = None
    """For a rename, the name in the old version."""
    changes: tuple[Change, ...] = ()
    value: Any = None
    """For an added or removed entry, what it is (its arguments, definition or value)."""

    def render(self) -> str:
        return escape(self._render())

    def _render(self) -> str:
        what = f" ({self.detail})" if self.detail else ""
        if self.kind == "added":
            return f"+ {self.name}{what}" + (f": {show(self.value)}" if self.value not in (None, {}) else "")
        if self.kind == "removed":
            return f"- {self.name}{what}" + (f": {show(self.value)}" if self.value not in (None, {}) else "")
        changes = "; ".join(c.render() for c in self.changes)
        if self.kind == "renamed":
            return f"> {self.old_name} -> {self.name}{what}" + (f": {changes}" if changes else "")
        return f"~ {self.name}{what}: {changes}"


def show(value: Any) -> str:
    """A value as compact, YAML-like flow text (``{name: adam, learning_rate: 0.001}``)."""
    if value is MISSING:
        return MISSING
    if isinstance(value, str):
        return json.dumps(value) if (not value or value != value.strip() or any(c in value for c in ",:{}[]#\"'\n")
                                     or value in ("true", "false", "null")) else value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return json.dumps(value)


def changes(old: Any, new: Any, prefix: str = "", lists: bool = False) -> tuple[Change, ...]:
    """Changed dotted keys between two values: mappings are compared key by key, anything else whole
    (with ``lists``, lists of one length item by item too, as ``metrics[1].k``).

    A name and a mapping with that name (``adam`` and ``{name: adam, learning_rate: 0.01}``) are
    compared as ``{name: adam}`` and the mapping, so only the added arguments show.
    """
    if isinstance(old, str) and isinstance(new, dict) and new.get("name") == old:
        old = {"name": old}
    elif isinstance(new, str) and isinstance(old, dict) and old.get("name") == new:
        new = {"name": new}
    found: list[Change] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in [*old, *(k for k in new if k not in old)]:
            found += changes(old.get(k, MISSING), new.get(k, MISSING), f"{prefix}.{k}" if prefix else str(k), lists)
        return tuple(found)
    if lists and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found += changes(a, b, f"{prefix}[{i}]", lists)
        return tuple(found)
    return () if same(old, new) else (Change(prefix or "value", old, new),)


def same(a: Any, b: Any) -> bool:
    """Equality of spec values in which NaN equals NaN (a spec holding ``.nan`` is the same as itself).

    Example:
        >>> same({"x": float("nan")}, {"x": float("nan")}), same([1, 2], [1, 2.5])
        (True, False)
    """
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def keyed_items(old: Mapping[str, Any], new: Mapping[str, Any], detail: Callable[[Any], str] = lambda v: ""
                ) -> list[Item]:
    """Entries of two mappings by key: removed, added, and changed (with their changed values)."""
    items = [Item("removed", k, detail(v), value=v) for k, v in old.items() if k not in new]
    for k, v in new.items():
        if k not in old:
            items.append(Item("added", k, detail(v), value=v))
        elif not same(old[k], v):
            items.append(Item("changed", k, detail(v), changes=changes(old[k], v)))
    return items


def diff_settings(*keys: str) -> Callable[[Spec, Spec, SpecDiff], None]:
    """A diff rule reporting each of ``keys`` (top-level settings) that changed, in written order."""

    def diff(old: Spec, new: Spec, result: SpecDiff) -> None:
        written = [*old.written_keys, *(k for k in new.written_keys if k not in old.written_keys)]
        for key in (k for k in written if k in keys):
            result.settings += changes(old.section_data(key, MISSING), new.section_data(key, MISSING), key)

    return diff
