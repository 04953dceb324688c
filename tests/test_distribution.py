"""Training on two devices through Keras's own engines, and loading the archive on one.

This machine has one CPU; it is split into two devices the way each engine allows: TensorFlow
logical devices (tf.config.set_logical_device_configuration) and JAX's XLA host device count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKENDS

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distribution_worker.py"

CASES = [
    pytest.param("tensorflow", "mirrored", marks=pytest.mark.skipif("tensorflow" not in BACKENDS, reason="no TF")),
    pytest.param("jax", "data_parallel", marks=pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")),
    pytest.param("jax", "model_parallel", marks=pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")),
]


def run(mode: str, source: Path, out: Path, backend: str, devices: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    if backend == "jax" and devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    proc = subprocess.run([sys.executable, str(WORKER), mode, str(source), str(out)], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / f"{mode}.json").read_text())


@pytest.mark.parametrize(("backend", "strategy"), CASES)
def test_trains_on_two_devices_and_loads_on_one(tmp_path, backend, strategy):
    spec = HERE / "specs" / f"distributed_{strategy}.yaml"
    trained = run("train", spec, tmp_path, backend, devices=2)
    if backend == "tensorflow":
        assert trained["replicas"] == 2
    else:
        assert trained["devices"] == 2
        if strategy == "model_parallel":  # the kernel really is split over the "model" axis
            assert "model" in trained["kernel_sharding"], trained["kernel_sharding"]
    loaded = run("load", tmp_path / "model.keras", tmp_path, backend, devices=1)
    assert loaded["iterations"] == trained["iterations"] == 4
    np.testing.assert_allclose(np.load(tmp_path / "load.npy"), np.load(tmp_path / "train.npy"), rtol=1e-6, atol=1e-7)


def test_validation_refuses_a_strategy_of_another_backend():
    import declar

    env = dict(os.environ)
    try:
        os.environ["KERAS_BACKEND"] = "jax"
        problems = declar.validate(str(HERE / "specs" / "distributed_mirrored.yaml"))
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert [(p.line, p.col, p.code) for p in problems] == [(21, 13, "strategy-backend")]
    assert "jax offers: data_parallel, model_parallel" in problems[0].hint
