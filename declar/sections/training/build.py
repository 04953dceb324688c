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

from declar.errors import DeclarError, SpecError
from declar.fitting.checkpoint import AtomicModelCheckpoint
from declar.sections.training.allow_list import PATH_ARGS
from declar.sections.training.paths import under
from declar.spec.loaded import LoadedSpec
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

BACKUP_FILES = frozenset({"latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp",
                          "training_metadata.json.bkp"})
"""What Keras's BackupAndRestore writes in its directory, which it deletes when training ends."""

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


def check_class_weight(loaded: LoadedSpec, model: keras.Model) -> None:
    """Refuse a ``class_weight`` key that is not a class of the model's output, before training:
    Keras builds a table of weights up to the largest key (``{"3000000000": 1.0}`` is 12 GB).

    An output of ``k > 1`` units has classes ``0..k-1``; one of a single unit (binary) has 0 and 1.
    """
    section = loaded.spec.training
    if section is None or not section.class_weight or len(model.outputs) != 1:
        return  # several outputs: Keras refuses class_weight itself, with its message
    shape = tuple(model.outputs[0].shape)
    units = shape[-1] if shape else 1
    classes = max(2, units or 2)
    for key in section.class_weight:
        if int(key) >= classes:
            message = (f"class_weight key {key!r} is not a class of the output '{model.output_names[0]}' "
                       f"(it has {classes}: 0 to {classes - 1})")
            hint = "the keys are class indices 0, 1, 2...: the integer labels of the training data"
            listed = isinstance((loaded.document.data.get("training") or {}).get("class_weight"), list)
            path = ("training", "class_weight", int(key) if listed else key)
            problem = loaded.document.problem(path, message, hint, "class-weight", at_key=not listed) \
                if loaded.source_text else loaded.problem(path, message, hint, "class-weight")
            raise SpecError([problem])


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
        if callback.name == "BackupAndRestore":
            _check_backup_dir(args["backup_dir"], i)
        if callback.name == "CSVLogger":  # Keras opens the file without making its directory
            os.makedirs(os.path.dirname(args["filename"]) or ".", exist_ok=True)
        try:
            made.append(CALLBACK_CLASSES[callback.name](**args))
        except (ValueError, TypeError) as err:  # what the checks could not foresee, located, not internal
            raise DeclarError(f"training.callbacks[{i}]: {callback.name}: {err}", code="training-callback",
                              path=("training", "callbacks", i)) from None
    return made


def _check_backup_dir(path: str, index: int) -> None:
    """Refuse a BackupAndRestore directory that holds anything Keras's callback did not write there:
    the callback deletes the whole directory when training ends, the user's files with it."""
    if not os.path.lexists(path):
        return
    others = sorted(set(os.listdir(path)) - BACKUP_FILES) if os.path.isdir(path) and not os.path.islink(path) \
        else None
    if others == []:
        return  # a backup an earlier run left: BackupAndRestore resumes from it
    what = f"holds files it did not write ({', '.join(others[:5])})" if others else "is not a directory"
    raise DeclarError(f"training.callbacks[{index}]: BackupAndRestore backup_dir {path!r} {what}; BackupAndRestore "
                      "deletes its directory when training ends: give it a directory of its own",
                      code="training-callback", path=("training", "callbacks", index))
