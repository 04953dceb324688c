"""Fresh-process loader for tests/test_archive_fixtures.py: only `import declar, keras`.

Usage: python fixture_worker.py FIXTURE_DIR... ; prints one JSON line per archive with what
differs from the arrays recorded beside it (empty lists when everything is bit-identical) and
every warning the load raised.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
from roundtrip_worker import flat  # this script's directory is on sys.path

import declar  # noqa: F401  (registers declar's classes, as a user's `import declar` does)


def differing(recorded, prefix: str, values) -> list[str]:
    keys = sorted((k for k in recorded.files if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    if len(keys) != len(values):
        return [f"{prefix}: {len(keys)} recorded, {len(values)} now"]
    return [k for k, v in zip(keys, values, strict=True) if not np.array_equal(recorded[k], np.asarray(v))]


for directory in sys.argv[1:]:
    for archive in sorted(Path(directory).glob("*.keras")):
        recorded = np.load(archive.with_suffix(".npz"), allow_pickle=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.models.load_model(archive, safe_mode=True)
        xs = [recorded[k] for k in sorted((k for k in recorded.files if k.startswith("x_")), key=lambda k: int(k[2:]))]
        y = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        optimizer = list(model.optimizer.variables) if model.compiled and model.optimizer else []
        print(json.dumps({
            "archive": str(archive),
            "class": type(model).__name__,
            "predictions": differing(recorded, "y_", flat(y)),
            "weights": differing(recorded, "w_", model.weights),
            "optimizer": differing(recorded, "o_", optimizer),
            "warnings": [str(w.message) for w in caught],
        }), flush=True)
