"""What `declar fit` prints: Keras's bar on a terminal, one plain line per epoch when piped (no
control character but the newline), nothing but errors with --quiet."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from tests.training_helpers import FRAUD, ROOT, fraud_data, run_declar, tiny_spec

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # every control character but \n


@pytest.mark.slow
def test_the_fraud_example_trained_by_declar_fit_prints_plain_lines_when_piped(tmp_path):
    (tmp_path / FRAUD.name).write_text(FRAUD.read_text())
    fraud_data(tmp_path)
    proc = run_declar("fit", FRAUD.name, "--out", "run/fraud.keras", "--epochs", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not CONTROL.search(proc.stdout), repr(proc.stdout)
    assert not CONTROL.search(proc.stderr), repr(proc.stderr)
    lines = proc.stdout.splitlines()
    assert [line.split(" - ")[0] for line in lines[:3]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(re.fullmatch(r"epoch \d/3 - \d+\.\ds - loss: \S+ - false_negatives: .* - val_loss: \S+ - .*", line)
               for line in lines[:3]), lines
    assert lines[-1] == "wrote run/fraud.keras"
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "fraud.history.json", "fraud.keras",
                                                      "training_log.csv"]
    assert len(list((run / "checkpoints").iterdir())) == 3


def test_quiet_prints_nothing_but_errors(tmp_path):
    spec = tiny_spec(tmp_path, "  data: d.npz\n  epochs: 3\n  callbacks:\n"
                               "    - EarlyStopping: {monitor: loss, min_delta: 1.0e+9, patience: 0, verbose: 1}\n"
                               "    - ModelCheckpoint: {filepath: \"m.{epoch}.keras\", verbose: 1}\n")
    proc = run_declar("fit", "spec.yaml", "--out", "m.keras", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", "")
    assert (tmp_path / "m.keras").exists() and (tmp_path / "m.2.keras").exists()  # stopped after epoch 2, silently
    spec.write_text(spec.read_text().replace("data: d.npz", "data: gone.npz"))
    proc = run_declar("fit", "spec.yaml", "--out", "m.keras", "-q", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    # the one error line, located at the training section's data key
    assert proc.stderr.startswith("spec.yaml:") and ": error: data file " in proc.stderr and "gone.npz" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_terminal_gets_keras_progress_bar(tmp_path):
    tiny_spec(tmp_path, "  data: d.npz\n  epochs: 2\n  batch_size: 4\n")
    main, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "declar", "fit", "spec.yaml", "--out", "m.keras"], cwd=tmp_path,
                            stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=120) == 0
    os.close(main)
    text = shown.decode("utf-8", "replace")
    assert "Epoch 1/2" in text and "5/5" in text  # Keras's own bar: its epoch header and step count
    assert "\r" in text or "\x1b[" in text  # redrawn in place, as on a terminal
    assert "epoch 1/2 - " not in text  # not the piped form
