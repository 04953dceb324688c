"""The Keras catalog (``declar/data/keras_catalog.json``): what the installed Keras offers by name.

Layers with their constructor arguments, optimizers and schedules with argument types, losses,
metrics and the signatures of their classes (``loss_classes``, ``metric_classes``: what
``{name: sparse_categorical_crossentropy, from_logits: true}`` may give), and the names of
initializers, activations, regularizers and constraints, read from the
installed Keras so that `declar validate` can check them without importing it
(`declar.spec.catalog` reads the file). ``python -m devtools.generate`` writes it;
tests/test_generated_files.py fails when it differs from what the installed Keras gives.

Example:
    >>> generate()["layers"]["Dense"][:2]
    ['units', 'activation']
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import keras
from keras.src import constraints, initializers, regularizers
from keras.src.losses.loss import standardize_reduction

from declar.keras.layer import DeclarLayer
from declar.sections.training.allow_list import ALLOWED
from declar.spec.facts import snake_case


def arg_names(cls: type) -> list[str]:
    """The named constructor arguments of ``cls`` (not ``*args`` or ``**kwargs``)."""
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


def required_args(cls: type) -> list[str]:
    """The named constructor arguments of ``cls`` without a default."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.default is p.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def call_params(function: Any) -> list[str]:
    """The named parameters of a layer's ``call`` in order (not ``self``, ``*args`` or ``**kwargs``)."""
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def required_call_params(function: Any) -> list[str]:
    """The named parameters of a layer's ``call`` without a default."""
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params if p.name != "self" and p.default is p.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def _call_has_kwargs(function: Any) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def _has_kwargs(cls: type) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def public_classes(module: Any, base: type) -> dict[str, type]:
    """The public classes of ``module`` that derive from ``base``, by name (aliases included)."""
    return {
        n: getattr(module, n)
        for n in dir(module)
        if not n.startswith("_") and isinstance(getattr(module, n), type) and issubclass(getattr(module, n), base)
    }


def keras_layers() -> dict[str, type]:
    """Every layer class ``keras.layers`` exports, by the names a spec may use."""
    return public_classes(keras.layers, keras.layers.Layer)


def generate() -> dict[str, Any]:
    """The catalog of the installed Keras, as the JSON file holds it."""
    layers = keras_layers()
    optimizers = public_classes(keras.optimizers, keras.optimizers.Optimizer)
    optimizers.pop("Optimizer", None)
    optimizers.pop("LossScaleOptimizer", None)
    schedules = public_classes(keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule)
    schedules.pop("LearningRateSchedule", None)

    def functions(module: Any) -> list[str]:
        return sorted(n for n in dir(module)
                      if not n.startswith("_") and n[0].islower() and callable(getattr(module, n)))

    loss_names = set(functions(keras.losses)) - {"get", "serialize", "deserialize"}
    loss_names |= {snake_case(n) for n in public_classes(keras.losses, keras.losses.Loss)} - {"loss"}
    metric_names = set(functions(keras.metrics)) - {"get", "serialize", "deserialize"}
    metric_names |= {"accuracy", "acc", "crossentropy", "ce"}
    metric_names |= {snake_case(n) for n in public_classes(keras.metrics, keras.metrics.Metric)} - {"metric"}
    skip = {"get", "serialize", "deserialize"}
    aliases = ("mse", "mae", "mape", "msle", "kld", "logcosh", "acc", "ce", "bce", "cce")
    loss_names |= {a for a in aliases if _accepts(keras.losses.get, a)}
    metric_names |= {a for a in aliases if _accepts(keras.metrics.get, a)}
    # Keep only what compile() really resolves by name.
    loss_names = {n for n in loss_names if _accepts(keras.losses.get, n)}
    metric_names = {n for n in metric_names if _accepts(keras.metrics.get, n)}
    return {
        "keras_version": keras.__version__,
        "layers": {n: arg_names(c) for n, c in sorted(layers.items())},
        "layers_with_kwargs": sorted(n for n, c in layers.items() if _has_kwargs(c)),
        "layers_required": {n: required_args(c) for n, c in sorted(layers.items()) if required_args(c)},
        # What a node may pass under `call:` (the first parameter is what `inputs:` gives).
        "layer_calls": {n: call_params(c.call) for n, c in sorted(layers.items())},
        "layer_calls_required": {n: required_call_params(c.call) for n, c in sorted(layers.items())
                                 if required_call_params(c.call)},
        "layer_calls_with_kwargs": sorted(n for n, c in layers.items() if _call_has_kwargs(c.call)),
        # A custom type is called as declar's generic layer, whatever it extends.
        "custom_layer_call": call_params(DeclarLayer.call),
        "optimizers": {n.lower(): arg_names(c) for n, c in sorted(optimizers.items())},
        "optimizer_arg_types": {n.lower(): _arg_types(c) for n, c in sorted(optimizers.items())},
        "schedules": {snake_case(n): arg_names(c) for n, c in sorted(schedules.items())},
        "schedule_arg_types": {snake_case(n): _arg_types(c, ("name",)) for n, c in sorted(schedules.items())},
        "schedules_required": {snake_case(n): required_args(c) for n, c in sorted(schedules.items())},
        "losses": sorted(loss_names),
        "metrics": sorted(metric_names),
        # The classes behind the names a spec writes with arguments ({name: ..., from_logits: true}).
        "loss_classes": compile_classes(keras.losses, keras.losses.Loss, loss_names),
        "metric_classes": compile_classes(keras.metrics, keras.metrics.Metric, metric_names),
        "loss_reductions": loss_reductions(),
        "initializers": sorted(
            set(functions(keras.initializers)) - skip
            | {snake_case(n) for n in public_classes(keras.initializers, keras.initializers.Initializer)}
            - {"initializer"}
        ),
        "activations": sorted(set(functions(keras.activations)) - skip | {"linear"}),
        "regularizers": sorted({"l1", "l2", "l1_l2", "orthogonal_regularizer"}),
        "constraints": sorted(
            {snake_case(n) for n in public_classes(keras.constraints, keras.constraints.Constraint)} - {"constraint"}
        ),
        "object_classes": _object_classes(),
        "callbacks": _callbacks(),
    }


# Callback arguments whose default does not tell their type (None, or a string that may also be
# a number); the types Keras's documentation gives them ("any": not checked here, Keras checks).
_CALLBACK_TYPES = {"min_delta": "number", "baseline": "number?", "initial_value_threshold": "number?",
                   "save_freq": "any", "update_freq": "any", "profile_batch": "any", "embeddings_metadata": "any"}


def _callbacks() -> dict[str, dict[str, Any]]:
    """The allow-listed callbacks (`declar.sections.training.allow_list`): each one's arguments,
    their types ("number", "boolean", "string", "integer?"... see `arg_type_ok`) and the required ones."""
    out = {}
    for name in ALLOWED:
        cls = getattr(keras.callbacks, name)
        types = {}
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name in _CALLBACK_TYPES:
                types[p.name] = _CALLBACK_TYPES[p.name]
            elif isinstance(p.default, bool):
                types[p.name] = "boolean"
            elif isinstance(p.default, int):
                types[p.name] = "integer"
            elif isinstance(p.default, float):
                types[p.name] = "number"
            elif isinstance(p.default, str) or p.name in ("filepath", "filename", "backup_dir"):
                types[p.name] = "string"
        out[name] = {"args": arg_names(cls), "types": types, "required": required_args(cls)}
    return out


def _object_classes() -> dict[str, dict[str, list[str]]]:
    """The class names ``keras.<kind>s.get`` resolves from ``{class_name, config}``, per kind.

    These are the keys of the kind's own module table (never the registry of custom objects), less
    the abstract base class. Activations have none: Keras resolves an activation dict only through
    the registry, so an activation is given by name.
    """
    out: dict[str, dict[str, list[str]]] = {"activation": {}}
    for kind, module in (("initializer", initializers), ("regularizer", regularizers),
                         ("constraint", constraints)):
        table = module.ALL_OBJECTS_DICT
        out[kind] = {name: arg_names(cls) for name, cls in sorted(table.items())
                     if inspect.isclass(cls) and name.lower() != kind}
    return out


# Loss and metric arguments whose default is None (or that have none), so the signature does not
# tell their type, or misleads (the metrics' label_smoothing defaults to the integer 0); these are
# the types Keras's documentation gives them.
_COMPILE_DOCUMENTED_TYPES = {
    "label_smoothing": "number", "class_aggregation": "string?",
    "dtype": "string?", "ignore_class": "integer?", "reduction": "string?", "num_classes": "integer",
    "top_k": "integer?", "class_id": "integer?", "num_labels": "integer?", "average": "string?",
    "threshold": "number?", "recall": "number", "precision": "number", "specificity": "number",
    "sensitivity": "number",
}
# Classes a spec cannot make with plain arguments: the abstract bases and the wrapper of a function.
_NOT_COMPILE_CLASSES = {"Loss", "Metric", "MeanMetricWrapper", "Reduction"}
# What Keras's documentation lists for `reduction`; `loss_reductions` keeps those Keras accepts.
_REDUCTION_CANDIDATES = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", "auto")


def _compile_arg_types(cls: type) -> dict[str, str]:
    """Argument -> type of a loss or metric constructor (integers stay integers: ``k: 2.5`` is wrong)."""
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in ("self", "name") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.name in _COMPILE_DOCUMENTED_TYPES:  # documented first: a reduction may also be null
            out[p.name] = _COMPILE_DOCUMENTED_TYPES[p.name]
        elif isinstance(p.default, bool):
            out[p.name] = "boolean"
        elif isinstance(p.default, int):
            out[p.name] = "integer"
        elif isinstance(p.default, float):
            out[p.name] = "number"
        elif isinstance(p.default, str):
            out[p.name] = "string"
    return out


def compile_classes(module: Any, base: type, names: set[str]) -> dict[str, dict[str, Any]]:
    """Each snake_case name a spec may give with arguments -> its Keras class and constructor.

    The class names become snake_case (``SparseCategoricalCrossentropy`` ->
    ``sparse_categorical_crossentropy``, as Keras resolves them); an alias Keras resolves to a
    function (``mse``) maps to the class of that function. ``name`` is not an argument: in a spec
    it names the class.
    """
    classes = {snake_case(n): c for n, c in public_classes(module, base).items() if n not in _NOT_COMPILE_CLASSES}
    by_class = {c: c for c in classes.values()}
    for alias in sorted(names - set(classes)):
        found = module.get(alias)  # a function (losses) or an instance (metrics)
        if getattr(found, "__name__", None) in classes:
            classes[alias] = classes[found.__name__]
        elif type(found) in by_class:
            classes[alias] = type(found)
    return {
        name: {"class": cls.__name__,
               "args": [a for a in arg_names(cls) if a != "name"],
               "types": _compile_arg_types(cls),
               "required": required_args(cls)}
        for name, cls in sorted(classes.items())
    }


def loss_reductions() -> list[str]:
    """The ``reduction`` values Keras's losses accept (besides null)."""
    return [r for r in _REDUCTION_CANDIDATES if _accepts(standardize_reduction, r)]


def _accepts(getter: Any, name: str) -> bool:
    try:
        return getter(name) is not None
    except (ValueError, TypeError):
        return False


def render(catalog: dict[str, Any]) -> str:
    """The catalog file's content: ``render(generate())`` for the installed Keras."""
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"
