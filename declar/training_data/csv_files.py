"""CSV files: a header row naming the columns after the model's inputs and outputs, then one row per
example, as keras.io's structured-data examples keep their tables.

The column convention:

- an input or output of one value per example (shape ``[]`` or ``[1]``) is the column named after
  it: ``age``, ``thal``, ``target``;
- one of more values (shape ``[k]``, or ``[a, b]``: ``a*b`` values in row-major order) is the
  columns ``name_0`` .. ``name_{n-1}``;
- an output of ``k > 1`` values may instead be one column ``name`` of integer class labels in
  ``0..k-1``, given to a sparse loss as they are, one-hot encoded for a categorical one;
- other columns are ignored (the table may hold more than one model reads); shapes with a None
  dimension cannot be read from fixed columns and are refused.

Values are parsed strictly, by the input's dtype: floats as decimal numbers (``-1.5``, ``2e-3``;
not ``nan``, ``inf``, ``1_000``, ``0x10``, spaces or empty fields), integers as whole numbers within
the dtype's range, booleans as ``0``/``1``/``true``/``false``, strings as written (inputs of dtype
``string``, TensorFlow backend). Targets are numbers. The file is UTF-8, comma-separated, with
double quotes around a field that holds a comma, quote or line end.

It is read within limits, each checked before the work it bounds: the file's size
(`Limits.max_data_bytes`), the header's columns (`Limits.max_csv_columns`), each record's characters
before it is parsed (`Limits.max_csv_row_bytes`), the rows (`Limits.max_data_rows`) and the arrays
the rows become (`Limits.max_data_bytes`). A refusal names the file and line and says what to change.

Example:
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/t.csv"
    >>> _ = open(path, "w").write("age,x_0,x_1,target\\n63,1,2,1\\n41,3,4,0\\n")
    >>> columns = read_columns(path, {"age": "float32", "x_0": "float32", "x_1": "float32", "target": "float32"})
    >>> columns["age"].tolist(), columns["x_1"].tolist()
    ([63.0, 41.0], [2.0, 4.0])
"""

from __future__ import annotations

import array
import csv
import io
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from declar.bounded import open_regular
from declar.errors import DataError, FileLimitError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.directory import wants_one_hot
from declar.training_data.fit_data import FitData, ReadOptions
from declar.training_data.signature import Port, Signature, check_string_inputs, shape_text, string_tensor

if TYPE_CHECKING:
    import keras

FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
BOOLEANS = {"0": False, "1": True, "false": False, "true": True, "False": False, "True": True}
# Python's csv module refuses a longer field itself (csv.field_size_limit, process-wide: not changed).
CSV_FIELD_LIMIT = 131_072
# What a parsed value costs while rows are read: a number in an array('d') or array('q'); a string
# is a Python str object (about 50 bytes before its text) and its reference in a list.
PARSED_BYTES = 8
PARSED_STRING_BYTES = 64


def read_columns(path: str | os.PathLike[str], wanted: Mapping[str, str] | Callable[[list[str]], Mapping[str, str]],
                 limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The columns ``wanted`` (name -> dtype, or a function of the header giving them) of the CSV
    file ``path``, parsed strictly, as NumPy arrays (strings as a list); other columns are never
    parsed.

    Raises `DataError` naming the file, the line and the column.
    """
    import numpy as np

    shown = os.fspath(path)
    try:
        f = open_regular(shown, limit=limits.max_data_bytes, limit_name="max_data_bytes", what=f"data file {shown}")
    except FileLimitError as err:
        raise DataError(str(err), file=shown) from None
    with f:
        lines = _BoundedLines(io.TextIOWrapper(f, encoding="utf-8-sig", errors="strict", newline=""),
                              limits.max_csv_row_bytes, shown)
        reader = csv.reader(lines, strict=True)
        try:
            header = _header(reader, lines, shown, limits)
            wanted = wanted(header) if callable(wanted) else wanted
            missing = [n for n in wanted if n not in header]
            if missing:
                raise DataError(f"{shown}: no columns {missing} in its header; found {header[:50]}"
                                f"{' ...' if len(header) > 50 else ''} (columns are named after the inputs and "
                                "outputs: name for one value, name_0, name_1, ... for more)", file=shown)
            index = {n: header.index(n) for n in wanted}
            values: dict[str, Any] = {n: [] if d == "string" else array.array(_array_code(d))
                                      for n, d in wanted.items()}
            per_row = sum(PARSED_STRING_BYTES if d == "string" else PARSED_BYTES for d in wanted.values()) or 1
            rows = 0
            for record in reader:
                line = reader.line_num
                lines.record_done()
                if not record:
                    continue  # a blank line
                rows += 1
                if rows > limits.max_data_rows:
                    raise DataError(f"{shown}: more than Limits.max_data_rows = {limits.max_data_rows:,} rows; raise "
                                    "it if this is intended", file=shown)
                if rows * per_row > limits.max_data_bytes:
                    raise DataError(f"{shown}: its rows would become {rows * per_row:,} bytes of arrays or more, over "
                                    f"Limits.max_data_bytes = {limits.max_data_bytes:,}; raise it if this is intended",
                                    file=shown)
                if len(record) != len(header):
                    raise DataError(f"{shown}:{line}: {len(record)} fields where the header has {len(header)} "
                                    "columns", file=shown)
                for name, dtype in wanted.items():
                    values[name].append(_parse(record[index[name]], dtype, shown, line, name))
        except csv.Error as err:
            detail = (f"a field longer than {CSV_FIELD_LIMIT:,} characters (Python's csv limit)"
                      if "field larger" in str(err) else str(err))
            raise DataError(f"{shown}:{reader.line_num}: not readable CSV: {detail}", file=shown) from None
        except UnicodeDecodeError as err:
            raise DataError(f"{shown}: not UTF-8 text ({err.reason} at byte {err.start:,} of a chunk); save it as "
                            "UTF-8", file=shown) from None
        except OSError as err:
            raise DataError(f"{shown}: cannot be read ({err})", file=shown) from None
    if rows == 0:
        raise DataError(f"{shown}: no rows (examples) after the header", file=shown)
    # NumPy has no bfloat16: those values are given as float32, which Keras casts at the input.
    return {n: v if wanted[n] == "string" else np.asarray(v, dtype="float32" if wanted[n] == "bfloat16" else wanted[n])
            for n, v in values.items()}


def _array_code(dtype: str) -> str:
    """The `array` type that holds parsed values of ``dtype`` (8 bytes each; uint64 unsigned)."""
    if dtype == "uint64":
        return "Q"
    return "q" if dtype.startswith(("int", "uint")) or dtype == "bool" else "d"


class _BoundedLines:
    """The lines of a text stream, each read with a bound (a file without line ends is never read
    whole), and the characters of one record (a quoted field may span lines) within ``limit``."""

    def __init__(self, stream: IO[str], limit: int, shown: str):
        self.stream, self.limit, self.shown = stream, limit, shown
        self.pending = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(self.limit + 1 - self.pending)
        if not line:
            raise StopIteration
        self.pending += len(line)
        if self.pending > self.limit:
            raise DataError(f"{self.shown}: a record longer than Limits.max_csv_row_bytes = {self.limit:,} characters "
                            "(an enormous field, or no line ends), refused before it is parsed; raise it if this is "
                            "intended", file=self.shown)
        return line

    def record_done(self) -> None:
        self.pending = 0


def _header(reader: Any, lines: _BoundedLines, shown: str, limits: Limits) -> list[str]:
    first = next(reader, None)
    lines.record_done()
    if not first:
        raise DataError(f"{shown}: empty; a CSV file starts with a header row naming its columns", file=shown)
    if len(first) > limits.max_csv_columns:
        raise DataError(f"{shown}: its header has {len(first):,} columns, over Limits.max_csv_columns = "
                        f"{limits.max_csv_columns:,}; raise it if this is intended (checked before any row is read)",
                        file=shown)
    seen: set[str] = set()
    for name in first:
        if name in seen:
            raise DataError(f"{shown}: column '{name}' appears twice in its header", file=shown)
        seen.add(name)
    return first


def _parse(text: str, dtype: str, shown: str, line: int, column: str) -> Any:
    if dtype == "string":
        return text
    if dtype == "bool":
        if text not in BOOLEANS:
            raise _value_error(text, "a boolean (0, 1, true or false)", shown, line, column)
        return BOOLEANS[text]
    if dtype.startswith(("int", "uint")):
        if not INTEGER.fullmatch(text):
            raise _value_error(text, f"a whole number ({dtype})", shown, line, column)
        value = int(text)
        low, high = _integer_range(dtype)
        if not low <= value <= high:
            raise DataError(f"{shown}:{line}: column '{column}': {value} is outside {dtype} ({low}..{high})",
                            file=shown)
        return value
    if not FLOAT.fullmatch(text):
        raise _value_error(text, "a decimal number", shown, line, column)
    value = float(text)
    if math.isinf(value):
        raise DataError(f"{shown}:{line}: column '{column}': {text[:40]} overflows to infinity", file=shown)
    return value


def _integer_range(dtype: str) -> tuple[int, int]:
    bits = int(dtype.removeprefix("u").removeprefix("int"))
    if dtype.startswith("u"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _value_error(text: str, expected: str, shown: str, line: int, column: str) -> DataError:
    quoted = repr(text[:40] + ("..." if len(text) > 40 else ""))
    return DataError(f"{shown}:{line}: column '{column}': {quoted} is not {expected}; values are parsed strictly "
                     "(no spaces, nan or empty fields)", file=shown)


def columns_of(port: Port, output: bool, header: set[str] | None = None) -> list[str]:
    """The columns that hold ``port``: its name for one value, ``name_0..`` for more; an output of
    several values read from one column of labels when the header has that column (see the
    module docstring).

    Example:
        >>> columns_of(Port("x", (3,), "float32"), output=False)
        ['x_0', 'x_1', 'x_2']
    """
    if any(d is None for d in port.shape):
        raise ValueError(port.name)
    count = math.prod(port.shape)
    if count == 1 or (output and header is not None and port.name in header):
        return [port.name]
    return [f"{port.name}_{i}" for i in range(count)]


def open_csv(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS,
             options: ReadOptions | None = None) -> FitData:
    """The training data of ``model`` in the CSV file ``path`` (see the module docstring for the
    column convention), checked against its inputs and outputs."""
    import numpy as np

    shown = os.fspath(path)
    signature = Signature.of(model)
    check_string_inputs(signature, shown)
    layout: dict[str, tuple[Port, list[str], str]] = {}  # port name -> (port, its columns, their dtype)

    def wanted(header: list[str]) -> dict[str, str]:
        for port in signature.inputs:
            layout[port.name] = (port, _columns(port, False, set(header), shown), port.dtype)
        for port in signature.outputs:
            columns = _columns(port, True, set(header), shown)
            labels = len(columns) == 1 and math.prod(port.shape) > 1  # sparse class labels
            layout[port.name] = (port, columns, "int32" if labels else "float32")
        return {c: dtype for _, columns, dtype in layout.values() for c in columns}

    found = read_columns(shown, wanted, limits)
    arrays: dict[str, Any] = {}
    for name, (port, columns, dtype) in layout.items():
        if dtype == "string":
            arrays[name] = string_tensor(np.array([found[c] for c in columns], dtype=object).T, port.shape)
        elif dtype == "int32" and name in signature.output_names:
            arrays[name] = _labels(found[name], port, shown, wants_one_hot(model, name))
        else:
            arrays[name] = np.stack([found[c] for c in columns], axis=1).reshape((-1, *port.shape))
    x, y = signature.pack(arrays)
    return FitData(x, y, source=shown)


def _columns(port: Port, output: bool, header: set[str], shown: str) -> list[str]:
    try:
        return columns_of(port, output, header)
    except ValueError:
        kind = "output" if output else "input"
        raise DataError(f"{shown}: {kind} '{port.name}' has shape {shape_text(port.shape)}, with a None dimension; "
                        "a CSV row holds a fixed number of values: give the shape in full, or use an .npz file",
                        file=shown) from None


def _labels(labels: Any, port: Port, shown: str, one_hot: bool) -> Any:
    """Class labels of an output of several values, each within its classes; one-hot encoded when
    the loss takes one-hot targets (a categorical loss that is not sparse)."""
    import numpy as np

    classes = math.prod(port.shape)
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        row = int(bad.argmax())
        raise DataError(f"{shown}: column '{port.name}' holds label {int(labels[row])} (row {row + 1:,}); output "
                        f"'{port.name}' of shape {shape_text(port.shape)} takes labels 0..{classes - 1}, or give "
                        f"columns {port.name}_0..{port.name}_{classes - 1}", file=shown)
    if one_hot:
        return np.eye(classes, dtype="float32")[labels].reshape((-1, *port.shape))
    return labels.reshape((-1, *port.shape[:-1]))


__all__ = ["columns_of", "open_csv", "read_columns"]
