"""Helpers of the spec language tests: `declar validate` on spec text, and batched fresh-process
round trips of the specs under tests/specs/lang_a/.

Example (in a test):
    assert validate_lines(tmp_path, SPEC) == ["spec.yaml:7:9: error: ..."]
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
from conftest import run_worker
from typer.testing import CliRunner

from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "tests" / "specs" / "lang_a"
LANG_SPECS = sorted(SPECS.glob("*.yaml"))


def header(inputs: dict[str, list[int]], layers: dict[str, str] | None = None) -> str:
    """The start of a graph spec up to its first node (written at line ``7 + len(inputs)``, plus
    one line per layer type and one for ``layers:``), indented to add nodes under ``nodes:``."""
    lines = ["declar: 2", "name: m", "inputs:", *(f"  {n}: {{shape: {s}}}" for n, s in inputs.items())]
    if layers:
        lines += ["layers:", *(f"  {n}: {d}" for n, d in layers.items())]
    return "\n".join([*lines, "model:", "  nodes:", ""])


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


def validate_lines(tmp_path: Path, text: str) -> list[str]:
    """The problems `declar validate` prints for the spec ``text`` (dedented), the file named
    spec.yaml; a valid spec gives ``["valid"]`` (exit code 0, nothing on standard output)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(text).lstrip("\n"))
    result = _runner().invoke(app, ["validate", str(spec)])
    if result.exit_code == 0 and not result.stdout.strip():
        return ["valid"]
    return [line.replace(str(spec), "spec.yaml") for line in result.stdout.splitlines() if line.strip()]


_ROUNDTRIPS: dict[str, Path] = {}


def roundtrip_dir(tmp_root: Path, backend: str = "tensorflow") -> Path:
    """Where one fresh process saved every spec of tests/specs/lang_a/ and another loaded them all
    (with `import declar` alone, safe_mode on); done once per test session and backend."""
    if backend not in _ROUNDTRIPS:
        out = tmp_root / f"lang_roundtrip_{backend}"
        out.mkdir(parents=True, exist_ok=True)
        jobs = out / "jobs.json"
        jobs.write_text(json.dumps([{"name": p.stem, "spec": str(p)} for p in LANG_SPECS]))
        run_worker("save", jobs, out, backend)
        run_worker("load", jobs, out, backend)
        _ROUNDTRIPS[backend] = out
    return _ROUNDTRIPS[backend]


def assert_roundtrip_identical(out: Path, name: str) -> None:
    """Predictions and weights of archive ``name`` bit-identical after the load in a fresh process."""
    before, after = np.load(out / f"{name}.pred.npz"), np.load(out / f"{name}.pred_loaded.npz")
    assert before.files == after.files and before.files
    for key in before.files:
        assert np.array_equal(before[key], after[key]), key
    saved = json.loads((out / f"{name}.save.json").read_text())
    loaded = json.loads((out / f"{name}.load.json").read_text())
    assert saved["weights"] == loaded["weights"]
    assert loaded["config_equal"] and loaded["weights_equal_again"]
