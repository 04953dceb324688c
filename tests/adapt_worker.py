"""Fresh-process worker for the adapted-preprocessing round trips: loads archives the way a user
does (``import declar`` alone, then `keras.models.load_model` with safe_mode on), with warnings
recorded, and writes each model's predictions and the adapted state of its layers.

Usage: python adapt_worker.py JOBS.json RESULT.json

Each job is ``{"name", "archive", "inputs"}``: ``inputs`` an ``.npz`` of the model's inputs in
order (``arr_0``, ``arr_1``...; text as a NumPy unicode array). The result maps each name to its
warnings and state; predictions go to ``NAME.pred.npy`` next to the result.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np


def layer_state(layer) -> dict | None:
    kind = type(layer).__name__
    if kind in ("TextVectorization", "StringLookup", "IntegerLookup"):
        return {"vocabulary": [str(t) for t in layer.get_vocabulary()]}
    if kind == "Normalization":
        return {"mean": np.asarray(layer.mean).tolist(), "variance": np.asarray(layer.variance).tolist()}
    if kind == "Discretization":
        return {"bin_boundaries": list(layer.bin_boundaries)}
    return None


def main(jobs_file: str, result_file: str) -> None:
    import keras
    import tensorflow as tf

    import declar  # noqa: F401  (registers declar's classes: all a user imports)

    with open(jobs_file) as f:
        jobs = json.load(f)
    result = {}
    for job in jobs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.models.load_model(job["archive"], safe_mode=True)
        data = np.load(job["inputs"])
        xs = [data[f"arr_{i}"] for i in range(len(data.files))]
        xs = [tf.constant(x) if x.dtype.kind == "U" else x for x in xs]
        prediction = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        np.save(os.path.join(os.path.dirname(result_file), f"{job['name']}.pred.npy"), prediction)
        result[job["name"]] = {"warnings": [str(w.message) for w in caught],
                               "state": {layer.name: s for layer in model.layers if (s := layer_state(layer))}}
    with open(result_file, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
