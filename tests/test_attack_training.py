"""Attacks on compile arguments, the training section and `declar fit`: each test is named after the
attack it stops. A spec (or an archive's embedded spec) must not make `declar fit` delete the
user's files, exhaust memory, or end in an unlocated internal error."""

from __future__ import annotations

from pathlib import Path

import keras  # noqa: F401  (declar.keras.* are imported after keras, as declar's hook does)
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.errors import DeclarError, LayerBuildError
from declar.keras.aux_losses import AuxiliaryLoss
from declar.sections.training.build import make_callbacks
from declar.spec.load import validate
from declar.spec.model import TrainingSpec
from tests.data_writers import image_directory
from tests.training_helpers import tiny_spec

runner = CliRunner()


def problems(path: Path) -> list[str]:
    return [p.render() for p in validate(path)]


def fit(spec: Path, out: Path, *args: str):
    return runner.invoke(app, ["fit", str(spec), "--out", str(out), "--quiet", *args])


# -- BackupAndRestore deletes its directory when training ends ------------------------------------


def test_backup_dir_naming_the_archive_directory_is_refused_at_validate(tmp_path):
    spec = tiny_spec(tmp_path, '  data: d.npz\n  callbacks:\n    - BackupAndRestore: {backup_dir: "./"}\n')
    assert problems(spec) == [
        f"{spec}:13:38: error: BackupAndRestore backup_dir './' is the output archive's directory (BackupAndRestore "
        "deletes its directory when training ends; give it a directory of its own, e.g. backup)"]


def test_other_callback_files_under_the_backup_dir_are_refused_at_validate(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  callbacks:\n    - BackupAndRestore: {backup_dir: run}\n"
                               '    - ModelCheckpoint: {filepath: "run/ck.keras"}\n')
    assert problems(spec) == [
        f"{spec}:14:35: error: ModelCheckpoint filepath 'run/ck.keras' is under BackupAndRestore's backup_dir 'run' "
        "(BackupAndRestore deletes its directory when training ends; write it elsewhere)"]


def test_backup_dir_holding_the_users_files_keeps_them(tmp_path):
    # declar fit keeps the backup itself (declar.fitting.resume) and deletes only the files it wrote.
    spec = tiny_spec(tmp_path, "  data: d.npz\n  callbacks:\n    - BackupAndRestore: {backup_dir: notes}\n")
    run = tmp_path / "run"
    (run / "notes").mkdir(parents=True)
    (run / "notes" / "todo.txt").write_text("mine")
    result = fit(spec, run / "m.keras")
    assert result.exit_code == 0, result.output
    assert (run / "notes" / "todo.txt").read_text() == "mine"
    assert sorted(p.name for p in (run / "notes").iterdir()) == ["todo.txt"]
    assert (run / "m.keras").exists()


def test_backup_dir_of_an_earlier_run_is_used_to_resume(tmp_path):
    # What the backup of a completed run kept (delete_checkpoint: false) is its own: it resumes from it.
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 2\n  callbacks:\n"
                               "    - BackupAndRestore: {backup_dir: backup, delete_checkpoint: false}\n")
    assert fit(spec, tmp_path / "m.keras").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["epoch-0002.weights.h5", "state.json"]
    steps = int(declar.load(tmp_path / "m.keras").optimizer.iterations.numpy())
    result = runner.invoke(app, ["fit", str(spec), "--out", str(tmp_path / "m.keras")])
    assert result.exit_code == 0, result.output
    assert "all 2 epochs were done already; writing the output" in result.output
    assert int(declar.load(tmp_path / "m.keras").optimizer.iterations.numpy()) == steps  # nothing trained again


# -- ModelCheckpoint's filepath is formatted by str.format ---------------------------------------


def test_checkpoint_field_width_that_would_fill_memory_is_refused_at_validate(tmp_path):
    spec = tiny_spec(tmp_path, '  data: d.npz\n  callbacks:\n    - ModelCheckpoint: {filepath: '
                               '"ck/{epoch:2000000000d}.keras"}\n')
    assert problems(spec) == [
        f"{spec}:13:35: error: ModelCheckpoint filepath field {{epoch}} has a width or precision over 99 "
        "(a file name holds no more; {epoch:02d}, {val_loss:.3f})"]


# -- metric arguments that size its variables -----------------------------------------------------


def test_metric_thresholds_and_classes_past_the_variable_limit_are_refused_at_validate(tmp_path):
    spec = tiny_spec(tmp_path)
    spec.write_text(spec.read_text().replace(
        "metrics: [mae]", "metrics: [{name: auc, num_thresholds: 1000000000}, {name: mean_io_u, num_classes: 100000},"
                          " {name: precision_at_recall, recall: 0.5, num_thresholds: 2000000000}]"))
    hint = "raise Limits.max_variable_elements if this is intended"
    assert problems(spec) == [
        f"{spec}:9:77: error: metric 'auc' keeps 4,000,000,000 numbers (4 x num_thresholds), over the limit of "
        f"500,000,000 ({hint})",
        f"{spec}:9:118: error: metric 'mean_io_u' keeps 10,000,000,000 numbers (num_classes x num_classes), over the "
        f"limit of 500,000,000 ({hint})",
        f"{spec}:9:158: error: metric 'precision_at_recall' keeps 8,000,000,000 numbers (4 x num_thresholds), over "
        f"the limit of 500,000,000 ({hint})",
    ]


# -- class_weight is a table Keras builds up to its largest key -----------------------------------


def test_class_weight_key_past_the_models_classes_is_refused_before_training(tmp_path):
    image_directory(tmp_path / "img", {"a": 2, "b": 2}, size=8)
    spec = tmp_path / "spec.yaml"
    spec.write_text("declar: 2\nname: m\nseed: 1\ninputs:\n  x: {shape: [8, 8, 3]}\nmodel:\n  - Flatten: {}\n"
                    "  - Dense: {units: 2, activation: softmax}\ncompile: {optimizer: adam, loss: "
                    "sparse_categorical_crossentropy}\ntraining:\n  data: img\n"
                    '  class_weight: {"0": 1.0, "3000000000": 1.0}\n')
    assert problems(spec) == []
    result = fit(spec, tmp_path / "m.keras")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{spec}:12:28: error: class_weight key '3000000000' is not a class of the output 'dense' (it has 2: 0 to 1) "
        "(the keys are class indices 0, 1, 2...: the integer labels of the training data)")


# -- a callback Keras refuses when it is made ------------------------------------------------------


def test_callback_arguments_keras_refuses_are_located_not_internal_errors(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  callbacks:\n    - ReduceLROnPlateau: {factor: 5.0}\n")
    assert problems(spec) == [
        f"{spec}:13:35: error: ReduceLROnPlateau factor 5.0 must be below 1.0 (the learning rate is multiplied by "
        "it when the metric stops improving: 0.5 halves it)"]


# -- a forged AuxiliaryLoss config (an archive's) --------------------------------------------------


@pytest.mark.parametrize("forged", [{"params": [1, 2]}, {"params": "ab"}, {"params": [[1, 2]]}, {"block": 5},
                                    {"losses": ["x"]}])
def test_forged_auxiliary_loss_config_of_wrong_types_is_refused_in_one_line(forged):
    config = {"name": "a", "losses": [{"name": "l", "value": "sum(h)", "weight": 1.0}], "names": ["h"], **forged}
    with pytest.raises(LayerBuildError, match="AuxiliaryLoss config"):
        AuxiliaryLoss.from_config(config)


# -- callback settings Keras refuses when it makes the callback ------------------------------------


def test_save_freq_keras_refuses_is_located_at_validate(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  callbacks:\n"
                               "    - ModelCheckpoint: {filepath: m.keras, save_freq: often}\n"
                               "    - BackupAndRestore: {backup_dir: b, save_freq: 0}\n")
    hint = "save_freq: epoch (the default) or a whole number of batches, e.g. 100"
    assert problems(spec) == [
        f"{spec}:13:55: error: ModelCheckpoint save_freq str 'often' is neither 'epoch' nor a number of batches "
        f"({hint})",
        f"{spec}:14:41: error: BackupAndRestore argument 'save_freq' is refused: declar fit backs up after every "
        "epoch, atomically"]


def test_a_callback_keras_refuses_from_an_unchecked_section_is_a_declar_error():
    section = TrainingSpec.from_data({"callbacks": [{"ReduceLROnPlateau": {"factor": 5.0}}]})
    with pytest.raises(DeclarError, match=r"training.callbacks\[0\]: ReduceLROnPlateau: .*factor >= 1.0"):
        make_callbacks(section)


# -- an --out that cannot be written is refused before training, not after it ----------------------


def test_out_that_is_not_an_archive_is_refused_before_training(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n")
    out = tmp_path / "run" / "m.h5"
    result = runner.invoke(app, ["fit", str(spec), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {out}: the archive name must end in .keras"  # no epoch line
    assert not out.parent.exists()


def test_out_in_a_new_directory_is_written_with_or_without_callbacks(tmp_path):
    # A callback's file under run/ used to make run/ (and the save work); without one, the run
    # trained, then could not save.
    spec = tiny_spec(tmp_path, "  data: d.npz\n")
    out = tmp_path / "run" / "m.keras"
    assert fit(spec, out).exit_code == 0
    assert out.is_file() and (out.parent / "m.history.json").is_file()
