"""declar: Keras 3 models described in YAML specs, with every saving hook synthesized.

Example:
    >>> import declar
    >>> declar.validate("specs/keras_guide/custom_build.yaml")
    []

Importing declar does not import keras; it arranges for declar's Keras classes to be registered
as soon as keras is imported, so ``import declar; keras.models.load_model("m.keras")`` works.
"""

import importlib
from typing import Any

from declar import _keras_hook
from declar._version import __version__
from declar.api import BuildError, DataError, build, diff, fit, inspect, load, save, transfer_weights
from declar.limits import Limits
from declar.problems import Problem, SpecError
from declar.spec.load import load_spec, validate
from declar.spec.model import Spec

_keras_hook.install()

__all__ = ["BuildError", "DataError", "Limits", "MigrationResult", "Problem", "Spec", "SpecError", "__version__",
           "build", "diff", "fit", "inspect", "load", "load_spec", "migrate", "save", "transfer_weights", "validate"]


def __getattr__(name: str) -> Any:
    """`declar.migrate` and `MigrationResult`, imported on first use: only migrating needs ruamel.yaml,
    so `import declar` (and every other command) does not pay for importing it."""
    if name in ("migrate", "MigrationResult"):
        return getattr(importlib.import_module("declar.migration"), name)
    raise AttributeError(f"module 'declar' has no attribute {name!r}")
