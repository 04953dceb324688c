"""The distribution section: the strategy for the configured backend, meshes and layouts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from declar.errors import Problem
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.spec.facts import STRATEGIES
from declar.spec.loaded import LoadedSpec
from declar.spec.patterns import SUBSET_HINT, layout_keys_problem, pattern_problem


def configured_backend() -> str:
    """The Keras backend a build would use, read as Keras reads it, without importing keras."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError):
        return "tensorflow"


def check_distribution(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    doc = loaded.document
    section = doc.data.get("distribution")
    if not isinstance(section, dict):
        return
    path, strategy, backend = ("distribution",), section.get("strategy"), configured_backend()
    offered = tuple(STRATEGIES.get(backend, {}))
    if strategy not in offered and not loaded.origin.archive:  # an archive may load on any backend
        yield doc.problem((*path, "strategy"), f"strategy '{strategy}' does not run on the {backend} backend",
                          f"{backend} offers: {', '.join(offered)}" if offered else
                          f"the {backend} backend has no distribution engine in Keras", "strategy-backend")
    if strategy == "multi_worker_mirrored" and "devices" in section:
        yield doc.problem((*path, "devices"), "devices does not apply to multi_worker_mirrored",
                          "each worker trains on all its devices; the cluster comes from TF_CONFIG", "distribution",
                          at_key=True)
    if strategy == "model_parallel":
        mesh = section.get("mesh")
        if not mesh:
            yield doc.problem(path, "model_parallel needs a mesh: {shape, axis_names}", "", "distribution")
            return
        axes = list(mesh.get("axis_names", []))
        if len(axes) != len(mesh.get("shape", [])):
            yield doc.problem((*path, "mesh"), "mesh shape and axis_names differ in length", "", "distribution")
        too_many = layout_keys_problem(section.get("layout_map") or {})
        if too_many:
            yield doc.problem((*path, "layout_map"), too_many, "let one pattern cover many variables, e.g. "
                              "dense_\\d+/kernel", "too-many-patterns", at_key=True)
            return
        for pattern, layout in (section.get("layout_map") or {}).items():
            refused = pattern_problem(pattern)
            if refused:
                yield doc.problem((*path, "layout_map", pattern), f"layout_map key {pattern[:60]!r}: {refused}",
                                  SUBSET_HINT, "unsafe-pattern", at_key=True)
            for i, axis in enumerate(layout):
                if axis is not None and axis not in axes:
                    yield doc.problem((*path, "layout_map", pattern, i), f"'{axis}' is not a mesh axis",
                                      did_you_mean(axis, axes) or f"axes: {', '.join(axes)}", "distribution")
        batch = section.get("batch_dim_name")
        if batch is not None and batch not in axes:
            yield doc.problem((*path, "batch_dim_name"), f"'{batch}' is not a mesh axis", did_you_mean(batch, axes),
                              "distribution")
    else:
        for key in ("mesh", "layout_map", "batch_dim_name"):
            if key in section:
                yield doc.problem((*path, key), f"{key} applies only to model_parallel", "", "distribution",
                                  at_key=True)
