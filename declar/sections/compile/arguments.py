"""The arguments declar passes to a Keras constructor of the compile section as they are written
(optimizers, schedules, losses, metrics): plain values of the catalog's types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from declar.errors import JsonPath, Problem
from declar.spec.catalog import arg_type_ok
from declar.spec.json_types import typed_repr
from declar.spec.keras_objects import OBJECT_KEYS, plain_value_refusals
from declar.spec.source import Document


def check_argument(doc: Document, path: JsonPath, what: str, expected: str | None, value: Any
                   ) -> Iterator[Problem]:
    """An optimizer, schedule, loss or metric argument: never a Keras object (the allow-list gate's
    rule for plain values, since declar passes it to the constructor as it is), and of the
    catalog's type (``expected``, see `arg_type_ok`; None when the catalog cannot tell).

    Example:
        >>> from declar.spec.source import parse_yaml
        >>> doc = parse_yaml("k: 2.5\\n")
        >>> [p.render() for p in check_argument(doc, ("k",), "metric argument 'k'", "integer", 2.5)]
        ["<string>:1:4: error: metric argument 'k' expects integer, got float 2.5"]
    """
    refused = [doc.problem((*path, *where), message, hint, "keras-object")
               for where, message, hint in plain_value_refusals(value, what)]
    typed = refused or list(_check_type(doc, path, what, expected, value))
    if typed:
        yield from typed
    elif isinstance(value, dict) and not OBJECT_KEYS & set(value):
        yield doc.problem(path, f"{what} takes a plain value, got a mapping", "", "param-type")


def _check_type(doc: Document, path: JsonPath, what: str, expected: str | None, value: Any) -> Iterator[Problem]:
    """The catalog's type of an argument: Keras would only fail at the first training step (a dict
    where it compares a number) or deep in its tensor conversion."""
    if expected and not arg_type_ok(expected, value):
        shown = expected.removesuffix("?").replace("numbers", "a list of numbers") + \
            (" or null" if expected.endswith("?") else "")
        yield doc.problem(path, f"{what} expects {shown}, got {typed_repr(value)}"[:160], "",
                          "param-type")
