"""Fresh-process worker for the tests of auxiliary losses and updated state: load archives with
`import declar` alone (keras.models.load_model, safe_mode on) and record what a user would look at.

Usage: python state_worker.py JOBS.json OUT_DIR

Each job names an archive, an .npz of inputs ``x`` and targets ``y``, and the custom layers whose
declared variables to record. For each, the worker records (as OUT_DIR/<name>.npz) the
predictions, the declared variables, ``evaluate`` on the whole data as one batch (every metric,
auxiliary losses included) and the loss of one ``train_on_batch`` after it, and every warning
the load gave.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np


def facts(model, x: np.ndarray, y: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    """What the tests compare: predictions (under each output's name for a mapping), the declared
    variables of ``layers``, ``evaluate`` as one batch, the loss of one ``train_on_batch`` after it and
    the declared variables after that step."""
    import keras

    predicted = model.predict(x, batch_size=len(x), verbose=0)
    named = predicted if isinstance(predicted, dict) else {"pred": predicted}
    record = {name: np.asarray(value) for name, value in named.items()}
    for layer in layers:
        for name, variable in model.get_layer(layer)._declared.items():
            record[f"var:{layer}:{name}"] = keras.ops.convert_to_numpy(variable)
    for name, value in model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True).items():
        record[f"eval:{name}"] = np.asarray(value)
    record["train_on_batch"] = np.asarray(model.train_on_batch(x, y))
    for layer in layers:  # and after that step: state updated in training goes on from the loaded value
        for name, variable in model.get_layer(layer)._declared.items():
            record[f"trained:{layer}:{name}"] = keras.ops.convert_to_numpy(variable)
    return record


def run_jobs(jobs: list[dict], out: str, backend: str = "tensorflow") -> dict[str, dict[str, np.ndarray]]:
    """Run the worker on ``jobs`` in a fresh process; what it recorded, by job name."""
    import subprocess

    jobs_file = os.path.join(out, "state_jobs.json")
    with open(jobs_file, "w") as f:
        json.dump(jobs, f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, __file__, jobs_file, out], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {job["name"]: dict(np.load(os.path.join(out, f"{job['name']}.npz"))) for job in jobs}


def main(jobs_file: str, out: str) -> None:
    import keras

    import declar  # noqa: F401  (registers declar's classes: nothing else is imported)

    with open(jobs_file) as f:
        jobs = json.load(f)
    for job in jobs:
        with warnings.catch_warnings(record=True) as caught:  # what loading says (lost state...)
            warnings.simplefilter("always")
            model = keras.models.load_model(job["archive"], safe_mode=True)
        data = np.load(job["data"])
        record = facts(model, data["x"], data["y"], job.get("layers", []))
        record["warnings"] = np.asarray([str(w.message) for w in caught] or [""])
        np.savez(os.path.join(out, f"{job['name']}.npz"), **record)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
