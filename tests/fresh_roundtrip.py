"""The specs of tests/specs/ for nested layers, masks and custom-on-custom types, saved by one fresh
process and loaded by another (`roundtrip_worker.py`), once per session and installed backend:
`fresh_archives` is the directory, `assert_round_trip` checks one spec (bit-identical predictions
and weights, no lost-state warning, load-save-load stable).

Example (in a test module):
    @pytest.fixture(scope="module", params=BACKENDS)
    def fresh(request, tmp_path_factory):
        return fresh_archives(tmp_path_factory, request.param)

    def test_x(fresh):
        assert_round_trip(fresh, "nested_custom")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from conftest import BACKENDS, run_worker

SPECS = Path(__file__).resolve().parent / "specs"
FRESH_SPECS = sorted([*SPECS.glob("nested_*.yaml"), *SPECS.glob("mask_*.yaml"), *SPECS.glob("extends_*.yaml")])
LOST_STATE = ("Skipping variable loading", "cannot be built automatically", "was not called as part of model loading")


def saved_and_loaded(tmp_path_factory, specs: Sequence[Path], backend: str = "tensorflow") -> Path:
    """Save every spec's archive in one fresh process and load them all in another; the directory."""
    out = tmp_path_factory.mktemp("fresh_roundtrip")
    jobs = out / "jobs.json"
    jobs.write_text(json.dumps([{"name": p.stem, "spec": str(p)} for p in specs]))
    run_worker("save", jobs, out, backend)
    run_worker("load", jobs, out, backend)
    return out


_DONE: dict[str, Path] = {}


def fresh_archives(tmp_path_factory, backend: str) -> Path:
    """Every spec of `FRESH_SPECS` saved and loaded on ``backend``, each side in one fresh process,
    once per session (the test modules of the three features share it)."""
    if backend not in _DONE:
        _DONE[backend] = saved_and_loaded(tmp_path_factory, FRESH_SPECS, backend)
    return _DONE[backend]


def assert_round_trip(out: Path, name: str) -> None:
    """The archive of ``name`` predicts and weighs exactly as the model that saved it."""
    before, after = np.load(out / f"{name}.pred.npz"), np.load(out / f"{name}.pred_loaded.npz")
    assert before.files == after.files
    for key in before.files:
        assert np.array_equal(before[key], after[key]), key
    saved = json.loads((out / f"{name}.save.json").read_text())
    loaded = json.loads((out / f"{name}.load.json").read_text())
    assert saved["weights"] == loaded["weights"] and saved["weights"]  # paths, shapes, dtypes in order
    a, b = np.load(out / f"{name}.weights.npz"), np.load(out / f"{name}.weights_loaded.npz")
    for key in a.files:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    assert not [w for w in loaded["warnings"] if any(marker in w for marker in LOST_STATE)]
    assert loaded["config_equal"] and loaded["weights_equal_again"]


__all__ = ["BACKENDS", "FRESH_SPECS", "assert_round_trip", "fresh_archives", "saved_and_loaded"]
