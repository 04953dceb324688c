"""`declar fit` killed at any moment (kill -9) and started again with the same command resumes from
the last completed epoch and ends bit-identical to an uninterrupted run.

The kill test runs the real CLI in subprocesses: one uninterrupted reference run, then twenty runs
each killed once at a random moment (the moments drawn with a fixed seed: at any time, during
training, or while a backup is being written) and started again to the end; every final archive
must hold exactly the reference's weights and optimizer variables. The model has a Dropout layer,
whose masks come from a seed generator Keras does not save: the resumed runs match only if its
state resumes too. Shuffling is off in the spec (the batches of an epoch are then the same in
every run). The other tests run in this process.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import declar
from declar.fitting.resume import STATE_FILE, backup_directory, remove_backup, resume_run
from declar.spec.model import CallbackSpec, JsonMap, TrainingSpec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "specs" / "fit_resume_dropout.yaml"
EPOCHS = 4
KILLS = 20
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
TRAINED = re.compile(r"epoch \d+/\d+", re.IGNORECASE)  # Keras's "Epoch 3/4", or a plain per-epoch line


def write_data(path: Path, n: int = 128, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8)).astype("float32")
    np.savez(path, x=x, dense_1=x.sum(axis=1, keepdims=True))
    return path


def fit_command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "declar", "fit", str(SPEC), "--data", str(data), "--out", str(out),
            "--epochs", str(EPOCHS)]


def archive_state(path: Path) -> dict[str, np.ndarray]:
    """Every variable the archive holds (the layers' and the optimizer's), by its path in the file."""
    with zipfile.ZipFile(path) as z:
        weights = io.BytesIO(z.read("model.weights.h5"))
    found: dict[str, np.ndarray] = {}
    with h5py.File(weights, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def assert_bit_identical(path: Path, reference: dict[str, np.ndarray]) -> None:
    state = archive_state(path)
    assert sorted(state) == sorted(reference)
    assert any(name.startswith("optimizer") for name in state)  # the optimizer's variables are compared too
    different = [name for name in state if not np.array_equal(state[name], reference[name])]
    assert not different, different


def temporary_files(directory: Path, prefix: str) -> list[str]:
    try:
        return [e.name for e in os.scandir(directory) if e.name.startswith(prefix)]
    except FileNotFoundError:
        return []


def run_until(command: list[str], log: Path, stop) -> tuple[bool, float]:
    """Run ``command``; kill -9 it as soon as ``stop(elapsed)`` is true. Whether it was killed, and when."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        start = time.monotonic()
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if stop(elapsed):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True, elapsed
            time.sleep(0.0005)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return False, time.monotonic() - start


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its archive's variables, its duration, and when its first backup appeared."""
    d = tmp_path_factory.mktemp("reference")
    data = write_data(d / "data.npz")
    out = d / "reference.keras"
    first_backup: list[float] = []

    def watch(elapsed: float) -> bool:
        if not first_backup and (d / "reference.keras.backup" / STATE_FILE).exists():
            first_backup.append(elapsed)
        return False

    _, duration = run_until(fit_command(data, out), d / "log", watch)
    assert not (d / "reference.keras.backup").exists()  # removed once the run completed
    return {"data": data, "state": archive_state(out), "duration": duration, "first_backup": first_backup[0]}


def kill_moment(how: str, delay: float, save_number: int, backup: Path, first_backup: float):
    """When to kill a run: ``delay`` seconds after its start ("any time") or after its first epoch
    would end ("training"), or as the ``save_number``-th backup is being written ("saving")."""
    seen: set[str] = set()

    def stop(elapsed: float) -> bool:
        if how == "any time":
            return elapsed >= delay
        if how == "training":
            return (backup / STATE_FILE).exists() and elapsed >= first_backup + delay
        seen.update(temporary_files(backup, ".epoch-"))  # a weights file being written
        return len(seen) >= save_number

    return stop


@pytest.mark.slow
def test_twenty_random_kills_each_resume_bit_identically(reference, tmp_path):
    rng = np.random.default_rng(15)
    training = reference["duration"] - reference["first_backup"]
    kills, during_save, resumed_from, durations = 0, 0, [], []
    attempts = 0
    while kills < KILLS:
        attempts += 1
        assert attempts < 3 * KILLS, "the kill moments keep missing the runs"
        out = tmp_path / f"run{attempts}.keras"
        backup = backup_directory(out)
        how = ("any time", "training", "saving")[attempts % 3]
        delay = rng.uniform(0, reference["duration"]) if how == "any time" else rng.uniform(0, training)
        save_number = int(rng.integers(1, EPOCHS + 1))
        stop = kill_moment(how, delay, save_number, backup, reference["first_backup"])
        started = time.monotonic()
        killed, _ = run_until(fit_command(reference["data"], out), tmp_path / "log", stop)
        if not killed:  # the run ended before its kill moment: not a kill, draw another
            continue
        kills += 1
        during_save += bool(temporary_files(backup, ".epoch-") or temporary_files(backup, f".{STATE_FILE}."))
        state = json.loads((backup / STATE_FILE).read_text()) if (backup / STATE_FILE).exists() else None
        done = state["epoch"] if state else 0
        again = subprocess.run(fit_command(reference["data"], out), capture_output=True, text=True, env=ENV)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        if state is None:
            assert "resuming" not in again.stdout
        elif done < EPOCHS:
            assert f"resuming from epoch {done + 1} of {EPOCHS}\n" in again.stdout
        else:
            assert f"all {EPOCHS} epochs were done before the interruption" in again.stdout
        assert_bit_identical(out, reference["state"])
        assert not backup.exists()
        resumed_from.append(done)
        durations.append(time.monotonic() - started)
    print(f"\n{kills}/{KILLS} killed runs resumed bit-identically; {during_save} killed while a backup was "
          f"being written; epochs done at the kill: {resumed_from}; reference {reference['duration']:.1f} s, "
          f"kill and resume {np.mean(durations):.1f} s on average")
    assert during_save >= 3  # the save of a backup was hit, not only the time between saves
    assert any(0 < done < EPOCHS for done in resumed_from)


@pytest.mark.slow
def test_a_kill_during_the_final_save_keeps_the_output_and_the_restart_does_not_train(reference, tmp_path):
    out = tmp_path / "m.keras"
    out.write_bytes(b"the previous archive")
    seen: set[str] = set()

    def stop(elapsed: float) -> bool:
        seen.update(temporary_files(tmp_path, ".m.keras."))  # the output archive being written
        return bool(seen)

    killed, _ = run_until(fit_command(reference["data"], out), tmp_path / "log", stop)
    assert killed
    assert out.read_bytes() == b"the previous archive"
    state = json.loads((backup_directory(out) / STATE_FILE).read_text())
    assert state["epoch"] == EPOCHS
    again = subprocess.run(fit_command(reference["data"], out), capture_output=True, text=True, env=ENV)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"all {EPOCHS} epochs were done before the interruption; writing the output" in again.stdout
    assert not TRAINED.search(again.stdout), again.stdout
    assert_bit_identical(out, reference["state"])
    assert not backup_directory(out).exists()


# -- in this process: what is restored, and which backups are refused -------------------------

OPTIONS = {"epochs": EPOCHS, "batch_size": 4, "shuffle": False, "validation_split": 0.0}


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Stops the run at the start of an epoch (0-based), as a kill there would."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt


@pytest.fixture
def data(tmp_path):
    return write_data(tmp_path / "data.npz", n=64)


def train(model, data: Path, resume, *before: keras.callbacks.Callback):
    arrays = np.load(data)
    return model.fit(arrays["x"], arrays["dense_1"], batch_size=4, epochs=EPOCHS, shuffle=False, verbose=0,
                     callbacks=[*before, *resume.callbacks], initial_epoch=resume.initial_epoch)


def full_state(model) -> list[np.ndarray]:
    """Weights, seed states and optimizer variables."""
    return [np.asarray(v.numpy()) for v in [*model.variables, *model.optimizer.variables]]


def killed_after_two_epochs(out: Path, data: Path, options=OPTIONS) -> None:
    model = declar.build(SPEC)
    with pytest.raises(Interrupt):
        train(model, data, resume_run(out, model, [data], options, say=None), InterruptAt(2))


def test_a_resumed_dropout_model_ends_with_the_uninterrupted_weights_optimizer_and_seeds(tmp_path, data):
    straight = declar.build(SPEC)
    history = train(straight, data, resume_run(tmp_path / "straight.keras", straight, [data], OPTIONS, say=None))
    out = tmp_path / "m.keras"
    killed_after_two_epochs(out, data)
    said: list[str] = []
    model = declar.build(SPEC)
    resume = resume_run(out, model, [data], OPTIONS, say=said.append)
    assert said == ["resuming from epoch 3 of 4"] and resume.initial_epoch == 2
    resumed = train(model, data, resume)
    assert resumed.history == history.history and resumed.epoch == list(range(EPOCHS))  # restored epochs too
    for a, b in zip(full_state(model), full_state(straight), strict=True):
        assert np.array_equal(a, b)
    dropout = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    assert int(np.asarray(dropout.seed_generator.state.numpy())[-1]) == EPOCHS * 16  # a draw per step
    # What Keras's BackupAndRestore restores (the weights file alone) draws other dropout masks.
    weights_only = declar.build(SPEC)
    keep = resume_run(tmp_path / "other.keras", weights_only, [data], OPTIONS, say=None)
    killed_after_two_epochs(tmp_path / "w.keras", data)
    weights_only.load_weights(next(backup_directory(tmp_path / "w.keras").glob("*.weights.h5")))
    keep.initial_epoch = 2
    train(weights_only, data, keep)
    assert not np.array_equal(weights_only.weights[0].numpy(), straight.weights[0].numpy())


def another_spec(tmp_path: Path) -> Path:
    path = tmp_path / "other.yaml"
    path.write_text(SPEC.read_text().replace("seed: 5", "seed: 6"))
    return path


@pytest.mark.parametrize("change, reason", [("options", "the fit options differ"), ("data", "the data differ"),
                                            ("spec", "the spec differs")])
def test_the_backup_of_another_run_is_reported_and_replaced(tmp_path, data, change, reason):
    out = tmp_path / "m.keras"
    killed_after_two_epochs(out, data)
    spec, options = (another_spec(tmp_path) if change == "spec" else SPEC), dict(OPTIONS)
    if change == "options":
        options["epochs"] = EPOCHS + 1
    if change == "data":
        data = write_data(tmp_path / "other.npz", n=64, seed=1)
    said: list[str] = []
    resume = resume_run(out, declar.build(spec), [data], options, say=said.append)
    backup = backup_directory(out)
    assert said == [f"{backup}: it holds the backup of another run ({reason}); "
                    f"starting afresh from epoch 1 of {options['epochs']}"]
    assert resume.initial_epoch == 0 and not backup.exists()


def test_a_damaged_backup_is_reported_and_the_model_starts_fresh(tmp_path, data):
    out = tmp_path / "m.keras"
    backup = backup_directory(out)
    killed_after_two_epochs(out, data)
    weights = backup / "epoch-0002.weights.h5"
    weights.write_bytes(weights.read_bytes()[:-1] + b"!")
    said: list[str] = []
    model, fresh = declar.build(SPEC), declar.build(SPEC)
    assert resume_run(out, model, [data], OPTIONS, say=said.append).initial_epoch == 0
    assert said == [f"{backup}: the backup cannot be restored (epoch-0002.weights.h5 does not have the content "
                    f"its state recorded); starting afresh from epoch 1 of {EPOCHS}"]
    for a, b in zip(full_state(model), full_state(fresh), strict=True):
        assert np.array_equal(a, b)
    killed_after_two_epochs(out, data)
    (backup / STATE_FILE).write_text("{not json")
    said.clear()
    assert resume_run(out, declar.build(SPEC), [data], OPTIONS, say=said.append).initial_epoch == 0
    assert said[0].startswith(f"{backup}: {STATE_FILE} cannot be read (")


def test_the_sections_backup_and_restore_places_and_keeps_the_backup_and_only_ours_is_deleted(tmp_path, data):
    keep = TrainingSpec(callbacks=(CallbackSpec("BackupAndRestore",
                                                JsonMap({"backup_dir": "shared", "delete_checkpoint": False})),))
    out = tmp_path / "m.keras"
    assert backup_directory(out, keep) == tmp_path / "shared"
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "notes.txt").write_text("mine")
    model = declar.build(SPEC)
    resume = resume_run(out, model, [data], OPTIONS, keep, say=None)
    train(model, data, resume)
    resume.finish()
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["epoch-0004.weights.h5", "notes.txt",
                                                                        STATE_FILE]
    remove_backup(tmp_path / "shared")
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["notes.txt"]


def test_an_output_replacing_its_source_archive_drops_the_backup_before_the_save(tmp_path, data):
    source = tmp_path / "m.keras"
    declar.save(SPEC, source)
    model, _ = declar.api.model_to_train(source, declar.limits.DEFAULT_LIMITS)
    resume = resume_run(source, model, [data], OPTIONS, say=None, source=source)
    train(model, data, resume)
    assert (backup_directory(source) / STATE_FILE).exists()
    resume.trained()  # a restart after the save would load the new archive: this backup is not its run
    assert not backup_directory(source).exists()
