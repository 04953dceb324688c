"""The `declar fit` job: the model to train, its data, the options, the callbacks, `model.fit`,
the atomic save and the history, each step from the module that owns it.

`train` is the whole job as a sequence of steps; each step is one call, so that resuming,
adapting and multi-worker training each add theirs in one place.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from declar.api import model_to_train, save, train_located
from declar.errors import DataError
from declar.fitting.batches import fit_inputs
from declar.fitting.history import write_history
from declar.fitting.progress import progress, silenced
from declar.fitting.resume import resume_callbacks
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections.training.build import fit_options, make_callbacks, shuffle_seed
from declar.sections.training.paths import under
from declar.spec.load import SpecSource
from declar.spec.loaded import LoadedSpec
from declar.spec.model import Spec, TrainingSpec
from declar.training_data import FitData, open_data

if TYPE_CHECKING:
    import keras


def train(source: SpecSource | Spec | str | os.PathLike[str], data: str | os.PathLike[str] | None,
          out_path: str | os.PathLike[str], *, epochs: int | None = None, batch_size: int | None = None,
          validation_split: float | None = None, shuffle: bool | None = None, verbose: int | str = "auto",
          limits: Limits = DEFAULT_LIMITS) -> keras.callbacks.History:
    """Train and save; see `declar.fit`, the public form of this function.

    ``data`` None means the section's ``training.data``; each option given (not None) overrides the
    section's setting; ``verbose`` is `declar.fitting.progress.progress`'s (0 for ``--quiet``).
    """
    model, loaded = model_to_train(source, limits)
    spec: Spec = model.declar_spec
    section = spec.training or TrainingSpec()
    options = fit_options(section, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                          shuffle=shuffle)
    fit_data = open_data(data_path(data, section.data, loaded, "data"), model, limits)
    validation = validation_data(section, loaded, model, limits, validation_split)
    inputs = fit_inputs(fit_data, validation, options, shuffle_seed(section, spec.seed))
    verbose, printers = progress(verbose)
    callbacks = silenced([*make_callbacks(section, out_path), *resume_callbacks(out_path), *inputs.callbacks,
                          *printers], verbose)
    history = train_located(model, loaded, **inputs.arguments, callbacks=callbacks, verbose=verbose)
    save(model, out_path, limits=limits)
    write_history(history, out_path)
    return history


def data_path(given: str | os.PathLike[str] | None, written: str | None, loaded: LoadedSpec, key: str
              ) -> str | os.PathLike[str]:
    """The data file to read: the one given (``--data``), else the section's ``key``, relative to
    the spec's directory (validate refused absolute paths and ``..``)."""
    if given is not None:
        return given
    if written is None:
        raise DataError("no training data: give --data, or data: in the spec's training section")
    if loaded.origin.base_dir is None:
        raise DataError(f"{loaded.origin.file}: training.{key} is relative to the spec's file, which this spec "
                        f"(an archive's or a string's) has not; give the file with --data")
    return under(loaded.origin.base_dir, written)


def validation_data(section: TrainingSpec, loaded: LoadedSpec, model: keras.Model, limits: Limits,
                    split_given: float | None = None) -> FitData | None:
    """The section's ``validation_data`` file, read like the training data, or None (also when the
    command line's ``--validation-split`` overrides it)."""
    if section.validation_data is None or split_given:
        return None
    return open_data(data_path(None, section.validation_data, loaded, "validation_data"), model, limits)
