"""Fresh-process worker for the eject tests: imports ejected modules, never declar.

Usage: python eject_worker.py JOBS.json

Each job is {"module": path, "inputs": .npz path, "out": .npz path, "archive": .keras path or
null, "fit": bool}. The worker imports the module from its file, calls build_model(), and writes
to ``out`` the model's weights (w0, w1... in model.weights order, with their paths in ``paths``),
its parameter count, and its predictions on the inputs (p0, p1...). With an archive path, it also
saves the model there with plain Keras, loads it back (safe_mode on, the module's classes
registered by its import) and records the reloaded predictions (r0, r1...). With fit, a fresh
build_model() is trained one epoch of one-example batches on the inputs and `targets`, and its
weights (f0, f1...) and losses recorded. At the end it checks that declar was never imported.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np


def _import(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flat(value):
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def targets(model, inputs, seed=1):
    """Targets shaped like the model's outputs for ``inputs`` (values in [0, 1), one per output)."""
    import keras

    rng = np.random.default_rng(seed)
    batch = len(inputs[0])
    return keras.tree.map_structure(
        lambda t: rng.random([batch, *(d or 1 for d in t.shape[1:])]).astype("float32"), model.output)


def main() -> None:
    import keras

    jobs = json.load(open(sys.argv[1]))
    for n, job in enumerate(jobs):
        module = _import(job["module"], f"ejected_{n}")
        model = module.build_model()
        data = np.load(job["inputs"])
        inputs = [data[f"x{i}"] for i in range(len(data.files))]
        for name, i in job.get("adapt", {}).items():  # as the test adapted declar's model
            model.get_layer(name).adapt(inputs[i])
        predicted = _flat(model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
        out = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.weights)}
        out.update({f"p{i}": np.asarray(p) for i, p in enumerate(predicted)})
        out["paths"] = np.array([w.path for w in model.weights])
        out["params"] = np.array(model.count_params())
        out["compiled"] = np.array(bool(model.compiled))
        if job.get("archive"):
            model.save(job["archive"])
            loaded = keras.models.load_model(job["archive"], safe_mode=True)
            # Both continue from the saved state (a random draw's seed generator state is saved).
            following = _flat(model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
            again = _flat(loaded.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
            out.update({f"q{i}": np.asarray(p) for i, p in enumerate(following)})
            out.update({f"r{i}": np.asarray(p) for i, p in enumerate(again)})
            out["reloaded_params"] = np.array(loaded.count_params())
            out["reloaded_class"] = np.array(type(loaded).__name__)
        if job.get("fit"):
            # A fresh model trained two steps: the losses, updates and compile settings act as declar's.
            model = module.build_model()
            x = inputs if len(inputs) > 1 else inputs[0]
            history = model.fit(x, targets(model, inputs), batch_size=1, epochs=1, shuffle=False, verbose=0)
            out.update({f"f{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(model.weights)})
            out["fit_loss"] = np.array(history.history["loss"])
        np.savez(job["out"], **out)
    assert not any(m == "declar" or m.startswith("declar.") for m in sys.modules), "declar was imported"
    print("ok", len(jobs))


if __name__ == "__main__":
    main()
