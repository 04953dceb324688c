"""The spec's `distribution:` section, handed to the engines Keras already uses.

TensorFlow: `tf.distribute.MirroredStrategy` / `MultiWorkerMirroredStrategy`; the model is built
and compiled in the strategy's scope, and Keras's TensorFlow trainer keeps the strategy for fit,
evaluate and predict. JAX: `keras.distribution.DataParallel` / `ModelParallel` with the layout map
given in the spec; variables are created in the distribution's scope, and `DeclarModel` enters the
scope again around fit, evaluate and predict, where Keras's JAX trainer shards data and state.
Nothing here schedules devices itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

from declar.spec.facts import STRATEGIES
from declar.spec.model import DistributionSpec
from declar.spec.patterns import layout_keys_problem, pattern_problem


def make_distribution(section: DistributionSpec) -> Any:
    """A tf.distribute strategy or a keras.distribution.Distribution for the section.

    Raises ValueError, naming what is missing, when this process cannot provide it (too few
    devices, a strategy of another backend, a cluster configuration the engine refuses).
    """
    try:
        return _make_distribution(section)
    except ValueError:
        raise
    except Exception as err:  # the engines raise RuntimeError, tf.errors.*, KeyError...: one kind for callers
        raise ValueError(f"cannot set up the distribution: {type(err).__name__}: {err}") from err


def _make_distribution(section: DistributionSpec) -> Any:
    backend = keras.backend.backend()
    strategy = section.strategy
    if strategy not in STRATEGIES.get(backend, {}):
        raise ValueError(f"strategy '{strategy}' does not run on the {backend} backend "
                         f"(it offers: {', '.join(STRATEGIES.get(backend, {})) or 'none'})")
    count = section.devices
    if backend == "tensorflow":
        import tensorflow as tf

        if strategy == "multi_worker_mirrored":
            return tf.distribute.MultiWorkerMirroredStrategy()
        devices = None
        if count:
            kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
            found = [d.name for d in tf.config.list_logical_devices(kind)]
            if len(found) < count:
                raise ValueError(f"the spec asks for {count} devices, this process has {len(found)} {kind} devices")
            devices = found[:count]
        return tf.distribute.MirroredStrategy(devices=devices)
    dist = keras.distribution
    devices = dist.list_devices()
    if count:
        if len(devices) < count:
            raise ValueError(f"the spec asks for {count} devices, this process has {len(devices)}")
        devices = devices[:count]
    if strategy == "data_parallel":
        return dist.DataParallel(devices=devices)
    if section.mesh is None:  # validation refuses it first
        raise ValueError("model_parallel needs a mesh: {shape, axis_names}")
    mesh = dist.DeviceMesh(shape=section.mesh.shape, axis_names=list(section.mesh.axis_names), devices=devices)
    layout_map = dist.LayoutMap(mesh)
    too_many = layout_keys_problem(dict(section.layout_map))  # validation refuses it first
    if too_many:
        raise ValueError(f"distribution.{too_many}")
    for pattern, axes in section.layout_map:
        refused = pattern_problem(pattern)  # validation refuses these first; this is the second lock
        if refused:
            raise ValueError(f"distribution.layout_map key {pattern[:60]!r}: {refused}")
        layout_map[pattern] = tuple(axes)
    return dist.ModelParallel(layout_map=layout_map, batch_dim_name=section.batch_dim_name)


@contextlib.contextmanager
def distribution_scope(distribution: Any) -> Iterator[None]:
    """Enter a strategy's or a distribution's scope (nothing for None)."""
    if distribution is None:
        yield
        return
    with distribution.scope():
        yield
