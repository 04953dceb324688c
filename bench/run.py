"""declar benchmark: each declar operation side by side with the same work written by hand in Keras.

    python bench/run.py                  # full run (~10-15 min)
    python bench/run.py --quick          # about a minute
    python bench/run.py --smoke          # seconds-scale sanity run (used by tests/test_bench_smoke.py)
    python bench/run.py --json out.json --results-md bench/RESULTS.md --plot bench/scaling.png

Every pair alternates its two sides (declar first on even repetitions, Keras first on odd ones) and
reports the median of each side and the median of the per-repetition ratios declar / Keras. See
bench/README.md for what each figure means.
"""

# The closures handed to pair() are called within their loop iteration, so B023 does not apply.
# ruff: noqa: B023
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT / "tests"))  # the hand-written twins of the architecture specs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import workloads as W  # noqa: E402

# Keras's own graph walk (keras.src.ops.function._build_map) recurses once per layer, so a
# 1,000-layer chain exceeds Python's default limit of 1,000 frames whether the model is written by
# hand or built by declar. Both sides run with the same raised limit.
RECURSION_LIMIT = 20_000
sys.setrecursionlimit(RECURSION_LIMIT)

SECTIONS = ("validate", "build", "run", "train", "save_load", "architectures", "scaling")

TARGETS = {  # (kind, value): "ratio" compares the median ratio, "seconds" the declar median
    "build": ("ratio", 1.05), "run": ("ratio", 1.02), "train": ("ratio", 1.02),
    "save": ("ratio", 1.05), "load": ("ratio", 1.05), "save_rss": ("ratio", 1.10), "load_rss": ("ratio", 1.10),
}

MODES: dict[str, dict[str, Any]] = {
    "smoke": {
        "validate": {"sizes": [10], "reps": 1},
        "build": {"sizes": [10], "reps": 1},
        "run": {"batch": 256, "features": 32, "units": [32, 32], "batch_size": 128, "reps": 1},
        "train": {"samples": 512, "features": 16, "hidden": 32, "outputs": 4, "batch_size": 128, "reps": 1},
        "save_load": {"params": 200_000, "depth": 6, "reps": 1, "mem_reps": 0},
        "architectures": {"batch": 64, "batch_size": 64, "length": 12, "reps": 1},
        "scaling": {"layers": [3, 10], "params": [20_000, 60_000], "depth": 4, "reps": 1},
        "isolate": False,
    },
    "quick": {
        "validate": {"sizes": [10, 100, 1000], "reps": 2},
        "build": {"sizes": [10, 100], "reps": 3},
        "run": {"batch": 4096, "features": 256, "units": [512, 512, 256], "batch_size": 512, "reps": 3},
        "train": {"samples": 4096, "features": 64, "hidden": 256, "outputs": 16, "batch_size": 64, "reps": 3},
        "save_load": {"params": 2_500_000, "depth": 6, "reps": 3, "mem_reps": 1},
        "architectures": {"batch": 2048, "batch_size": 256, "length": 12, "reps": 3},
        "scaling": {"layers": [10, 30, 100], "params": [1e6, 3e6, 10e6], "depth": 4, "reps": 1},
        "isolate": False,
    },
    "full": {
        "validate": {"sizes": [10, 100, 1000], "reps": 5},
        "build": {"sizes": [10, 100, 1000], "reps": 5, "reps_large": 3},
        "run": {"batch": 4096, "features": 256, "units": [1024, 1024, 256], "batch_size": 512, "reps": 9},
        "train": {"samples": 16384, "features": 64, "hidden": 256, "outputs": 16, "batch_size": 64, "reps": 7},
        "save_load": {"params": 25_000_000, "depth": 6, "reps": 5, "mem_reps": 2},
        "architectures": {"batch": 8192, "batch_size": 256, "length": 12, "reps": 5},
        "scaling": {"layers": [10, 30, 100, 300, 1000], "params": [1e6, 3e6, 10e6, 30e6, 100e6], "depth": 4,
                    "reps": 1},
        "isolate": True,
    },
}


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def pair(declar_side: Callable[[], float | None], keras_side: Callable[[], float | None], reps: int,
         setup: Callable[[str], Any] | None = None, unit: str = "s") -> dict[str, Any]:
    """Run both sides ``reps`` times, alternating which goes first; each side returns its figure
    (or None, meaning "time me": the wall time of the call is the figure). ``setup(side)`` runs
    untimed before each call, with side "declar" or "keras"."""
    d_samples: list[float] = []
    k_samples: list[float] = []
    for i in range(reps):
        order = (("declar", declar_side, d_samples), ("keras", keras_side, k_samples))
        if i % 2:
            order = order[::-1]
        for name, side, samples in order:
            if setup:
                setup(name)
            gc.collect()
            start = time.perf_counter()
            value = side()
            elapsed = time.perf_counter() - start
            samples.append(float(value) if value is not None else elapsed)
    ratios = [d / k if k else float("nan") for d, k in zip(d_samples, k_samples, strict=False)]
    return {"declar": _median(d_samples), "keras": _median(k_samples), "ratio": _median(ratios), "unit": unit,
            "reps": reps, "declar_samples": d_samples, "keras_samples": k_samples, "ratios": ratios}


def _discard(_: Any) -> None:
    """Drop a result (predict outputs, fit histories, loaded models) so the side is timed."""
    return None


def finite(data: Any) -> Any:
    """The results with NaN and infinities replaced by None, so the JSON is standard."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def judge(entry: dict[str, Any], kind: str, value: float) -> dict[str, Any]:
    figure = entry["ratio"] if kind == "ratio" else entry["declar"]
    ok = bool(figure <= value) if math.isfinite(figure) else None  # None: no meaningful ratio
    entry["target"] = {"kind": kind, "value": value, "pass": ok}
    return entry


def _fresh_keras() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


# ---------------------------------------------------------------------------------------------
# 1. validate: `declar validate` (whole process) next to `python -c "import keras"`
# ---------------------------------------------------------------------------------------------

def declar_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m declar.cli``."""
    script = Path(sys.executable).with_name("declar")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "declar.cli"]


def _run_process(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(ROOT))
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed


def section_validate(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    cli = declar_command()
    import_keras = [sys.executable, "-c", "import keras"]
    for size in cfg["sizes"]:
        path = work / f"validate_{size}.yaml"
        path.write_text(W.sequential_spec(size, custom_every=10, name=f"validate_{size}"))
        cmd = [*cli, "validate", str(path)]
        _run_process(cmd)  # warm the file cache and .pyc files, not timed
        entry = pair(lambda: _run_process(cmd), lambda: _run_process(import_keras), cfg["reps"])
        entry["layers"] = size
        if size == 1000:
            judge(entry, "seconds", 0.3)
        entries[f"layers_{size}"] = entry
    # Interpreter start-up alone, for reading the figures above (not a pair of the brief).
    startup = [_run_process([sys.executable, "-c", "pass"]) for _ in range(max(3, cfg["reps"]))]
    return {"entries": entries, "command": " ".join(cli) + " validate FILE", "python_startup_s": _median(startup)}


# ---------------------------------------------------------------------------------------------
# 2. build: declar.build(spec_text) next to the same architecture written with keras.layers
# ---------------------------------------------------------------------------------------------

def section_build(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import declar

    entries: dict[str, Any] = {}
    # Warm both code paths (declar's Keras classes, Keras's layer modules) once, untimed.
    declar.build(W.sequential_spec(3)), W.hand_sequential(3), declar.build(W.graph_spec(4)), W.hand_graph(4)
    for kind, spec_of, hand in (("sequential", W.sequential_spec, W.hand_sequential),
                                ("graph", W.graph_spec, W.hand_graph)):
        for size in cfg["sizes"]:
            text = spec_of(size)
            reps = cfg.get("reps_large", cfg["reps"]) if size >= 1000 else cfg["reps"]
            models: dict[str, Any] = {}

            def d(text: str = text) -> None:
                models["declar"] = declar.build(text)

            def k(size: int = size, hand: Any = hand) -> None:
                models["keras"] = hand(size)

            entry = pair(d, k, reps, setup=lambda _: (models.clear(), _fresh_keras()))
            entry["layers"] = size
            entries[f"{kind}_{size}"] = judge(entry, *TARGETS["build"])
            models.clear()
    return {"entries": entries}


# ---------------------------------------------------------------------------------------------
# 3. run: model.predict of a spec-declared custom layer next to a Layer subclass
# ---------------------------------------------------------------------------------------------

def section_run(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import numpy as np

    import declar

    d_model = declar.build(W.run_spec(cfg["features"], cfg["units"]))
    k_model = W.hand_run(cfg["features"], cfg["units"])
    k_model.set_weights(d_model.get_weights())
    x = np.random.default_rng(0).standard_normal((cfg["batch"], cfg["features"])).astype("float32")
    bs = cfg["batch_size"]
    same = bool(np.allclose(d_model.predict(x, batch_size=bs, verbose=0), k_model.predict(x, batch_size=bs, verbose=0),
                            rtol=1e-5, atol=1e-5))  # also the untimed warm-up (tracing) of both
    entry = pair(lambda: _discard(d_model.predict(x, batch_size=bs, verbose=0)),
                 lambda: _discard(k_model.predict(x, batch_size=bs, verbose=0)), cfg["reps"])
    entry.update(same_outputs=same, batch=list(x.shape), batch_size=bs, units=cfg["units"],
                 params=int(d_model.count_params()))
    return {"entries": {"predict": judge(entry, *TARGETS["run"])}}


# ---------------------------------------------------------------------------------------------
# 4. train: one epoch of fit with a spec-declared loss and metric
# ---------------------------------------------------------------------------------------------

def section_train(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import numpy as np

    import declar

    d_model = declar.build(W.train_spec(cfg["features"], cfg["hidden"], cfg["outputs"]))
    k_model = W.hand_train(cfg["features"], cfg["hidden"], cfg["outputs"])
    k_model.set_weights(d_model.get_weights())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((cfg["samples"], cfg["features"])).astype("float32")
    y = rng.standard_normal((cfg["samples"], cfg["outputs"])).astype("float32")
    # Same loss and metric on the same weights and batch: checks the declared functions first.
    d_eval = d_model.evaluate(x[:256], y[:256], verbose=0, return_dict=True)
    k_eval = k_model.evaluate(x[:256], y[:256], verbose=0, return_dict=True)
    same = bool(np.isclose(d_eval["loss"], k_eval["loss"], rtol=1e-5)
                and np.isclose(d_eval["mean_abs"], k_eval["mean_abs"], rtol=1e-5))
    bs = cfg["batch_size"]
    d_model.fit(x, y, batch_size=bs, epochs=1, verbose=0)  # untimed: traces the train step
    k_model.fit(x, y, batch_size=bs, epochs=1, verbose=0)
    entry = pair(lambda: _discard(d_model.fit(x, y, batch_size=bs, epochs=1, verbose=0)),
                 lambda: _discard(k_model.fit(x, y, batch_size=bs, epochs=1, verbose=0)), cfg["reps"])
    entry.update(same_loss_and_metric=same, samples=cfg["samples"], batch_size=bs,
                 steps=math.ceil(cfg["samples"] / bs), params=int(d_model.count_params()))
    return {"entries": {"fit_epoch": judge(entry, *TARGETS["train"])}}


# ---------------------------------------------------------------------------------------------
# 5. save and load, with Adam state; peak memory in separate child processes
# ---------------------------------------------------------------------------------------------

def _wide_model(side: str, width: int, depth: int, compiled: bool, train: bool) -> Any:
    import numpy as np

    if side == "declar":
        import declar

        model = declar.build(W.wide_spec(width, depth, compiled=compiled))
    else:
        model = W.hand_wide(width, depth, compiled=compiled)
    if train:  # one small step, so the optimizer has state (moments, iteration count)
        rng = np.random.default_rng(2)
        model.train_on_batch(rng.standard_normal((8, width)).astype("float32"),
                             rng.standard_normal((8, width)).astype("float32"))
    return model


def _save(side: str, model: Any, path: Path) -> None:
    if side == "declar":
        import declar

        declar.save(model, path)
    else:
        model.save(path)


def _load(side: str, path: Path, compile: bool = True) -> Any:
    if side == "declar":
        import declar

        return declar.load(path, compile=compile)
    import keras

    return keras.models.load_model(path, compile=compile)


def mem_child(side: str, op: str, width: int, depth: int, archive: str) -> None:
    """Child process for peak memory: one operation, then print ru_maxrss (bytes) as JSON."""
    import resource

    import keras  # noqa: F401  (the baseline and every child import keras)

    if side == "declar":
        import declar  # noqa: F401
    if op == "baseline":  # imports keras and builds (and compiles) the model: what load must rebuild
        model = _wide_model(side, width, depth, compiled=True, train=False)
    elif op == "save":  # the model with Adam state, then the save
        model = _wide_model(side, width, depth, compiled=True, train=True)
        _save(side, model, Path(archive))
    elif op == "load":
        model = _load(side, Path(archive))
    else:
        raise ValueError(op)
    hwm = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    print(json.dumps({"maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "vmhwm": hwm}))


# Linux carries the high-water RSS of the process that forks across exec into the child's
# ru_maxrss, so a child started straight from this (large) process would report at least our own
# peak. Memory children are therefore started through this tiny launcher, whose peak is ~10 MB.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _mem_run(side: str, op: str, width: int, depth: int, archive: Path) -> float:
    cmd = [sys.executable, "-S", "-c", _LAUNCHER, sys.executable, str(Path(__file__).resolve()), "--mem-child",
           side, op, str(width), str(depth), str(archive)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"memory child {side} {op} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def section_save_load(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import numpy as np

    width = W.wide_width(cfg["params"], cfg["depth"])
    depth = cfg["depth"]
    models = {side: _wide_model(side, width, depth, compiled=True, train=True) for side in ("declar", "keras")}
    models["keras"].set_weights(models["declar"].get_weights())
    params = int(models["declar"].count_params())
    paths = {side: work / f"saveload_{side}.keras" for side in models}

    def clean(side: str) -> None:
        if paths[side].exists():
            paths[side].unlink()

    save = pair(lambda: _save("declar", models["declar"], paths["declar"]),
                lambda: _save("keras", models["keras"], paths["keras"]), cfg["reps"], setup=clean)
    sizes = {side: p.stat().st_size for side, p in paths.items()}
    loaded: dict[str, Any] = {}

    def load_side(side: str) -> None:
        loaded[side] = _load(side, paths[side])

    load = pair(lambda: load_side("declar"), lambda: load_side("keras"), cfg["reps"],
                setup=lambda side: (loaded.pop(side, None), _fresh_keras()))
    pairs_of_weights = zip(loaded["declar"].get_weights(), loaded["keras"].get_weights(), strict=True)
    same = all(np.array_equal(a, b) for a, b in pairs_of_weights)
    opt_vars = {s: len(m.optimizer.variables) for s, m in loaded.items()}
    loaded.clear()
    models.clear()
    _fresh_keras()

    entries = {"save": judge(save, *TARGETS["save"]), "load": judge(load, *TARGETS["load"])}
    for entry in (save, load):
        entry.update(params=params, width=width, depth=depth, archive_bytes=sizes)
    load.update(same_weights=same, optimizer_variables=opt_vars)
    if cfg["mem_reps"] > 0:
        entries.update(_memory(cfg, work, paths, width, depth))
    return {"entries": entries}


def _memory(cfg: dict[str, Any], work: Path, paths: dict[str, Path], width: int, depth: int) -> dict[str, Any]:
    # Peak RSS: children of each kind, two at a time (memory is per process; time is not measured).
    mem_paths = {side: work / f"mem_{side}.keras" for side in ("declar", "keras")}
    for side in mem_paths:
        shutil.copy(paths[side], mem_paths[side])
    save_targets = {side: work / f"mem_save_{side}.keras" for side in mem_paths}
    jobs = []
    for _ in range(cfg["mem_reps"]):
        for side in ("declar", "keras"):
            jobs += [(side, "baseline", mem_paths[side]), (side, "save", save_targets[side]),
                     (side, "load", mem_paths[side])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda j: (j, _mem_run(j[0], j[1], width, depth, j[2])), jobs))
    peaks: dict[tuple[str, str], list[float]] = {}
    hwm: dict[tuple[str, str], list[float]] = {}
    for (side, op, _), value in results:
        peaks.setdefault((side, op), []).append(value["maxrss"])
        hwm.setdefault((side, op), []).append(value["vmhwm"])
    mib = 1024 * 1024
    mem: dict[str, Any] = {}
    for op in ("save", "load"):
        delta = {side: (_median(peaks[(side, op)]) - _median(peaks[(side, "baseline")])) / mib
                 for side in ("declar", "keras")}
        mem[f"{op}_rss"] = judge({
            "declar": delta["declar"], "keras": delta["keras"],
            "ratio": delta["declar"] / delta["keras"] if delta["keras"] > 0 else float("nan"), "unit": "MiB",
            "reps": cfg["mem_reps"],
            "peak_mib": {side: _median(peaks[(side, op)]) / mib for side in ("declar", "keras")},
            "baseline_mib": {side: _median(peaks[(side, "baseline")]) / mib for side in ("declar", "keras")},
            "vmhwm_delta_mib": {side: (_median(hwm[(side, op)]) - _median(hwm[(side, "baseline")])) / mib
                                for side in ("declar", "keras")},
        }, *TARGETS[f"{op}_rss"])
    return mem


# ---------------------------------------------------------------------------------------------
# 6. scaling: build/save/load time against layer count and parameter count
# ---------------------------------------------------------------------------------------------

def fit_exponent(sizes: list[float], times: list[float]) -> float:
    """Slope of log(time) against log(size), least squares."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / den if den else float("nan")


def section_scaling(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import declar

    def builder(side: str, axis: str, size: float) -> Callable[[], Any]:
        if axis == "layers":
            text, hand = W.sequential_spec(int(size)), (lambda: W.hand_functional_chain(int(size)))
        else:
            width = W.wide_width(size, cfg["depth"])
            text = W.wide_spec(width, cfg["depth"], compiled=False)
            hand = lambda: W.hand_wide(width, cfg["depth"], compiled=False)  # noqa: E731
        return (lambda: declar.build(text)) if side == "declar" else hand

    entries: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    # Untimed warm-up of both sides (imports, first layer creation, first save and load).
    warm = work / "scaling_warm.keras"
    for side in ("declar", "keras"):
        _save(side, builder(side, "layers", 3)(), warm)
        _load(side, warm)
        warm.unlink()
    _fresh_keras()
    for axis in ("layers", "params"):
        for size in cfg[axis]:
            models: dict[str, Any] = {}
            paths = {side: work / f"scaling_{side}.keras" for side in ("declar", "keras")}
            fns = {side: builder(side, axis, size) for side in ("declar", "keras")}

            def build_side(side: str) -> None:
                models[side] = fns[side]()

            def clean(side: str) -> None:
                if paths[side].exists():
                    paths[side].unlink()

            b = pair(lambda: build_side("declar"), lambda: build_side("keras"), cfg["reps"])
            s = pair(lambda: _save("declar", models["declar"], paths["declar"]),
                     lambda: _save("keras", models["keras"], paths["keras"]), cfg["reps"], setup=clean)
            params = int(models["declar"].count_params())
            models.clear()
            _fresh_keras()
            lo = pair(lambda: _discard(_load("declar", paths["declar"])),
                      lambda: _discard(_load("keras", paths["keras"])), cfg["reps"], setup=lambda _: _fresh_keras())
            clean("declar"), clean("keras")
            label = f"{int(size)}" if axis == "layers" else f"{size / 1e6:g}M"
            for op, entry in (("build", b), ("save", s), ("load", lo)):
                entry.update(axis=axis, size=size, params=params)
                entries[f"{axis}_{op}_{label}"] = entry
                curve = curves.setdefault(axis, {}).setdefault(op, {"sizes": [], "declar": [], "keras": []})
                curve["sizes"].append(size if axis == "layers" else params)
                curve["declar"].append(entry["declar"])
                curve["keras"].append(entry["keras"])
    exponents = {axis: {op: {side: fit_exponent(c["sizes"], c[side]) for side in ("declar", "keras")}
                        for op, c in ops.items()} for axis, ops in curves.items()}
    return {"entries": entries, "curves": curves, "exponents": exponents}


# ---------------------------------------------------------------------------------------------
# 6. architectures: real models of the Keras examples, built and run next to their hand-written twins
# ---------------------------------------------------------------------------------------------

# A block-based transformer (blocks as nested models, op nodes, call: arguments) and a
# wrapper-based model (Bidirectional with a nested layer); the twins are the examples' own code
# (tests/sequence_twins.py, which the twin tests compare with the specs).
ARCHITECTURES = ("text_transformer", "bidirectional_lstm")


def section_architectures(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    import numpy as np
    import sequence_twins
    from twins import copy_weights

    import declar

    entries: dict[str, Any] = {}
    for name in ARCHITECTURES:
        path = str(ROOT / "specs" / "architectures" / f"{name}.yaml")
        hand = getattr(sequence_twins, name)
        declar.build(path, compile=False), hand()  # untimed warm-up of both sides
        models: dict[str, Any] = {}

        def d(path: str = path) -> None:
            # Like for like: the twin is not compiled, so neither is the spec's model (compiling
            # builds the optimizer's variables too, which bidirectional_lstm's compile section asks for).
            models["declar"] = declar.build(path, compile=False)

        def k(hand: Any = hand) -> None:
            models["keras"] = hand()

        entry = pair(d, k, cfg["reps"], setup=lambda _: (models.clear(), _fresh_keras()))
        entries[f"{name}_build"] = judge(entry, *TARGETS["build"])
        models.clear()
        _fresh_keras()
        d_model, k_model = declar.build(path, compile=False), hand()
        copy_weights(d_model, k_model, sequence_twins.spec_order(name, k_model))
        # Token ids of a vocabulary of 20, as both specs declare.
        x = np.random.default_rng(3).integers(0, 20, size=(cfg["batch"], cfg["length"])).astype("int32")
        bs = cfg["batch_size"]
        ours, theirs = d_model.predict(x, batch_size=bs, verbose=0), k_model.predict(x, batch_size=bs, verbose=0)
        same = bool(np.allclose(ours, theirs, atol=1e-6))  # also the untimed warm-up (tracing) of both
        entry = pair(lambda: _discard(d_model.predict(x, batch_size=bs, verbose=0)),
                     lambda: _discard(k_model.predict(x, batch_size=bs, verbose=0)), cfg["reps"])
        entry.update(same_outputs=same, batch=list(x.shape), batch_size=bs, params=int(d_model.count_params()))
        entries[f"{name}_predict"] = judge(entry, *TARGETS["run"])
        _fresh_keras()
    return {"entries": entries}


# ---------------------------------------------------------------------------------------------
# Orchestration, report, plot
# ---------------------------------------------------------------------------------------------

SECTION_FUNCS = {"validate": section_validate, "build": section_build, "run": section_run, "train": section_train,
                 "save_load": section_save_load, "architectures": section_architectures, "scaling": section_scaling}


def run_section(name: str, cfg: dict[str, Any], work: Path, isolate: bool) -> dict[str, Any]:
    if not isolate or name == "validate":  # validate starts its own processes already
        start = time.perf_counter()
        result = SECTION_FUNCS[name](cfg, work)
        result["section_seconds"] = time.perf_counter() - start
        return result
    out = work / f"section_{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--section-config", json.dumps(cfg),
           "--section-out", str(out), "--work", str(work)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(ROOT), stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"section {name} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(out.read_text())
    result["section_seconds"] = time.perf_counter() - start
    return result


def git_state() -> dict[str, Any]:
    """The commit of the declar tree measured, and which files under declar/ differ from it."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=str(ROOT)).stdout.strip()
        except OSError:
            return ""
    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--short", "--", "declar").splitlines()}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cores": os.cpu_count()}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpu.splitlines()
                            if line.startswith("model name")), "unknown")
        info["cpu_flags_avx512"] = "avx512f" in cpu
    except OSError:
        info["cpu"] = "unknown"
    try:
        info["free_g"] = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.strip()
    except OSError:
        info["free_g"] = ""
    try:
        info["tmp_filesystem"] = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True,
                                                text=True).stdout.strip().splitlines()[-1].split()[1]
    except (OSError, IndexError):
        pass
    versions = subprocess.run(
        [sys.executable, "-c", "import json, keras, tensorflow as tf, numpy, declar; print(json.dumps({"
         "'keras': keras.__version__, 'tensorflow': tf.__version__, 'numpy': numpy.__version__, "
         "'declar': declar.__version__, 'backend': keras.backend.backend()}))"],
        capture_output=True, text=True, cwd=str(ROOT))
    try:
        info.update(json.loads(versions.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        info["versions_error"] = versions.stderr[-500:]
    return info


def _fmt(value: float, unit: str) -> str:
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"


def _target_text(entry: dict[str, Any]) -> tuple[str, str]:
    t = entry.get("target")
    if not t:
        return "-", "-"
    text = f"ratio <= {t['value']:.2f}" if t["kind"] == "ratio" else f"declar <= {t['value']} s"
    return text, "n/a" if t["pass"] is None else "pass" if t["pass"] else "**miss**"


def markdown(results: dict[str, Any]) -> str:
    m = results["meta"]
    mach = m["machine"]
    lines = [
        "# declar benchmark results", "",
        f"Mode `{m['mode']}`, run {m['date']} in {m['total_seconds']:.0f} s with `python bench/run.py"
        f"{'' if m['mode'] == 'full' else ' --' + m['mode']}`.", "",
        "## Machine", "",
        f"- CPU: {mach.get('cpu')} ({mach.get('cores')} cores as seen by the OS; a shared, noisy VM)",
        f"- Python {mach.get('python')}, {mach.get('platform')}",
        f"- keras {mach.get('keras')} (backend {mach.get('backend')}), tensorflow {mach.get('tensorflow')}, "
        f"numpy {mach.get('numpy')}, declar {mach.get('declar')}",
        f"- temporary files on {mach.get('tmp_filesystem', '?')}",
        f"- declar tree: commit {m.get('declar_git', {}).get('commit', '?')[:12]}, "
        f"{len(m.get('declar_git', {}).get('modified', []))} files under declar/ modified in the working tree", "",
        "```", "$ free -g", mach.get("free_g", ""), "```", "",
        "## Medians and ratios", "",
        "Each row is one pair, measured side by side (alternating sides) in this run; *ratio* is the median of "
        "the per-repetition ratios declar / Keras, not the ratio of the medians.", "",
        "| pair | case | reps | declar | keras | ratio | target | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for section in SECTIONS:
        if section == "scaling":
            continue
        for name, e in results[section]["entries"].items():
            target, verdict = _target_text(e)
            lines.append(f"| {section} | {name} | {e.get('reps', '')} | {_fmt(e['declar'], e.get('unit', 's'))} | "
                         f"{_fmt(e['keras'], e.get('unit', 's'))} | {e['ratio']:.3f} | {target} | {verdict} |")
    v = results["validate"]
    lines += ["", f"validate: the Keras side is `python -c \"import keras\"`; the declar side is `{v['command']}`. "
              f"Python start-up alone (`python -c pass`) takes {_fmt(v['python_startup_s'], 's')} here.", ""]
    sc = results["scaling"]
    lines += ["## Scaling", "", "Growth exponent *k* of time ~ size^k (least squares on log-log), per side:", "",
              "| axis | operation | sizes | declar k | keras k |", "|---|---|---|---|---|"]
    for axis, ops in sc["exponents"].items():
        for op, ks in ops.items():
            sizes = sc["curves"][axis][op]["sizes"]
            shown = ", ".join(str(int(s)) if axis == "layers" else f"{s / 1e6:.1f}M" for s in sizes)
            lines.append(f"| {axis} | {op} | {shown} | {ks['declar']:.2f} | {ks['keras']:.2f} |")
    lines += ["", "| point | declar | keras | ratio |", "|---|---|---|---|"]
    for name, e in sc["entries"].items():
        lines.append(f"| {name} | {_fmt(e['declar'], 's')} | {_fmt(e['keras'], 's')} | {e['ratio']:.3f} |")
    lines += ["", "![scaling curves](scaling.png)", ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results["scaling"]["curves"]
    exps = results["scaling"]["exponents"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = {"build": "tab:blue", "save": "tab:orange", "load": "tab:green"}
    for ax, axis in zip(axes, ("layers", "params"), strict=False):
        for op, c in curves[axis].items():
            for side, style in (("declar", "-o"), ("keras", "--x")):
                ax.plot(c["sizes"], c[side], style, color=colors[op],
                        label=f"{op} {side} (k={exps[axis][op][side]:.2f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("layers (Dense, width 32)" if axis == "layers" else "parameters (4 wide Dense layers)")
        ax.set_ylabel("seconds (median)")
        ax.set_title(f"time against {'layer' if axis == 'layers' else 'parameter'} count")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"declar (solid) vs hand-written Keras (dashed), mode {results['meta']['mode']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="about one minute: smaller sizes, fewer repetitions")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (for tests)")
    parser.add_argument("--json", type=Path, help="write every figure as JSON to this path")
    parser.add_argument("--results-md", type=Path, help="write the results table as Markdown to this path")
    parser.add_argument("--plot", type=Path, help="draw the scaling curves to this PNG (needs matplotlib)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these pairs")
    parser.add_argument("--no-isolate", action="store_true", help="run every pair in this process")
    # internal
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--section-config", help=argparse.SUPPRESS)
    parser.add_argument("--section-out", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--mem-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.mem_child:
        side, op, width, depth, archive = args.mem_child
        mem_child(side, op, int(width), int(depth), archive)
        return 0
    if args.section:
        result = SECTION_FUNCS[args.section](json.loads(args.section_config), Path(args.work))
        Path(args.section_out).write_text(json.dumps(result))
        return 0

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    config = MODES[mode_name]
    isolate = config["isolate"] and not args.no_isolate
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": {"mode": mode_name, "date": datetime.datetime.now().astimezone().isoformat(
        timespec="seconds"), "config": {k: v for k, v in config.items() if k != "isolate"}, "isolated": isolate,
        "recursion_limit": RECURSION_LIMIT, "machine": machine(), "declar_git": git_state()}}
    work = Path(tempfile.mkdtemp(prefix="declar-bench-"))
    try:
        for name in args.only or SECTIONS:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            results[name] = run_section(name, config[name], work, isolate)
            print(f"[bench]   ({results[name]['section_seconds']:.1f} s)", file=sys.stderr, flush=True)
            for key, e in results[name]["entries"].items():
                verdict = _target_text(e)[1].strip("*")
                print(f"[bench]   {key:24s} declar {_fmt(e['declar'], e.get('unit', 's')):>12s}  "
                      f"keras {_fmt(e['keras'], e.get('unit', 's')):>12s}  ratio {e['ratio']:.3f}  {verdict}",
                      file=sys.stderr, flush=True)
            if name == "scaling":
                for axis, ops in results[name]["exponents"].items():
                    for op, ks in ops.items():
                        print(f"[bench]   exponent {axis:6s} {op:5s} declar {ks['declar']:.2f} "
                              f"keras {ks['keras']:.2f}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["total_seconds"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(finite(results), indent=1, allow_nan=False))
    if all(s in results for s in SECTIONS):
        if args.results_md:
            args.results_md.write_text(markdown(results))
        if args.plot:
            plot(results, args.plot)
    print(f"[bench] done in {results['meta']['total_seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
