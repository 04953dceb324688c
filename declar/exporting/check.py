"""The check of an exported artifact: seeded inputs, its runtime in a fresh process, Keras's answer.

The inputs are those `declar save --verify` feeds (`declar.verify.probe_inputs`: shaped and
valued as the model's layers accept them), in two batches of different sizes, 4 samples and 1,
so that the artifact's batch dimension is shown to be dynamic. Keras's predictions are the
model's inference call (``training=False``) in this process; the artifact's come from
`runtime_worker` in another one. An output passes when ``|runtime - keras| <= atol + rtol *
|keras|`` everywhere (numpy's ``allclose``), with the format's tolerances.

Example:
    >>> import declar
    >>> [x[0].shape for x in seeded_feeds(declar.build("specs/keras_guide/custom_build.yaml"))]
    [(4, 8), (1, 8)]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from declar.exporting.formats import ExportFormat
from declar.verify import probe_inputs

BATCHES = (4, 1)
"""Samples per feed: two sizes, so a fixed batch dimension cannot pass."""
WORKER = Path(__file__).with_name("runtime_worker.py")


@dataclass(frozen=True)
class Verification:
    """What the check compared and found."""

    runtime: str
    inputs: int
    batches: tuple[int, ...]
    max_abs_diff: float
    worst_output: str
    atol: float
    rtol: float
    passed: bool

    def render(self) -> str:
        """One line for the user: what ran, on what, and how close it came.

        Example:
            >>> print(Verification("onnxruntime 1.32.0", 2, (4, 1), 1.2e-7, "out", 1e-5, 1e-5, True).render())
            verified: onnxruntime 1.32.0 in a fresh process on 2 inputs x 4 and 1 samples, max abs diff 1.2e-07 <= ...
        """
        batches = " and ".join(str(b) for b in self.batches)
        word = "input" if self.inputs == 1 else "inputs"
        samples = "sample" if self.batches == (1,) else "samples"
        verdict = "<=" if self.passed else f"at output {self.worst_output!r}, over"
        return (f"verified: {self.runtime} in a fresh process on {self.inputs} {word} x {batches} {samples}, "
                f"max abs diff {self.max_abs_diff:.2g} {verdict} {self.atol:g} (atol) + {self.rtol:g} (rtol) x |keras|")

    def as_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "inputs": self.inputs, "samples": list(self.batches),
                "max_abs_diff": self.max_abs_diff, "atol": self.atol, "rtol": self.rtol, "passed": self.passed}


def batches_for(batch_size: int | None) -> tuple[int, ...]:
    """The feeds' sizes: `BATCHES` for a dynamic batch, the one size an artifact fixed otherwise."""
    return BATCHES if batch_size is None else (batch_size,)


def seeded_feeds(model: Any, batches: tuple[int, ...] = BATCHES) -> list[list[np.ndarray]]:
    """One list of input arrays per batch size, each from its own seed."""
    return [probe_inputs(model, batch=b, seed=i) for i, b in enumerate(batches)]


def keras_outputs(model: Any, xs: list[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The model's inference outputs on ``xs`` as (name, array), in the order of `output_names`."""
    import keras

    y = model(xs if len(xs) > 1 else xs[0], training=False)
    names = output_names(model)
    values = [y[k] for k in names] if isinstance(y, dict) else keras.tree.flatten(y)
    return [(n, np.asarray(keras.ops.convert_to_numpy(v))) for n, v in zip(names, values, strict=True)]


def output_names(model: Any) -> list[str]:
    """The model's output names in the order exporters flatten them (a mapping's keys sorted)."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return sorted(struct)
    return list(model.output_names)


def write_feeds(model: Any, directory: Path, stem: str, batches: tuple[int, ...] = BATCHES) -> list[str]:
    """The seeded feeds as ``.npz`` files keyed by input name (what the worker reads)."""
    names = [t.name for t in model.inputs]
    paths = []
    for i, xs in enumerate(seeded_feeds(model, batches)):
        path = directory / f"{stem}.feed{i}.npz"
        # Text goes as fixed-width unicode: an object array would need pickle to be read back.
        np.savez(path, **{n: x.astype(str) if x.dtype.kind == "O" else x for n, x in zip(names, xs, strict=True)})
        paths.append(str(path))
    return paths


def run_worker(jobs: list[dict[str, Any]], work_dir: Path, timeout: float = 900.0) -> list[dict[str, Any]]:
    """Run every job in one fresh process; one verdict (a dict) per job, in order."""
    jobs_file = work_dir / "jobs.json"
    jobs_file.write_text(json.dumps(jobs), encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run([sys.executable, str(WORKER), str(jobs_file)], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return [{"ok": False, "error": f"the runtime took more than {timeout:.0f} s"} for _ in jobs]
    verdicts = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(verdicts) != len(jobs):  # the process died: a crash in a runtime is the artifact's verdict too
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1:] or [f"exit {proc.returncode}"]
        verdicts += [{"ok": False, "error": f"the runtime's process ended: {tail[0][:300]}"}
                     for _ in jobs[len(verdicts):]]
    return verdicts


def runtime_outputs(feed_path: str) -> list[tuple[str, np.ndarray]]:
    """What the worker wrote for one feed, as (runtime's name, array) in the runtime's order."""
    with np.load(feed_path + ".out.npz", allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        return [(n, data[f"output_{i}"]) for i, n in enumerate(names)]


_NUMBERED = re.compile(r"(?:^|_)(\d+)(?::\d+)?$")


def matched(expected: list[tuple[str, np.ndarray]], got: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """The runtime's outputs in Keras's order: by name when the runtime kept the names, by the
    number of ``output_N`` when it numbered them, else in the runtime's order."""
    names = [n for n, _ in got]
    by_name = dict(got)
    if {n for n, _ in expected} == set(names):
        return [by_name[n] for n, _ in expected]
    numbers = [_NUMBERED.search(n) for n in names]
    if all(numbers) and len(names) > 1:
        return [a for _, a in sorted(zip((int(m.group(1)) for m in numbers if m), (a for _, a in got),
                                         strict=True), key=lambda pair: pair[0])]
    return [a for _, a in got]


def compare(fmt: ExportFormat, runtime: str, inputs: int, expected: list[list[tuple[str, np.ndarray]]],
            got: list[list[tuple[str, np.ndarray]]], batches: tuple[int, ...] = BATCHES) -> Verification:
    """The largest difference over every feed and output, and whether all are within tolerance."""
    worst, worst_name, passed = 0.0, "", True
    for want, have in zip(expected, got, strict=True):
        arrays = matched(want, have)
        if len(arrays) != len(want):
            return Verification(runtime, inputs, batches, float("inf"), f"{len(arrays)} outputs for {len(want)}",
                                fmt.atol, fmt.rtol, False)
        for (name, a), b in zip(want, arrays, strict=True):
            if a.shape != b.shape:
                return Verification(runtime, inputs, batches, float("inf"), f"{name} of shape {b.shape}, not "
                                    f"{a.shape}", fmt.atol, fmt.rtol, False)
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            diff = float(np.max(np.abs(a64 - b64))) if a.size else 0.0
            if diff > worst or not np.isfinite(diff):
                worst, worst_name = diff, name
            passed &= bool(np.allclose(b64, a64, rtol=fmt.rtol, atol=fmt.atol, equal_nan=True))
    return Verification(runtime, inputs, batches, worst, worst_name, fmt.atol, fmt.rtol, passed)


__all__ = ["BATCHES", "Verification", "batches_for", "compare", "keras_outputs", "output_names", "run_worker",
           "runtime_outputs", "seeded_feeds", "write_feeds"]
