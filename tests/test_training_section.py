"""The `training:` section: validated at `declar validate` with located errors, followed by
`declar fit` (the command line overriding it), its callbacks doing what Keras's do, embedded in
the archive and shown by `declar inspect` and `declar diff`."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.fitting.batches import epoch_order
from declar.spec.load import validate
from tests.training_helpers import FRAUD, ROOT, fraud_data, tiny_spec

runner = CliRunner()


def problems(path: Path) -> list[str]:
    return [p.render() for p in validate(path)]


# -- validation: every mistake at its place, with a hint ---------------------------------------

BAD = """\
declar: 2
name: m
inputs:
  x: {shape: [4]}
model:
  - Dense: {units: 1}
compile: {optimizer: adam, loss: mse}
training:
  data: /srv/data/train.npz
  validation_split: 0.1
  validation_data: data/../../val.npz
  class_weight: {"0": 1.0, one: 2.0}
  callbacks:
    - EarlyStoping: {patience: 3}
    - LambdaCallback: {on_epoch_end: "print(1)"}
    - RemoteMonitor
    - EarlyStopping: {patiense: 3, mode: mn, verbose: loud}
    - ModelCheckpoint: {filepath: "ck/{epoch.__class__}.keras"}
    - ModelCheckpoint: {filepath: ck/model.h5}
    - CSVLogger: {separator: ";"}
    - TensorBoard: {log_dir: /tmp/logs}
    - BackupAndRestore: {backup_dir: ../backup}
"""


def test_every_mistake_of_the_section_is_located_with_a_hint(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BAD)
    allowed = ("allowed callbacks: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, BackupAndRestore, CSVLogger, "
               "TensorBoard, TerminateOnNaN")
    relative_to_spec = "give a path relative to the spec's directory, without .."
    relative_to_out = "give a path relative to the output archive's directory, without .."
    assert problems(spec) == [
        f"{spec}:9:9: error: path '/srv/data/train.npz' is absolute ({relative_to_spec})",
        f"{spec}:11:3: error: give validation_split or validation_data, not both (validation_split holds out part "
        "of the training data; validation_data is another file)",
        f"{spec}:11:20: error: path 'data/../../val.npz' climbs out through .. ({relative_to_spec})",
        f"{spec}:12:28: error: class_weight key 'one' is not a class index (the keys are class indices 0, 1, 2...: "
        "the integer labels of the training data)",
        f"{spec}:14:7: error: unknown callback 'EarlyStoping' (did you mean 'EarlyStopping'?)",
        f"{spec}:15:7: error: callback 'LambdaCallback' is refused: it runs Python functions, and no text from a "
        f"spec is ever run as code ({allowed})",
        f"{spec}:16:7: error: callback 'RemoteMonitor' is refused: it sends the training logs to a URL; a spec "
        f"never makes network requests ({allowed})",
        f"{spec}:17:23: error: EarlyStopping has no argument 'patiense' (did you mean 'patience'?)",
        f"{spec}:17:42: error: EarlyStopping mode 'mn' is not one of auto, min, max (did you mean 'min'?)",
        f"{spec}:17:55: error: EarlyStopping argument 'verbose' expects integer, got str 'loud'",
        f"{spec}:18:35: error: ModelCheckpoint filepath field {{epoch.__class__}} is not a plain name (fields name "
        "the epoch, the batch or a logged metric, with an optional format: {epoch:02d}, {val_loss:.3f})",
        f"{spec}:19:35: error: ModelCheckpoint filepath 'ck/model.h5' must end in .keras (a declar archive; for the "
        "weights alone, save_weights_only: true and a .weights.h5 file)",
        f"{spec}:20:7: error: CSVLogger needs argument 'filename'",
        f"{spec}:21:30: error: path '/tmp/logs' is absolute ({relative_to_out})",
        f"{spec}:22:38: error: path '../backup' climbs out through .. ({relative_to_out})",
    ]


def test_an_unknown_setting_is_refused_with_a_did_you_mean(tmp_path):
    spec = tiny_spec(tmp_path, "  epoch: 3\n")
    assert problems(spec) == [f"{spec}:11:3: error: unknown key 'epoch' (did you mean 'epochs'?)"]


def test_validate_reports_the_section_without_importing_keras(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BAD)
    code = ("import sys, declar.spec.load as l; n = len(l.validate(sys.argv[1])); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules; print(n)")
    proc = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "15"


def test_the_section_written_well_is_valid(tmp_path):
    spec = tiny_spec(tmp_path, """\
  data: d.npz
  epochs: 2
  batch_size: 4
  validation_split: 0.25
  shuffle: true
  shuffle_seed: 9
  class_weight: [1.0, 2.0]
  callbacks:
    - EarlyStopping: {monitor: val_loss, patience: 3, restore_best_weights: true, min_delta: 0.001}
    - ReduceLROnPlateau: {factor: 0.5, patience: 2, min_lr: 1.0e-5}
    - ModelCheckpoint: {filepath: "ck/epoch_{epoch:02d}-{val_loss:.3f}.keras", save_best_only: true}
    - ModelCheckpoint: {filepath: weights.weights.h5, save_weights_only: true}
    - CSVLogger: {filename: logs/log.csv, separator: ";"}
    - TensorBoard: {log_dir: tb, update_freq: 5}
    - BackupAndRestore: {backup_dir: backup}
    - TerminateOnNaN
""")
    assert problems(spec) == []


# -- declar fit follows the section; the command line overrides it ------------------------------


def steps(archive: Path) -> int:
    return int(declar.load(archive).optimizer.iterations.numpy())


def test_fit_follows_the_section_and_the_command_line_overrides_it(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 3\n  batch_size: 4\n  validation_split: 0.2\n")
    result = runner.invoke(app, ["fit", str(spec), "--out", str(tmp_path / "a.keras"), "--quiet"])
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "a.history.json").read_text())
    assert history["epoch"] == [1, 2, 3] and "val_loss" in history["metrics"]
    assert steps(tmp_path / "a.keras") == 3 * 4  # 16 training samples (20 less the split), batches of 4
    result = runner.invoke(app, ["fit", str(spec), "--out", str(tmp_path / "b.keras"), "--epochs", "1",
                                 "--batch-size", "8", "--validation-split", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    assert steps(tmp_path / "b.keras") == 1 * 2  # 10 samples in batches of 8


def test_data_on_the_command_line_overrides_the_section_and_is_needed_without_it(tmp_path):
    spec = tiny_spec(tmp_path)
    result = runner.invoke(app, ["fit", str(spec), "--out", str(tmp_path / "m.keras")])
    assert result.exit_code == 1
    assert "error: no training data: give --data, or data: in the spec's training section" in result.output
    other = tmp_path / "other"
    other.mkdir()
    tiny_spec(other, samples=12)
    spec = tiny_spec(tmp_path, "  data: missing.npz\n  batch_size: 4\n")
    result = runner.invoke(app, ["fit", str(spec), "--data", str(other / "d.npz"), "--out", str(tmp_path / "m.keras"),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert steps(tmp_path / "m.keras") == 3


def test_validation_data_is_read_and_a_command_line_split_overrides_it(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  validation_data: val/d.npz\n  batch_size: 4\n")
    (tmp_path / "val").mkdir()
    tiny_spec(tmp_path / "val", samples=6, name="unused.yaml")
    history = declar.fit(spec, None, tmp_path / "a.keras", verbose=0)
    model = declar.load(tmp_path / "a.keras")
    val = np.load(tmp_path / "val" / "d.npz")
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(val["x"], val["y"], verbose=0)[0], rel=1e-5)
    assert steps(tmp_path / "a.keras") == 5  # all 20 samples trained on
    declar.fit(spec, None, tmp_path / "b.keras", validation_split=0.5, verbose=0)
    assert steps(tmp_path / "b.keras") == 3  # 10 samples trained on, 10 held out instead of the file


def test_data_is_read_relative_to_the_spec_not_the_working_directory(tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  batch_size: 5\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["fit", str(spec), "--out", "m.keras", "--quiet"])
    assert result.exit_code == 0, result.output
    assert steps(elsewhere / "m.keras") == 4


# -- shuffling: the order of epoch N comes from the seed and N alone -----------------------------


def twin(model: keras.Model) -> keras.Model:
    """The tiny spec written by hand in Keras, with ``model``'s weights."""
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    out = keras.Model(inputs, keras.layers.Dense(1, name="y")(hidden))
    out.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    out.set_weights(model.get_weights())
    return out


def test_shuffling_is_the_seeded_permutation_of_each_epoch_as_a_hand_written_loop_does_it(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 3\n  batch_size: 6\n  shuffle: true\n  shuffle_seed: 5\n")
    data = np.load(tmp_path / "d.npz")
    by_hand = twin(declar.build(spec))
    assert by_hand.count_params() == declar.build(spec).count_params()
    for epoch in range(3):  # what the section says, written out: epoch N's order from (seed, N)
        order = epoch_order(20, 5, epoch)
        by_hand.fit(data["x"][order], data["y"][order], batch_size=6, epochs=1, shuffle=False, verbose=0)
    declar.fit(spec, None, tmp_path / "a.keras", verbose=0)
    declar.fit(spec, None, tmp_path / "b.keras", verbose=0)
    a, b = declar.load(tmp_path / "a.keras"), declar.load(tmp_path / "b.keras")
    for got, again, expected in zip(a.get_weights(), b.get_weights(), by_hand.get_weights(), strict=True):
        np.testing.assert_array_equal(got, again)  # the same order in every run
        np.testing.assert_allclose(got, expected, atol=1e-6)
    declar.fit(spec, None, tmp_path / "c.keras", shuffle=False, verbose=0)  # --no-shuffle: another order
    unshuffled = declar.load(tmp_path / "c.keras").get_weights()
    assert not all(np.array_equal(x, y) for x, y in zip(unshuffled, a.get_weights(), strict=True))


def test_the_fraud_example_trains_as_its_keras_code_does(tmp_path):
    """keras.io's imbalanced classification: class weights and validation data, as model.fit takes them.

    Dropout's draws cannot be compared across the twins (their seeds differ), so both drop nothing.
    """
    spec = tmp_path / FRAUD.name
    spec.write_text(FRAUD.read_text().replace("rate: 0.3", "rate: 0.0"))
    fraud_data(tmp_path, train=600, val=200)
    inputs = keras.Input((30,), name="features")
    h = keras.layers.Dense(256, activation="relu")(inputs)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dropout(0.0)(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dropout(0.0)(h)
    by_hand = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    built = declar.build(spec)  # the weights declar.fit starts from: the spec's seed
    by_hand.set_weights(built.get_weights())
    assert by_hand.count_params() == built.count_params() == 139_777
    train, val = np.load(tmp_path / "fraud_train.npz"), np.load(tmp_path / "fraud_val.npz")
    np.testing.assert_allclose(by_hand.predict(train["features"][:64], verbose=0),
                               built.predict(train["features"][:64], verbose=0), atol=1e-6)
    by_hand.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                    metrics=[keras.metrics.Precision(name="precision"), keras.metrics.Recall(name="recall")])
    expected = by_hand.fit(train["features"], train["dense_3"], batch_size=2048, epochs=2, shuffle=False,
                           class_weight={0: 1.0, 1: 577.0}, validation_data=(val["features"], val["dense_3"]),
                           verbose=0)
    (tmp_path / "out").mkdir()
    got = declar.fit(spec, None, tmp_path / "out" / "m.keras", epochs=2, shuffle=False, verbose=0)
    for key in ("loss", "val_loss", "precision", "val_recall"):
        np.testing.assert_allclose(got.history[key], expected.history[key], rtol=1e-5)
    for a, b in zip(declar.load(tmp_path / "out" / "m.keras").get_weights(), by_hand.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == [
        "fraud_model_at_epoch_1.keras", "fraud_model_at_epoch_2.keras"]
    log = (tmp_path / "out" / "training_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,") and len(log) == 3


# -- the callbacks do what Keras's do; their files go under the output archive's directory -------


def fit_cli(spec: Path, out: Path, *args: str) -> None:
    result = runner.invoke(app, ["fit", str(spec), "--out", str(out), "--quiet", *args])
    assert result.exit_code == 0, result.output


def test_early_stopping_stops_training(tmp_path):
    # No epoch improves the loss by 1e9: training stops after the first epoch that fails to.
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 10\n  callbacks:\n"
                               "    - EarlyStopping: {monitor: loss, min_delta: 1.0e+9, patience: 0}\n")
    fit_cli(spec, tmp_path / "m.keras")
    assert json.loads((tmp_path / "m.history.json").read_text())["epoch"] == [1, 2]


def test_model_checkpoint_writes_archives_a_fresh_process_loads(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 3\n  batch_size: 5\n  callbacks:\n"
                               '    - ModelCheckpoint: {filepath: "ck/e{epoch:02d}-{loss:.2f}.keras"}\n')
    run = tmp_path / "run{epoch}"  # the directory's braces are not ModelCheckpoint's fields
    run.mkdir()
    fit_cli(spec, run / "m.keras")
    files = sorted((run / "ck").iterdir())
    assert [p.name[:4] for p in files] == ["e01-", "e02-", "e03-"]
    assert all(p.name.endswith(".keras") for p in files)  # no temporary file left behind
    code = ("import sys, json, numpy as np, declar\n"
            "x = np.load(sys.argv[1])['x']\n"
            "print(json.dumps([declar.load(p).predict(x, verbose=0).tolist() for p in sys.argv[2:]]))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d.npz"), *map(str, files), str(run / "m.keras")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    *checkpoints, final = json.loads(proc.stdout.splitlines()[-1])
    assert checkpoints[-1] == final  # the last epoch's checkpoint is the trained model, bit for bit
    assert checkpoints[0] != final


TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def test_csv_logger_tensorboard_and_backup_write_under_the_archive_directory(tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 2\n  callbacks:\n"
                               "    - CSVLogger: {filename: logs/train.csv}\n"
                               "    - BackupAndRestore: {backup_dir: backup, delete_checkpoint: false}\n"
                               + "    - TensorBoard: {log_dir: tb}\n" * TENSORBOARD)
    run, cwd = tmp_path / "run", tmp_path / "cwd"
    run.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    fit_cli(spec, run / "m.keras")
    rows = (run / "logs" / "train.csv").read_text().splitlines()
    history = json.loads((run / "m.history.json").read_text())["metrics"]
    assert rows[0] == "epoch,loss,mae,val_loss,val_mae" and len(rows) == 3  # Keras adds val_ columns (NA)
    assert [float(r.split(",")[1]) for r in rows[1:]] == pytest.approx(history["loss"], rel=1e-6)
    if TENSORBOARD:
        assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").rglob("*"))
    assert any((run / "backup").iterdir())
    assert list(cwd.iterdir()) == []  # nothing written where the command ran


def test_terminate_on_nan_stops_a_diverging_run(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 6\n  batch_size: 20\n  callbacks: [TerminateOnNaN]\n")
    spec.write_text(spec.read_text().replace("learning_rate: 0.05", "learning_rate: 1.0e+30"))
    fit_cli(spec, tmp_path / "m.keras")
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["epoch"]) < 6 and history["metrics"]["loss"][-1] is None  # not finite: null


# -- the section is part of the spec: in the archive, in inspect and in diff --------------------


def test_inspect_shows_the_section_and_diff_lists_each_change(tmp_path):
    shutil.copy(FRAUD, tmp_path / "v1.yaml")
    declar.save(tmp_path / "v1.yaml", tmp_path / "v1.keras")
    result = runner.invoke(app, ["inspect", str(tmp_path / "v1.keras")])
    assert result.exit_code == 0, result.output
    assert ("training: data fraud_train.npz, epochs 30, batch_size 2048, validation_data fraud_val.npz, shuffle True, "
            "shuffle_seed 7, class_weight 0: 1.0, 1: 577.0, callbacks ModelCheckpoint, EarlyStopping, CSVLogger"
            ) in result.output.splitlines()
    assert "    - CSVLogger: {filename: training_log.csv}" in result.output  # the spec as written
    result = runner.invoke(app, ["inspect", str(tmp_path / "v1.keras"), "--format", "json"])
    assert json.loads(result.output)["spec"]["training"]["class_weight"] == [1.0, 577.0]
    v2 = FRAUD.read_text().replace("patience: 2", "patience: 5").replace("epochs: 30", "epochs: 40")
    (tmp_path / "v2.yaml").write_text(v2.replace("    - CSVLogger: {filename: training_log.csv}\n", "")
                                      + "    - TerminateOnNaN\n")
    for old in ("v1.yaml", "v1.keras"):
        result = runner.invoke(app, ["diff", str(tmp_path / old), str(tmp_path / "v2.yaml"), "--no-build"])
        assert result.exit_code == 1, result.output
        assert result.output.splitlines()[2:] == [
            "settings:",
            "  ~ training.epochs: 30 -> 40",
            "  ~ training.callbacks.EarlyStopping.patience: 2 -> 5",
            "  ~ training.callbacks.CSVLogger: {filename: training_log.csv} -> (unset)",
            "  ~ training.callbacks.TerminateOnNaN: (unset) -> {}",
        ]


@pytest.mark.skipif(TENSORBOARD, reason="the message for a missing tensorboard package")
def test_tensorboard_without_its_package_says_which_extra_to_install(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  callbacks: [TerminateOnNaN, {TensorBoard: {log_dir: tb}}]\n")
    result = runner.invoke(app, ["fit", str(spec), "--out", str(tmp_path / "m.keras")])
    assert result.exit_code == 1
    assert result.output == ("error: training.callbacks[1]: TensorBoard needs the tensorboard package, which is not "
                             "installed: pip install 'declar[tensorboard]'\n")
    assert not (tmp_path / "m.keras").exists()
