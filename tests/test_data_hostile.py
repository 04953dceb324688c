"""Hostile data for `declar fit` (issue 15, item 6): every source is read within `Limits`, each
checked before the work it bounds, and what does not fit the model is refused. Each test is named
after the attack it stops; each refusal is a `DataError` naming the file and what to change, never a
traceback, through `open_data`, `declar.fit` and `declar fit`, and nothing is written.

Most attacks are tried with a small explicit limit (cheap); the ones a default limit must stop are
tried at the defaults, with files that only declare their size (sparse files, forged headers).
"""

from __future__ import annotations

import dataclasses
import os
import struct
import threading
from pathlib import Path

import keras
import pytest
from data_writers import bmp_header, gif_bytes, image_directory, jpeg_header, png_bytes, tfrecord_file
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.limits import DEFAULT_LIMITS, Limits
from declar.training_data import open_data

ROOT = Path(__file__).resolve().parent.parent
COMPILE_SPEC = ROOT / "specs" / "keras_guide" / "custom_compile.yaml"  # input x: [8], output dense_1: [4]
TABULAR = ROOT / "specs" / "keras_io" / "structured_data.yaml"  # age, sex (int64), cp (int64), thalach -> target
IMAGES = ROOT / "specs" / "keras_io" / "image_classification.yaml"  # image [16, 16, 3] -> one sigmoid unit
runner = CliRunner()
only_tensorflow = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFRecord: TensorFlow backend")


@pytest.fixture(scope="module")
def models():
    """One model per spec, built once: reading data never changes a model."""
    return {spec: declar.build(spec) for spec in (COMPILE_SPEC, TABULAR, IMAGES)}


def refused(path: Path, model: keras.Model, limits: Limits = DEFAULT_LIMITS, seconds: float = 30.0) -> str:
    """The message of the DataError that open_data raises, within ``seconds`` (a hang fails)."""
    outcome: dict = {}

    def attempt():
        try:
            open_data(path, model, limits)
        except Exception as err:  # the test inspects it
            outcome["error"] = err

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"reading {path} did not finish in {seconds} s"
    assert isinstance(outcome.get("error"), declar.DataError), outcome
    return str(outcome["error"])


def refused_everywhere(path: Path, spec: Path, tmp_path: Path, fragment: str, **limits: int) -> None:
    """Refused through declar.fit and `declar fit` (with --limit), with ``fragment``, nothing written."""
    out = tmp_path / "never.keras"
    with pytest.raises(declar.DataError) as caught:
        declar.fit(spec, path, out, verbose=0, limits=dataclasses.replace(DEFAULT_LIMITS, **limits))
    assert fragment in str(caught.value)
    given = [arg for name, value in limits.items() for arg in ("--limit", f"{name}={value}")]
    result = runner.invoke(app, [*given, "fit", str(spec), "--data", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("error: ") and str(path) in first and fragment in first, result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def heart_rows(rows: int) -> str:
    return "age,sex,cp,thalach,target\n" + "63,1,3,150,1\n" * rows


# -- CSV -----------------------------------------------------------------------------------------------


def test_oversized_csv_is_refused_before_reading(tmp_path, models):
    small = tmp_path / "small.csv"
    small.write_text(heart_rows(100))
    size = small.stat().st_size
    assert refused(small, models[TABULAR], Limits(max_data_bytes=1000)) == (
        f"data file {small} is {size:,} bytes, over Limits.max_data_bytes = 1,000; raise it if this is intended")
    refused_everywhere(small, TABULAR, tmp_path, "over Limits.max_data_bytes = 1,000", max_data_bytes=1000)
    # At the default limit: a file that only declares 9 GB (sparse), refused from its size alone.
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as f:
        f.truncate(9_000_000_000)
    assert "is 9,000,000,000 bytes, over Limits.max_data_bytes = 8,000,000,000" in refused(huge, models[TABULAR])


def test_csv_with_a_million_columns_is_refused_at_its_header(tmp_path, models):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    # At the default limits the header is one record longer than any row may be: refused unparsed.
    assert refused(wide, models[TABULAR]) == (
        f"{wide}: a record longer than Limits.max_csv_row_bytes = 1,000,000 characters (an enormous field, or no "
        "line ends), refused before it is parsed; raise it if this is intended")
    # With records allowed that long, the columns are counted before any row is read.
    roomy = Limits(max_csv_row_bytes=10_000_000)
    assert refused(wide, models[TABULAR], roomy) == (
        f"{wide}: its header has 1,000,000 columns, over Limits.max_csv_columns = 10,000; raise it if this is "
        "intended (checked before any row is read)")
    refused_everywhere(wide, TABULAR, tmp_path, "over Limits.max_csv_columns = 10,000", max_csv_row_bytes=10_000_000)


def test_csv_with_an_enormous_field_is_refused_before_parsing(tmp_path, models):
    no_line_ends = tmp_path / "one_line.csv"  # 8 MB without a line end: never read whole
    no_line_ends.write_text("age," * 2_000_000)
    assert refused(no_line_ends, models[TABULAR]) == (
        f"{no_line_ends}: a record longer than Limits.max_csv_row_bytes = 1,000,000 characters (an enormous field, or "
        "no line ends), refused before it is parsed; raise it if this is intended")
    spanning = tmp_path / "spanning.csv"  # one quoted field of 2 MB over many lines: one record
    spanning.write_text('age,sex,cp,thalach,target\n"' + "x\n" * 1_000_000 + '",1,3,150,1\n')
    assert "a record longer than Limits.max_csv_row_bytes = 100,000 characters" in refused(
        spanning, models[TABULAR], Limits(max_csv_row_bytes=100_000))
    # Within the record limit, a field over Python's own csv field limit (131,072 characters).
    assert refused(spanning, models[TABULAR]) == (
        f"{spanning}:65538: not readable CSV: a field longer than 131,072 characters (Python's csv limit)")
    refused_everywhere(no_line_ends, TABULAR, tmp_path, "Limits.max_csv_row_bytes = 1,000,000")


def test_csv_of_more_rows_than_the_row_limit_is_refused_while_reading(tmp_path, models):
    many = tmp_path / "many.csv"
    many.write_text(heart_rows(200))
    assert refused(many, models[TABULAR], Limits(max_data_rows=100)) == (
        f"{many}: more than Limits.max_data_rows = 100 rows; raise it if this is intended")
    assert "would become" in refused(many, models[TABULAR], Limits(max_data_bytes=many.stat().st_size))
    refused_everywhere(many, TABULAR, tmp_path, "Limits.max_data_rows = 100", max_data_rows=100)


# -- directories ---------------------------------------------------------------------------------------


def test_data_directory_with_too_many_files_is_refused_while_listing(tmp_path, models):
    crowded = image_directory(tmp_path / "crowded", {"cats": 15, "dogs": 15}, size=4)
    assert refused(crowded, models[IMAGES], Limits(max_data_files=20)) == (
        f"{crowded}: more than Limits.max_data_files = 20 files and directories (counting stopped there, before any "
        "was read); raise it if this is intended")
    refused_everywhere(crowded, IMAGES, tmp_path, "Limits.max_data_files = 20", max_data_files=20)
    assert "its files are" in refused(crowded, models[IMAGES], Limits(max_data_bytes=500))


def test_symlink_out_of_the_data_directory_is_refused(tmp_path, models):
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(4, 4))
    images = image_directory(tmp_path / "images", {"cats": 2, "dogs": 2}, size=4)
    (images / "cats" / "evil.png").symlink_to(secret)
    assert refused(images, models[IMAGES]) == (
        f"{images}: 'cats/evil.png' is a symbolic link that leads out of the directory (to {secret}); copy the file "
        "in instead")
    refused_everywhere(images, IMAGES, tmp_path, "leads out of the directory")
    (images / "cats" / "evil.png").unlink()
    (images / "cats" / "inside.png").symlink_to(images / "dogs" / "0.png")  # a link within is fine
    (images / "dogs" / "more").symlink_to(images / "cats", target_is_directory=True)
    assert refused(images, models[IMAGES]) == (
        f"{images}: 'dogs/more' is a symbolic link to a directory, which Keras does not follow; move the directory in "
        "instead")
    (images / "dogs" / "more").unlink()
    (images / "dogs" / "gone.png").symlink_to(images / "dogs" / "nothing.png")
    assert refused(images, models[IMAGES]) == f"{images}: 'dogs/gone.png' is a broken symbolic link; remove it"
    (images / "dogs" / "gone.png").unlink()
    os.mkfifo(images / "dogs" / "waiting.png")  # Keras would wait on it for ever
    assert refused(images, models[IMAGES]) == (
        f"{images}: 'dogs/waiting.png' is not a regular file (a FIFO, socket or device is never read); remove it")


@pytest.mark.parametrize("bomb", ["png", "gif frames", "jpeg", "bmp"])
def test_image_bomb_is_refused_before_decoding(tmp_path, models, bomb):
    """Small files declaring more pixels than Limits.max_image_pixels, refused at the default limits."""
    images = image_directory(tmp_path / "images", {"cats": 1, "dogs": 1}, size=4)
    name, data, pixels = {
        "png": ("bomb.png", png_bytes(100_000, 100_000, pixels=b""), 10_000_000_000),
        "gif frames": ("bomb.gif", gif_bytes(100, 100, frames=10_000), 100_000_000),
        "jpeg": ("bomb.jpg", jpeg_header(65_000, 65_000), 4_225_000_000),
        "bmp": ("bomb.bmp", bmp_header(100_000, -100_000), 10_000_000_000),
    }[bomb]
    (images / "cats" / name).write_bytes(data)
    assert len(data) < 200_000
    assert refused(images, models[IMAGES]) == (
        f"{images}/cats/{name}: declares {pixels:,} pixels, over Limits.max_image_pixels = 89,478,485 (an image "
        "bomb?), refused before decoding; raise it if this is intended")
    if bomb == "png":
        refused_everywhere(images, IMAGES, tmp_path, "over Limits.max_image_pixels = 89,478,485")


def test_large_or_false_image_files_are_refused_before_keras_reads_them(tmp_path, models):
    images = image_directory(tmp_path / "images", {"cats": 1, "dogs": 1}, size=4)
    (images / "cats" / "big.png").write_bytes(png_bytes(64, 64, os.urandom(64 * 64 * 3)))
    size = (images / "cats" / "big.png").stat().st_size
    assert refused(images, models[IMAGES], Limits(max_image_bytes=size - 1)) == (
        f"image {images}/cats/big.png is {size:,} bytes, over Limits.max_image_bytes = {size - 1:,}; raise it if this "
        "is intended")
    (images / "cats" / "big.png").write_text("not an image at all")
    assert refused(images, models[IMAGES]) == (
        f"{images}/cats/big.png: not a PNG, JPEG, GIF or BMP image (or its header is cut short); remove it")


# -- TFRecord ------------------------------------------------------------------------------------------


@only_tensorflow
def test_tfrecord_with_a_huge_record_is_refused_before_reading(tmp_path, models):
    forged = tmp_path / "forged.tfrecord"  # 16 bytes that declare a record of a terabyte
    forged.write_bytes(struct.pack("<Q", 2**40) + bytes(8))
    assert refused(forged, models[COMPILE_SPEC]) == (
        f"{forged}: record 1 declares 1,099,511,627,776 bytes, over Limits.max_tfrecord_record_bytes = 64,000,000, "
        "refused before reading; raise it if this is intended")
    refused_everywhere(forged, COMPILE_SPEC, tmp_path, "over Limits.max_tfrecord_record_bytes = 64,000,000")
    real = tfrecord_file(tmp_path / "real.tfrecord", [{"x": [0.0] * 8, "dense_1": [0.0] * 4}] * 3)
    length = struct.unpack("<Q", real.read_bytes()[:8])[0]
    assert f"record 1 declares {length:,} bytes, over Limits.max_tfrecord_record_bytes = 10" in refused(
        real, models[COMPILE_SPEC], Limits(max_tfrecord_record_bytes=10))
    assert refused(real, models[COMPILE_SPEC], Limits(max_data_rows=2)) == (
        f"{real}: more than Limits.max_data_rows = 2 records; raise it if this is intended")
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(real.read_bytes()[:-3])
    assert "past the end of the file" in refused(cut, models[COMPILE_SPEC])
    (tmp_path / "z.tfrecord").write_bytes(b"\x1f\x8b\x08\x00" + bytes(20))
    assert "a gzip-compressed file; decompress it" in refused(tmp_path / "z.tfrecord", models[COMPILE_SPEC])


# -- names, shapes and dtypes that do not fit ----------------------------------------------------------


def csv_cases(d: Path) -> dict[str, tuple[str, str]]:
    """Attack or mistake -> (the CSV's text, what the refusal says)."""
    head = "age,sex,cp,thalach,target\n"
    return {
        "missing column": ("age,sex,cp,target\n1,1,1,1\n", "no columns ['thalach'] in its header"),
        "nan": (head + "nan,1,3,150,1\n", "column 'age': 'nan' is not a decimal number"),
        "infinity": (head + "1e999,1,3,150,1\n", "column 'age': 1e999 overflows to infinity"),
        "space": (head + " 63,1,3,150,1\n", "column 'age': ' 63' is not a decimal number"),
        "underscores": (head + "6_3,1,3,150,1\n", "'6_3' is not a decimal number"),
        "hex": (head + "0x10,1,3,150,1\n", "'0x10' is not a decimal number"),
        "empty field": (head + ",1,3,150,1\n", "column 'age': '' is not a decimal number"),
        "fraction for an integer": (head + "63,1.5,3,150,1\n", ":2: column 'sex': '1.5' is not a whole number (int64)"),
        "integer overflow": (head + "63,1,99999999999999999999,150,1\n", "column 'cp': 99999999999999999999 is "
                             "outside int64"),
        "ragged row": (head + "63,1,3,150,1\n63,1,3\n", ":3: 3 fields where the header has 5 columns"),
        "duplicate column": ("age,age,sex,cp,thalach,target\n1,1,1,1,1,1\n", "column 'age' appears twice"),
        "no rows": (head, "no rows (examples) after the header"),
        "empty file": ("", "empty; a CSV file starts with a header row naming its columns"),
        "bad quoting": (head + '63,"1"x,3,150,1\n', ":2: not readable CSV"),
    }


def test_csv_that_does_not_fit_the_model_is_refused_with_what_to_change(tmp_path, models):
    for label, (text, fragment) in csv_cases(tmp_path).items():
        path = tmp_path / f"{label.replace(' ', '_')}.csv"
        path.write_text(text)
        message = refused(path, models[TABULAR])
        assert message.startswith(str(path)) and fragment in message, (label, message)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"age,sex,cp,thalach,target\n63,1,3,150,1\n" + "é".encode("latin-1") + b"\n")
    assert "not UTF-8 text" in refused(latin, models[TABULAR])
    labels = tmp_path / "labels.csv"
    labels.write_text("x_0,x_1,x_2,x_3,x_4,x_5,x_6,x_7,dense_1\n" + "1,2,3,4,5,6,7,8,4\n")
    assert refused(labels, models[COMPILE_SPEC]) == (
        f"{labels}: column 'dense_1' holds label 4 (row 1); output 'dense_1' of shape [4] takes labels 0..3, or give "
        "columns dense_1_0..dense_1_3")
    path = tmp_path / "nan.csv"
    path.write_text(csv_cases(tmp_path)["nan"][0])
    refused_everywhere(path, TABULAR, tmp_path, "column 'age': 'nan' is not a decimal number")


def test_image_directory_that_does_not_fit_the_model_is_refused(tmp_path, models):
    three = image_directory(tmp_path / "three", {"a": 1, "b": 1, "c": 1}, size=4)
    assert refused(three, models[IMAGES]) == (
        f"{three}: 3 classes (a, b, c) for output 'dense' of one value (shape [1]), which takes two classes; give it "
        "one unit per class or keep two subdirectories")
    assert refused(three, models[COMPILE_SPEC]) == (
        f"{three}: a directory of images feeds one input of shape [height, width, channels]; the model takes 'x' [8]")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "0.png").write_bytes(png_bytes(4, 4))
    assert refused(flat, models[IMAGES]) == (
        f"{flat}: no class subdirectories; put each class's examples in a subdirectory named after it "
        "(e.g. cat/, dog/)")
    words = tmp_path / "words"
    for name in ("a", "b"):
        (words / name).mkdir(parents=True)
        (words / name / "0.csv").write_text("x\n")
    assert f"{words}: no files declar reads under its class subdirectories (found ['.csv'])" in refused(
        words, models[IMAGES])
    refused_everywhere(three, IMAGES, tmp_path, "3 classes (a, b, c) for output 'dense' of one value")


@only_tensorflow
def test_tfrecord_that_does_not_fit_the_model_is_refused_with_the_feature(tmp_path, models):
    good = {"x": [0.5] * 8, "dense_1": [0.0] * 4}
    cases = {
        "missing feature": ([{"x": [0.5] * 8}], "record 1 has no feature 'dense_1' for output 'dense_1'; its features "
                                                "are ['x']"),
        "wrong kind": ([{"x": [1] * 8, "dense_1": [0.0] * 4}], "feature 'x' is a int64_list; input 'x' of dtype "
                                                               "float32 takes a float_list"),
        "wrong length": ([{"x": [0.5] * 9, "dense_1": [0.0] * 4}], "feature 'x' holds 9 values; input 'x' of shape "
                                                                   "[8] takes 8"),
        "string target": ([{"x": [0.5] * 8, "dense_1": ["a"]}], "feature 'dense_1' is a bytes_list; output 'dense_1' "
                                                                "takes numbers"),
        "label out of range": ([{"x": [0.5] * 8, "dense_1": [1]}, {"x": [0.5] * 8, "dense_1": [7]}],
                               "record 2, feature 'dense_1': label 7 is not a class of output 'dense_1' (0..3)"),
        "a later record differs": ([good] * 3 + [{"x": [0.5] * 7, "dense_1": [0.0] * 4}],
                                   "record 4, feature 'x': Number of float values != expected.  Values size: 7 but "
                                   "output shape: [8]"),
    }
    for label, (examples, fragment) in cases.items():
        path = tfrecord_file(tmp_path / f"{label.replace(' ', '_')}.tfrecord", examples)
        message = refused(path, models[COMPILE_SPEC])
        assert message.startswith(str(path)) and fragment in message, (label, message)
    (tmp_path / "junk.tfrecord").write_bytes(struct.pack("<Q", 3) + bytes(4) + b"\xff\xff\xff" + bytes(4))
    assert "record 1 is not a tf.train.Example" in refused(tmp_path / "junk.tfrecord", models[COMPILE_SPEC])
    refused_everywhere(tmp_path / "a_later_record_differs.tfrecord", COMPILE_SPEC, tmp_path, "record 4, feature 'x'")
