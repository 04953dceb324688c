"""cProfile one side of a pair, to explain a missed target.

    python bench/profile_pair.py validate 1000          # declar's in-process check of a 1,000-layer spec
    python bench/profile_pair.py build-graph 10 [--side keras]
    python bench/profile_pair.py build-sequential 100
    python bench/profile_pair.py save 25000000 [--side keras]
    python bench/profile_pair.py load 25000000 [--side keras]

Prints the top functions by cumulative time (``--sort tottime`` for self time), after an untimed
warm-up call of the same side.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.setrecursionlimit(20_000)

import run as R  # noqa: E402
import workloads as W  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["validate", "build-sequential", "build-graph", "save", "load"])
    parser.add_argument("size", type=float)
    parser.add_argument("--side", choices=["declar", "keras"], default="declar")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--limit", type=int, default=35)
    args = parser.parse_args()
    size = int(args.size)
    work = Path(tempfile.mkdtemp(prefix="declar-profile-"))

    if args.what == "validate":
        from declar.spec.load import validate

        text = W.sequential_spec(size, custom_every=10)
        path = work / "spec.yaml"
        path.write_text(text)
        fn = lambda: validate(path)  # noqa: E731
    elif args.what.startswith("build"):
        import declar

        seq = args.what == "build-sequential"
        text = (W.sequential_spec if seq else W.graph_spec)(size)
        hand = W.hand_sequential if seq else W.hand_graph
        fn = (lambda: declar.build(text)) if args.side == "declar" else (lambda: hand(size))
    else:
        width = W.wide_width(size, 6)
        model = R._wide_model(args.side, width, 6, compiled=True, train=True)
        path = work / "m.keras"
        R._save(args.side, model, path)
        if args.what == "save":
            fn = lambda: R._save(args.side, model, path)  # noqa: E731
        else:
            fn = lambda: R._load(args.side, path)  # noqa: E731
    fn()  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)


if __name__ == "__main__":
    main()
