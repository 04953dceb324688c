"""The compile section's build step: the arguments of `model.compile`, made from `Spec.compile`.

Spec functions used as losses and metrics become the registered `DeclarLoss` and `DeclarMetric`
(`declar.keras.compile`), so a compiled archive loads with `import declar` alone.
"""

from __future__ import annotations

from typing import Any

import keras

from declar.keras.compile import DeclarLoss, DeclarMetric
from declar.spec.facts import snake_case
from declar.spec.model import OptimizerSpec, Spec


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


def compile_arguments(spec: Spec) -> dict[str, Any]:
    """Keyword arguments of `model.compile` for the spec's compile section."""
    settings = spec.compile
    assert settings is not None, "compile_arguments needs a spec with a compile section"

    def loss(name: str) -> Any:
        f = spec.functions.get(name)
        return DeclarLoss(name, list(f.args), f.expr) if f else name

    def metric(name: str) -> Any:
        f = spec.functions.get(name)
        return DeclarMetric(name, list(f.args), f.expr) if f else name

    args: dict[str, Any] = {"optimizer": make_optimizer(settings.optimizer), "loss": settings.loss.map(loss)}
    for key, given in (("metrics", settings.metrics), ("weighted_metrics", settings.weighted_metrics)):
        if given is not None:
            args[key] = given.map(metric)
    if settings.loss_weights is not None:
        args["loss_weights"] = settings.loss_weights.map(lambda weight: weight)
    for key, value in (("run_eagerly", settings.run_eagerly), ("jit_compile", settings.jit_compile),
                       ("steps_per_execution", settings.steps_per_execution)):
        if value is not None:
            args[key] = value
    return args
