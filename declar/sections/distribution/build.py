"""The spec's `distribution:` section, handed to the engines Keras already uses.

Several processes (see `cluster`): `joining_cluster` bounds the wait for the peers, `share_data`
gives each process its rows, and `cluster.is_chief` says which one writes the archive.

TensorFlow: `tf.distribute.MirroredStrategy` / `MultiWorkerMirroredStrategy`; the model is built
and compiled in the strategy's scope, and Keras's TensorFlow trainer keeps the strategy for fit,
evaluate and predict. JAX: `keras.distribution.DataParallel` / `ModelParallel` with the layout map
given in the spec; variables are created in the distribution's scope, and `DeclarModel` enters the
scope again around fit, evaluate and predict, where Keras's JAX trainer shards data and state.
Nothing here schedules devices itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import keras

from declar.errors import BuildError
from declar.sections.distribution.cluster import (
    ClusterError,
    check_engine,
    cluster_timeout,
    preflight,
    process_share,
    read_cluster,
)
from declar.sections.distribution.cluster import is_chief as is_chief  # the design's interface: build.is_chief()
from declar.sections.distribution.watchdog import Watchdog, arm
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
    cluster = read_cluster()
    if cluster is not None:
        check_engine(cluster, strategy)
        if cluster.engine == "jax":
            _join_jax_cluster()
    if backend == "tensorflow":
        import tensorflow as tf

        if strategy == "multi_worker_mirrored":
            _mean_scalars_over_workers()
            # It reads TF_CONFIG itself. A collective that waits longer than the cluster timeout
            # (a worker lost in training) fails instead of waiting forever.
            communication = tf.distribute.experimental.CommunicationOptions(timeout_seconds=cluster_timeout())
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
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
        return dist.DataParallel(devices=devices)  # several processes: devices are every process's
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


_joined: list[bool] = []


def _join_jax_cluster() -> None:
    """`keras.distribution.initialize()` once per process: it reads Keras's KERAS_DISTRIBUTION_*
    variables and starts `jax.distributed` (on CPU its collectives are gloo, jax's default)."""
    if not _joined:
        keras.distribution.initialize()
        _joined.append(True)


def joining_cluster() -> contextlib.AbstractContextManager[Watchdog | None]:
    """Around building the model when the environment describes a cluster: the port this process
    listens on is checked free, and a watchdog bounds the wait for the peers (see `watchdog`).

    Example:
        >>> with joining_cluster() as dog:   # no cluster: nothing to wait for
        ...     dog is None
        True
    """
    cluster = preflight()
    if cluster is None:
        return contextlib.nullcontext()
    others = ", ".join(a for i, a in enumerate(cluster.addresses) if i != cluster.rank or cluster.engine == "jax")
    return arm(cluster_timeout(), f"process {cluster.rank} of {cluster.processes} could not form the cluster with "
               f"{others}: a peer did not start or cannot be reached")


LOST_PEER = ("UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError", "JaxRuntimeError",
             "XlaRuntimeError")
"""The engines' exceptions for a collective whose peer went away (TensorFlow's gRPC errors, JAX's)."""


@contextlib.contextmanager
def reporting_lost_peers() -> Iterator[None]:
    """Around training in a cluster: a worker lost during training (the engine's collective fails)
    is said as such, instead of as a compile setting that does not train.

    `declar.api.train_located` has already made the engine's exception a located `BuildError`
    whose message starts with "training failed: <exception class>"; the class says it was the peer.
    """
    try:
        yield
    except BuildError as err:
        message = err.problems[0].message if err.problems else str(err)
        cause = message.removeprefix("training failed: ").split(":")[0]
        if read_cluster() is None or cause not in LOST_PEER:
            raise
        raise ClusterError(f"a worker of the cluster stopped answering during training ({message[:200]}); "
                           "start every worker again") from err


def refuse_cluster_without_distribution() -> None:
    """A cluster in the environment but no distribution in the spec would train N separate models."""
    cluster = read_cluster()
    if cluster is not None and cluster.processes > 1:
        raise ClusterError(f"{'TF_CONFIG' if cluster.engine == 'tensorflow' else 'KERAS_DISTRIBUTION_*'} "
                           "describes a cluster but the spec has no distribution: section; add "
                           "distribution: {strategy: ...} or unset the variables")


def share_data(model: Any, data: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Each process's part of the training data, with ``options["batch_size"]`` the global batch.

    TensorFlow: nothing to do; `MultiWorkerMirroredStrategy` auto-shards Keras's dataset and
    splits each global batch over the workers. JAX with several processes: each process is given
    its rows of every global batch (`cluster.process_share`) and the per-process batch size, and
    Keras's auto-sharding (which only takes a tf.data dataset) is turned off.
    """
    distribution = model.declar_distribution
    if keras.backend.backend() != "jax" or distribution is None or distribution.num_processes < 2 or data.batched:
        return data, options  # one process, or a dataset: Keras's auto-sharding splits it
    processes, rank, batch = distribution.num_processes, jax_process_index(), options["batch_size"]
    shared = {k: process_share(v, batch, processes, rank) for k, v in data.fit_arguments().items()}
    distribution.auto_shard_dataset = False
    return dataclasses.replace(data, **shared), {**options, "batch_size": batch // processes}


def jax_process_index() -> int:
    """This JAX process's index in the cluster."""
    import jax

    return int(jax.process_index())


def first_local_batch(strategy: Any, iterator: Any) -> Any:
    """The first batch of a fit's epoch iterator as this worker's local tensors (shapes for Keras's
    symbolic build), or None when the strategy is not multi-worker.

    Keras 3.15's TensorFlow trainer reduces the first batch with ``strategy.reduce`` as one nested
    value, which `MultiWorkerMirroredStrategy` refuses ("Attempt to convert a value (PerReplica...")
    since TF's reduce takes a single value; the local replica's batch is all the build needs.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    for _, _, batches in iterator:
        first = next(batches)
        return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0]
                                     if isinstance(v, tf.distribute.DistributedValues) else v, first)
    return None


def _mean_scalars_over_workers() -> None:
    """Keras 3.15's TensorFlow trainer averages a step's logs over the workers of a
    `MultiWorkerMirroredStrategy` with ``strategy.reduce("MEAN", v, axis=0)``, which fails on the
    scalar loss and metrics ("Invalid reduction dimension 0 for input with 0 dimensions"): a scalar
    is averaged over the replicas (``axis=None``) instead; every other value goes to Keras as is.
    """
    from keras.src.backend.tensorflow import trainer

    keras_reduce = getattr(trainer.reduce_per_replica, "declar_wraps", trainer.reduce_per_replica)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not trainer._collective_all_reduce_multi_worker(strategy):
            return keras_reduce(values, strategy, reduction)
        return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None),
                                        values)

    reduce_per_replica.declar_wraps = keras_reduce  # type: ignore[attr-defined]
    trainer.reduce_per_replica = reduce_per_replica
