"""Compile settings and spec functions: the arguments of `model.compile`, built from the spec.

Spec functions become registered Keras objects (`DeclarLoss`, `DeclarMetric`) whose config is
their definition (arguments and expression), so a compiled archive loads with `import declar`
alone; their `from_config` checks the expression like any untrusted text.
"""

from __future__ import annotations

from typing import Any

import keras

from declar.errors import FunctionCallError
from declar.expr.evaluate import to_closure
from declar.expr.parse import Context, check
from declar.keras.ops import keras_functions


def _function_closure(name: str, args: list[str] | tuple[str, ...], expr: str,
                      params: dict[str, Any] | None = None) -> Any:
    """The expression as a Python function of ``args``; ``params`` are fixed values it reads by name."""
    fixed = dict(params or {})
    checked = check(expr, Context(names=(*args, *fixed), kind=f"function {name}"))
    if checked.tree is None:
        raise ValueError(f"function '{name}': {checked.problems[0].message}")
    closure = to_closure(checked.tree, keras_functions())
    arg_names = tuple(args)

    def function(*values: Any) -> Any:
        try:
            return closure({**fixed, **dict(zip(arg_names, values, strict=False))})
        except (FunctionCallError, NotImplementedError):  # Keras falls back on NotImplementedError
            raise
        except Exception as err:  # shapes, axes, overflowing constants: whatever the backend raises
            raise FunctionCallError(name, err) from err

    function.__name__ = name
    return function


@keras.saving.register_keras_serializable(package="declar", name="DeclarLoss")
class DeclarLoss(keras.losses.Loss):
    """A loss written in the expression language; ``params`` are the values of its spec params.

    Example:
        >>> loss = DeclarLoss("l2", ["y_true", "y_pred"], "scale * sum(square(y_pred - y_true), axis=1)",
        ...                   params={"scale": 2.0})
        >>> float(loss(keras.ops.zeros((2, 3)), keras.ops.ones((2, 3))))
        6.0
    """

    def __init__(self, name: str, args: list[str], expr: str, reduction: str = "sum_over_batch_size",
                 dtype: Any = None, params: dict[str, Any] | None = None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.args, self.expr, self.params = list(args), expr, dict(params or {})
        self._fn = _function_closure(name, args, expr, self.params)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self._fn(y_true, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "args": self.args, "expr": self.expr, "params": self.params}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DeclarLoss:
        _check_config(cls.__name__, config, {"name", "reduction", "dtype", "args", "expr", "params"})
        return cls(**config)


@keras.saving.register_keras_serializable(package="declar", name="DeclarMetric")
class DeclarMetric(keras.metrics.MeanMetricWrapper):
    """A metric written in the expression language, averaged over batches like Keras function metrics."""

    def __init__(self, name: str, args: list[str], expr: str, dtype: Any = None,
                 params: dict[str, Any] | None = None):
        super().__init__(fn=_function_closure(name, args, expr, params), name=name, dtype=dtype)
        self.args, self.expr, self.params = list(args), expr, dict(params or {})

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "args": self.args, "expr": self.expr, "params": self.params}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DeclarMetric:
        _check_config(cls.__name__, config, {"name", "dtype", "args", "expr", "params"})
        return cls(**config)


def _check_config(what: str, config: Any, known: set[str]) -> None:
    """An archive's config of a spec function: exactly what get_config writes, of plain types."""
    if not isinstance(config, dict):
        raise ValueError(f"{what} config must be a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - known, key=str)
    if unknown:
        raise ValueError(f"{what} config has unknown keys {unknown}")
    missing = sorted({"name", "args", "expr"} - set(config))
    if missing:
        raise ValueError(f"{what} config lacks {missing}")
    args = config["args"]
    if not (isinstance(config["name"], str) and isinstance(config["expr"], str) and isinstance(args, list)
            and all(isinstance(a, str) for a in args)):
        raise ValueError(f"{what} config: name and expr must be strings, args a list of names")
    if not (config.get("dtype") is None or isinstance(config.get("dtype"), str)):
        raise ValueError(f"{what} config: dtype must be a name")
    if not isinstance(config.get("reduction", ""), (str, type(None))):
        raise ValueError(f"{what} config: reduction must be a name")
    params = config.get("params", {})
    # A param is a plain number or boolean under a name the expression may read, never an arg's.
    if not (isinstance(params, dict) and all(
            isinstance(k, str) and k.isidentifier() and k not in args and isinstance(v, (bool, int, float))
            for k, v in params.items())):
        raise ValueError(f"{what} config: params must map names (not args) to numbers or booleans")
