"""Data for `declar fit` and `declar adapt`, one module per kind of source.

A data file comes from anywhere, so every source is read like an archive from a stranger: its
size and layout are checked before it is read, within `Limits`, and what does not fit the model
(names, shapes, dtypes) is a `DataError` with a message, never a traceback from inside Keras.

- `npz`: `.npz` archives of arrays named after the model's inputs and outputs.
- `text_dirs`: directories of text files, one subdirectory per class.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(path, x=np.ones((3, 2)), y=np.zeros((3, 1)))
    >>> sorted(read_arrays(path, ["x"], ["y"]))
    ['x', 'y']
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from declar.errors import DataError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.fit_data import FitData
from declar.training_data.npz import check_shapes, open_npz, read_arrays
from declar.training_data.text_dirs import is_text_directory, open_text_dirs

if TYPE_CHECKING:
    import keras


def open_data(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS) -> FitData:
    """The training data of ``model`` at ``path``, checked against its inputs and outputs.

    Raises `DataError` naming the file and what does not fit.
    """
    if is_text_directory(path):
        return open_text_dirs(path, model, limits)
    return open_npz(path, model, limits)


__all__ = ["DataError", "FitData", "check_shapes", "open_data", "read_arrays"]
