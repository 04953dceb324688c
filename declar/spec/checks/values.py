"""Values of parameters and arguments: types, Keras objects (through the allow-list gate)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.spec.catalog import catalog
from declar.spec.facts import DTYPE_POLICIES
from declar.spec.json_types import JSON_TYPES, typed_repr
from declar.spec.keras_objects import KINDS, LAYER_KINDS, argument_kind, argument_refusals, refusals
from declar.spec.model import ParamSpec
from declar.spec.nested_layers import spec_form
from declar.spec.schema import layer_args_problems
from declar.spec.source import Document

# The plain types of a custom type's parameter (the others are kinds of Keras objects).
PY_TYPES: dict[str, Callable[[Any], bool]] = {
    **{name: JSON_TYPES[name] for name in ("integer", "number", "string", "boolean")},
    "list": JSON_TYPES["array"],
    "any": lambda v: True,
}


def check_value(doc: Document, path: JsonPath, param: ParamSpec, value: Any) -> Iterator[Problem]:
    if param.type in PY_TYPES:
        if not PY_TYPES[param.type](value):
            yield doc.problem(path, f"'{param.name}' expects {param.type}, got {typed_repr(value)}"[:160],
                              "", "param-type")
        return
    yield from check_keras_object(doc, path, param.type, value)


def check_keras_object(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    """An initializer/activation/regularizer/constraint given by name or {class_name, config}.

    Dicts go through the allow-list gate (`declar.spec.keras_objects`): only Keras built-ins
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


def object_problems(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    """Problems of one value of a given kind (a custom layer's parameter, a variable's initializer)."""
    for where, message, hint in refusals(kind, value):
        yield doc.problem((*path, *where), message, hint, "keras-object" if where or isinstance(value, dict)
                          else f"unknown-{kind}")


def argument_problems(doc: Document, path: JsonPath, layer: str, args: dict[str, Any]) -> Iterator[Problem]:
    """Problems of the object-valued arguments of a built-in ``layer`` used at ``path``.

    Names of the four kinds given as strings are left to the layer-argument schema, which already
    reports them with "did you mean". A layer written ``{LayerName: {arguments}}`` directly in a
    layer-valued argument is left to the caller, which checks it as a node's layer
    (`declar.sections.model.checks.check_layer`).
    """
    for key, value in args.items():
        kind = argument_kind(layer, key)
        if kind in KINDS and not isinstance(value, dict):
            continue
        written = [spec_form(v) for v in (value if isinstance(value, list) else [value])] if kind in LAYER_KINDS \
            else []
        refused = False
        for where, message, hint in argument_refusals(layer, key, value, {f[0] for f in written if f}):
            refused = True
            yield doc.problem((*path, key, *where), message, hint, "keras-object")
        if not refused and kind in LAYER_KINDS:
            yield from _nested_layer_problems(doc, (*path, key), value)


def _nested_layer_problems(doc: Document, path: JsonPath, value: Any) -> Iterator[Problem]:
    """The rules a node's own arguments get that the gate does not apply: types and enums of the
    layer-argument schema, and the dtype policy, for every layer inside a layer-valued argument (which
    the gate accepted, so within its nesting bound). Build would refuse these; validate says where."""
    stack: list[tuple[JsonPath, Any]] = [(path, value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, list):
            stack.extend(((*at, i), v) for i, v in enumerate(item))
            continue
        class_name = item.get("class_name") if isinstance(item, dict) else None
        config = (item.get("config") or {}) if isinstance(item, dict) else None
        if not isinstance(class_name, str) or not isinstance(config, dict):
            continue  # null (Bidirectional's default backward_layer); anything else the gate refused
        yield from layer_args_problems(doc, (*at, "config"), class_name, config)
        dtype = config.get("dtype")
        if isinstance(dtype, str) and dtype not in DTYPE_POLICIES:
            yield doc.problem((*at, "config", "dtype"), f"unknown dtype policy {dtype!r}",
                              did_you_mean(dtype, DTYPE_POLICIES), "unknown-dtype")
        for key, arg_value in config.items():
            if argument_kind(class_name, key) in LAYER_KINDS:
                stack.append(((*at, "config", key), arg_value))
