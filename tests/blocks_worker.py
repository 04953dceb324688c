"""Fresh-process worker for the nested-model tests: load archives with `import declar` alone and
record what one nested model (a block use) gives on its own.

Usage: python blocks_worker.py JOBS.json OUT_DIR

Each job names an archive, the nested layer to take out of it and an .npy input for that layer;
the worker loads the archive with both `declar.load` and `keras.models.load_model` (safe_mode on),
calls the nested layer on the input and records its type and outputs.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def main(jobs_file: str, out: str) -> None:
    import keras

    import declar

    with open(jobs_file) as f:
        jobs = json.load(f)
    record = {}
    for job in jobs:
        x = np.load(job["input"])
        for how, load in (("declar", declar.load), ("keras", keras.models.load_model)):
            model = load(job["archive"])
            nested = model.get_layer(job["layer"])
            name = f"{job['name']}.{how}"
            np.save(os.path.join(out, f"{name}.npy"), keras.ops.convert_to_numpy(nested(x)))
            record[name] = {"model_type": type(model).__name__, "is_model": isinstance(nested, keras.Model),
                            "weights": [w.path for w in nested.weights]}
    with open(os.path.join(out, "nested.json"), "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
