"""What Keras offers by name (layers and their arguments, optimizers, losses, metrics...).

`declar validate` must never import keras, yet it must know that ``Dens`` is not a layer and
that ``unit`` is not an argument of ``Dense``. The names live in ``data/keras_catalog.json``,
written from the installed Keras by ``python -m devtools.catalog`` (not part of the package) and
checked against it by a test, so the file cannot silently go stale.

Example:
    >>> from declar.spec.catalog import catalog
    >>> "Dense" in catalog().layers
    True
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from declar.data import DATA_DIR
from declar.spec.json_types import JSON_TYPES

CATALOG_FILE = "keras_catalog.json"


@dataclass(frozen=True)
class KerasClass:
    """A loss or metric class a spec makes with arguments: ``{name: sparse_categorical_crossentropy,
    from_logits: true}`` is ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``."""

    class_name: str
    args: tuple[str, ...]  # constructor arguments a spec may give (``name`` names the class)
    types: dict[str, str]  # argument -> type, where certain (see `arg_type_ok`)
    required: tuple[str, ...]  # arguments without a default


def _keras_classes(raw: dict[str, Any]) -> dict[str, KerasClass]:
    return {n: KerasClass(c["class"], tuple(c["args"]), dict(c["types"]), tuple(c["required"]))
            for n, c in raw.items()}


@dataclass(frozen=True)
class Catalog:
    """Names Keras accepts, read from the committed catalog file."""

    keras_version: str
    layers: dict[str, tuple[str, ...]]  # class name -> constructor argument names
    layers_with_kwargs: frozenset[str]  # layers whose constructor forwards **kwargs to a base
    layers_required: dict[str, tuple[str, ...]]  # arguments without a default
    layer_calls: dict[str, tuple[str, ...]]  # class name -> named parameters of its call, in order
    layer_calls_required: dict[str, tuple[str, ...]]  # call parameters without a default
    layer_calls_with_kwargs: frozenset[str]  # layers whose call also takes **kwargs
    custom_layer_call: tuple[str, ...]  # the call parameters of a custom type (declar's DeclarLayer)
    optimizers: dict[str, tuple[str, ...]]  # lower-case name -> argument names
    optimizer_arg_types: dict[str, dict[str, str]]  # name -> argument -> type (see `arg_type_ok`)
    schedules: dict[str, tuple[str, ...]]
    schedule_arg_types: dict[str, dict[str, str]]
    schedules_required: dict[str, tuple[str, ...]]
    losses: frozenset[str]
    metrics: frozenset[str]
    loss_classes: dict[str, KerasClass]  # snake_case name (or alias) -> the loss class behind it
    metric_classes: dict[str, KerasClass]
    loss_reductions: tuple[str, ...]  # the strings a loss's ``reduction`` may be (null too)
    initializers: frozenset[str]
    activations: frozenset[str]
    regularizers: frozenset[str]
    constraints: frozenset[str]
    object_classes: dict[str, dict[str, tuple[str, ...]]]
    """kind -> the names Keras resolves in ``{class_name, config}`` for it -> constructor argument names."""
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Allow-listed callback -> ``args`` (names), ``types`` (argument -> type, see `arg_type_ok`), ``required``."""


@functools.cache
def catalog() -> Catalog:
    """Load the catalog shipped with the package (no keras import)."""
    text = (DATA_DIR / CATALOG_FILE).read_text("utf-8")
    raw = json.loads(text)
    return Catalog(
        keras_version=raw["keras_version"],
        layers={k: tuple(v) for k, v in raw["layers"].items()},
        layers_with_kwargs=frozenset(raw["layers_with_kwargs"]),
        layers_required={k: tuple(v) for k, v in raw["layers_required"].items()},
        layer_calls={k: tuple(v) for k, v in raw["layer_calls"].items()},
        layer_calls_required={k: tuple(v) for k, v in raw["layer_calls_required"].items()},
        layer_calls_with_kwargs=frozenset(raw["layer_calls_with_kwargs"]),
        custom_layer_call=tuple(raw["custom_layer_call"]),
        optimizers={k: tuple(v) for k, v in raw["optimizers"].items()},
        optimizer_arg_types=raw["optimizer_arg_types"],
        schedules={k: tuple(v) for k, v in raw["schedules"].items()},
        schedule_arg_types=raw["schedule_arg_types"],
        schedules_required={k: tuple(v) for k, v in raw["schedules_required"].items()},
        losses=frozenset(raw["losses"]),
        metrics=frozenset(raw["metrics"]),
        loss_classes=_keras_classes(raw["loss_classes"]),
        metric_classes=_keras_classes(raw["metric_classes"]),
        loss_reductions=tuple(raw["loss_reductions"]),
        initializers=frozenset(raw["initializers"]),
        activations=frozenset(raw["activations"]),
        regularizers=frozenset(raw["regularizers"]),
        constraints=frozenset(raw["constraints"]),
        object_classes={kind: {n: tuple(a) for n, a in classes.items()}
                        for kind, classes in raw["object_classes"].items()},
        callbacks=raw.get("callbacks", {}),
    )


# Arguments every Keras layer accepts through **kwargs of the Layer base class.
COMMON_LAYER_ARGS = ("name", "trainable", "dtype", "autocast", "input_shape", "input_dim")


def arg_type_ok(expected: str, value: Any) -> bool:
    """Whether ``value`` has the catalog type ``expected`` ("number", "integer?", "numbers"...).

    Example:
        >>> arg_type_ok("number?", None), arg_type_ok("number", {"a": 1}), arg_type_ok("numbers", [1, 0.5])
        (True, False, True)
    """
    if expected.endswith("?"):
        if value is None:
            return True
        expected = expected[:-1]
    if expected == "numbers":
        return isinstance(value, list) and bool(value) and all(JSON_TYPES["number"](v) for v in value)
    return JSON_TYPES.get(expected, lambda v: True)(value)
