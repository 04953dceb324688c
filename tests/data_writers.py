"""Writers of small data files for the data-source tests: PNG images (made here, byte by byte, so a
test can also forge a header), CSV tables and TFRecord files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_bytes(width: int, height: int, pixels: bytes | None = None, channels: int = 3) -> bytes:
    """A PNG of 8-bit pixels (``pixels`` row by row; zeros by default). With ``pixels`` of fewer
    bytes than the size declares, the file is a forged header: what an image bomb looks like."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    if pixels is None:
        pixels = bytes(width * height * channels)
    stride = width * channels
    rows = b"".join(b"\0" + pixels[i:i + stride] for i in range(0, len(pixels), stride)) if pixels else b""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def image_directory(root: Path, classes: dict[str, int], size: int = 16, seed: int = 0) -> Path:
    """``root/<class>/<i>.png`` for each class and count: noisy images whose brightness tells the
    classes apart (the first class dark, the next brighter), so a small convnet can learn them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            level = 40 + 170 * k // max(len(classes) - 1, 1)
            pixels = np.clip(rng.normal(level, 25, (size, size, 3)), 0, 255).astype("uint8")
            (root / name / f"{i}.png").write_bytes(png_bytes(size, size, pixels.tobytes()))
    return root


def tfrecord_file(path: Path, examples: list[dict[str, list]]) -> Path:
    """A TFRecord file of `tf.train.Example` records, one per dict of feature name -> values (floats
    become a float_list, ints an int64_list, bytes or str a bytes_list)."""
    import tensorflow as tf

    def feature(values: list) -> tf.train.Feature:
        if all(isinstance(v, (bytes, str)) for v in values):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() if isinstance(v, str) else v
                                                                         for v in values]))
        if all(isinstance(v, int) for v in values):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            features = tf.train.Features(feature={k: feature(v) for k, v in example.items()})
            writer.write(tf.train.Example(features=features).SerializeToString())
    return path


def gif_bytes(width: int, height: int, frames: int) -> bytes:
    """A GIF of ``frames`` frames, each a tiny LZW block: small on disk, ``frames`` full images decoded."""
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00" + b"\x02" + b"\x02\x4c\x01" + b"\x00"
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + frame * frames + b"\x3b"


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG whose frame header declares ``width`` x ``height``."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def bmp_header(width: int, height: int) -> bytes:
    """A BMP file header and info header declaring ``width`` x ``height`` (and no pixels)."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info
