"""What Keras offers by name (layers and their arguments, optimizers, losses, metrics...).

`declar validate` must never import keras, yet it must know that ``Dens`` is not a layer and
that ``unit`` is not an argument of ``Dense``. The names live in ``data/keras_catalog.json``,
written from the installed Keras by ``python -m declar.spec.catalog`` and checked against it by
a test, so the file cannot silently go stale.

Example:
    >>> from declar.spec.catalog import catalog
    >>> "Dense" in catalog().layers
    True
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from typing import Any

from declar.data import DATA_DIR

CATALOG_FILE = "keras_catalog.json"


@dataclass(frozen=True)
class Catalog:
    """Names Keras accepts, read from the committed catalog file."""

    keras_version: str
    layers: dict[str, tuple[str, ...]]  # class name -> constructor argument names
    layers_with_kwargs: frozenset[str]  # layers whose constructor forwards **kwargs to a base
    layers_required: dict[str, tuple[str, ...]]  # arguments without a default
    optimizers: dict[str, tuple[str, ...]]  # lower-case name -> argument names
    optimizer_arg_types: dict[str, dict[str, str]]  # name -> argument -> type (see `arg_type_ok`)
    schedules: dict[str, tuple[str, ...]]
    schedule_arg_types: dict[str, dict[str, str]]
    schedules_required: dict[str, tuple[str, ...]]
    losses: frozenset[str]
    metrics: frozenset[str]
    initializers: frozenset[str]
    activations: frozenset[str]
    regularizers: frozenset[str]
    constraints: frozenset[str]
    object_classes: dict[str, dict[str, tuple[str, ...]]]
    """kind -> the names Keras resolves in ``{class_name, config}`` for it -> constructor argument names."""


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
        optimizers={k: tuple(v) for k, v in raw["optimizers"].items()},
        optimizer_arg_types=raw["optimizer_arg_types"],
        schedules={k: tuple(v) for k, v in raw["schedules"].items()},
        schedule_arg_types=raw["schedule_arg_types"],
        schedules_required={k: tuple(v) for k, v in raw["schedules_required"].items()},
        losses=frozenset(raw["losses"]),
        metrics=frozenset(raw["metrics"]),
        initializers=frozenset(raw["initializers"]),
        activations=frozenset(raw["activations"]),
        regularizers=frozenset(raw["regularizers"]),
        constraints=frozenset(raw["constraints"]),
        object_classes={kind: {n: tuple(a) for n, a in classes.items()}
                        for kind, classes in raw["object_classes"].items()},
    )


# Arguments every Keras layer accepts through **kwargs of the Layer base class.
COMMON_LAYER_ARGS = ("name", "trainable", "dtype", "autocast", "input_shape", "input_dim")


def _arg_names(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


# Optimizer and schedule arguments whose default is None (or that have none), so the signature
# does not tell their type; these are the types Keras's documentation gives them. A trailing "?"
# means None is accepted too; "numbers" is a non-empty list of numbers.
_DOCUMENTED_TYPES = {
    "weight_decay": "number?", "clipnorm": "number?", "clipvalue": "number?", "global_clipnorm": "number?",
    "ema_overwrite_frequency": "integer?", "loss_scale_factor": "number?", "gradient_accumulation_steps": "integer?",
    "initial_learning_rate": "number", "decay_steps": "number", "first_decay_steps": "number",
    "decay_rate": "number", "warmup_target": "number?", "boundaries": "numbers", "values": "numbers",
}


def _arg_types(cls: type, skip: tuple[str, ...] = ("seed",)) -> dict[str, str]:
    """Argument -> type ("number", "boolean", ... see `arg_type_ok`), where the default or Keras's
    documentation makes the type certain."""
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in skip:
            continue
        if isinstance(p.default, bool):
            out[p.name] = "boolean"
        elif isinstance(p.default, (int, float)):
            out[p.name] = "number"
        elif p.name in _DOCUMENTED_TYPES and (p.default is None or p.default is p.empty):
            out[p.name] = _DOCUMENTED_TYPES[p.name]
    return out


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
        return isinstance(value, list) and bool(value) and all(arg_type_ok("number", v) for v in value)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return True


def _required(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.default is p.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def _has_kwargs(cls: type) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def generate() -> dict[str, Any]:
    """Read the catalog from the installed Keras (imports keras)."""
    import keras

    def public(module: Any, base: type) -> dict[str, type]:
        return {
            n: getattr(module, n)
            for n in dir(module)
            if not n.startswith("_") and isinstance(getattr(module, n), type) and issubclass(getattr(module, n), base)
        }

    layers = public(keras.layers, keras.layers.Layer)
    optimizers = public(keras.optimizers, keras.optimizers.Optimizer)
    optimizers.pop("Optimizer", None)
    optimizers.pop("LossScaleOptimizer", None)
    schedules = public(keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule)
    schedules.pop("LearningRateSchedule", None)

    def functions(module: Any) -> list[str]:
        return sorted(n for n in dir(module)
                      if not n.startswith("_") and n[0].islower() and callable(getattr(module, n)))

    loss_names = set(functions(keras.losses)) - {"get", "serialize", "deserialize"}
    loss_names |= {_snake(n) for n in public(keras.losses, keras.losses.Loss)} - {"loss"}
    metric_names = set(functions(keras.metrics)) - {"get", "serialize", "deserialize"}
    metric_names |= {"accuracy", "acc", "crossentropy", "ce"}
    metric_names |= {_snake(n) for n in public(keras.metrics, keras.metrics.Metric)} - {"metric"}
    skip = {"get", "serialize", "deserialize"}
    aliases = ("mse", "mae", "mape", "msle", "kld", "logcosh", "acc", "ce", "bce", "cce")
    loss_names |= {a for a in aliases if _accepts(keras.losses.get, a)}
    metric_names |= {a for a in aliases if _accepts(keras.metrics.get, a)}
    # Keep only what compile() really resolves by name.
    loss_names = {n for n in loss_names if _accepts(keras.losses.get, n)}
    metric_names = {n for n in metric_names if _accepts(keras.metrics.get, n)}
    return {
        "keras_version": keras.__version__,
        "layers": {n: _arg_names(c) for n, c in sorted(layers.items())},
        "layers_with_kwargs": sorted(n for n, c in layers.items() if _has_kwargs(c)),
        "layers_required": {n: _required(c) for n, c in sorted(layers.items()) if _required(c)},
        "optimizers": {n.lower(): _arg_names(c) for n, c in sorted(optimizers.items())},
        "optimizer_arg_types": {n.lower(): _arg_types(c) for n, c in sorted(optimizers.items())},
        "schedules": {_snake(n): _arg_names(c) for n, c in sorted(schedules.items())},
        "schedule_arg_types": {_snake(n): _arg_types(c, ("name",)) for n, c in sorted(schedules.items())},
        "schedules_required": {_snake(n): _required(c) for n, c in sorted(schedules.items())},
        "losses": sorted(loss_names),
        "metrics": sorted(metric_names),
        "initializers": sorted(
            set(functions(keras.initializers)) - skip
            | {_snake(n) for n in public(keras.initializers, keras.initializers.Initializer)} - {"initializer"}
        ),
        "activations": sorted(set(functions(keras.activations)) - skip | {"linear"}),
        "regularizers": sorted({"l1", "l2", "l1_l2", "orthogonal_regularizer"}),
        "constraints": sorted(
            {_snake(n) for n in public(keras.constraints, keras.constraints.Constraint)} - {"constraint"}
        ),
        "object_classes": _object_classes(),
    }


def _object_classes() -> dict[str, dict[str, list[str]]]:
    """The class names ``keras.<kind>s.get`` resolves from ``{class_name, config}``, per kind.

    These are the keys of the kind's own module table (never the registry of custom objects), less
    the abstract base class. Activations have none: Keras resolves an activation dict only through
    the registry, so an activation is given by name.
    """
    from keras.src import constraints, initializers, regularizers

    out: dict[str, dict[str, list[str]]] = {"activation": {}}
    for kind, module in (("initializer", initializers), ("regularizer", regularizers),
                         ("constraint", constraints)):
        table = module.ALL_OBJECTS_DICT
        out[kind] = {name: _arg_names(cls) for name, cls in sorted(table.items())
                     if inspect.isclass(cls) and name.lower() != kind}
    return out


def _accepts(getter: Any, name: str) -> bool:
    try:
        return getter(name) is not None
    except (ValueError, TypeError):
        return False


def render() -> str:
    """The catalog file's content for the installed Keras."""
    return json.dumps(generate(), indent=1, sort_keys=True) + "\n"


LAYER_SCHEMA_FILE = "keras-layers.schema.json"


def render_layer_schema() -> str:
    """The layer-argument schema's content for the installed Keras (see declar.spec.layer_schema)."""
    import keras

    from declar.spec.layer_schema import generate as generate_layer_schema

    layers = {n: getattr(keras.layers, n) for n in dir(keras.layers)
              if not n.startswith("_") and isinstance(getattr(keras.layers, n), type)
              and issubclass(getattr(keras.layers, n), keras.layers.Layer)}
    return json.dumps(generate_layer_schema(layers, generate()), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m declar.spec.catalog
    for name, content in ((CATALOG_FILE, render()), (LAYER_SCHEMA_FILE, render_layer_schema())):
        path = (DATA_DIR / name).resolve()  # through the symlink, into schemas/ for the schemas
        path.write_text(content, "utf-8")
        print(f"wrote {path}")
