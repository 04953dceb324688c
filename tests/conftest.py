"""Shared fixtures: the batched fresh-process round trip, once per installed Keras backend."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "roundtrip_worker.py"
EXAMPLE_SPECS = sorted(ROOT.glob("specs/**/*.yaml"))
RESUME_SPECS = sorted((ROOT / "tests" / "specs").glob("resume_*.yaml"))
# Text, and Keras's lookup layers, run on TensorFlow only: they are TensorFlow string tensors and
# lookup tables, which a JAX or PyTorch model cannot compile (keras.io runs them in tf.data there).
TF_ONLY_MARKERS = ("dtype: string", "Lookup:", "TextVectorization:")
TF_ONLY_SPECS = frozenset(p.stem for p in EXAMPLE_SPECS if any(m in p.read_text() for m in TF_ONLY_MARKERS))

# TensorFlow is the default install; JAX and PyTorch are extras, tested when installed.
BACKENDS = [b for b, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
            if importlib.util.find_spec(module) is not None]


def roundtrip_jobs() -> list[dict]:
    # Integer class targets for a sparse loss, label sequences for CTC, one-hot ones otherwise (as
    # the spec's loss expects).
    jobs = [{"name": p.stem, "spec": str(p), "sparse": "sparse_categorical" in p.read_text(),
             "label_sequences": "loss: ctc" in p.read_text(), "tf_only": p.stem in TF_ONLY_SPECS}
            for p in EXAMPLE_SPECS]
    jobs += [{"name": p.stem, "spec": str(p), "resume": True} for p in RESUME_SPECS]
    return jobs


def run_worker(mode: str, jobs_file: Path, out: Path, backend: str) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, str(WORKER), mode, str(jobs_file), str(out)], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{mode} worker ({backend}) failed:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="session")
def saved_archives(tmp_path_factory):
    """backend -> directory where a fresh process on that backend saved every job's archive."""
    cache: dict[str, Path] = {}

    def saved(backend: str) -> Path:
        if backend not in cache:
            out = tmp_path_factory.mktemp(f"roundtrip_{backend}")
            jobs_file = out / "jobs.json"
            jobs_file.write_text(json.dumps(roundtrip_jobs()))
            run_worker("save", jobs_file, out, backend)
            cache[backend] = out
        return cache[backend]

    return saved


@pytest.fixture(scope="session", params=BACKENDS)
def roundtrip(request, saved_archives):
    """Archives saved by one fresh process and loaded by another, on one backend."""
    out = saved_archives(request.param)
    run_worker("load", out / "jobs.json", out, request.param)
    return out
