"""Shared by the training-section, progress and history tests: a small spec with its data, and
`declar fit` run as a user runs it (a real process, its output piped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FRAUD = ROOT / "specs" / "training" / "fraud_detection.yaml"

TINY = """\
declar: 2
name: tiny
seed: 3
inputs:
  x: {shape: [4]}
model:
  - Dense: {units: 8, activation: relu, name: hidden}
  - Dense: {units: 1, name: y}
compile: {optimizer: {name: sgd, learning_rate: 0.05}, loss: mse, metrics: [mae]}
"""


def tiny_spec(directory: Path, training: str = "", samples: int = 20, name: str = "spec.yaml") -> Path:
    """``directory/spec.yaml``: `TINY` with the ``training:`` lines given, and its data ``d.npz``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    np.savez(directory / "d.npz", x=x, y=(x.sum(axis=1, keepdims=True) * 0.5).astype("float32"))
    spec = directory / name
    spec.write_text(TINY + (f"training:\n{training}" if training else ""))
    return spec


def fraud_data(directory: Path, train: int = 1200, val: int = 300) -> None:
    """Synthetic stand-ins for the fraud example's data (3% frauds), named as the spec says."""
    rng = np.random.default_rng(1)
    for name, n in (("fraud_train", train), ("fraud_val", val)):
        x = rng.normal(size=(n, 30)).astype("float32")
        y = (x[:, 0] + 0.5 * x[:, 1] > 2.0).astype("float32")[:, None]
        np.savez(directory / f"{name}.npz", features=x, dense_3=y)


def run_declar(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m declar ARGS`` in ``cwd``, standard output and error piped (not a terminal)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "declar", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
