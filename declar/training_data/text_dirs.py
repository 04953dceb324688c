"""Directories of text files, one subdirectory per class, read by Keras's own
`keras.utils.text_dataset_from_directory` (labels from the subdirectory names, in sorted order).

The directory comes from anywhere, so it is listed first by `declar.training_data.directory`
(regular files only, no link out of it, files and bytes within `Limits.max_data_files` and
`Limits.max_data_bytes`), before Keras reads anything. The model must take one string input and
give one output of one unit per class (or one unit for two classes).

Example:
    >>> import tempfile, os
    >>> root = tempfile.mkdtemp()
    >>> for label in ("neg", "pos"):
    ...     os.mkdir(os.path.join(root, label))
    ...     with open(os.path.join(root, label, "a.txt"), "w") as f:
    ...         _ = f.write(f"a {label} review")
    >>> scan_directory(root).classes
    ('neg', 'pos')
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from declar.errors import DataError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.directory import DirectorySource, Listing, scan_directory
from declar.training_data.fit_data import FitData, ReadOptions

if TYPE_CHECKING:
    import keras

TEXT_SUFFIX = ".txt"  # the one extension text_dataset_from_directory reads
LAYOUT = "give a directory with one subdirectory per class, each holding .txt files"


def open_text_dirs(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS, *,
                   batch_size: int | None = None, shuffle: bool | None = None, seed: int | None = None) -> FitData:
    """The training data of ``model`` in the directory of text ``path``: a batched dataset of
    (text, class index), classes in the sorted order of the subdirectory names.

    The dataset is batched and shuffled here (Keras's utility does both); ``batch_size``,
    ``shuffle`` and ``seed`` not given come from the spec's training section (see
    `ReadOptions.from_section`). Raises `DataError` when the directory or the model does not fit.
    """
    section = ReadOptions.from_section(model.declar_spec)
    options = ReadOptions(batch_size or section.batch_size, section.shuffle if shuffle is None else shuffle,
                          section.seed if seed is None else seed)
    return open_listing(scan_directory(path, limits), model, limits, options)


def open_listing(listing: Listing, model: keras.Model, limits: Limits, options: ReadOptions) -> FitData:
    """The dataset of a listed directory of text (`open_data` lists it first, then calls this)."""
    import keras

    if TEXT_SUFFIX not in listing.extensions():
        raise DataError(f"{listing.root}: no .txt files in {', '.join(listing.classes)}; {LAYOUT}", file=listing.root)
    shape = _check_model(listing, model)
    try:
        dataset = keras.utils.text_dataset_from_directory(
            listing.root, labels="inferred", label_mode="int", class_names=list(listing.classes),
            batch_size=options.batch_size, shuffle=options.shuffle, seed=options.seed, follow_links=False,
            verbose=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{listing.root}: Keras cannot read the directory: {err}", file=listing.root) from None
    if shape == (1,):  # an input of shape [1] takes each text as a row of one string
        import tensorflow as tf

        dataset = dataset.map(lambda x, y: (tf.expand_dims(x, -1), y))
    return FitData(dataset, None, batched=True, source=listing.root)


def _check_model(listing: Listing, model: keras.Model) -> tuple[int | None, ...]:
    """The model's one string input shape; refuses a model that does not take text and classes."""
    spec = model.declar_spec
    shown = listing.root
    if len(spec.inputs) != 1 or spec.inputs[0].dtype != "string" or tuple(spec.inputs[0].shape) not in ((), (1,)):
        given = ", ".join(f"'{i.name}' ({i.dtype}, shape {list(i.shape)})" for i in spec.inputs)
        raise DataError(f"{shown}: a directory of text gives one string per example; the model takes {given} "
                        "(declare one input {shape: [], dtype: string})", file=shown)
    if len(model.outputs) != 1:
        raise DataError(f"{shown}: a directory of text gives one class label per example; the model has "
                        f"{len(model.outputs)} outputs", file=shown)
    units = model.outputs[0].shape[-1]
    classes = len(listing.classes)
    if not (units == classes or (units == 1 and classes == 2)):
        raise DataError(f"{shown}: {classes} classes ({', '.join(listing.classes)}) but the model's output has "
                        f"{units} units; give it one unit per class (or one unit for two classes)", file=shown)
    return tuple(spec.inputs[0].shape)


TEXT_FILES = DirectorySource("text files", frozenset({TEXT_SUFFIX}), open_listing)
"""Directories of text files, one subdirectory per class, in `open_data`'s dispatch."""

__all__ = ["TEXT_FILES", "open_listing", "open_text_dirs"]
