"""The fresh process of `declar export`'s check: an artifact in its own runtime, on given inputs.

Run as a script (``python runtime_worker.py JOBS.json``), never imported by the export: it
imports no part of declar, only the runtime of each artifact (TensorFlow's SavedModel loader,
ONNX Runtime, the LiteRT interpreter; only TensorFlow's loader imports Keras, by itself), so
what it computes is what a server or a device that has only that runtime computes. Each verdict
says whether declar and Keras were imported, which the tests check. Each job names a format, an artifact and one or
more ``.npz`` files of inputs keyed by input name; the worker writes each feed's outputs next
to it (``FEED.out.npz``, arrays named as the runtime names them, in its order) and prints one
JSON line per job: ``{"artifact": ..., "ok": true, "runtime": "onnxruntime 1.32.0"}`` or the
error's first line. Many jobs share one process (the tests check every spec in one run).

Example:
    python declar/exporting/runtime_worker.py jobs.json   # jobs: [{"format": "onnx", ...}]
"""

import sys

# The script's own directory would come first on sys.path: nothing here may shadow a runtime.
sys.path = [p for p in sys.path[1:]]

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402


def run_saved_model(artifact, feeds):
    tf = importlib.import_module("tensorflow")
    serve = tf.saved_model.load(artifact).signatures["serving_default"]
    results = []
    for feed in feeds:
        out = serve(**{k: tf.constant(v) for k, v in feed.items()})
        results.append([(k, np.asarray(v)) for k, v in out.items()])
    return f"TensorFlow {tf.__version__} (tf.saved_model.load, serving_default)", results


def run_onnx(artifact, feeds):
    ort = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = [list(zip(names, session.run(names, feed), strict=True)) for feed in feeds]
    return f"onnxruntime {ort.__version__}", results


def run_litert(artifact, feeds):
    interpreter_module = importlib.import_module("ai_edge_litert.interpreter")
    version = importlib.import_module("importlib.metadata").version("ai-edge-litert")
    results = []
    for feed in feeds:
        # A new interpreter per feed: the signature runner resizes the inputs to each batch.
        runner = interpreter_module.Interpreter(model_path=artifact).get_signature_runner()
        out = runner(**feed)
        results.append([(k, np.asarray(v)) for k, v in out.items()])
    return f"ai-edge-litert {version} (LiteRT interpreter)", results


def _text(array):
    if array.dtype.kind != "U":
        return array
    return np.array([v.encode() for v in array.ravel()], dtype=object).reshape(array.shape)


RUNTIMES = {"saved_model": run_saved_model, "onnx": run_onnx, "litert": run_litert}


def run_job(job):
    feeds = []
    for path in job["feeds"]:
        with np.load(path, allow_pickle=False) as data:
            # Text comes as unicode arrays; the runtimes take it as bytes objects, as TensorFlow's strings are.
            feeds.append({k: _text(data[k]) for k in data.files})
    runtime, results = RUNTIMES[job["format"]](job["artifact"], feeds)
    for path, outputs in zip(job["feeds"], results, strict=True):
        # Names go in a list beside the arrays: a runtime's names need not be valid npz keys.
        np.savez(path + ".out.npz", **{f"output_{i}": v for i, (_, v) in enumerate(outputs)},
                 names=np.array([k for k, _ in outputs]))
    return runtime


def main(argv):
    with open(argv[0], encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            line = {"artifact": job["artifact"], "ok": True, "runtime": run_job(job)}
        except Exception as err:  # any runtime failure is a verdict on the artifact, reported as data
            first = (str(err).strip().splitlines() or [""])[0][:800]
            line = {"artifact": job["artifact"], "ok": False, "error": f"{type(err).__name__}: {first}"}
        line["declar_imported"] = "declar" in sys.modules  # what the tests check: the runtime alone ran it
        line["keras_imported"] = "keras" in sys.modules
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main(sys.argv[1:]))
