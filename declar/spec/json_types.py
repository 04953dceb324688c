"""The JSON types as Python values, tested one way wherever declar checks a type.

PyYAML and json give ``bool`` for true/false, which Python counts as an ``int``; JSON Schema
does not, and neither does declar: ``True`` is never a number. The schema's fast path, a custom
type's parameter types and the catalog's argument types all ask `JSON_TYPES`.

Example:
    >>> JSON_TYPES["integer"](3), JSON_TYPES["integer"](True), JSON_TYPES["number"](0.5)
    (True, False, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def typed_repr(value: Any) -> str:
    """A value as messages show it, its Python type first: ``list [2]``, ``str 'a'``.

    A Spec's frozen mappings and lists are shown as the dict and list they are read as.

    Example:
        >>> typed_repr([2]), typed_repr("a")
        ('list [2]', "str 'a'")
    """
    kind = "dict" if isinstance(value, dict) else "list" if isinstance(value, list) else type(value).__name__
    return f"{kind} {value!r}"
