"""bench/run.py --smoke runs every pair once on tiny sizes and writes well-formed JSON.

No timing is asserted: the machine running the tests may be arbitrarily slow or noisy.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ("validate", "build", "run", "train", "save_load", "architectures", "scaling")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.slow
def test_bench_smoke_writes_every_pair(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())  # strict JSON: the bench writes no NaN or Infinity

    assert results["meta"]["mode"] == "smoke"
    for pair in PAIRS:
        assert pair in results, f"missing pair {pair}"
        entries = results[pair]["entries"]
        assert entries, f"pair {pair} has no entries"
        for name, entry in entries.items():
            for key in ("declar", "keras", "ratio"):
                assert _number(entry.get(key)), f"{pair}/{name}: {key} is {entry.get(key)!r}"
            assert entry["declar"] > 0 and entry["keras"] > 0, f"{pair}/{name}: non-positive figure"
    # The checks the bench makes on its own workloads.
    assert results["run"]["entries"]["predict"]["same_outputs"] is True
    assert results["train"]["entries"]["fit_epoch"]["same_loss_and_metric"] is True
    assert results["save_load"]["entries"]["load"]["same_weights"] is True
    for name in ("text_transformer", "bidirectional_lstm"):
        assert results["architectures"]["entries"][f"{name}_predict"]["same_outputs"] is True
    for axis, ops in results["scaling"]["exponents"].items():
        for op, sides in ops.items():
            assert _number(sides["declar"]) and _number(sides["keras"]), f"scaling exponent {axis}/{op}"
