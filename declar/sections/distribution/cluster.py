"""Several processes training one model: who the peers are, who writes, and each one's data.

The cluster is described the way each engine's users already describe it, and declar reads the
same environment variables as the engine (without importing it, so a bad value is a message
before TensorFlow or JAX start):

- TensorFlow (`multi_worker_mirrored`): ``TF_CONFIG``, the JSON that
  `tf.distribute.MultiWorkerMirroredStrategy` reads, e.g.
  ``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}``.
- JAX (`data_parallel`, `model_parallel`): Keras's ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (the
  coordinator's host:port first), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
  ``KERAS_DISTRIBUTION_PROCESS_ID``, which `keras.distribution.initialize()` reads; declar calls it.

The chief (TensorFlow's ``chief`` task, else worker 0; JAX's process 0) writes the archive and the
history; the others write nothing that stays. Joining is bounded by ``DECLAR_CLUSTER_TIMEOUT``
seconds (see `declar.sections.distribution.watchdog`): a peer that never comes is a message, not a
process waiting forever.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from declar.errors import DeclarError

TF_CONFIG = "TF_CONFIG"
JOB_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
TIMEOUT = "DECLAR_CLUSTER_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
"""Seconds a process waits for its peers (TensorFlow and JAX both wait five minutes or more)."""
TF_JOBS = ("chief", "worker", "evaluator", "ps")


class ClusterError(DeclarError):
    """The cluster this process was told to join cannot be joined (a bad TF_CONFIG or Keras
    variable, a port in use, peers that did not come within the timeout)."""

    code = "cluster"


@dataclass(frozen=True)
class Cluster:
    """This process's place in a cluster: its engine, its rank among the processes, the addresses.

    Example:
        >>> Cluster("jax", 2, 1, ("10.0.0.1:1234",)).chief
        False
    """

    engine: str  # "tensorflow" (TF_CONFIG) or "jax" (Keras's variables)
    processes: int
    rank: int  # the task's index among the workers (TF: the chief counts as 0), or the JAX process id
    addresses: tuple[str, ...]
    own_address: str = ""  # the address this process listens on (TF: its task's; JAX: process 0's)
    chief: bool = True

    def __post_init__(self) -> None:
        if self.engine == "jax":
            object.__setattr__(self, "chief", self.rank == 0)


def read_cluster(env: Mapping[str, str] | None = None) -> Cluster | None:
    """The cluster the environment describes (None: this process trains alone).

    Raises `ClusterError` naming the variable and what is wrong with it.

    Example:
        >>> read_cluster({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234",
        ...               "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}).rank
        1
    """
    env = os.environ if env is None else env
    if env.get(TF_CONFIG):
        return _tf_cluster(env[TF_CONFIG])
    if any(env.get(name) for name in (JOB_ADDRESSES, NUM_PROCESSES, PROCESS_ID)):
        return _jax_cluster(env)
    return None


def is_chief() -> bool:
    """Whether this process writes the archive and the history: the only process, TensorFlow's
    chief task (else worker 0), or JAX's process 0. The others hold the same weights.

    Example:
        >>> is_chief()   # no TF_CONFIG, no KERAS_DISTRIBUTION_* variables: training alone
        True
    """
    cluster = read_cluster()
    return cluster is None or cluster.chief


def _tf_cluster(text: str) -> Cluster:
    try:
        config = json.loads(text)
    except ValueError as err:
        raise ClusterError(f"TF_CONFIG is not JSON: {err}") from err
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise ClusterError('TF_CONFIG needs "cluster": {"worker": ["host:port", ...]}')
    jobs = config["cluster"]
    for job, addresses in jobs.items():
        if job not in TF_JOBS:
            raise ClusterError(f"TF_CONFIG cluster has an unknown job {job!r} (jobs: {', '.join(TF_JOBS)})")
        if not isinstance(addresses, list) or not addresses:
            raise ClusterError(f"TF_CONFIG cluster.{job} must be a list of host:port addresses")
        for address in addresses:
            _check_address(address, f"TF_CONFIG cluster.{job}")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in jobs or not isinstance(task.get("index"), int):
        raise ClusterError('TF_CONFIG needs "task": {"type": "worker", "index": N} with a type from its cluster')
    kind, index = task["type"], task["index"]
    if not 0 <= index < len(jobs[kind]):
        raise ClusterError(f"TF_CONFIG task index {index} is out of range: cluster.{kind} has "
                           f"{len(jobs[kind])} addresses")
    chiefs = list(jobs.get("chief", []))
    ordered = tuple(chiefs + list(jobs.get("worker", [])))
    # Keras's multi-worker guide: the chief task if there is one, else worker 0.
    chief = kind == "chief" or (kind == "worker" and index == 0 and not chiefs)
    rank = index + (len(chiefs) if kind == "worker" else 0)
    return Cluster("tensorflow", len(ordered), rank, ordered, jobs[kind][index], chief)


def _jax_cluster(env: Mapping[str, str]) -> Cluster:
    missing = [name for name in (JOB_ADDRESSES, NUM_PROCESSES, PROCESS_ID) if not env.get(name)]
    if missing:
        raise ClusterError(f"{', '.join(missing)} not set: a JAX cluster needs all of {JOB_ADDRESSES}, "
                           f"{NUM_PROCESSES} and {PROCESS_ID}")
    addresses = tuple(a.strip() for a in env[JOB_ADDRESSES].split(","))
    for address in addresses:
        _check_address(address, JOB_ADDRESSES)
    count, rank = _integer(env, NUM_PROCESSES), _integer(env, PROCESS_ID)
    if count < 1:
        raise ClusterError(f"{NUM_PROCESSES} must be at least 1, not {count}")
    if not 0 <= rank < count:
        raise ClusterError(f"{PROCESS_ID} {rank} is out of range: {NUM_PROCESSES} is {count}")
    if len(addresses) > 1 and len(addresses) != count:
        raise ClusterError(f"{JOB_ADDRESSES} lists {len(addresses)} addresses but {NUM_PROCESSES} is {count}")
    return Cluster("jax", count, rank, addresses, addresses[0])


def _integer(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError as err:
        raise ClusterError(f"{name} must be an integer, not {env[name][:40]!r}") from err


def _check_address(address: Any, where: str) -> None:
    host, _, port = str(address).rpartition(":")
    if not isinstance(address, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{where}: {str(address)[:60]!r} is not a host:port address")


def check_engine(cluster: Cluster, strategy: str) -> None:
    """Refuse a cluster described for the other engine than the spec's strategy.

    Example:
        >>> check_engine(Cluster("jax", 2, 0, ("h:1",)), "data_parallel")
    """
    wanted = "tensorflow" if strategy == "multi_worker_mirrored" else "jax"
    if strategy == "mirrored" or cluster.engine != wanted:
        variable = TF_CONFIG if cluster.engine == "tensorflow" else JOB_ADDRESSES
        needs = {"multi_worker_mirrored": f"{TF_CONFIG}", "mirrored": "no cluster (one machine)"}.get(
            strategy, f"{JOB_ADDRESSES}, {NUM_PROCESSES} and {PROCESS_ID}")
        raise ClusterError(f"{variable} is set but the spec's strategy '{strategy}' needs {needs}")


def check_port_free(cluster: Cluster) -> None:
    """Refuse to start when the port this process must listen on is taken by another program.

    The engines would fail later and less clearly (gRPC's "could not start server", a JAX
    coordinator that never answers). Only a local address is checked: a remote host is not ours.
    """
    listens = cluster.engine == "tensorflow" or cluster.rank == 0
    host, _, port = cluster.own_address.rpartition(":")
    if not listens or not _is_local(host):
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1" if host in ("localhost", "") else host, int(port)))
        except OSError as err:
            raise ClusterError(f"port {port} of {cluster.own_address} is in use ({err.strerror}); "
                               "choose a free port in the cluster's addresses") from err


def preflight() -> Cluster | None:
    """The cluster the environment describes, its variables and this process's port checked,
    before any engine starts (None: training alone). Raises `ClusterError`.

    Example:
        >>> preflight() is None   # no TF_CONFIG, no KERAS_DISTRIBUTION_* variables
        True
    """
    cluster = read_cluster()
    if cluster is not None:
        check_port_free(cluster)
        cluster_timeout()
    return cluster


def _is_local(host: str) -> bool:
    if host in ("localhost", "127.0.0.1", "0.0.0.0", "", socket.gethostname()):
        return True
    try:
        return socket.gethostbyname(host).startswith("127.")
    except OSError:  # a name this machine cannot resolve is not one of its own
        return False


def cluster_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for the peers, from ``DECLAR_CLUSTER_TIMEOUT`` (default five minutes).

    Example:
        >>> cluster_timeout({"DECLAR_CLUSTER_TIMEOUT": "20"})
        20.0
    """
    env = os.environ if env is None else env
    text = env.get(TIMEOUT, "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError as err:
        raise ClusterError(f"{TIMEOUT} must be a number of seconds, not {text[:40]!r}") from err
    if not seconds > 0:
        raise ClusterError(f"{TIMEOUT} must be positive, not {text}")
    return seconds


def process_share(arrays: Any, batch_size: int, processes: int, rank: int) -> Any:
    """This process's rows of every global batch: rows ``[k*B + r*b, k*B + (r+1)*b)`` of batch k,
    with ``B = batch_size`` and ``b = B / processes`` (the last, shorter batch split the same way).

    Keras's JAX trainer puts each process's rows side by side in rank order
    (``jax.make_array_from_process_local_data``), so every step sees exactly the global batch one
    process would see, and the gradient is the same mean. ``arrays`` is an array, a list or a dict.

    Example:
        >>> process_share(np.arange(8), 4, 2, 1).tolist()
        [2, 3, 6, 7]
    """
    if batch_size % processes:
        raise ClusterError(f"the batch size {batch_size} is the global batch: it must split evenly over "
                           f"{processes} processes")
    if isinstance(arrays, dict):
        return {k: process_share(v, batch_size, processes, rank) for k, v in arrays.items()}
    if isinstance(arrays, (list, tuple)):
        return type(arrays)(process_share(v, batch_size, processes, rank) for v in arrays)
    if arrays is None:
        return None
    rows = len(arrays)
    last = rows % batch_size
    if last % processes:
        raise ClusterError(f"the last batch has {last} rows ({rows} rows, batch size {batch_size}), which do not "
                           f"split evenly over {processes} processes; choose a batch size that divides {rows}")
    share = batch_size // processes
    starts = np.arange(0, rows - last, batch_size)
    index = (starts[:, None] + rank * share + np.arange(share)[None, :]).reshape(-1)
    if last:
        tail = last // processes
        index = np.concatenate([index, rows - last + rank * tail + np.arange(tail)])
    return np.asarray(arrays)[index]
