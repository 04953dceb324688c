"""Saving is atomic: killed saves, a full disk and racing saves never leave a partial archive."""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import declar

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "specs" / "keras_guide"
WORKER = Path(__file__).resolve().parent / "atomic_worker.py"
DECLAR = str(Path(sys.executable).with_name("declar"))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def intact_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None and "config.json" in z.namelist()
    except zipfile.BadZipFile:
        return False


@pytest.fixture(scope="module")
def two_archives(tmp_path_factory):
    out = tmp_path_factory.mktemp("atomic")
    old, new = out / "old.keras", out / "new.keras"
    declar.save(GUIDE / "custom_build.yaml", old)
    declar.save(ROOT / "specs" / "examples" / "mnist_convnet.yaml", new)  # bigger: a longer write
    return old, new


def test_fifty_killed_saves_leave_the_old_or_the_new_archive(two_archives, tmp_path):
    old, new = two_archives
    old_digest, new_digest = digest(old), digest(new)
    rng = random.Random(1234)
    outcomes = {"old": 0, "new": 0}
    # How long one uninterrupted save takes on this machine now: kills are spread over 1.3 times
    # that, so some land before the rename and some after, however loaded the machine is.
    probe = tmp_path / "probe.keras"
    probe.write_bytes(old.read_bytes())
    started = time.monotonic()
    subprocess.run([sys.executable, str(WORKER), str(new), str(probe)], check=True, capture_output=True, env=ENV)
    duration = time.monotonic() - started
    for trial in range(50):
        target = tmp_path / f"target{trial}.keras"
        target.write_bytes(old.read_bytes())
        proc = subprocess.Popen([sys.executable, str(WORKER), str(new), str(target)], stdout=subprocess.PIPE,
                                text=True, env=ENV)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
        time.sleep(rng.uniform(0.0, 1.3 * duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        found = digest(target)
        assert found in (old_digest, new_digest), f"trial {trial}: partial archive"
        assert intact_zip(target)
        outcomes["old" if found == old_digest else "new"] += 1
    # both outcomes occurred, so kills landed before and after the rename
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes


def test_killed_declar_save_cli_leaves_the_old_archive_intact(two_archives, tmp_path):
    old, _ = two_archives
    rng = random.Random(99)
    for trial in range(3):
        target = tmp_path / f"cli{trial}.keras"
        target.write_bytes(old.read_bytes())
        proc = subprocess.Popen([DECLAR, "save", str(ROOT / "specs/examples/mnist_convnet.yaml"), str(target)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        time.sleep(rng.uniform(1.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert intact_zip(target)
        assert declar.inspect(target)["name"] in ("custom_build_model", "mnist_convnet")


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))


def test_full_disk_gives_a_clear_error_and_keeps_the_old_archive(two_archives, tmp_path):
    old, _ = two_archives
    target = tmp_path / "full.keras"
    target.write_bytes(old.read_bytes())
    proc = subprocess.run([DECLAR, "save", str(ROOT / "specs/examples/mnist_convnet.yaml"), str(target)],
                          capture_output=True, text=True, env=ENV, preexec_fn=_limit_file_size)
    assert proc.returncode == 1
    assert "cannot write the archive" in proc.stderr and "previous file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert digest(target) == digest(old)
    assert [p.name for p in tmp_path.iterdir()] == ["full.keras"]  # no temporary file left behind


def test_two_racing_saves_leave_one_complete_archive(tmp_path):
    target = tmp_path / "race.keras"
    procs = [subprocess.Popen([DECLAR, "save", str(GUIDE / f"{name}.yaml"), str(target)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in ("custom_build", "custom_variables")]
    for proc in procs:
        assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    assert intact_zip(target)
    assert declar.inspect(target)["name"] in ("custom_build_model", "custom_vars_model")
    declar.load(target)
    assert [p.name for p in tmp_path.iterdir()] == ["race.keras"]
