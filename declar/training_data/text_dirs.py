"""Directories of text files, one subdirectory per class, read by Keras's own
`keras.utils.text_dataset_from_directory` (labels from the subdirectory names, in sorted order).

The directory comes from anywhere, so it is walked before Keras reads anything: only ``.txt``
files count (the only files Keras reads), each must be a regular file (a FIFO would hang the
reader, a device never ends) whose path, every symbolic link resolved, stays inside the directory
(a link to ``/etc/passwd`` is refused, not read as an example), and the files are counted and
their sizes added up within `Limits.max_data_files` and `Limits.max_data_bytes`. The model must
take one string input and give one output of one unit per class (or one unit for two classes).

Example:
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp()
    >>> for label in ("neg", "pos"):
    ...     os.mkdir(os.path.join(root, label))
    ...     with open(os.path.join(root, label, "a.txt"), "w") as f:
    ...         _ = f.write(f"a {label} review")
    >>> scan_text_directory(root).classes
    ('neg', 'pos')
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from declar.errors import DataError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.model import TrainingSpec
from declar.training_data.fit_data import FitData

if TYPE_CHECKING:
    import keras

TEXT_SUFFIX = ".txt"  # the one extension text_dataset_from_directory reads
DEFAULT_BATCH_SIZE = 32  # as declar fit's (declar.sections.training.build) and Keras's
LAYOUT = "give a directory with one subdirectory per class, each holding .txt files"


@dataclass(frozen=True)
class TextDirectory:
    """A directory of text checked before reading: its classes (sorted) and how much it holds."""

    path: str
    classes: tuple[str, ...]
    files: int
    bytes: int


def is_text_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory whose class subdirectories hold ``.txt`` files (the kind of
    source `open_text_dirs` reads); checked without reading any file.

    Example:
        >>> import tempfile
        >>> is_text_directory(tempfile.mkdtemp()), is_text_directory("data.npz")
        (False, False)
    """
    if not os.path.isdir(path):
        return False
    for entry in _class_entries(os.fspath(path)):
        for _, _, files in os.walk(entry.path):
            if any(f.lower().endswith(TEXT_SUFFIX) for f in files):
                return True
    return False


def _class_entries(root: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(root) as entries:
            # is_dir follows a link, as Keras's listing does: the link is then checked like any path.
            return sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
    except OSError as err:
        raise DataError(f"{root}: cannot list the directory: {err.strerror or err}", file=root) from None


def scan_text_directory(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> TextDirectory:
    """Check every file Keras would read in ``path``, before any is read (see the module's text).

    Raises `DataError` naming the file and the limit.
    """
    root = os.fspath(path)
    real_root = os.path.realpath(root)
    classes, files, total = [], 0, 0
    for entry in _class_entries(root):
        classes.append(entry.name)
        _inside(real_root, entry.path, root)
        for directory, _, names in os.walk(entry.path, followlinks=False):  # as Keras walks (follow_links=False)
            for name in sorted(n for n in names if n.lower().endswith(TEXT_SUFFIX)):
                full = os.path.join(directory, name)
                _inside(real_root, full, root)
                try:
                    info = os.stat(full)
                except OSError as err:
                    raise DataError(f"{root}: cannot read '{os.path.relpath(full, root)}': "
                                    f"{err.strerror or err}", file=root) from None
                if not stat.S_ISREG(info.st_mode):
                    raise DataError(f"{root}: '{os.path.relpath(full, root)}' is not a regular file (a FIFO, device "
                                    "or directory is never read)", file=root)
                files += 1
                total += info.st_size
                if files > limits.max_data_files:
                    raise DataError(f"{root}: more than {limits.max_data_files:,} text files, over "
                                    "Limits.max_data_files; raise it if this is intended (counted before reading)",
                                    file=root)
                if total > limits.max_data_bytes:
                    raise DataError(f"{root}: the text files add up to {total:,} bytes or more, over "
                                    f"Limits.max_data_bytes = {limits.max_data_bytes:,}; raise it if this is "
                                    "intended (checked before reading)", file=root)
    if not classes:
        raise DataError(f"{root}: no class subdirectories; {LAYOUT}", file=root)
    if files == 0:
        raise DataError(f"{root}: no .txt files in {', '.join(classes)}; {LAYOUT}", file=root)
    return TextDirectory(root, tuple(classes), files, total)


def _inside(real_root: str, path: str, root: str) -> None:
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise DataError(f"{root}: '{os.path.relpath(path, root)}' resolves outside the directory (symbolic link "
                        f"to {real}); a data directory is read only inside itself", file=root)


def open_text_dirs(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS, *,
                   batch_size: int | None = None, shuffle: bool | None = None, seed: int | None = None) -> FitData:
    """The training data of ``model`` in the directory of text ``path``: a batched dataset of
    (text, class index), classes in the sorted order of the subdirectory names.

    The dataset is batched and shuffled here (Keras's utility does both), so ``batch_size``,
    ``shuffle`` and ``seed`` not given come from the spec's training section as `declar fit` reads
    it: its batch_size (default 32), shuffle (default off, so runs are reproducible) and
    shuffle_seed (default the spec's seed). Raises `DataError` when the directory or the model does
    not fit (see the module's text).
    """
    import keras

    found = scan_text_directory(path, limits)
    shape = _check_model(found, model)
    spec = model.declar_spec
    section = spec.training or TrainingSpec()
    batch_size = batch_size or section.batch_size or DEFAULT_BATCH_SIZE
    shuffle = bool(section.shuffle) if shuffle is None else shuffle
    seed = next(s for s in (seed, section.shuffle_seed, spec.seed, 0) if s is not None)
    try:
        dataset = keras.utils.text_dataset_from_directory(
            found.path, labels="inferred", label_mode="int", class_names=list(found.classes), batch_size=batch_size,
            shuffle=shuffle, seed=seed, follow_links=False, verbose=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{found.path}: Keras cannot read the directory: {err}", file=found.path) from None
    if shape == (1,):  # an input of shape [1] takes each text as a row of one string
        import tensorflow as tf

        dataset = dataset.map(lambda x, y: (tf.expand_dims(x, -1), y))
    return FitData(dataset, None, batched=True)


def _check_model(found: TextDirectory, model: keras.Model) -> tuple[int | None, ...]:
    """The model's one string input shape; refuses a model that does not take text and classes."""
    spec = model.declar_spec
    shown = found.path
    if len(spec.inputs) != 1 or spec.inputs[0].dtype != "string" or tuple(spec.inputs[0].shape) not in ((), (1,)):
        given = ", ".join(f"'{i.name}' ({i.dtype}, shape {list(i.shape)})" for i in spec.inputs)
        raise DataError(f"{shown}: a directory of text gives one string per example; the model takes {given} "
                        "(declare one input {shape: [], dtype: string})", file=shown)
    if len(model.outputs) != 1:
        raise DataError(f"{shown}: a directory of text gives one class label per example; the model has "
                        f"{len(model.outputs)} outputs", file=shown)
    units = model.outputs[0].shape[-1]
    classes = len(found.classes)
    if not (units == classes or (units == 1 and classes == 2)):
        raise DataError(f"{shown}: {classes} classes ({', '.join(found.classes)}) but the model's output has "
                        f"{units} units; give it one unit per class (or one unit for two classes)", file=shown)
    return tuple(spec.inputs[0].shape)


__all__ = ["TextDirectory", "is_text_directory", "open_text_dirs", "scan_text_directory"]
