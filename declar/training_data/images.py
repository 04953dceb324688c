"""Directories of images, one subdirectory per class, read by Keras's own
`keras.utils.image_dataset_from_directory`: labels from the subdirectory names, the image size
from the model's input shape ``[height, width, channels]``, the color mode from its channels
(1 grayscale, 3 rgb, 4 rgba), the label mode from its output (see `directory.label_mode`).

Before Keras reads anything, the directory is listed within limits (`directory.scan_directory`),
and every image's header is read to refuse an image bomb: a file over `Limits.max_image_bytes`, or
one declaring more than `Limits.max_image_pixels` (a 100-byte PNG may declare 100,000 x 100,000
pixels, which TensorFlow would allocate, 30 GB, to decode it; a GIF's every frame is decoded).
A file whose content is not a PNG, JPEG, GIF or BMP is refused too (Keras would fail mid-fit).

Example:
    >>> import struct
    >>> png = b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0\\0\\0\\rIHDR" + struct.pack(">II", 100_000, 100_000)
    >>> image_pixels(png, "bomb.png")
    10000000000
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from declar.bounded import open_regular, read_limited
from declar.errors import DataError, FileLimitError
from declar.limits import Limits
from declar.training_data.directory import DirectorySource, Listing, label_mode, wants_one_hot
from declar.training_data.fit_data import FitData, ReadOptions
from declar.training_data.signature import Signature, shape_text

if TYPE_CHECKING:
    import keras

# keras.utils.image_dataset_from_directory reads these (image_dataset_utils.ALLOWLIST_FORMATS).
IMAGE_EXTENSIONS = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".png"})
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}
HEADER_BYTES = 32
JPEG_HEAD_BYTES = 1 << 18
# JPEG frame markers (SOF0..SOF15 without DHT C4, JPG C8, DAC CC) carry the image's dimensions.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_pixels(data: bytes, name: str) -> int:
    """The pixels a decoder allocates for the image ``data`` (width x height, x frames of a GIF),
    read from its header (the whole file for JPEG and GIF, whose sizes lie further in).

    Raises `DataError` for content that is not a PNG, JPEG, GIF or BMP.
    """
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width * height
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return width * height * max(_gif_frames(data), 1)
        if data.startswith(b"BM"):
            if struct.unpack("<I", data[14:18])[0] == 12:  # the OS/2 header: 16-bit sizes
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return abs(width) * abs(height)
        if data.startswith(b"\xff\xd8"):
            return _jpeg_pixels(data)
    except (struct.error, IndexError):
        pass
    raise DataError(f"{name}: not a PNG, JPEG, GIF or BMP image (or its header is cut short); remove it", file=name)


def _gif_frames(data: bytes) -> int:
    """The image descriptors of a GIF: TensorFlow decodes every one, each at the screen's size."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    frames = 0
    while pos < len(data) and data[pos] != 0x3B:  # the trailer
        if data[pos] == 0x21:  # an extension: label, then sub-blocks
            pos += 2
        elif data[pos] == 0x2C:  # an image: descriptor, local color table, LZW code size, sub-blocks
            frames += 1
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:
            break
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return frames


def _jpeg_pixels(data: bytes) -> int:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        elif marker in JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width * height
        elif marker == 0xDA:  # the scan starts before any frame header: malformed
            break
        else:
            pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    raise IndexError


def _has_jpeg_frame(head: bytes) -> bool:
    try:
        _jpeg_pixels(head)
    except (struct.error, IndexError):
        return False
    return True


def check_images(listing: Listing, limits: Limits) -> None:
    """Every image file of ``listing`` within `Limits.max_image_bytes` and `Limits.max_image_pixels`."""
    for f in listing.files:
        if f.extension not in IMAGE_EXTENSIONS:
            continue
        name = f"{listing.root}/{f.relpath}"
        try:
            with open_regular(f.relpath, limit=limits.max_image_bytes, limit_name="max_image_bytes",
                              what=f"image {name}", root=listing.root) as file:
                data = file.read(JPEG_HEAD_BYTES if f.extension in (".jpg", ".jpeg") else HEADER_BYTES)
                # A GIF's frames run to its end; a JPEG's frame header lies after its metadata,
                # nearly always within JPEG_HEAD_BYTES: only then is the rest read.
                if f.extension == ".gif" or (f.extension in (".jpg", ".jpeg") and not _has_jpeg_frame(data)):
                    data += read_limited(file, limit=limits.max_image_bytes, limit_name="max_image_bytes",
                                         what=f"image {name}")
        except FileLimitError as err:
            raise DataError(str(err), file=name) from None
        pixels = image_pixels(data, name)
        if pixels > limits.max_image_pixels:
            raise DataError(f"{name}: declares {pixels:,} pixels, over Limits.max_image_pixels = "
                            f"{limits.max_image_pixels:,} (an image bomb?), refused before decoding; raise it if this "
                            "is intended", file=name)


def open_images(listing: Listing, model: keras.Model, limits: Limits, options: ReadOptions) -> FitData:
    """The batched dataset of the image directory ``listing`` for ``model``, its images checked first."""
    import keras

    shown = listing.root
    signature = Signature.of(model)
    if len(signature.inputs) != 1 or len(signature.inputs[0].shape) != 3:
        shapes = ", ".join(f"'{p.name}' {shape_text(p.shape)}" for p in signature.inputs)
        raise DataError(f"{shown}: a directory of images feeds one input of shape [height, width, channels]; the "
                        f"model takes {shapes}", file=shown)
    port = signature.inputs[0]
    height, width, channels = port.shape
    if height is None or width is None or channels not in COLOR_MODES:
        raise DataError(f"{shown}: input '{port.name}' has shape {shape_text(port.shape)}; images are resized to "
                        "its height and width and need 1 (grayscale), 3 (rgb) or 4 (rgba) channels: give them in "
                        "full", file=shown)
    if port.dtype in ("string", "bool"):
        raise DataError(f"{shown}: input '{port.name}' has dtype {port.dtype}; images are numbers", file=shown)
    mode = label_mode(signature, listing, wants_one_hot(model, signature.outputs[0].name))
    check_images(listing, limits)
    try:
        dataset = keras.utils.image_dataset_from_directory(
            shown, labels="inferred", label_mode=mode, class_names=list(listing.classes),
            color_mode=COLOR_MODES[channels], batch_size=options.batch_size, image_size=(height, width),
            shuffle=options.shuffle, seed=options.seed, follow_links=False, verbose=False)
    except (ValueError, ImportError) as err:  # no images found, or no TensorFlow for tf.data
        raise DataError(f"{shown}: {err}", file=shown) from None
    return FitData(_fitted(dataset, signature), batched=True, source=shown)


def _fitted(dataset: Any, signature: Signature) -> Any:
    """The dataset with the input's dtype and, for a model of named outputs, its labels named."""
    import tensorflow as tf

    dtype, name = signature.inputs[0].dtype, signature.outputs[0].name
    if dtype == "float32" and not signature.dict_outputs:
        return dataset
    return dataset.map(lambda x, y: (tf.cast(x, dtype), {name: y} if signature.dict_outputs else y))


IMAGES = DirectorySource("images", IMAGE_EXTENSIONS, open_images)

__all__ = ["IMAGES", "IMAGE_EXTENSIONS", "check_images", "image_pixels", "open_images"]
