"""Updates of a custom type's non-trainable variables after its call (`updates:` of a type).

Each update is one Keras Variable method of an allow-list (`declar.spec.model.UPDATE_FORMS`:
``assign``, ``assign_add``, ``assign_sub``) applied to a declared variable with the value of a
checked expression; no other method is ever looked up. Keras's trainers carry the assignment:
TensorFlow runs it in the traced step, JAX's stateless scope returns the new value as the
variable's state, as for BatchNormalization's moving statistics. The variables are saved with the
layer's others, so the updated value survives a round trip.

The value must fit the variable: a scalar (``1.0``) is broadcast to the variable's shape, any
other shape must be the variable's, and a fractional value never goes into an integer variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from declar.errors import LayerBuildError
from declar.expr.evaluate import ExpressionError, to_closure
from declar.expr.parse import Context, check
from declar.keras.ops import keras_functions
from declar.spec.model import UPDATE_FORMS, UpdateSpec


@dataclass(frozen=True)
class Update:
    """A checked update: ``variable.<form>(value(env))``, skipped outside training when ``training_only``."""

    variable: str
    form: str
    value: Any
    training_only: bool


def update_closures(updates: Sequence[UpdateSpec], context: Context, trainable: Mapping[str, bool], owner: str
                    ) -> list[Update]:
    """Each update checked again where it is built (an archive's definition too): an allow-listed
    form, a declared non-trainable variable (``trainable`` maps the declared ones), a valid value."""
    found = []
    for update in updates:
        where = f"{owner}: update of '{update.variable}'"
        if update.form not in UPDATE_FORMS:
            raise LayerBuildError(f"{where}: '{update.form}' is not one of {', '.join(UPDATE_FORMS)}")
        if trainable.get(update.variable, True):
            raise LayerBuildError(f"{where}: only a declared non-trainable variable can be updated")
        checked = check(update.value, context)
        if checked.tree is None:
            raise LayerBuildError(f"{where}: {checked.problems[0].message}")
        found.append(Update(update.variable, update.form, to_closure(checked.tree, keras_functions()),
                            update.training_only))
    return found


def apply_updates(updates: Sequence[Update], variables: Mapping[str, Any], env: Mapping[str, Any],
                  training: Any, owner: str) -> None:
    """Run each update over ``env`` on its variable of ``variables``."""
    for update in updates:
        if update.training_only and not training:
            continue
        variable = variables[update.variable]
        try:
            value = update.value(env)
        except ExpressionError as err:
            raise LayerBuildError(f"{owner}: update of '{update.variable}': {err}") from None
        value = _fitted(value, variable, f"{owner}: update of '{update.variable}'")
        # The allow-listed method by its name from UPDATE_FORMS only, never a name from the spec.
        {"assign": variable.assign, "assign_add": variable.assign_add,
         "assign_sub": variable.assign_sub}[update.form](value)


def _fitted(value: Any, variable: Any, where: str) -> Any:
    """``value`` in the variable's dtype and shape, or refused with what does not fit."""
    dtype = keras.backend.standardize_dtype(variable.dtype)
    tensor = keras.ops.convert_to_tensor(value)
    given = keras.backend.standardize_dtype(tensor.dtype)
    if "int" in dtype and "float" in given:
        raise LayerBuildError(f"{where}: a {given} value does not fit the variable's dtype {dtype}; "
                              "round and cast it, e.g. cast(round(x), \"int32\")")
    shape, target = tuple(tensor.shape), tuple(variable.shape)
    if shape != target:
        if shape:  # only a scalar is broadcast: a batch axis left in the value is a mistake to report
            raise LayerBuildError(f"{where}: the value has shape {shape}, the variable {target}; reduce it to the "
                                  "variable's shape, e.g. mean(x, axis=0)")
        tensor = keras.ops.broadcast_to(tensor, target)
    return keras.ops.cast(tensor, dtype)
