"""The compile section's build step: the arguments of `model.compile`, made from `Spec.compile`.

Spec functions used as losses and metrics become the registered `DeclarLoss` and `DeclarMetric`
(`declar.keras.compile`), so a compiled archive loads with `import declar` alone; a built-in
with arguments becomes its Keras class made with them (the catalog names the class). A value
Keras still refuses is a `CompileBuildError` at that loss or metric's place in the spec.
"""

from __future__ import annotations

from typing import Any

import keras

from declar.errors import CompileBuildError
from declar.keras.compile import DeclarLoss, DeclarMetric
from declar.spec.catalog import catalog
from declar.spec.facts import snake_case
from declar.spec.model import CompileObject, OptimizerSpec, Spec


def _by_lower_name(module: Any, base: type) -> dict[str, type]:
    return {n.lower(): getattr(module, n) for n in dir(module)
            if isinstance(getattr(module, n), type) and issubclass(getattr(module, n), base)}


def make_optimizer(optimizer: OptimizerSpec) -> keras.optimizers.Optimizer:
    """The Keras optimizer of the spec's ``optimizer`` (``adam``, or ``{name: sgd, momentum: ...}``)."""
    classes = _by_lower_name(keras.optimizers, keras.optimizers.Optimizer)
    name = optimizer.name.lower()
    # An explicit name: Keras would otherwise number optimizers per process (adam_1, adam_2...).
    args: dict[str, Any] = {**optimizer.args, "name": name}
    if optimizer.schedule is not None:
        schedules = {snake_case(n): getattr(keras.optimizers.schedules, n) for n in dir(keras.optimizers.schedules)
                     if not n.startswith("_")}
        args["learning_rate"] = schedules[optimizer.schedule.name](**optimizer.schedule.args)
    return classes[name](**args)


def make_compile_object(spec: Spec, value: str | CompileObject, kind: str) -> Any:
    """What ``model.compile`` gets for one loss or metric of the spec.

    A name Keras resolves stays a name (``accuracy`` by the output's shape); a spec
    function becomes a `DeclarLoss`/`DeclarMetric` with its params; ``{name, ...arguments}`` of a
    built-in is the catalog's class for the name, made with the arguments, so it round-trips through
    Keras's own config (``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``).

    Example:
        >>> from declar.spec.model import JsonMap
        >>> spec = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
        ...                        "model": [{"Dense": {"units": 2}}]})
        >>> top_k = CompileObject("sparse_top_k_categorical_accuracy", JsonMap({"k": 2}))
        >>> type(make_compile_object(spec, top_k, "metric")).__name__, make_compile_object(spec, "mse", "loss")
        ('SparseTopKCategoricalAccuracy', 'mse')
    """
    name, args = (value.name, dict(value.args)) if isinstance(value, CompileObject) else (value, {})
    function = spec.functions.get(name)
    if function is not None:
        made = DeclarLoss if kind == "loss" else DeclarMetric
        return made(name, list(function.args), function.expr, params=function.param_values(args))
    if not args and name in (catalog().losses if kind == "loss" else catalog().metrics):
        return name
    # with arguments, or a class Keras does not resolve by name (categorical_generalized_cross_entropy)
    classes = catalog().loss_classes if kind == "loss" else catalog().metric_classes
    module = keras.losses if kind == "loss" else keras.metrics
    return getattr(module, classes[name].class_name)(**args)


def compile_arguments(spec: Spec) -> dict[str, Any]:
    """Keyword arguments of `model.compile` for the spec's compile section."""
    settings = spec.compile
    assert settings is not None, "compile_arguments needs a spec with a compile section"

    def made(key: str, kind: str) -> Any:
        def make(value: str | CompileObject, where: tuple[str | int, ...]) -> Any:
            try:
                return make_compile_object(spec, value, kind)
            except (ValueError, TypeError) as err:  # an argument value Keras refuses (auc's curve: RUC)
                raise CompileBuildError(("compile", key, *where), f"{type(err).__name__}: {err}") from err

        return make

    args: dict[str, Any] = {"optimizer": make_optimizer(settings.optimizer),
                            "loss": settings.loss.map_located(made("loss", "loss"))}
    for key, given in (("metrics", settings.metrics), ("weighted_metrics", settings.weighted_metrics)):
        if given is not None:
            args[key] = given.map_located(made(key, "metric"))
    if settings.loss_weights is not None:
        args["loss_weights"] = settings.loss_weights.map(lambda weight: weight)
    for key, value in (("run_eagerly", settings.run_eagerly), ("jit_compile", settings.jit_compile),
                       ("steps_per_execution", settings.steps_per_execution)):
        if value is not None:
            args[key] = value
    return args
