"""Fresh-process worker for the round-trip tests: one process saves every archive, another loads.

Usage: python roundtrip_worker.py save|load JOBS.json OUT_DIR

`save` builds each spec, records predictions, weights, evaluate() figures and guide facts, writes
the archive, and for resume jobs trains one epoch, saves, trains one more epoch and records the
result. `load` runs in a new process with only `import declar, keras`, loads every archive with
safe_mode on and warnings recorded, and records the same facts (and, for resume jobs, trains one
epoch after the load). The test compares the two sides.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np

WORDS = ["the", "film", "was", "great", "awful"]


def inputs_for(model, n=6, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = [n] + [d if d is not None else 5 for d in t.shape[1:]]
        dt = str(t.dtype)
        if dt == "string":  # texts of a few words, as Keras takes text: a TensorFlow string tensor
            import tensorflow as tf

            texts = np.vectorize(lambda i: " ".join(WORDS[(i + k) % 5] for k in range(3)), otypes=[object])
            xs.append(tf.constant(texts(rng.integers(0, 5, size=shape))))
            continue
        xs.append(rng.integers(0, 3, size=shape).astype(dt) if "int" in dt else rng.random(shape).astype(dt))
    return xs if len(xs) > 1 else xs[0]


def targets_for(model, n=6, seed=1):
    rng = np.random.default_rng(seed)

    def target(t):
        shape = [n] + [d if d is not None else 5 for d in t.shape[1:]]
        if shape[-1] > 1:  # one-hot targets for softmax heads
            return np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], size=shape[:-1])]
        return rng.random(shape).astype("float32")

    if isinstance(model.output, dict):
        return {k: target(t) for k, t in sorted(model.output.items())}
    ys = [target(t) for t in model.outputs]
    return ys if len(ys) > 1 else ys[0]


def sparse_targets(model, n=6, seed=1):
    rng = np.random.default_rng(seed)
    shape = model.outputs[0].shape  # one class index per position: (n,) for a classifier, (n, h, w) for a segmenter
    return rng.integers(0, shape[-1], size=(n, *shape[1:-1])).astype("int32")


def label_sequences(model, n=6, seed=1):
    """CTC targets: half as many labels as time steps, each a class in [1, classes) (0 is the blank)."""
    rng = np.random.default_rng(seed)
    _, steps, classes = model.outputs[0].shape
    return rng.integers(1, classes, size=(n, steps // 2)).astype("int32")


def flat(y):
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def weights_of(model):
    return {f"w{i}": np.asarray(w.numpy()) for i, w in enumerate(model.weights)}, [
        [w.path, list(w.shape), str(w.dtype)] for w in model.weights]


def optimizer_state(model):
    if not getattr(model, "optimizer", None):
        return {}, 0
    return ({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)},
            int(model.optimizer.iterations.numpy()))


def data_for(model, job):
    x = inputs_for(model, n=32, seed=3)
    y = sparse_targets(model, n=32) if job.get("sparse") else label_sequences(model, n=32) \
        if job.get("label_sequences") else targets_for(model, n=32, seed=4)
    return x, y


def evaluate(model, job):
    if not model.compiled or job.get("no_evaluate"):
        return None
    x, y = data_for(model, job)
    return model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)


def guide_facts(model):
    import keras

    facts = {}
    for layer in model.layers:
        if hasattr(layer, "definition"):
            facts[layer.name] = {"assets": {k: (v if isinstance(v, (str, list, dict)) else np.asarray(v).tolist())
                                            for k, v in layer.assets.items()},
                                 "build_args": layer.build_arguments, "built": layer.built}
    facts["model_built"] = bool(model.built)
    if model.compiled:
        facts["optimizer"] = model.optimizer.get_config()
        facts["loss"] = [type(model.loss).__name__, getattr(model.loss, "name", str(model.loss))] \
            if not isinstance(model.loss, (str, dict, list)) else model.loss
        facts["metrics"] = sorted(m.name for m in model.metrics)
        # Every compile argument as Keras serializes it (the losses and metrics with their arguments);
        # the archive itself holds {"declar": true} and compiles from the spec again.
        facts["compile_config"] = keras.Model.get_compile_config(model)
    return facts


def save_side(jobs, out):
    import keras

    import declar
    from declar.adapt import adapt_model, adaptable_nodes
    from declar.training_data import FitData

    for job in jobs:
        name, spec = job["name"], job["spec"]
        if job.get("tf_only") and keras.backend.backend() != "tensorflow":
            continue  # text and lookup tables run on TensorFlow only (see conftest.TF_ONLY_MARKERS)
        model = declar.build(spec)
        if adaptable_nodes(model.declar_spec):  # preprocessing layers learn their state before saving
            adapt_model(model, FitData(inputs_for(model, n=32, seed=5)))
        # Saved before predicting: a layer drawing random numbers advances its seed state with each
        # prediction, and the loaded model must predict what this one predicts next.
        declar.save(model, os.path.join(out, f"{name}.keras"))
        x = inputs_for(model)
        np.savez(os.path.join(out, f"{name}.pred.npz"), *flat(model.predict(x, verbose=0)))
        values, meta = weights_of(model)
        np.savez(os.path.join(out, f"{name}.weights.npz"), **values)
        record = {"weights": meta, "evaluate": evaluate(model, job), "facts": guide_facts(model)}
        if job.get("resume"):
            x, y = data_for(model, job)
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            declar.save(model, os.path.join(out, f"{name}.trained.keras"))
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            values, _ = weights_of(model)
            opt, iterations = optimizer_state(model)
            np.savez(os.path.join(out, f"{name}.resumed.npz"), **values, **opt)
            record["iterations"] = iterations
        with open(os.path.join(out, f"{name}.save.json"), "w") as f:
            json.dump(record, f, default=str)
    del keras


def load_side(jobs, out):
    import keras

    import declar  # noqa: F401  (the only declar import a user needs)

    for job in jobs:
        name = job["name"]
        if job.get("tf_only") and keras.backend.backend() != "tensorflow":
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.models.load_model(os.path.join(out, f"{name}.keras"))
        record = {"warnings": [str(w.message) for w in caught]}
        x = inputs_for(model)
        np.savez(os.path.join(out, f"{name}.pred_loaded.npz"), *flat(model.predict(x, verbose=0)))
        values, meta = weights_of(model)
        np.savez(os.path.join(out, f"{name}.weights_loaded.npz"), **values)
        record.update(weights=meta, evaluate=evaluate(model, job), facts=guide_facts(model))
        # load, save again, load: same config and weights
        again = os.path.join(out, f"{name}.again.keras")
        model.save(again)
        reloaded = keras.models.load_model(again)
        record["config_equal"] = reloaded.get_config() == model.get_config()
        record["weights_equal_again"] = all(
            np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.weights, reloaded.weights, strict=False)
        ) and len(model.weights) == len(reloaded.weights)
        if job.get("resume"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trained = keras.models.load_model(os.path.join(out, f"{name}.trained.keras"))
            record["warnings"] += [str(w.message) for w in caught]
            x, y = data_for(trained, job)
            trained.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            values, _ = weights_of(trained)
            opt, iterations = optimizer_state(trained)
            np.savez(os.path.join(out, f"{name}.resumed_loaded.npz"), **values, **opt)
            record["iterations"] = iterations
        with open(os.path.join(out, f"{name}.load.json"), "w") as f:
            json.dump(record, f, default=str)


def predict_side(jobs, out):
    """Load archives saved on another backend and record predictions under this backend's name."""
    import keras

    import declar  # noqa: F401

    backend = keras.backend.backend()
    for job in jobs:
        if job.get("resume") or (job.get("tf_only") and backend != "tensorflow"):
            continue  # text and lookup tables run on TensorFlow only (see conftest.TF_ONLY_MARKERS)
        model = keras.models.load_model(os.path.join(out, f"{job['name']}.keras"))
        np.savez(os.path.join(out, f"{job['name']}.pred_{backend}.npz"),
                 *flat(model.predict(inputs_for(model), verbose=0)))


if __name__ == "__main__":
    mode, jobs_file, out_dir = sys.argv[1:4]
    with open(jobs_file) as f:
        all_jobs = json.load(f)
    {"save": save_side, "load": load_side, "predict": predict_side}[mode](all_jobs, out_dir)
