"""The weight budget: every variable of every layer is checked before Keras allocates it.

Keras allocates a layer's variables inside `keras.layers.Layer.add_weight`, deep inside the
functional call that builds the layer, where no argument of ours reaches (a `Dense` of 40000x40000
or an `Embedding` of 2e9 rows from a 2 KB spec or archive would otherwise allocate gigabytes
before anything could refuse it). So `install` wraps that one method, once, and the wrapper
charges the shape of each new variable to the budget of the build or load in progress:

- one variable may hold at most `Limits.max_variable_elements` elements;
- all the variables charged to one budget (one model, or one lone `DeclarLayer`) together at most
  `Limits.max_model_elements`, so several large variables cannot add up.

Elements are counted, not bytes: the limits mean the same for float16 and float64. Sublayers
(MultiHeadAttention's EinsumDense, RNN cells, Bidirectional's copies, a declared layer's base)
call the same `add_weight`, so they are charged too, and named by their Keras path
(``attn/query``). With no budget active the wrapper does nothing: plain Keras code is unaffected.
Importing this module installs the guard (declar registers with Keras by importing it).

Example:
    >>> import keras
    >>> from declar.limits import Limits
    >>> install()
    >>> with weight_budget(Limits(max_variable_elements=1_000)):
    ...     keras.layers.Dense(2000, name="wide").build((None, 1))
    Traceback (most recent call last):
    ...
    declar.errors.WeightBudgetError: layer 'wide' (Dense): variable 'kernel': shape [1, 2000] has 2,000 \
elements, over the limit of 1,000; raise Limits.max_variable_elements if this is intended
"""

from __future__ import annotations

import contextvars
import functools
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from declar.errors import WeightBudgetError
from declar.limits import Limits, current_limits
from declar.spec.shapes import shape_errors


class WeightBudget:
    """Elements charged so far to one model (or one lone declared layer), against its limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.used = 0

    def charge(self, layer: str, variable: str, shape: tuple[int, ...]) -> None:
        """Count ``shape``'s elements against both limits; raise before anything is allocated.

        ``layer`` names the owner as a user would look for it: ``'attn/query' (EinsumDense)``.
        """
        for message, hint in shape_errors(shape, self.limits):
            raise WeightBudgetError(variable_message(layer, variable, message, hint))
        elements = 1
        for size in shape:
            elements *= size
        total = self.used + elements
        if total > self.limits.max_model_elements:
            raise WeightBudgetError(variable_message(
                layer, variable,
                f"shape {list(shape)} ({elements:,} elements) would bring the model's variables to {total:,} "
                f"elements, over Limits.max_model_elements = {self.limits.max_model_elements:,}",
                "raise it if this is intended"))
        self.used = total


def variable_message(layer: str, variable: str, message: str, hint: str = "") -> str:
    """The one wording of a refused variable, for built-in and declared layers alike."""
    return f"layer {layer}: variable '{variable}': {message}" + (f"; {hint}" if hint else "")


_active: contextvars.ContextVar[WeightBudget | None] = contextvars.ContextVar("declar_weight_budget", default=None)


@contextmanager
def weight_budget(limits: Limits | None = None) -> Iterator[WeightBudget]:
    """Charge every variable created inside to one budget (the caller's limits by default).

    A budget already active is kept, so a declared layer built inside a model is charged to the
    model, and a lone declared layer gets a budget of its own.

    Example:
        >>> with weight_budget() as budget:
        ...     budget.limits.max_model_elements
        1000000000
    """
    active = _active.get()
    if active is not None:
        yield active
        return
    budget = WeightBudget(limits if limits is not None else current_limits.get())
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


def _static_shape(shape: Any) -> tuple[int, ...] | None:
    """The shape as integers, or None when it is not one Keras could allocate (Keras refuses it)."""
    if shape is None:
        return ()
    try:
        return tuple(operator.index(s) for s in (shape if isinstance(shape, (list, tuple)) else tuple(shape)))
    except TypeError:
        return None


def _layer_label(layer: Any) -> str:
    try:  # the Keras path names a sublayer by its owners ("attn/query"); private, hence the fallback
        from keras.src.backend.common.name_scope import current_path

        path = current_path()
    except Exception:  # any failure only loses the owners' names
        path = ""
    name = str(getattr(layer, "name", "?"))
    if not path.endswith(name):
        path = f"{path}/{name}" if path else name
    kind = getattr(layer, "_layer_type", None) or type(layer).__name__  # a declared type by its spec name
    return f"'{path}' ({kind})"


def install() -> None:
    """Wrap `keras.layers.Layer.add_weight` once, so an active budget sees every new variable."""
    import keras

    original = keras.layers.Layer.add_weight
    if getattr(original, "__declar_budget__", False):
        return

    @functools.wraps(original)
    def add_weight(self: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _active.get()
        if budget is not None:
            shape = _static_shape(kwargs["shape"] if "shape" in kwargs else (args[0] if args else None))
            if shape is not None:
                budget.charge(_layer_label(self), str(kwargs.get("name")), shape)
        return original(self, *args, **kwargs)

    add_weight.__declar_budget__ = True  # type: ignore[attr-defined]
    keras.layers.Layer.add_weight = add_weight  # type: ignore[method-assign]


# Installed on import: declar.keras.layer and .model import this module, so no declar layer or
# model can be built without the guard in place, however declar.keras was reached.
install()

__all__ = ["WeightBudget", "WeightBudgetError", "install", "variable_message", "weight_budget"]
