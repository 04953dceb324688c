"""`.npz` data files: archives of arrays named after the model's inputs and outputs.

A data file comes from anywhere, so it is checked like an archive from a stranger, before any
array is read: it must be a zip (not a `.npy` array, not a pickle), each needed member's `.npy`
header must declare a plain numeric array of at least one dimension, and the sizes the headers
declare (elements times item size, summed over the arrays) must stay within
`Limits.max_data_bytes` (a 28 MB `.npz` of zeros expands to 6 GB). Then the arrays are read, and
their widths and row counts compared with the model's inputs and outputs, so every bad file is a
`DataError` with a message, never a traceback from inside Keras.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(path, x=np.ones((3, 2)), y=np.zeros((3, 1)))
    >>> sorted(read_arrays(path, ["x"], ["y"]))
    ['x', 'y']
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from declar.bounded import npy_header, open_regular, read_npy
from declar.errors import DataError, FileLimitError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.fit_data import FitData, ReadOptions
from declar.training_data.signature import Signature, check_string_inputs, shape_text, string_tensor

if TYPE_CHECKING:
    import zipfile

    import keras

# Keras's rule for archive members it extracts (saving_lib._reject_zip_extract_bomb): above 256 MiB,
# a member expanding more than 100 times is a bomb; real arrays seldom compress that well, and
# np.savez (uncompressed, the common way) never does. This holds within Limits.max_data_bytes,
# whose default (8 GB) is a machine's memory, not a plausible expansion of a small file.
BOMB_FLOOR_BYTES = 1 << 28
BOMB_MAX_EXPANSION = 100

# Array kinds Keras can train on: booleans, integers, floats (not strings, objects, dates, complex).
NUMERIC_KINDS = "biuf"
# Text arrays, for inputs of dtype string: fixed-width str and bytes (never objects, which are pickles).
TEXT_KINDS = "US"
HOW_TO_SAVE = "write one with numpy.savez(path, name=array, ...), one array per input and output"


def read_arrays(path: str | os.PathLike[str], inputs: Sequence[str], outputs: Sequence[str] = (),
                limits: Limits = DEFAULT_LIMITS, strings: Collection[str] = ()) -> dict[str, Any]:
    """The arrays named ``inputs`` and ``outputs`` of the `.npz` file ``path`` (other arrays are
    never read), each header checked before it is read. Those named in ``strings`` (inputs of dtype
    string) may hold text (NumPy ``str`` or ``bytes``); every other array numbers or booleans.

    Raises `DataError` naming the file, the array and the limit to raise.
    """
    names = [*inputs, *outputs]
    import zipfile  # not at import: `import declar` (hence validate) stays light

    import numpy as np

    shown = os.fspath(path)
    try:
        f = open_regular(shown, limit=limits.max_data_bytes, limit_name="max_data_bytes", what=f"data file {shown}")
    except FileLimitError as err:
        raise DataError(str(err)) from None
    with f:
        head = f.read(8)
        f.seek(0)
        if head.startswith(b"\x93NUMPY"):
            raise DataError(f"{shown}: a .npy file (one array) where an .npz file (named arrays) is needed; "
                            f"{HOW_TO_SAVE}", file=shown)
        if head[:1] == b"\x80":
            raise DataError(f"{shown}: a Python pickle, which is never loaded; {HOW_TO_SAVE}", file=shown)
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            raise DataError(f"{shown}: not an .npz file ({err}); {HOW_TO_SAVE}", file=shown) from None
        with archive:
            members = {i.filename[:-4]: i for i in archive.infolist() if i.filename.endswith(".npy")}
            missing = [n for n in names if n not in members]
            if missing:
                raise DataError(f"{shown}: missing arrays {missing}; expected inputs {list(inputs)} and outputs "
                                f"{list(outputs)}, found {sorted(members)}", file=shown)
            headers = {n: _header(archive, members[n], shown, n in strings) for n in names}
            total = 0
            for name in names:
                shape, dtype = headers[name]
                declared = math.prod(shape) * dtype.itemsize
                total += declared
                if total > limits.max_data_bytes:
                    raise DataError(f"{shown}: the arrays would expand to {total:,} bytes or more (array '{name}' "
                                    f"declares shape {list(shape)} of {dtype}), over Limits.max_data_bytes = "
                                    f"{limits.max_data_bytes:,}; raise it if this is intended (checked before "
                                    "reading)", file=shown)
                stored = members[name].compress_size
                if declared > BOMB_FLOOR_BYTES and declared > BOMB_MAX_EXPANSION * max(stored, 1):
                    raise DataError(f"{shown}: array '{name}' declares {declared:,} bytes (shape {list(shape)} of "
                                    f"{dtype}) but only {stored:,} are stored, more than {BOMB_MAX_EXPANSION}:1: a "
                                    "decompression bomb, refused before reading; if the data is genuine, save it "
                                    "uncompressed (numpy.savez, not savez_compressed)", file=shown)
            found: dict[str, Any] = {}
            for name in names:
                try:
                    with archive.open(members[name]) as member:
                        found[name] = read_npy(member, available=members[name].file_size,
                                               limit=limits.max_data_bytes, limit_name="max_data_bytes",
                                               what=f"{shown}: array '{name}'")
                except (FileLimitError, zipfile.BadZipFile, OSError, EOFError) as err:
                    raise DataError(str(err) if isinstance(err, FileLimitError) else
                                    f"{shown}: array '{name}' cannot be read ({err})") from None
            return {n: np.asarray(found[n]) for n in names}


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, text: bool) -> tuple[tuple[int, ...], Any]:
    import zipfile

    name = info.filename[:-4]
    try:
        with archive.open(info) as member:
            shape, dtype, _ = npy_header(member, f"{shown}: array '{name}'")
    except FileLimitError as err:
        raise DataError(str(err)) from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{shown}: array '{name}' cannot be read ({err})", file=shown) from None
    if dtype.kind not in NUMERIC_KINDS and not (text and dtype.kind in TEXT_KINDS):
        raise DataError(f"{shown}: array '{name}' has dtype {dtype}; training data must be numbers or booleans",
                        file=shown)
    if not shape:
        raise DataError(f"{shown}: array '{name}' is a single value (0-d); give one row per example", file=shown)
    return shape, dtype


def check_shapes(path: str | os.PathLike[str], inputs: dict[str, tuple[Any, ...]],
                 outputs: dict[str, tuple[Any, ...]], arrays: dict[str, Any]) -> None:
    """Refuse arrays whose rows differ or whose widths do not fit the model (None matches any size).

    ``inputs`` and ``outputs`` map names to per-example shapes (without the batch dimension). An
    output may also be given as sparse labels: one dimension fewer, or a last dimension of 1.

    Example:
        >>> import numpy as np
        >>> check_shapes("d.npz", {"x": (2,)}, {"y": (1,)}, {"x": np.ones((3, 3)), "y": np.ones((3, 1))})
        Traceback (most recent call last):
        ...
        declar.errors.DataError: d.npz: array 'x' has shape [3, 3], so examples of shape [3]; input 'x' takes [2]
    """
    shown = os.fspath(path)
    rows = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(rows.values())) > 1:
        raise DataError(f"{shown}: the arrays have different numbers of rows (examples): "
                        + ", ".join(f"'{n}' {r:,}" for n, r in rows.items()), file=shown)
    if rows and next(iter(rows.values())) == 0:
        raise DataError(f"{shown}: the arrays have no rows (examples)", file=shown)
    for name, expected in inputs.items():
        if not _fits(arrays[name].shape[1:], expected):
            raise DataError(f"{shown}: array '{name}' has shape {list(arrays[name].shape)}, so examples of shape "
                            f"{list(arrays[name].shape[1:])}; input '{name}' takes {shape_text(expected)}", file=shown)
    for name, expected in outputs.items():
        got = arrays[name].shape[1:]
        sparse = len(expected) >= 1 and (_fits(got, expected[:-1]) or _fits(got, (*expected[:-1], 1)))
        if not (_fits(got, expected) or sparse):
            raise DataError(f"{shown}: array '{name}' has shape {list(arrays[name].shape)}, so targets of shape "
                            f"{list(got)}; output '{name}' gives {shape_text(expected)} (or sparse labels of "
                            f"{shape_text(expected[:-1])})", file=shown)


def _fits(got: tuple[int, ...], expected: tuple[Any, ...]) -> bool:
    return len(got) == len(expected) and all(e is None or g == e for g, e in zip(got, expected, strict=True))


__all__ = ["check_shapes", "open_npz", "read_arrays"]


def open_npz(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS,
             options: ReadOptions | None = None) -> FitData:
    """The training data of ``model`` in the `.npz` file ``path``, checked against its inputs and outputs
    (arrays come whole: ``options`` are `model.fit`'s to apply)."""
    signature = Signature.of(model)
    check_string_inputs(signature, os.fspath(path))
    strings = [p.name for p in signature.inputs if p.dtype == "string"]
    found = read_arrays(path, signature.input_names, signature.output_names, limits, strings)
    check_shapes(path, {p.name: p.shape for p in signature.inputs}, {p.name: p.shape for p in signature.outputs},
                 found)
    for name in strings:
        if found[name].dtype.kind not in TEXT_KINDS:
            raise DataError(f"{path}: array '{name}' has dtype {found[name].dtype}; input '{name}' of dtype string "
                            "takes text (a NumPy str or bytes array)", file=os.fspath(path))
        found[name] = string_tensor(found[name], dict((p.name, p.shape) for p in signature.inputs)[name])
    x, y = signature.pack(found)
    return FitData(x, y, source=os.fspath(path))
