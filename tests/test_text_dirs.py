"""Directories of text as training data: keras.utils.text_dataset_from_directory behind declar's
checks (labels from subdirectory names; files counted, sized, kept inside the directory)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from adapt_helpers import write_reviews

import declar
from declar import Limits
from declar.errors import DataError
from declar.training_data import open_data
from declar.training_data.directory import scan_directory


def text_model(shape: str = "[]", units: int = 2, training: str = ""):
    return declar.build(
        f"declar: 2\nname: m\nseed: 5\ninputs:\n  text: {{shape: {shape}, dtype: string}}\nmodel:\n"
        f"  - TextVectorization: {{vocabulary: [great, awful], output_mode: multi_hot}}\n"
        f"  - Dense: {{units: {units}, activation: softmax}}\n" + (f"training: {training}\n" if training else ""),
        compile=False)


@pytest.fixture(scope="module")
def model():
    return text_model()


def examples(dataset) -> list[tuple[str, int]]:
    return sorted((t.decode(), int(label)) for x, y in dataset for t, label in zip(np.ravel(x.numpy()), y.numpy(),
                                                                                 strict=True))


def test_every_file_is_one_example_labelled_by_its_subdirectory(tmp_path, model):
    written = write_reviews(tmp_path / "reviews", per_class=5)
    data = open_data(tmp_path / "reviews", model)
    assert data.batched and data.y is None
    assert examples(data.x) == sorted(written)
    assert [tuple(s.shape) for s in data.x.element_spec] == [(None,), (None,)]


def test_an_input_of_shape_one_takes_each_text_as_a_row_of_one_string(tmp_path):
    write_reviews(tmp_path / "reviews", per_class=3)
    data = open_data(tmp_path / "reviews", text_model("[1]"))
    assert tuple(data.x.element_spec[0].shape) == (None, 1)


def order(data) -> list[bytes]:
    return [t for x, _ in data.x for t in x.numpy()]


def test_batches_and_shuffling_follow_the_training_section(tmp_path, model):
    write_reviews(tmp_path / "reviews", per_class=8)
    files = [(tmp_path / "reviews" / c / f"{i:02d}.txt").read_bytes() for c in ("neg", "pos") for i in range(8)]
    assert order(open_data(tmp_path / "reviews", model)) == files  # shuffle is off unless the spec says so
    assert [len(y) for _, y in open_data(tmp_path / "reviews", model).x] == [16]  # batch_size 32: one batch
    shuffled = text_model(training="{batch_size: 5, shuffle: true, shuffle_seed: 7}")
    assert [len(y) for _, y in open_data(tmp_path / "reviews", shuffled).x] == [5, 5, 5, 1]
    # Each dataset made from the same seed starts in the same order (each pass over one reshuffles).
    first, second = (open_data(tmp_path / "reviews", shuffled) for _ in range(2))
    assert order(first) == order(second) != files and sorted(order(first)) == sorted(files)
    other = text_model(training="{batch_size: 5, shuffle: true, shuffle_seed: 8}")
    assert order(open_data(tmp_path / "reviews", other)) != order(first)


def test_a_symlink_to_etc_passwd_is_refused_not_read(tmp_path, model):
    write_reviews(tmp_path / "reviews", per_class=2)
    os.symlink("/etc/passwd", tmp_path / "reviews" / "pos" / "leak.txt")
    with pytest.raises(DataError) as err:
        open_data(tmp_path / "reviews", model)
    assert str(err.value) == (f"{tmp_path / 'reviews'}: 'pos/leak.txt' is a symbolic link that leads out of the "
                              "directory (to /etc/passwd); copy the file in instead")


def test_a_class_directory_linked_to_a_directory_outside_is_refused(tmp_path, model):
    write_reviews(tmp_path / "outside", per_class=2)
    (tmp_path / "reviews").mkdir()
    os.symlink(tmp_path / "outside" / "pos", tmp_path / "reviews" / "pos")
    (tmp_path / "reviews" / "neg").mkdir()
    (tmp_path / "reviews" / "neg" / "a.txt").write_text("dull")
    with pytest.raises(DataError, match="'pos' is a symbolic link that leads out of the directory"):
        open_data(tmp_path / "reviews", model)


def test_a_link_to_a_file_inside_the_directory_is_read(tmp_path, model):
    written = write_reviews(tmp_path / "reviews", per_class=2)
    os.symlink(tmp_path / "reviews" / "pos" / "00.txt", tmp_path / "reviews" / "pos" / "again.txt")
    assert len(examples(open_data(tmp_path / "reviews", model).x)) == len(written) + 1


def test_a_fifo_named_like_a_text_file_is_refused_without_hanging(tmp_path, model):
    write_reviews(tmp_path / "reviews", per_class=2)
    os.mkfifo(tmp_path / "reviews" / "neg" / "pipe.txt")
    with pytest.raises(DataError, match=r"'neg/pipe\.txt' is not a regular file"):
        open_data(tmp_path / "reviews", model)


def test_more_files_than_the_limit_are_refused_before_any_is_read(tmp_path, model):
    write_reviews(tmp_path / "reviews", per_class=6)
    with pytest.raises(DataError, match=r"more than Limits.max_data_files = 10 files and directories "
                                        r"\(counting stopped there, before any was read\)"):
        open_data(tmp_path / "reviews", model, Limits(max_data_files=10))


def test_files_adding_up_past_the_byte_limit_are_refused_before_any_is_read(tmp_path, model):
    write_reviews(tmp_path / "reviews", per_class=2)
    (tmp_path / "reviews" / "pos" / "long.txt").write_bytes(b"great " * 100)
    with pytest.raises(DataError, match=r"its files are [\d,]+ bytes or more, over Limits.max_data_bytes = 500; "
                                        r"raise it if this is intended \(checked before reading\)"):
        open_data(tmp_path / "reviews", model, Limits(max_data_bytes=500))


def test_a_directory_without_class_subdirectories_is_refused(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("great")
    with pytest.raises(DataError, match="no class subdirectories; put each class's examples in a subdirectory"):
        scan_directory(tmp_path / "flat")


def test_a_model_that_does_not_take_text_is_refused_with_what_it_takes(tmp_path):
    write_reviews(tmp_path / "reviews", per_class=2)
    numbers = declar.build("declar: 2\nname: m\ninputs:\n  x: {shape: [4]}\nmodel:\n  - Dense: {units: 2}\n")
    with pytest.raises(DataError, match=r"a directory of text gives one string per example; the model takes 'x' "
                                        r"\(float32, shape \[4\]\)"):
        open_data(tmp_path / "reviews", numbers)


def test_more_classes_than_the_model_has_units_are_refused(tmp_path):
    write_reviews(tmp_path / "reviews", per_class=2)
    (tmp_path / "reviews" / "mixed").mkdir()
    (tmp_path / "reviews" / "mixed" / "a.txt").write_text("great but dull")
    with pytest.raises(DataError, match=r"3 classes \(mixed, neg, pos\) but the model's output has 2 units"):
        open_data(tmp_path / "reviews", text_model())
