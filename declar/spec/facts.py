"""Facts about Keras that the spec format depends on, each written once.

Validation, the JSON Schema, build and the docs all need these; they read them here, and
``tests/test_facts.py`` checks every table against the schema's enums and the installed Keras, so
a fact cannot drift from the engine it describes. Nothing here imports keras.

Example:
    >>> snake_case("LSTMCell"), snake_case("Conv2D"), snake_case("CustomBuild")
    ('lstm_cell', 'conv2d', 'custom_build')
    >>> "mixed_float16" in MODEL_DTYPE_POLICIES, "int32" in MODEL_DTYPE_POLICIES, "int32" in DTYPE_POLICIES
    (True, False, True)
"""

from __future__ import annotations

import re

# The dtype policies a layer's `dtype` may name, each one `keras.dtype_policies.get` accepts by
# name (keras/src/dtype_policies/__init__.py: a dtype, or mixed_float16 and mixed_bfloat16).
# Quantized policies ("int8_from_float32"...) are left out: Keras creates them when a model is
# quantized, never from a spec.
DTYPE_POLICIES = ("float32", "float64", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16", "int32", "int64")

# The model-wide `dtype_policy` (schema enum `$defs/dtypePolicy`): the float policies only, since
# it applies to every layer that sets none, and no trainable layer keeps integer variables.
MODEL_DTYPE_POLICIES = tuple(p for p in DTYPE_POLICIES if not p.startswith("int"))

# The dtypes of inputs, variables and assets (schema enum `$defs/dtype`): names
# `keras.backend.standardize_dtype` keeps as they are, on every backend.
DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "bool", "string")

# The strategies of the `distribution:` section, per backend, with the engine each one hands the
# model to (declar.keras.distribute builds them): tf.distribute on TensorFlow, keras.distribution
# on JAX, none on torch (Keras 3 has no torch distribution engine). The schema's enum
# (`$defs/distribution.strategy`) lists them all; validation refuses one that is not the
# configured backend's.
STRATEGIES: dict[str, dict[str, str]] = {
    "tensorflow": {"mirrored": "tf.distribute.MirroredStrategy",
                   "multi_worker_mirrored": "tf.distribute.MultiWorkerMirroredStrategy"},
    "jax": {"data_parallel": "keras.distribution.DataParallel",
            "model_parallel": "keras.distribution.ModelParallel"},
    "torch": {},
}

# Built-in layers that would run Python code or load a model from a path named in the spec: a spec
# or an archive from a stranger must not be able to do either. Refused wherever a layer is named:
# a node, the base of a custom type, any depth of a layer-valued argument (the gate,
# `declar.spec.keras_objects`), and the lookup that builds a layer (`declar.keras.layer.layer_class`).
UNSAFE_LAYERS = {
    "Lambda": "runs a Python function",
    "TFSMLayer": "loads a SavedModel from a path",
    "TorchModuleWrapper": "wraps a Python module",
    "JaxLayer": "wraps Python functions",
    "FlaxLayer": "wraps a Python module",
}


# Built-in layers that exist but cannot be a layer of a model: refused at validate (each with a
# hint), since each fails only at build otherwise, and not offered by the editor's schema.
UNUSABLE_LAYERS = {
    "InputLayer": ("is made by declar from the spec's `inputs:`", "declare the input under `inputs:`"),
    "Layer": ("is the base class of layers and has no call", "write a custom type with `extends: Layer` and a call"),
    "Wrapper": ("is an abstract base class", "use a wrapper such as Bidirectional or TimeDistributed"),
}


def snake_case(name: str) -> str:
    """A class name as Keras turns it into a layer name or an object name, e.g. for ``dense_1``.

    The same steps as ``keras.src.utils.naming.to_snake_case``, which Keras applies to the class
    name of every layer created without a name (`Operation.__init__` through `auto_name`), and
    to the class names of schedules, losses and the like when it resolves them by name.

    Example:
        >>> snake_case("LSTMCell"), snake_case("Conv2D"), snake_case("GlobalAveragePooling1D")
        ('lstm_cell', 'conv2d', 'global_average_pooling1d')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


__all__ = ["DTYPES", "DTYPE_POLICIES", "MODEL_DTYPE_POLICIES", "STRATEGIES", "UNSAFE_LAYERS", "snake_case"]
