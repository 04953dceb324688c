"""Shared by the adapted-preprocessing tests: generated data, the CLI, and the fresh-process load."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "adapt_worker.py"
# Specs whose preprocessing layers learn their state from data: they cannot be saved before it, so
# they live outside specs/ (whose specs all save and load with no data).
TRAINING_SPECS = ROOT / "examples" / "adapted"
_loader = importlib.util.spec_from_file_location("training_data", ROOT / "docs" / "examples" / "training_data.py")
_training_data = importlib.util.module_from_spec(_loader)
_loader.loader.exec_module(_training_data)



def write_reviews(root: Path, per_class: int = 24, seed: int = 0) -> list[tuple[str, int]]:
    """A directory of short generated reviews, ``neg/`` and ``pos/`` (the README's generator,
    docs/examples/training_data.py); returns (text, label) pairs."""
    return _training_data.reviews(root, per_class, seed)


def heart_arrays(rows: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Heart-disease-like columns named after the structured-data example's inputs and output (the
    README's data, docs/examples/training_data.py, with fewer rows)."""
    return _training_data.heart(rows, seed)


def cli(*args: str):
    """`declar ARGS` in this process; a traceback is a failure of its own."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def fresh_load(tmp_path: Path, jobs: dict[str, tuple[Path, list[np.ndarray]]]) -> dict:
    """Load every archive of ``jobs`` (name -> (archive, inputs)) in one fresh process (see
    adapt_worker.py); each result holds the warnings, the adapted state and the predictions."""
    specs = []
    for name, (archive, xs) in jobs.items():
        inputs = tmp_path / f"{name}.inputs.npz"
        np.savez(inputs, *[np.asarray(x).astype(str) if np.asarray(x).dtype.kind in "OSU" else x for x in xs])
        specs.append({"name": name, "archive": str(archive), "inputs": str(inputs)})
    (tmp_path / "jobs.json").write_text(json.dumps(specs))
    result_file = tmp_path / "result.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    proc = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "jobs.json"), str(result_file)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(result_file.read_text())
    for name in result:
        result[name]["prediction"] = np.load(tmp_path / f"{name}.pred.npy")
    return result


def replace_member(archive: Path, member: str, data: bytes, out: Path) -> Path:
    """A copy of ``archive`` with ``member`` holding ``data`` (added if absent)."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != member:
                dst.writestr(info, src.read(info))
        dst.writestr(member, data)
    return out
