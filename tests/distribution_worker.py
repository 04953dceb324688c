"""Worker for the distribution tests. Usage: distribution_worker.py train|load SPEC_OR_ARCHIVE OUT_DIR

`train` runs with two devices (the test sets them up: TF logical CPUs, or the XLA host device
count for JAX), builds the spec under its strategy, trains one epoch, saves the archive, and
records predictions. `load` runs on one device and records the loaded model's predictions.
"""

import json
import os
import sys

import numpy as np

mode, source, out = sys.argv[1:4]
if mode == "train" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import declar  # noqa: E402

rng = np.random.default_rng(0)
x = rng.random((32, 6)).astype("float32")
y = rng.random((32, 2)).astype("float32")
info = {"backend": keras.backend.backend()}
if mode == "train":
    model = declar.build(source)
    if info["backend"] == "tensorflow":
        info["replicas"] = model.distribute_strategy.num_replicas_in_sync
    else:
        info["devices"] = len(model.declar_distribution.device_mesh.devices.flatten())
        kernel = model.get_layer("hidden").base.kernel
        info["kernel_sharding"] = str(getattr(kernel.value, "sharding", ""))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    declar.save(model, os.path.join(out, "model.keras"))
    info["iterations"] = int(model.optimizer.iterations.numpy())
    pred = model.predict(x, verbose=0)
else:
    model = keras.models.load_model(source)
    info["iterations"] = int(model.optimizer.iterations.numpy())
    pred = model.predict(x, verbose=0)
np.save(os.path.join(out, f"{mode}.npy"), np.asarray(pred))
with open(os.path.join(out, f"{mode}.json"), "w") as f:
    json.dump(info, f)
