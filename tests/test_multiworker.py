"""Training one model in two processes over the loopback interface, as on two machines.

TensorFlow: `MultiWorkerMirroredStrategy` with a TF_CONFIG per worker. JAX: `jax.distributed`
through `keras.distribution.initialize()` and Keras's KERAS_DISTRIBUTION_* variables. Both run
the README's own one-machine commands (ports replaced by free ones) with the real `declar fit`,
then a fresh process trains the same spec alone with the same global batch, loads the chief's
archive on one device, and compares. Failures to form the cluster end in a message, in bounded time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKENDS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "multiworker_worker.py"
TOLERANCE = 1e-5
"""Weights after 8 steps, two workers vs one process: float32 sums in another order (measured 6e-8)."""

pytestmark = pytest.mark.slow
needs_jax = pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")
needs_tf = pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow not installed")


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (the OS picks them; they are released for the workers)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def readme_commands(engine: str) -> str:
    """The one-machine commands the README documents for ``engine``."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- multiworker: {engine} -->\n```bash\n(.*?)```", text, re.S)
    assert found, f"README has no one-machine commands for {engine}"
    return found.group(1)


def base_env(backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_DISTRIBUTION_", "TF_CONFIG", "XLA_FLAGS"))}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", DECLAR_CLUSTER_TIMEOUT="120",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    return env


def write_data(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    path = directory / "train.npz"
    np.savez(path, x=rng.random((64, 6)).astype("float32"), out=rng.random((64, 2)).astype("float32"))
    return path


def run_documented(engine: str, backend: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    ports = free_ports(2)
    script = readme_commands(engine).replace("12345", str(ports[0])).replace("12346", str(ports[1]))
    (tmp_path / "tests").symlink_to(HERE)  # the README's paths are relative to the repository
    write_data(tmp_path)
    return subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=base_env(backend), capture_output=True,
                          text=True, timeout=240)


def compare(backend: str, spec: Path, tmp_path: Path) -> dict:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = base_env(backend)
    proc = subprocess.run([sys.executable, str(WORKER), str(spec), str(tmp_path / "train.npz"),
                           str(tmp_path / "model.keras"), str(fresh)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((fresh / "compare.json").read_text())


CASES = [pytest.param("tensorflow", "tensorflow", "multiworker_tf.yaml", marks=needs_tf),
         pytest.param("jax", "jax", "multiworker_jax.yaml", marks=needs_jax)]


@pytest.mark.parametrize(("engine", "backend", "spec"), CASES)
def test_two_workers_reach_the_weights_of_one_process_and_the_chief_archive_loads_on_one_device(
        tmp_path, engine, backend, spec):
    proc = run_documented(engine, backend, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "model.keras" in line]
    assert sorted(lines) == ["trained; the chief writes model.keras", "wrote model.keras"], proc.stdout
    written = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("tests", "train.npz"))
    info = compare(backend, HERE / "specs" / spec, tmp_path)
    # One archive (and what the chief writes next to it); the other worker left no file behind.
    assert "model.keras" in written and all(name.startswith("model.") for name in written), written
    assert info["iterations"] == [8, 8]  # 64 rows, global batch 16, 2 epochs: 4 steps an epoch in both
    assert info["moved"] > 1e-3  # training changed the weights, so equal weights mean something
    assert info["weight_diff"] <= TOLERANCE, info
    assert info["prediction_diff"] <= TOLERANCE, info
    assert info["replicas"] == 1 and not info["distributed"]  # loaded on one device


def tf_config(ports: list[int], index: int, kind: str = "worker") -> str:
    workers = [f"localhost:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": kind, "index": index}})


def start_fit(tmp_path: Path, name: str, backend: str, spec: str, epochs: int = 1, **env: str
              ) -> subprocess.Popen[str]:
    """`declar fit` in the background, writing ``name``.keras into ``tmp_path``."""
    command = [sys.executable, "-m", "declar", "fit", str(HERE / "specs" / spec), "--data", str(tmp_path / "train.npz"),
               "--out", str(tmp_path / f"{name}.keras"), "--batch-size", "16", "--epochs", str(epochs)]
    return subprocess.Popen(command, env={**base_env(backend), **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str], started: float, limit: float) -> tuple[int, str, float]:
    """Wait for ``proc`` (killing it past ``limit`` seconds: the test then fails) and say how it ended."""
    try:
        _, err = proc.communicate(timeout=max(1.0, limit - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running after {limit} s: {err[-2000:]}")
    return proc.returncode, err, time.monotonic() - started


WAIT = 10.0
"""DECLAR_CLUSTER_TIMEOUT in the lonely-worker test; the bound adds the processes' start-up."""
BOUND = WAIT + 90.0


def test_a_worker_whose_peer_never_starts_ends_with_a_message_within_the_timeout(tmp_path):
    write_data(tmp_path)
    lonely = []
    if "tensorflow" in BACKENDS:  # the chief: TensorFlow waits for worker 1 inside C++
        lonely.append(start_fit(tmp_path, "tf", "tensorflow", "multiworker_tf.yaml", DECLAR_CLUSTER_TIMEOUT=str(WAIT),
                                TF_CONFIG=tf_config(free_ports(2), 0)))
    if "jax" in BACKENDS:  # process 1: its coordinator (process 0) never starts
        port = free_ports(1)[0]
        lonely.append(start_fit(tmp_path, "jax", "jax", "multiworker_jax.yaml", DECLAR_CLUSTER_TIMEOUT=str(WAIT),
                                KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}",
                                KERAS_DISTRIBUTION_NUM_PROCESSES="2", KERAS_DISTRIBUTION_PROCESS_ID="1"))
    started = time.monotonic()
    for proc in lonely:
        code, err, took = finish(proc, started, BOUND)
        assert code != 0 and took < BOUND, (code, took)
        assert "could not form the cluster" in err and f"waited {WAIT:g} s" in err, err[-2000:]
        assert "Traceback" not in err, err[-2000:]
    assert not list(tmp_path.glob("*.keras"))


def test_a_wrong_cluster_description_is_a_message_not_a_traceback(tmp_path):
    write_data(tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    ports = free_ports(2)
    cases = {  # name: (backend, spec, environment, the message expected on stderr)
        "json": ("tensorflow", "multiworker_tf.yaml", {"TF_CONFIG": "{worker: [localhost]"},
                 "error: TF_CONFIG is not JSON"),
        "index": ("tensorflow", "multiworker_tf.yaml", {"TF_CONFIG": tf_config(ports, 2)},
                  "error: TF_CONFIG task index 2 is out of range: cluster.worker has 2 addresses"),
        "address": ("tensorflow", "multiworker_tf.yaml",
                    {"TF_CONFIG": json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker",
                                                                                           "index": 0}})},
                    "error: TF_CONFIG cluster.worker: 'localhost' is not a host:port address"),
        "port": ("tensorflow", "multiworker_tf.yaml", {"TF_CONFIG": tf_config([busy, ports[1]], 0)},
                 f"error: port {busy} of localhost:{busy} is in use"),
        "missing": ("jax", "multiworker_jax.yaml", {"KERAS_DISTRIBUTION_NUM_PROCESSES": "2"},
                    "error: KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_PROCESS_ID not set"),
        "engine": ("jax", "multiworker_jax.yaml", {"TF_CONFIG": tf_config(ports, 1)},
                   "multiworker_jax.yaml:15:3: error: TF_CONFIG is set but the spec's strategy 'data_parallel' "
                   "needs KERAS_DISTRIBUTION_JOB_ADDRESSES"),
    }
    started, running = time.monotonic(), {}
    for name, (backend, spec, env, _) in cases.items():
        if backend in BACKENDS:
            running[name] = start_fit(tmp_path, name, backend, spec, **env)
    try:
        for name, proc in running.items():
            code, err, _ = finish(proc, started, 120.0)
            assert code == 1 and cases[name][3] in err and "Traceback" not in err, (name, err[-2000:])
    finally:
        taken.close()
    assert not list(tmp_path.glob("*.keras"))


def test_each_process_gets_its_rows_of_every_global_batch():
    from declar.sections.distribution.cluster import ClusterError, process_share

    rows = np.arange(20)  # global batch 8: batches [0..7], [8..15], and a last one of 4 rows
    shares = [process_share({"x": rows}, 8, 2, rank)["x"] for rank in (0, 1)]
    assert [s.tolist() for s in shares] == [[0, 1, 2, 3, 8, 9, 10, 11, 16, 17],
                                            [4, 5, 6, 7, 12, 13, 14, 15, 18, 19]]
    with pytest.raises(ClusterError, match="must split evenly over 3 processes"):
        process_share(rows, 8, 3, 0)
    with pytest.raises(ClusterError, match="the last batch has 5 rows"):
        process_share(np.arange(21), 8, 2, 0)


def test_the_chief_is_the_chief_task_else_worker_0_else_process_0():
    from declar.sections.distribution.cluster import read_cluster

    two = ["h1:1", "h2:1"]
    tf = [read_cluster({"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}).chief for cluster, task in [
        ({"worker": two}, {"type": "worker", "index": 0}), ({"worker": two}, {"type": "worker", "index": 1}),
        ({"chief": ["h0:1"], "worker": two}, {"type": "worker", "index": 0}),
        ({"chief": ["h0:1"], "worker": two}, {"type": "chief", "index": 0})]]
    assert tf == [True, False, False, True]
    jax = [read_cluster({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h1:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                         "KERAS_DISTRIBUTION_PROCESS_ID": str(rank)}).chief for rank in (0, 1)]
    assert jax == [True, False]
    assert read_cluster({}) is None


def test_validation_refuses_devices_for_multi_worker_mirrored(tmp_path):
    import declar

    spec = tmp_path / "spec.yaml"
    text = (HERE / "specs" / "multiworker_tf.yaml").read_text()
    strategy = "  strategy: multi_worker_mirrored\n"
    spec.write_text(text.replace(strategy, strategy + "  devices: 2\n"))
    env = dict(os.environ)
    try:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        problems = declar.validate(str(spec))
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert [(p.line, p.col, p.code, p.message) for p in problems] == [
        (16, 3, "distribution", "devices does not apply to multi_worker_mirrored")]
    assert "TF_CONFIG" in problems[0].hint


@needs_tf
def test_a_worker_lost_during_training_ends_the_other_with_a_message(tmp_path):
    write_data(tmp_path)
    ports = free_ports(2)
    long = {"DECLAR_CLUSTER_TIMEOUT": "60"}
    # 400 epochs would take minutes: the kill comes after the second epoch starts.
    chief, other = (start_fit(tmp_path, "lost", "tensorflow", "multiworker_tf.yaml", 400,
                              TF_CONFIG=tf_config(ports, i), **long) for i in (0, 1))
    started = time.monotonic()
    try:
        seen = ""
        while "epoch 2/" not in seen:  # the cluster formed and trains (a line per epoch, piped)
            line = other.stdout.readline()
            assert line or other.poll() is None, other.stderr.read()[-2000:]
            seen += line
            assert time.monotonic() - started < BOUND, "the workers did not start training"
        other.kill()
        lost = time.monotonic()
        code, err, _ = finish(chief, started, BOUND + 60.0)
    finally:
        for proc in (chief, other):
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert code == 1 and time.monotonic() - lost < 70.0, (code, err[-2000:])
    assert "error: a worker of the cluster stopped answering during training" in err, err[-2000:]
    assert not (tmp_path / "lost.keras").exists()
