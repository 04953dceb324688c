"""`declar fit` killed at any moment (kill -9) and started again with the same command resumes from
the last completed epoch and ends bit-identical to an uninterrupted run.

The kill test runs the real CLI in subprocesses: one uninterrupted reference run (whose backup
after each epoch is kept aside as it appears), then five chains of runs, each run killed at a
random moment (drawn with a fixed seed: at any time, during training, or while a backup is being
written) and started again with the same command, four kills per chain, twenty in all. Each
resumed run is checked where it ends: killed, its backup must hold exactly the reference's
backup of that epoch (weights, optimizer, seed states, history); completed, its archive must hold
exactly the reference's weights and optimizer variables. The model has a Dropout layer, whose
masks come from a seed generator Keras does not save: the runs match only if its state resumes
too. Shuffling is off in the spec (the batches of an epoch are then the same in every run). The
other tests run in this process.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import declar
from declar.errors import ArchiveError
from declar.fitting.resume import STATE_FILE, backup_directory, remove_backup, resume_run
from declar.spec.model import CallbackSpec, JsonMap, TrainingSpec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tests" / "specs" / "fit_resume_dropout.yaml"
EPOCHS = 4
CHAINS, KILLS_PER_CHAIN = 5, 4
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
TRAINED = re.compile(r"epoch \d+/\d+", re.IGNORECASE)  # Keras's "Epoch 3/4", or a plain per-epoch line
MOMENTS = ("any time", "training", "saving")


def write_data(path: Path, n: int = 128, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8)).astype("float32")
    np.savez(path, x=x, dense_1=x.sum(axis=1, keepdims=True))
    return path


def fit_command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "declar", "fit", str(SPEC), "--data", str(data), "--out", str(out),
            "--epochs", str(EPOCHS)]


def h5_state(source: Path | io.BytesIO) -> dict[str, np.ndarray]:
    """Every variable a Keras weights file holds (the layers' and the optimizer's), by its path."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def archive_state(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as z:
        return h5_state(io.BytesIO(z.read("model.weights.h5")))


def assert_same_variables(state: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    assert sorted(state) == sorted(reference)
    assert any(name.startswith("optimizer") for name in state)  # the optimizer's variables are compared too
    different = [name for name in state if not np.array_equal(state[name], reference[name])]
    assert not different, different


def temporary_files(directory: Path, prefix: str) -> list[str]:
    try:
        return [e.name for e in os.scandir(directory) if e.name.startswith(prefix)]
    except FileNotFoundError:
        return []


def run_until(command: list[str], log: Path, stop) -> bool:
    """Run ``command``; kill -9 it as soon as ``stop(elapsed)`` is true. Whether it was killed."""
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        start = time.monotonic()
        while proc.poll() is None:
            if stop(time.monotonic() - start):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.0005)
    assert proc.returncode == 0, log.read_text()[-3000:]
    return False


def read_state(backup: Path) -> dict | None:
    try:
        return json.loads((backup / STATE_FILE).read_text())
    except FileNotFoundError:  # no backup yet, or no more
        return None


def weights_file(backup: Path, state: dict) -> Path:
    return backup / next(iter(state["files"]))  # the weights come first


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its archive's variables, its duration, when its first backup appeared,
    and its backup after each epoch (hard links keep each weights file after the run deletes it)."""
    d = tmp_path_factory.mktemp("reference")
    data, out = write_data(d / "data.npz"), d / "reference.keras"
    backup, kept = backup_directory(out), d / "kept"
    kept.mkdir()
    states: dict[int, dict] = {}
    first_backup: list[float] = []

    def watch(elapsed: float) -> bool:
        for name in temporary_files(backup, "epoch-"):
            if not (kept / name).exists():
                try:
                    os.link(backup / name, kept / name)
                except FileNotFoundError:  # deleted since listed: the run wrote the next epoch's
                    pass
        state = read_state(backup)
        if state is not None and state["epoch"] not in states:
            states[state["epoch"]] = state
            first_backup.append(elapsed)
        return False

    started = time.monotonic()
    run_until(fit_command(data, out), d / "log", watch)
    assert not backup.exists()  # removed once the run completed
    assert sorted(states) == list(range(1, EPOCHS + 1))
    weights = {e: h5_state(weights_file(kept, states[e])) for e in states}
    return {"data": data, "state": archive_state(out), "duration": time.monotonic() - started,
            "first_backup": first_backup[0], "backups": states, "weights": weights}


def kill_moment(how: str, delay: float, epoch: int, backup: Path):
    """When to kill a run: ``delay`` seconds after its start ("any time") or after it backed up
    its first epoch ("training"), or as it writes its backup of epoch ``epoch`` ("saving": from the
    moment a file of that epoch appears, which a poll cannot miss, to just after the state names it)."""
    first_backup: list[float] = []

    def stop(elapsed: float) -> bool:
        if how == "any time":
            return elapsed >= delay
        if how == "training":
            if not first_backup and (backup / f"epoch-{epoch:04d}.weights.h5").exists():
                first_backup.append(elapsed)
            return bool(first_backup) and elapsed >= first_backup[0] + delay
        return bool(temporary_files(backup, f".epoch-{epoch:04d}.") or temporary_files(backup, f"epoch-{epoch:04d}."))

    return stop


def killed_during_save(backup: Path, state: dict | None) -> bool:
    """Whether a backup was being written at the kill: a temporary file left, or a weights file
    newer than the state."""
    done = state["epoch"] if state else 0
    return bool(temporary_files(backup, ".epoch-") or temporary_files(backup, f".{STATE_FILE}.")
                or any(int(name[6:10]) > done for name in temporary_files(backup, "epoch-")))


def identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` is (an atomic replacement makes a new one), or None."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def kill_chain(index: int, reference: dict, directory: Path) -> list[dict]:
    """Runs of one output, each killed at a random moment and started again, until four kills
    happened and the last run completed; what each run did."""
    rng = np.random.default_rng([15, index])
    epoch_time = (reference["duration"] - reference["first_backup"]) / (EPOCHS - 1)
    runs: list[dict] = []
    segment = 0
    out = directory / f"chain{index}-{segment}.keras"
    while True:
        kills = sum(r["killed"] for r in runs)
        backup, log = backup_directory(out), directory / f"chain{index}.log"
        before = read_state(backup)
        done = before["epoch"] if before else 0
        how = MOMENTS[(index + len(runs)) % 3] if kills < KILLS_PER_CHAIN else "never"
        # Within 90% of the reference's times, so that few runs end before their kill moment.
        delay = rng.uniform(0, 0.9 * (reference["duration"] if how == "any time" else epoch_time))
        epoch = min(EPOCHS, done + (1 if how == "training" else int(rng.integers(1, max(EPOCHS - done, 1) + 1))))
        stop = kill_moment(how, delay, epoch, backup) if how != "never" else lambda elapsed: False
        existing = identity(out)
        killed = run_until(fit_command(reference["data"], out), log, stop)
        output = log.read_text()
        run = {"moment": how, "killed": killed, "resumed_from": done, "during_save": False,
               "after_kill": bool(runs) and runs[-1]["killed"]}
        expected = (f"resuming from epoch {done + 1} of {EPOCHS}\n" if done < EPOCHS
                    else f"all {EPOCHS} epochs were done already; writing the output\n")
        if before is not None and not killed:
            assert expected in output, output[-2000:]
        if before is None or (killed and "resuming" not in output):
            assert "resuming" not in output and "epochs were done" not in output
        if killed:
            after = read_state(backup)
            run["during_save"] = killed_during_save(backup, after)
            if after is not None:  # the backup this run leaves is the reference's of that epoch
                same = reference["backups"][after["epoch"]]
                assert (after["seeds"], after["history"]) == (same["seeds"], same["history"])
                assert_same_variables(h5_state(weights_file(backup, after)), reference["weights"][after["epoch"]])
            run["backup_after"] = after["epoch"] if after else 0
            if identity(out) not in (None, existing):  # killed after its final save (atomic: complete)
                assert_same_variables(archive_state(out), reference["state"])
                run["backup_after"] = EPOCHS
        else:
            assert_same_variables(archive_state(out), reference["state"])
            assert not backup.exists()
            run["backup_after"] = EPOCHS
            if kills >= KILLS_PER_CHAIN:
                runs.append(run)
                return runs
            segment += 1  # the run ended before its kill moment: the next kill is in a new run
            out = directory / f"chain{index}-{segment}.keras"
        runs.append(run)


@pytest.mark.slow
def test_twenty_random_kills_each_resume_bit_identically(reference, tmp_path):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two runs at a time: one per core
        chains = list(pool.map(lambda i: kill_chain(i, reference, tmp_path), range(CHAINS)))
    runs = [r for chain in chains for r in chain]
    killed = [r for r in runs if r["killed"]]
    resumed = [r for r in runs if r["after_kill"]]
    print(f"\n{len(killed)} kills; {len(resumed)}/{len(resumed)} resumed runs bit-identical to the uninterrupted "
          f"run where they ended ({sum(not r['killed'] for r in resumed)} completed, "
          f"{sum(r['killed'] and r['backup_after'] > r['resumed_from'] for r in resumed)} killed after "
          f"backing up more epochs, the others killed before); {sum(r['during_save'] for r in killed)} kills "
          f"while a backup was being written; (epochs done at start, at end) per run: "
          f"{[(r['resumed_from'], r['backup_after']) for r in runs]}; reference {reference['duration']:.1f} s, "
          f"the chains {time.monotonic() - started:.1f} s")
    assert len(killed) == len(resumed) == CHAINS * KILLS_PER_CHAIN
    assert sum(r["during_save"] for r in killed) >= 3  # the save of a backup was hit, not only the time between
    assert any(0 < r["resumed_from"] < EPOCHS and r["backup_after"] > r["resumed_from"] for r in resumed)


@pytest.mark.slow
def test_a_kill_during_the_final_save_keeps_the_output_and_the_restart_does_not_train(reference, tmp_path):
    out = tmp_path / "m.keras"
    out.write_bytes(b"the previous archive")
    seen: set[str] = set()

    def stop(elapsed: float) -> bool:
        seen.update(temporary_files(tmp_path, ".m.keras."))  # the output archive being written
        return bool(seen)

    assert run_until(fit_command(reference["data"], out), tmp_path / "log", stop)
    assert out.read_bytes() == b"the previous archive"
    state = json.loads((backup_directory(out) / STATE_FILE).read_text())
    assert state["epoch"] == EPOCHS
    again = subprocess.run(fit_command(reference["data"], out), capture_output=True, text=True, env=ENV)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"all {EPOCHS} epochs were done already; writing the output" in again.stdout
    assert not TRAINED.search(again.stdout), again.stdout
    assert_same_variables(archive_state(out), reference["state"])
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
                     callbacks=resume.callbacks(before), initial_epoch=resume.initial_epoch)


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


def plateau_callbacks() -> list[keras.callbacks.Callback]:
    """No epoch improves the loss by 100: the learning rate halves after every epoch but the first,
    and training stops after the fourth with the first epoch's weights put back."""
    return [keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=100.0),
            keras.callbacks.EarlyStopping(monitor="loss", patience=3, min_delta=100.0, restore_best_weights=True)]


def test_the_state_of_keras_callbacks_resumes_with_the_run(tmp_path, data):
    straight = declar.build(SPEC)
    train(straight, data, resume_run(tmp_path / "straight.keras", straight, [data], OPTIONS, say=None),
          *plateau_callbacks())
    out = tmp_path / "m.keras"
    model = declar.build(SPEC)
    with pytest.raises(Interrupt):
        train(model, data, resume_run(out, model, [data], OPTIONS, say=None), *plateau_callbacks(), InterruptAt(2))
    model = declar.build(SPEC)
    train(model, data, resume_run(out, model, [data], OPTIONS, say=None), *plateau_callbacks())
    assert model.optimizer.learning_rate.numpy() == np.float32(0.01) / 8  # halved after epochs 2, 3 and 4
    for a, b in zip(full_state(model), full_state(straight), strict=True):
        assert np.array_equal(a, b)
    # A restart after the run stopped early (its last backup written, the output not yet) trains no more.
    said: list[str] = []
    again = declar.build(SPEC)
    resume = resume_run(tmp_path / "straight.keras", again, [data], OPTIONS, say=said.append)
    assert said == ["all 4 epochs were done already; writing the output"]
    stopping = tmp_path / "stopping.keras"
    early = [keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=100.0)]
    first = declar.build(SPEC)
    train(first, data, resume_run(stopping, first, [data], OPTIONS, say=None), *early)
    again = declar.build(SPEC)
    resume = resume_run(stopping, again, [data], OPTIONS, say=said.append)
    assert said[-1] == "the run stopped early after epoch 2 of 4; writing the output"
    assert resume.initial_epoch == EPOCHS and not TRAINED.search(str(train(again, data, resume, *early).epoch))
    for a, b in zip(full_state(again), full_state(first), strict=True):
        assert np.array_equal(a, b)


def test_a_resumed_csv_log_goes_on_where_it_stopped(tmp_path, data):
    straight = declar.build(SPEC)
    log = keras.callbacks.CSVLogger(str(tmp_path / "straight.csv"))
    train(straight, data, resume_run(tmp_path / "straight.keras", straight, [data], OPTIONS, say=None), log)
    out, csv = tmp_path / "m.keras", tmp_path / "m.csv"
    model = declar.build(SPEC)
    with pytest.raises(Interrupt):
        train(model, data, resume_run(out, model, [data], OPTIONS, say=None),
              keras.callbacks.CSVLogger(str(csv)), InterruptAt(2))
    model = declar.build(SPEC)
    train(model, data, resume_run(out, model, [data], OPTIONS, say=None), keras.callbacks.CSVLogger(str(csv)))
    assert csv.read_text() == (tmp_path / "straight.csv").read_text()
    assert len(csv.read_text().splitlines()) == 1 + EPOCHS


def test_an_output_in_a_missing_directory_is_refused_before_training(tmp_path, data):
    out = tmp_path / "missing" / "m.keras"
    with pytest.raises(ArchiveError, match=f"{out}: directory {out.parent} does not exist"):
        resume_run(out, declar.build(SPEC), [data], OPTIONS, say=None)
    assert not out.parent.exists()


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
