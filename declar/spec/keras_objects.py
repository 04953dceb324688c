"""The one allow-list gate for Keras objects named in a spec or an archive.

Keras turns some layer arguments into objects: ``activation``, ``*_initializer``,
``*_regularizer``, ``*_constraint`` (through ``keras.<kind>s.get``) and the wrapped layer of
``Bidirectional``, ``TimeDistributed``, ``RNN``... Given ``{class_name, config}``, Keras looks the
class up in its registry of custom objects first, so a spec could name declar's own registered
classes (``declar>DeclarLayer`` with a config of its choosing reads files), or any class a
``module`` key points at. This gate accepts only the Keras built-ins of the kind the argument
admits, with a config of that class's own arguments, checked the same way all the way down. It
reads the catalog only (no keras), so `declar validate` and archive loads (which validate the
embedded spec with the same checks) refuse the same things, each at its place in the spec.

Example:
    >>> from declar.spec.keras_objects import refusal
    >>> refusal("initializer", {"class_name": "GlorotUniform", "config": {"seed": 1}}) is None
    True
    >>> refusal("initializer", {"class_name": "declar>DeclarLayer", "config": {}})[1]
    "'declar>DeclarLayer' is not a Keras built-in initializer: registered and custom classes are refused"
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from declar.errors import JsonPath
from declar.hints import did_you_mean
from declar.spec.catalog import COMMON_LAYER_ARGS, catalog
from declar.spec.facts import UNSAFE_LAYERS
from declar.spec.json_types import typed_repr
from declar.spec.nested_layers import spec_form

KINDS = ("activation", "initializer", "regularizer", "constraint")
"""Kinds resolved by ``keras.<kind>s.get``: a name, or (except activations) ``{class_name, config}``."""

# Arguments Keras requires to be layer objects. declar builds them from ``{LayerName: {arguments}}``
# or ``{class_name, config}`` itself (`declar.keras.layer`), never through Keras's registry. Value:
# "layer", or "layers" for a list of layers (StackedRNNCells, Pipeline; RNN's `cell` takes either).
LAYER_ARGS: dict[str, dict[str, str]] = {
    "Bidirectional": {"layer": "layer", "backward_layer": "layer"},
    "TimeDistributed": {"layer": "layer"},
    "SpectralNormalization": {"layer": "layer"},
    "Wrapper": {"layer": "layer"},
    "RNN": {"cell": "layer or layers"},
    "StackedRNNCells": {"cells": "layers"},
    "Pipeline": {"layers": "layers"},
}

# Keys that make a dict a Keras object for Keras's deserializer, wherever it appears.
OBJECT_KEYS = frozenset({"class_name", "module", "registered_name"})

# Arguments that Keras reads as a file path when given a string: `IndexLookup.set_vocabulary` opens
# a string `vocabulary` with tf.io.gfile (StringLookup, IntegerLookup, and TextVectorization, which
# hands it to its StringLookup), whatever the file is. Keras 3 has no other: `idf_weights` becomes a
# float tensor (a string fails there, unread), and the only other layer of the catalog that takes a
# path, TFSMLayer, is refused whole. Applied to a node's arguments and, by the gate, to the config of
# a layer at any depth inside another; `declar.keras.layer.with_layer_objects` asks again at build.
PATH_ARGS: dict[str, tuple[str, ...]] = {
    "TextVectorization": ("vocabulary",),
    "StringLookup": ("vocabulary",),
    "IntegerLookup": ("vocabulary",),
}
MAX_NESTING = 8  # layers inside layers: Bidirectional(TimeDistributed(...)) is two

Refusal = tuple[JsonPath, str, str]
"""Where (relative to the value), the message and the hint of one refused Keras object."""


def argument_kind(layer: str, arg: str) -> str | None:
    """The kind of Keras object a built-in layer's argument holds, or None for a plain value.

    The same rules as the layer-argument schema (written by `devtools/layer_schema.py`).

    Example:
        >>> argument_kind("Dense", "kernel_initializer"), argument_kind("Bidirectional", "layer")
        ('initializer', 'layer')
    """
    special = LAYER_ARGS.get(layer, {}).get(arg)
    if special is not None:
        return special
    if arg == "activation" or arg.endswith("_activation"):
        return "activation"
    for kind in ("initializer", "regularizer", "constraint"):
        if arg.endswith(f"_{kind}"):
            return kind
    return None


def refusals(kind: str, value: Any, custom: Collection[str] = ()) -> Iterator[Refusal]:
    """Every reason ``value`` is not an allowed Keras object of ``kind`` (validation reports them all).

    A layer may be written ``{LayerName: {arguments}}``; one naming a type of ``custom`` (the spec's
    custom types, checked by the spec's own checks and built as a DeclarLayer) is let through.

    Example:
        >>> [m for _, m, _ in refusals("layer", {"Dense": {"unit": 2, "units": 2}})]
        ["'Dense' has no argument 'unit'"]
        >>> list(refusals("layer", {"Scale": {}}, custom={"Scale"}))
        []
    """
    return _refusals(kind, value, (), 0, frozenset(custom))


def refusal(kind: str, value: Any, custom: Collection[str] = ()) -> Refusal | None:
    """The first reason ``value`` is not an allowed Keras object of ``kind``, or None.

    The runtime side of the gate (`DeclarLayer.build` asks it again before `keras.initializers.get`).
    """
    return next(iter(refusals(kind, value, custom)), None)


def path_refusals(layer: str, args: Mapping[str, Any]) -> Iterator[Refusal]:
    """The arguments of a built-in ``layer`` that Keras would open as a file (see `PATH_ARGS`).

    Where is relative to ``args``; only a list (or null) is accepted.

    Example:
        >>> next(path_refusals("StringLookup", {"vocabulary": "/etc/passwd"}))[:2]
        (('vocabulary',), "'vocabulary' as a string is a file path, which declar never reads")
        >>> list(path_refusals("StringLookup", {"vocabulary": ["a", "b"]}))
        []
    """
    for arg in PATH_ARGS.get(layer, ()):
        if isinstance(args.get(arg), str):
            yield (arg,), f"'{arg}' as a string is a file path, which declar never reads", \
                f"give the list itself; {layer} would open the file"


LAYER_KINDS = ("layer", "layers", "layer or layers")


def plain_value_refusals(value: Any, what: str) -> Iterator[Refusal]:
    """A value Keras takes as plain data must hold no dict that Keras would read as an object."""
    stack: list[tuple[JsonPath, Any]] = [((), value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            keys = sorted(OBJECT_KEYS & set(item))
            if keys:
                yield ((*where, keys[0]), f"{what} takes a plain value, not a Keras object ({keys[0]})",
                       "declar passes Keras objects only in activation, initializer, regularizer, constraint "
                       "and layer arguments")
                continue
            stack.extend(((*where, k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(((*where, i), v) for i, v in enumerate(item))


def argument_refusals(layer: str, key: str, value: Any, custom: Collection[str] = ()) -> Iterator[Refusal]:
    """Why the argument ``key`` of a built-in ``layer`` cannot hold ``value``: a Keras object the gate
    refuses, or a Keras object where Keras takes plain data. Where is relative to the value; a
    layer written ``{LayerName: ...}`` naming one of ``custom`` is let through (see `refusals`).

    Example:
        >>> next(argument_refusals("Dense", "units", {"class_name": "X"}))[1]
        "'units' of Dense takes a plain value, not a Keras object (class_name)"
    """
    return _argument_refusals(layer, key, value, 0, frozenset(custom))


def _argument_refusals(layer: str, key: str, value: Any, depth: int, custom: frozenset[str]) -> Iterator[Refusal]:
    kind = argument_kind(layer, key)
    if kind is None:
        yield from plain_value_refusals(value, f"'{key}' of {layer}")
    elif value is not None or (kind not in KINDS and key in catalog().layers_required.get(layer, ())):
        yield from _refusals(kind, value, (), depth, custom)  # null is the default (backward_layer: null)


def _refusals(kind: str, value: Any, where: JsonPath, depth: int, custom: frozenset[str]) -> Iterator[Refusal]:
    if kind in ("layers", "layer or layers"):
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _refusals("layer", item, (*where, i), depth, custom)
            return
        if kind == "layers":
            yield where, f"expected a list of layers, got {_shown(value)}", "each a layer, e.g. {LSTMCell: {units: 8}}"
            return
        kind = "layer"
    form = spec_form(value) if kind == "layer" else None
    if form is not None:  # {LayerName: {arguments}}: the spec's own way of writing a layer
        if form[0] not in custom:
            yield from _layer_refusals(form[0], {} if form[1] is None else form[1], where, depth, custom,
                                       (form[0],), (form[0],))
        return
    if isinstance(value, str) and kind in KINDS:
        names = getattr(catalog(), f"{kind}s")
        if value not in names:
            yield where, f"unknown {kind} '{value}'", did_you_mean(value, names) or _listing(kind)
        return
    if not isinstance(value, dict):
        hint = "a layer written {LayerName: {arguments}}, e.g. {LSTM: {units: 8}}" if kind == "layer" \
            else _listing(kind)
        yield where, f"expected {_a(kind)}, got {_shown(value)}", hint
        return
    for key in ("module", "registered_name"):
        if key in value:
            yield (*where, key), f"{_a(kind)} cannot choose its class by '{key}'", \
                "give the activation by name" if kind == "activation" else \
                "give class_name (a Keras built-in) and config only"
            return
    unknown = sorted(set(value) - {"class_name", "config"}, key=str)
    class_name = value.get("class_name")
    if unknown or not isinstance(class_name, str):
        yield where, f"{_a(kind)} object needs class_name and optionally config" + (
            f" (unknown key '{unknown[0]}')" if unknown else ""), _listing(kind)
        return
    if kind == "activation":
        if ">" in class_name or class_name.startswith("Declar"):
            yield (*where, "class_name"), _not_builtin(class_name, kind), "give the activation by name"
        elif class_name in catalog().activations:
            yield where, "an activation is given by name, not as {class_name, config}", \
                f"write the name alone: {class_name}"
        else:
            yield where, "an activation is given by name, not as {class_name, config}", \
                did_you_mean(class_name, catalog().activations) or _listing(kind)
        return
    config = value.get("config", {})
    if config is None:
        config = {}
    if kind == "layer":
        yield from _layer_refusals(class_name, config, where, depth, custom, ("class_name",), ("config",))
        return
    classes = catalog().object_classes.get(kind, {})
    if class_name not in classes:
        yield (*where, "class_name"), _not_builtin(class_name, kind), _class_hint(class_name, kind, classes)
        return
    if not isinstance(config, dict):
        yield (*where, "config"), f"the config of {class_name} must be a mapping, got {_shown(config)}", ""
        return
    allowed = classes[class_name]
    for arg, arg_value in config.items():
        if arg not in allowed:
            yield (*where, "config", arg), f"{class_name} has no argument '{arg}'", \
                did_you_mean(str(arg), allowed) or (f"arguments: {', '.join(allowed)}" if allowed else "it takes none")
            continue
        for w, m, h in plain_value_refusals(arg_value, f"'{arg}' of {class_name}"):
            yield (*where, "config", arg, *w), m, h


def _layer_refusals(class_name: str, config: Any, where: JsonPath, depth: int, custom: frozenset[str],
                    class_at: JsonPath, config_at: JsonPath) -> Iterator[Refusal]:
    """The refusals of one layer, written {class_name, config} (``class_at``/``config_at`` are then
    the keys "class_name" and "config") or {LayerName: {arguments}} (both are the layer's key)."""
    layers = catalog().layers
    if class_name in UNSAFE_LAYERS:
        yield (*where, *class_at), f"layer '{class_name}' runs Python code or reads a path; declar refuses it", ""
        return
    if class_name not in layers:
        yield (*where, *class_at), _not_builtin(class_name, "layer"), _class_hint(class_name, "layer", layers)
        return
    if depth >= MAX_NESTING:
        yield where, f"layers nested more than {MAX_NESTING} deep", ""
        return
    if not isinstance(config, dict):
        yield (*where, *config_at), f"the config of {class_name} must be a mapping, got {_shown(config)}", ""
        return
    allowed = set(layers[class_name]) | set(COMMON_LAYER_ARGS)
    for arg, arg_value in config.items():
        if arg not in allowed:
            yield (*where, *config_at, arg), f"'{class_name}' has no argument '{arg}'", \
                did_you_mean(str(arg), allowed)
            continue
        for w, m, h in _argument_refusals(class_name, arg, arg_value, depth + 1, custom):
            yield (*where, *config_at, arg, *w), m, h
    for w, m, h in path_refusals(class_name, config):  # a lookup layer inside a Pipeline reads files too
        yield (*where, *config_at, *w), m, h
    for required in catalog().layers_required.get(class_name, ()):
        if required not in config:
            yield (*where, *config_at), f"'{class_name}' needs argument '{required}'", ""


def _not_builtin(class_name: str, kind: str) -> str:
    if ">" in class_name or class_name.startswith("Declar"):
        return f"'{class_name}' is not a Keras built-in {kind}: registered and custom classes are refused"
    return f"'{class_name}' is not a Keras built-in {kind}"


def _class_hint(class_name: str, kind: str, classes: Any) -> str:
    return did_you_mean(class_name, classes) or _listing(kind)


def _listing(kind: str) -> str:
    if kind == "layer":
        return "a built-in Keras layer, e.g. {LSTM: {units: 8}}"
    names = sorted(getattr(catalog(), f"{kind}s"))
    classes = sorted(n for n in catalog().object_classes.get(kind, {}) if n[:1].isupper())
    shown = f"{kind}s: {', '.join(names)}"
    return shown + (f"; or {{class_name, config}} with class_name one of {', '.join(classes)}" if classes else "")


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _shown(value: Any) -> str:
    text = typed_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["KINDS", "LAYER_ARGS", "LAYER_KINDS", "MAX_NESTING", "OBJECT_KEYS", "PATH_ARGS", "argument_kind",
           "argument_refusals", "path_refusals", "plain_value_refusals", "refusal", "refusals"]
