"""TFRecord files of `tf.train.Example` records, read by tf.data where TensorFlow is the backend.

Each record is one example whose features are named after the model's inputs and outputs. The
parse spec comes from the model: an input's feature is a fixed-length list of its shape's values
(row-major), of the kind its dtype takes (``float_list`` for floats, ``int64_list`` for integers
and booleans, ``bytes_list`` for strings); an output's is its values as floats or integers, or for
an output of several values one class label (as a sparse loss takes it; one-hot encoded for a
categorical loss, and checked to be one of the output's classes).

A file comes from anywhere, so it is read within limits before TensorFlow reads it: its size
(`Limits.max_data_bytes`), then every record's length header (TensorFlow would allocate what a
forged one declares) within `Limits.max_tfrecord_record_bytes` and the file's end, and the records
counted within `Limits.max_data_rows`. The first record's features are compared with the model's
names, kinds and lengths, then every record is parsed once with the spec, so a record that does not
fit is refused with a message here, never midway through `fit`. On JAX or PyTorch the file is
refused with a message (convert it to .npz).

Example:
    >>> import struct, tempfile
    >>> path = tempfile.mkdtemp() + "/forged.tfrecord"
    >>> _ = open(path, "wb").write(struct.pack("<Q", 2**40) + bytes(8))
    >>> scan_records(path)
    Traceback (most recent call last):
    ...
    declar.errors.DataError: ...forged.tfrecord: record 1 declares 1,099,511,627,776 bytes, over \
Limits.max_tfrecord_record_bytes = 64,000,000, refused before reading; raise it if this is intended
"""

from __future__ import annotations

import math
import os
import re
import struct
from typing import IO, TYPE_CHECKING, Any

from declar.bounded import open_regular
from declar.errors import DataError, FileLimitError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data.directory import wants_one_hot
from declar.training_data.fit_data import FitData, ReadOptions
from declar.training_data.signature import Port, Signature, shape_text

if TYPE_CHECKING:
    import keras

# A record: uint64 length, uint32 masked CRC of the length, the data, uint32 masked CRC of the data.
LENGTH_BYTES, CRC_BYTES = 8, 4
CHECK_BATCH = 1024
PARSE_ERROR = re.compile(r"Key: (?P<key>[^,]+), Index: (?P<index>\d+)\.\s+(?P<what>[^\n]*?)(?:\s*\[\[|$)")
SHUFFLE_BUFFER = 10_000


def _kind(port: Port) -> str:
    if port.dtype == "string":
        return "bytes_list"
    return "float_list" if port.dtype.startswith(("float", "bfloat")) else "int64_list"


def scan_records(path: str, limits: Limits = DEFAULT_LIMITS) -> tuple[int, bytes]:
    """The number of records of the TFRecord file ``path`` and its first record, every length
    header checked against the limits and the file's size before anything is read past it."""
    try:
        f = open_regular(path, limit=limits.max_data_bytes, limit_name="max_data_bytes", what=f"data file {path}")
    except FileLimitError as err:
        raise DataError(str(err), file=path) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        return _scan(f, size, path, limits)


def _scan(f: IO[bytes], size: int, path: str, limits: Limits) -> tuple[int, bytes]:
    count, pos, first = 0, 0, b""
    if f.read(2) == b"\x1f\x8b":
        raise DataError(f"{path}: a gzip-compressed file; decompress it (gunzip) to a plain .tfrecord", file=path)
    f.seek(0)
    while pos < size:
        header = f.read(LENGTH_BYTES + CRC_BYTES)
        if len(header) < LENGTH_BYTES + CRC_BYTES:
            raise DataError(f"{path}: cut short in the header of record {count + 1:,} (at byte {pos:,})", file=path)
        (length,) = struct.unpack("<Q", header[:LENGTH_BYTES])
        if length > limits.max_tfrecord_record_bytes:
            raise DataError(f"{path}: record {count + 1:,} declares {length:,} bytes, over "
                            f"Limits.max_tfrecord_record_bytes = {limits.max_tfrecord_record_bytes:,}, refused before "
                            "reading; raise it if this is intended", file=path)
        end = pos + LENGTH_BYTES + CRC_BYTES + length + CRC_BYTES
        if end > size:
            raise DataError(f"{path}: record {count + 1:,} declares {length:,} bytes, past the end of the file "
                            f"({size:,} bytes): cut short, or not a TFRecord file", file=path)
        count += 1
        if count > limits.max_data_rows:
            raise DataError(f"{path}: more than Limits.max_data_rows = {limits.max_data_rows:,} records; raise it if "
                            "this is intended", file=path)
        if count == 1:
            first = f.read(length)  # within the limit and the file (both checked above)
            f.seek(CRC_BYTES, os.SEEK_CUR)
        else:
            f.seek(length + CRC_BYTES, os.SEEK_CUR)
        pos = end
    if count == 0:
        raise DataError(f"{path}: no records", file=path)
    return count, first


def parse_spec(first: bytes, signature: Signature, path: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Feature name -> (shape, kind) for every input and output, from the model, checked against the
    features of the first record ``first`` (their names, kinds and lengths).

    Raises `DataError` for a name missing, a kind the dtype does not take, a length the shape does
    not hold.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        features = tf.train.Example.FromString(first).features.feature
    except DecodeError as err:
        raise DataError(f"{path}: record 1 is not a tf.train.Example ({err})", file=path) from None
    found = {name: (feature.WhichOneof("kind"), len(getattr(feature, feature.WhichOneof("kind")).value))
             for name, feature in features.items() if feature.WhichOneof("kind")}
    spec: dict[str, tuple[tuple[int, ...], str]] = {}
    outputs = set(signature.output_names)
    for port in (*signature.inputs, *signature.outputs):
        role = "output" if port.name in outputs else "input"
        if port.name not in found:
            raise DataError(f"{path}: record 1 has no feature '{port.name}' for {role} '{port.name}'; its features "
                            f"are {sorted(found)[:50]}", file=path)
        kind, length = found[port.name]
        if any(d is None for d in port.shape):
            raise DataError(f"{path}: {role} '{port.name}' has shape {shape_text(port.shape)}, with a None dimension; "
                            "a feature of fixed length is parsed: give the shape in full", file=path)
        count = math.prod(port.shape)
        if role == "input" and kind != _kind(port):
            raise DataError(f"{path}: feature '{port.name}' is a {kind}; input '{port.name}' of dtype {port.dtype} "
                            f"takes a {_kind(port)}", file=path)
        if role == "output" and kind == "bytes_list":
            raise DataError(f"{path}: feature '{port.name}' is a bytes_list; output '{port.name}' takes numbers "
                            "(a float_list or int64_list)", file=path)
        if length == count:
            spec[port.name] = (tuple(port.shape), kind)
        elif role == "output" and length == 1 and count > 1:
            spec[port.name] = (tuple(port.shape[:-1]), kind)  # a sparse class label
        else:
            also = " (or one class label)" if role == "output" and count > 1 else ""
            raise DataError(f"{path}: feature '{port.name}' holds {length:,} values; {role} '{port.name}' of shape "
                            f"{shape_text(port.shape)} takes {count:,}{also}", file=path)
    return spec


def open_tfrecord(path: str | os.PathLike[str], model: keras.Model, limits: Limits = DEFAULT_LIMITS,
                  options: ReadOptions | None = None) -> FitData:
    """The batched dataset of the TFRecord file ``path`` for ``model``, every record checked first."""
    import keras

    shown = os.fspath(path)
    if keras.backend.backend() != "tensorflow":
        raise DataError(f"{shown}: TFRecord files are read by TensorFlow's tf.data, on the TensorFlow backend only "
                        f"(this is {keras.backend.backend()}); run with KERAS_BACKEND=tensorflow, or convert the data "
                        "to .npz", file=shown)
    options = options or ReadOptions()
    signature = Signature.of(model)
    count, first = scan_records(shown, limits)
    spec = parse_spec(first, signature, shown)
    # Outputs given as one class label per record: their number of classes (labels are checked
    # within it, and one-hot encoded for a categorical loss).
    labels = {p.name: math.prod(p.shape) for p in signature.outputs if spec[p.name][0] != tuple(p.shape)}
    import tensorflow as tf

    tf_types = {"float_list": tf.float32, "int64_list": tf.int64, "bytes_list": tf.string}
    features = {name: tf.io.FixedLenFeature(shape, tf_types[kind]) for name, (shape, kind) in spec.items()}
    _check_all(shown, features, labels)
    pack = _packer(signature, {name: n for name, n in labels.items() if wants_one_hot(model, name)})
    # The count is known from the scan: Keras then knows the steps of an epoch (it would otherwise
    # learn them by running out of data in the first, one step more than there are batches).
    dataset = tf.data.TFRecordDataset(shown).apply(tf.data.experimental.assert_cardinality(count))
    if options.shuffle:
        dataset = dataset.shuffle(min(count, SHUFFLE_BUFFER), seed=options.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(options.batch_size).map(lambda serialized: pack(tf.io.parse_example(serialized, features)))
    return FitData(dataset.prefetch(tf.data.AUTOTUNE), batched=True, source=shown)


def _packer(signature: Signature, one_hot: dict[str, int]) -> Any:
    """A function from a batch of parsed features to ``(inputs, targets)`` as `model.fit` takes them;
    the labels of the outputs in ``one_hot`` (name -> classes) one-hot encoded."""
    import tensorflow as tf

    def pack(parsed: dict[str, Any]) -> tuple[Any, Any]:
        x = tuple(tf.cast(parsed[p.name], p.dtype) for p in signature.inputs)
        y = {n: tf.one_hot(tf.cast(parsed[n], "int32"), one_hot[n]) if n in one_hot else parsed[n]
             for n in signature.output_names}
        if not signature.dict_outputs:
            y = tuple(y.values()) if len(y) > 1 else y[signature.output_names[0]]
        return (x if len(x) > 1 else x[0]), y

    return pack


def _check_all(path: str, features: dict[str, Any], labels: dict[str, int]) -> None:
    """Parse every record once: one whose features do not fit, or whose class label is not one of
    its output's classes, is refused before training."""
    import numpy as np
    import tensorflow as tf

    batches = tf.data.TFRecordDataset(path).batch(CHECK_BATCH).map(lambda s: tf.io.parse_example(s, features))
    index = 0
    try:
        for parsed in batches:
            for name, classes in labels.items():
                values = np.asarray(parsed[name])
                bad = (values < 0) | (values >= classes) | (values != np.round(values))
                if bad.any():
                    record = index * CHECK_BATCH + int(bad.argmax()) + 1
                    raise DataError(f"{path}: record {record:,}, feature '{name}': label {values[bad.argmax()]:g} "
                                    f"is not a class of output '{name}' (0..{classes - 1})", file=path)
            index += 1
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as err:
        # TensorFlow names the feature and the record's index in its batch: "Key: x, Index: 3.  Number ..."
        found = PARSE_ERROR.search(str(err.message))
        if found is None:
            raise DataError(f"{path}: records {index * CHECK_BATCH + 1:,}..{(index + 1) * CHECK_BATCH:,}: cannot be "
                            f"read ({str(err.message).splitlines()[0][-200:]})", file=path) from None
        record = index * CHECK_BATCH + int(found["index"]) + 1
        raise DataError(f"{path}: record {record:,}, feature '{found['key']}': {found['what'].strip()}; every record "
                        "holds the same features, of the lengths the model takes", file=path) from None


__all__ = ["open_tfrecord", "parse_spec", "scan_records"]
