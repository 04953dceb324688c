"""Worker for the multi-worker tests. Usage: multiworker_worker.py SPEC DATA CHIEF_ARCHIVE OUT_DIR

Runs in a fresh process, alone (no TF_CONFIG, no KERAS_DISTRIBUTION_* variables): trains the spec
in this one process with the same global batch and epochs as the workers (`declar.fit`), loads the
archive the chief wrote on one device with `import declar` alone, and records how far the two sets
of weights are apart, the optimizer steps, and the predictions.
"""

import json
import os
import sys

import numpy as np

import declar

spec, data, chief, out = sys.argv[1:5]
single = os.path.join(out, "single.keras")
declar.fit(spec, data, single, epochs=2, batch_size=16, verbose=0)
alone, shared = declar.load(single), declar.load(chief)
x = np.load(data)["x"]


def farthest(first: list, second: list) -> float:
    """The largest absolute difference between two models' weights."""
    return max(float(np.abs(a - b).max()) for a, b in zip(first, second, strict=True))


info = {
    "weight_diff": farthest(alone.get_weights(), shared.get_weights()),
    "moved": farthest(declar.build(spec, distribute=False).get_weights(), shared.get_weights()),
    "weights": len(shared.get_weights()),
    "iterations": [int(alone.optimizer.iterations.numpy()), int(shared.optimizer.iterations.numpy())],
    "prediction_diff": float(np.abs(alone.predict(x, verbose=0) - shared.predict(x, verbose=0)).max()),
    "replicas": int(getattr(getattr(shared, "distribute_strategy", None), "num_replicas_in_sync", 1)),
    "distributed": shared.declar_distribution is not None,  # declar.load: one device
}
with open(os.path.join(out, "compare.json"), "w") as f:
    json.dump(info, f)
