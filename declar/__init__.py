"""declar: Keras 3 models described in YAML specs, with every saving hook synthesized.

Example:
    >>> import declar
    >>> declar.validate("specs/keras_guide/custom_build.yaml")
    []

Importing declar does not import keras; it arranges for declar's Keras classes to be registered
as soon as keras is imported, so ``import declar; keras.models.load_model("m.keras")`` works.

Every error declar raises is a `DeclarError` (a ``ValueError``), with its problems as data
(see `declar.errors` for the tree).
"""

import importlib
from typing import Any

from declar import _keras_hook
from declar._version import __version__
from declar.api import build, diff, fit, inspect, load, save, transfer_weights
from declar.errors import (
    ArchiveError,
    BuildError,
    DataError,
    DeclarError,
    FileLimitError,
    FunctionCallError,
    LayerBuildError,
    ModelBuildError,
    PlotError,
    Problem,
    SpecError,
    SpecFileRefused,
    StarterError,
    VerifyError,
    WeightBudgetError,
)
from declar.expr.evaluate import ExpressionError
from declar.limits import Limits
from declar.spec.load import load_spec, validate
from declar.spec.model import Spec

_keras_hook.install()

__all__ = ["ArchiveError", "BuildError", "DataError", "DeclarError", "ExpressionError", "FileLimitError",
           "FunctionCallError", "LayerBuildError", "Limits", "MigrationResult", "ModelBuildError", "PlotError",
           "Problem", "Spec", "SpecError", "SpecFileRefused", "StarterError", "VerifyError", "WeightBudgetError",
           "__version__", "build", "diff", "fit", "inspect", "load", "load_spec", "migrate", "save",
           "transfer_weights", "validate"]


def __getattr__(name: str) -> Any:
    """`declar.migrate` and `MigrationResult`, imported on first use: only migrating needs ruamel.yaml,
    so `import declar` (and every other command) does not pay for importing it."""
    if name in ("migrate", "MigrationResult"):
        return getattr(importlib.import_module("declar.migration"), name)
    raise AttributeError(f"module 'declar' has no attribute {name!r}")
