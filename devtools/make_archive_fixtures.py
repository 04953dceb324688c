"""Write small archives with today's declar, to be committed as load fixtures for later versions.

Usage (from the project root, TensorFlow backend):
    python devtools/make_archive_fixtures.py tests/fixtures/archives/declar-0.1.0

For each spec below it writes NAME.keras (after one training step, so the optimizer has state)
and NAME.npz with fixed inputs (``x_*``), the predictions on them (``y_*``), every weight
(``w_*``, in `model.weights` order) and every optimizer variable (``o_*``).
tests/test_archive_fixtures.py loads every archive of every fixture directory in a fresh process
and requires the same predictions, weights and optimizer state, bit for bit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import declar

SPECS = (
    "specs/keras_guide/custom_variables.yaml",
    "specs/keras_guide/custom_assets.yaml",
    "specs/keras_guide/custom_build.yaml",
    "specs/keras_guide/custom_compile.yaml",
    "specs/examples/text_classifier.yaml",
    "specs/examples/two_input_residual.yaml",
)


def fixed_inputs(model, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = [n, *(d if d is not None else 5 for d in t.shape[1:])]
        dtype = str(t.dtype)
        if "int" in dtype:
            xs.append(rng.integers(0, 3, size=shape).astype(dtype))
        elif "string" in dtype:
            xs.append(np.array([["the cat sat"], ["a dog"], ["little"], [""]][:n], dtype=object).reshape(shape))
        else:
            xs.append(rng.random(shape).astype(dtype))
    return xs


def flat(y) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def targets(model, n: int = 4) -> object:
    rng = np.random.default_rng(1)

    sparse = "sparse" in str(model.loss)

    def one(t):
        shape = [n, *(d if d is not None else 5 for d in t.shape[1:])]
        if sparse:
            return rng.integers(0, shape[-1], size=shape[:-1]).astype("int32")
        return rng.random(shape).astype("float32")

    if isinstance(model.output, dict):
        return {k: one(t) for k, t in sorted(model.output.items())}
    ys = [one(t) for t in model.outputs]
    return ys if len(ys) > 1 else ys[0]


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for spec_path in SPECS:
        model = declar.build(spec_path)
        name = Path(spec_path).stem
        xs = fixed_inputs(model)
        x = xs if len(xs) > 1 else xs[0]
        if model.compiled and "string" not in str(model.inputs[0].dtype):
            model.fit(x, targets(model), epochs=1, batch_size=4, verbose=0, shuffle=False)
        ys = flat(model.predict(x, verbose=0))
        arrays = {f"x_{i}": v for i, v in enumerate(xs)}
        arrays |= {f"y_{i}": v for i, v in enumerate(ys)}
        arrays |= {f"w_{i}": np.asarray(w) for i, w in enumerate(model.weights)}
        if model.compiled:
            arrays |= {f"o_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
        np.savez(out / f"{name}.npz", **arrays)
        declar.save(model, out / f"{name}.keras")
        index[name] = {"spec": spec_path, "weights": len(model.weights),
                       "optimizer_variables": len(model.optimizer.variables) if model.compiled else 0}
    (out / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
