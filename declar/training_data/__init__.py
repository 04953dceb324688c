"""Data for `declar fit` and `declar adapt`, one module per kind of source.

A data file comes from anywhere, so every source is read like an archive from a stranger: its
size and layout are checked before it is read, within `Limits`, and what does not fit the model
(names, shapes, dtypes) is a `DataError` with a message, never a traceback from inside Keras.

`open_data` picks the source by the path's kind:

- ``.npz`` (`npz`): arrays named after the model's inputs and outputs;
- ``.csv`` (`csv_files`): a header row naming columns after the inputs and outputs;
- ``.tfrecord`` (`tfrecord`): `tf.train.Example` records with features named after them (TensorFlow
  backend only);
- a directory with one subdirectory per class (`directory`): images (`images`, through
  `keras.utils.image_dataset_from_directory`), or text files (`text_dirs`).

Example:
    >>> sorted(FILE_SOURCES), [source.name for source in DIRECTORY_SOURCES]
    (['.csv', '.npz', '.tfrecord'], ['images', 'text files'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from declar.errors import DataError, JsonPath
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections.training.paths import path_refusal
from declar.spec.model import TrainingSpec
from declar.training_data.csv_files import open_csv
from declar.training_data.directory import DirectorySource, scan_directory
from declar.training_data.fit_data import FitData, ReadOptions
from declar.training_data.images import IMAGES
from declar.training_data.npz import check_shapes, open_npz, read_arrays
from declar.training_data.text_dirs import TEXT_FILES
from declar.training_data.tfrecord import open_tfrecord

if TYPE_CHECKING:
    import keras

    from declar.spec.loaded import LoadedSpec

FileOpener = Callable[[str, "keras.Model", Limits, ReadOptions], FitData]

FILE_SOURCES: dict[str, FileOpener] = {".npz": open_npz, ".csv": open_csv, ".tfrecord": open_tfrecord}
"""Data files by extension."""

DIRECTORY_SOURCES: tuple[DirectorySource, ...] = (
    IMAGES,
    TEXT_FILES,
)
"""Kinds of data directory, told apart by the extensions of their files."""

DATA_HINT = "the data this key names was refused; the message says what to change"


def open_data(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS,
              options: ReadOptions | None = None, *, at: tuple[LoadedSpec, JsonPath] | None = None) -> FitData:
    """The training data of ``model`` at ``path``, checked against its inputs and outputs.

    ``options`` say how a dataset source batches and shuffles (arrays are batched by `model.fit`).
    ``at``: the spec and key that gave the path (``training.data``): a refusal is then located there.

    Raises `DataError` naming the file and what does not fit.

    Example:
        >>> import declar, numpy as np, tempfile
        >>> model = declar.build("specs/keras_guide/custom_compile.yaml")
        >>> path = tempfile.mkdtemp() + "/d.npz"
        >>> np.savez(path, x=np.ones((4, 8), "float32"))
        >>> open_data(path, model)
        Traceback (most recent call last):
        ...
        declar.errors.DataError: ...d.npz: missing arrays ['dense_1']; expected inputs ['x'] and outputs ['dense_1'], \
found ['x']
    """
    try:
        return _open(os.fspath(path), model, limits, options or ReadOptions.from_section(model.declar_spec))
    except DataError as err:
        if at is None:
            raise
        loaded, key = at
        raise DataError(problems=[loaded.problem(key, str(err), DATA_HINT, "data")]) from None


def open_spec_data(loaded: LoadedSpec, key: str, model: keras.Model, limits: Limits = DEFAULT_LIMITS,
                   options: ReadOptions | None = None) -> FitData | None:
    """The data the spec's ``training.<key>`` names (a path relative to the spec), its refusals
    located at that key; None when the section does not give it.

    Example:
        >>> import declar
        >>> loaded = declar.load_spec("specs/keras_guide/custom_compile.yaml")
        >>> open_spec_data(loaded, "validation_data", declar.build(loaded)) is None
        True
    """
    section = loaded.spec.training
    relative = getattr(section, key, None) if section else None
    if not relative:
        return None
    refused = path_refusal(relative)
    if refused:  # the section's checks refuse it at validate; an archive's embedded spec is checked here
        raise DataError(problems=[loaded.problem(("training", key), f"'{relative}' {refused}",
                                                 "give a path relative to the spec, without '..'", "data")])
    if loaded.origin.base_dir is None:
        raise DataError(f"{loaded.origin.file}: training.{key} is relative to the spec's file, which this spec "
                        f"(an archive's or a string's) has not; give the data with --data")
    path = os.path.join(loaded.origin.base_dir, relative)
    return open_data(path, model, limits, options, at=(loaded, ("training", key)))


def open_training_data(loaded: LoadedSpec, model: keras.Model, data: str | os.PathLike[str] | None,
                       options: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> tuple[FitData, FitData | None]:
    """What `declar fit` trains on: ``data`` (or, when None, the spec's ``training.data``) and the
    spec's ``training.validation_data`` (None without it), batched as ``options`` (the settings of
    `model.fit`) say and shuffled with ``training.shuffle_seed`` (the spec's seed by default).

    Raises `DataError` when there is no data, and for data that does not fit (located at the
    spec's key when the spec named it).

    Example:
        >>> import declar
        >>> loaded = declar.load_spec("specs/keras_guide/custom_compile.yaml")
        >>> open_training_data(loaded, declar.build(loaded), None, {"batch_size": 8})
        Traceback (most recent call last):
        ...
        declar.errors.DataError: no training data: give --data, or data: in the spec's training section
    """
    spec = loaded.spec
    seed = (spec.training or TrainingSpec()).order_seed(spec.seed)
    read = ReadOptions(options.get("batch_size", 32), bool(options.get("shuffle")), seed)
    fit_data = open_data(data, model, limits, read) if data is not None else \
        open_spec_data(loaded, "data", model, limits, read)
    if fit_data is None:
        raise DataError("no training data: give --data, or data: in the spec's training section")
    return fit_data, open_spec_data(loaded, "validation_data", model, limits, ReadOptions(read.batch_size))


def _open(path: str, model: keras.Model, limits: Limits, options: ReadOptions) -> FitData:
    # A known file extension names a file even on a directory (refused there as not a regular file);
    # any other file is read as .npz, whose reader says what it is instead (.npy, pickle, not a zip).
    opener = FILE_SOURCES.get(os.path.splitext(path)[1].lower())
    if opener is not None or not os.path.isdir(path):
        return (opener or open_npz)(path, model, limits, options)
    listing = scan_directory(path, limits)
    # The kind whose files the directory holds most of (Keras skips the others, a README.txt among images).
    counts = [(sum(f.extension in s.extensions for f in listing.files), s) for s in DIRECTORY_SOURCES]
    most = max(n for n, _ in counts)
    claiming = [s for n, s in counts if n == most and n > 0]
    if len(claiming) != 1:
        kinds = "; ".join(f"{s.name} ({', '.join(sorted(s.extensions))})" for s in DIRECTORY_SOURCES)
        what = "as many files of several kinds" if claiming else "no files declar reads"
        raise DataError(f"{path}: {what} under its class subdirectories (found {sorted(listing.extensions())}); a "
                        f"data directory holds one of: {kinds}", file=path)
    return claiming[0].open(listing, model, limits, options)


__all__ = ["DIRECTORY_SOURCES", "FILE_SOURCES", "DataError", "FitData", "ReadOptions", "check_shapes", "open_data",
           "open_spec_data", "open_training_data", "read_arrays"]
