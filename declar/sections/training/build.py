"""The training section's build step: the arguments of `model.fit` and the callbacks.

`fit_options` merges the section with what the caller gives (the command line overrides the
spec); `make_callbacks` makes the section's callbacks from Keras's own classes, their files placed
under the output archive's directory (ModelCheckpoint through declar's atomic save).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import keras

from declar.errors import DeclarError
from declar.fitting.checkpoint import AtomicModelCheckpoint
from declar.sections.training.allow_list import PATH_ARGS
from declar.sections.training.paths import under
from declar.spec.model import TrainingSpec

DEFAULT_EPOCHS = 1
DEFAULT_BATCH_SIZE = 32

CALLBACK_CLASSES: dict[str, type[keras.callbacks.Callback]] = {
    "EarlyStopping": keras.callbacks.EarlyStopping,
    "ReduceLROnPlateau": keras.callbacks.ReduceLROnPlateau,
    "ModelCheckpoint": AtomicModelCheckpoint,  # Keras's, but every file it writes is replaced atomically
    "CSVLogger": keras.callbacks.CSVLogger,
    "TensorBoard": keras.callbacks.TensorBoard,
    "TerminateOnNaN": keras.callbacks.TerminateOnNaN,
}
"""The class made for each allow-listed name (`declar.sections.training.allow_list.ALLOWED`)."""

OPTIONAL_PACKAGES = {"TensorBoard": ("tensorboard", "pip install 'declar[tensorboard]'")}
"""Callbacks that need a package TensorFlow no longer installs, and how to get it."""


def fit_options(section: TrainingSpec | None, **given: Any) -> dict[str, Any]:
    """The settings of `model.fit`: each one given (not None) wins over the section's.

    ``class_weight`` comes back with integer keys, as Keras takes it.

    Example:
        >>> fit_options(TrainingSpec(epochs=3), batch_size=8)["epochs"], fit_options(None)["batch_size"]
        (3, 32)
        >>> fit_options(TrainingSpec(shuffle=True), shuffle=False)["shuffle"]
        False
    """
    section = section or TrainingSpec()
    weights = {int(k): float(v) for k, v in section.class_weight.items()} if section.class_weight else None
    options = {"epochs": section.epochs or DEFAULT_EPOCHS, "batch_size": section.batch_size or DEFAULT_BATCH_SIZE,
               "validation_split": section.validation_split or 0.0, "shuffle": bool(section.shuffle),
               "class_weight": weights}
    options.update({k: v for k, v in given.items() if v is not None})
    return options


def make_callbacks(section: TrainingSpec | None, out_path: str | os.PathLike[str] = "."
                   ) -> list[keras.callbacks.Callback]:
    """The section's callbacks, made from Keras's own classes (the checks allowed each one and its
    arguments); the files they write go under the directory of the archive ``out_path``.

    Example:
        >>> [type(c).__name__ for c in make_callbacks(TrainingSpec.from_data({"callbacks": ["TerminateOnNaN"]}))]
        ['TerminateOnNaN']
    """
    if section is None:
        return []
    directory = os.path.dirname(os.fspath(out_path))
    made = []
    for i, callback in enumerate(section.callbacks):
        if callback.name == "BackupAndRestore":  # declar.fitting.resume keeps the backup; its arguments place it
            continue
        if callback.name in OPTIONAL_PACKAGES and importlib.util.find_spec(OPTIONAL_PACKAGES[callback.name][0]) is None:
            package, install = OPTIONAL_PACKAGES[callback.name]
            raise DeclarError(f"training.callbacks[{i}]: {callback.name} needs the {package} package, which is not "
                              f"installed: {install}", code="training-callback", path=("training", "callbacks", i))
        args = dict(callback.args)
        path_arg = PATH_ARGS.get(callback.name)
        if path_arg in args or callback.name == "TensorBoard":  # TensorBoard's default is ./logs: under too
            # ModelCheckpoint formats its whole filepath ({epoch}): braces of the directory are literal.
            base = directory.replace("{", "{{").replace("}", "}}") if callback.name == "ModelCheckpoint" else directory
            args[path_arg] = under(base, args.get(path_arg, "logs"))
        if callback.name == "CSVLogger":  # Keras opens the file without making its directory
            os.makedirs(os.path.dirname(args["filename"]) or ".", exist_ok=True)
        made.append(CALLBACK_CLASSES[callback.name](**args))
    return made
