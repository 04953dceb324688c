"""Values of parameters and arguments: types, Keras object names, shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.spec.catalog import catalog
from declar.spec.checks.keras_objects import object_problems
from declar.spec.model import ParamSpec
from declar.spec.source import Document

DTYPE_POLICIES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "int32", "int64")


def shape_errors(sizes: Iterable[Any], limits: Limits) -> Iterator[tuple[str, str]]:
    """Messages for a computed shape that is not a small list of non-negative integers."""
    sizes = list(sizes)
    total = 1
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int):  # 4.0 too: JSON Schema calls it an integer
            yield f"shape size {s!r} is not an integer", "sizes must be whole numbers, e.g. 4 not 4.0"
            return
        if s < 0:
            yield f"shape size {s} is negative", ""
            return
        total *= s
    if total > limits.max_variable_elements:
        # Python cannot print integers of more than 4,300 digits; such shapes are shown by magnitude.
        shown = f"{total:,}" if total.bit_length() < 1000 else f"about 2**{total.bit_length() - 1}"
        listed = str(sizes) if all(s.bit_length() < 1000 for s in sizes) else f"of {len(sizes)} huge sizes"
        yield (f"shape {listed} has {shown} elements, over the limit of {limits.max_variable_elements:,}",
               "raise Limits.max_variable_elements if this is intended")


PY_TYPES: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "any": lambda v: True,
}


def check_value(doc: Document, path: JsonPath, param: ParamSpec, value: Any) -> Iterator[Problem]:
    if param.type in PY_TYPES:
        if not PY_TYPES[param.type](value):
            yield doc.problem(path, f"'{param.name}' expects {param.type}, got {type(value).__name__} {value!r}"[:160],
                              "", "param-type")
        return
    yield from check_keras_object(doc, path, param.type, value)


def check_keras_object(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    """An initializer/activation/regularizer/constraint given by name or {class_name, config}.

    Dicts go through the allow-list gate (`declar.spec.checks.keras_objects`): only Keras built-ins
    of the kind, never a registered class or a ``module`` key.
    """
    if value is None and kind != "initializer":
        return
    if isinstance(value, dict):
        yield from object_problems(doc, path, kind, value)
        return
    names = getattr(catalog(), f"{kind}s")
    if not isinstance(value, str):
        yield doc.problem(path, f"expected a {kind} name, got {value!r}", "", "param-type")
    elif value not in names:
        yield doc.problem(path, f"unknown {kind} '{value}'", did_you_mean(value, names), f"unknown-{kind}")
