"""The fresh-process half of `declar import`'s check: the original and the archive predict alike.

Run as ``python -m declar.importer.check ORIGINAL.keras ARCHIVE.keras PROBE.npz [...]`` (one line
per triple, so that tests batch many models into one process): a new Python
process with ``import declar`` and Keras only loads the original with Keras's own loader in safe
mode (it was surveyed first: built-in classes only) and the archive with `declar.load` (strict),
predicts on the probe's inputs and prints "ok" when both are bit-identical to each other and to
the outputs the importing process recorded, or what differs.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's predictions on ``inputs``, as a flat list (a dict's outputs in key order)."""
    y = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0, batch_size=len(inputs[0]))
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def differences(a: list[np.ndarray], b: list[np.ndarray]) -> list[int]:
    """Indices of the outputs that are not bit-identical (shape, dtype and every value)."""
    if len(a) != len(b):
        return list(range(max(len(a), len(b))))
    return [i for i, (u, v) in enumerate(zip(a, b, strict=True))
            if u.shape != v.shape or u.dtype != v.dtype or u.tobytes() != v.tobytes()]


def compare(original: str, archive: str, probe: str) -> str:
    """"ok", or which outputs differ, between the two models loaded in this process and the record."""
    import keras

    import declar

    with np.load(probe) as data:
        inputs = [data[f"x{i}"] for i in range(int(data["n_inputs"]))]
        recorded = [data[f"y{i}"] for i in range(int(data["n_outputs"]))]
    first = outputs(keras.saving.load_model(original, safe_mode=True, compile=False), inputs)
    second = outputs(declar.load(archive, compile=False), inputs)
    for label, a, b in (("the archive and the original", first, second),
                        ("the original here and in the importing process", first, recorded)):
        wrong = differences(a, b)
        if wrong:
            return f"outputs {wrong} of {label} differ"
    return "ok"


if __name__ == "__main__":
    for i in range(1, len(sys.argv) - 2, 3):
        print(compare(*sys.argv[i:i + 3]), flush=True)
