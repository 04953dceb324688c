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
from typing import TYPE_CHECKING, Any

from declar import _keras_hook
from declar._version import __version__
from declar.errors import (
    ArchiveError,
    BuildError,
    CompileBuildError,
    DataError,
    DeclarError,
    ExportError,
    FileLimitError,
    FunctionCallError,
    ImportRefused,
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

if TYPE_CHECKING:
    from declar.api import build, diff, export, fit, import_model, inspect, load, save, transfer_weights
    from declar.migration import MigrationResult, migrate

_keras_hook.install()

# Imported on first use: `declar validate` (a pre-commit hook, run on every commit) needs none of
# them, and they bring the archive, diff and migration code (ruamel.yaml) with them.
_LAZY = {**dict.fromkeys(("build", "diff", "export", "fit", "import_model", "inspect", "load", "save",
                          "transfer_weights"), "declar.api"),
         **dict.fromkeys(("migrate", "MigrationResult"), "declar.migration")}

__all__ = ["ArchiveError", "BuildError", "CompileBuildError", "DataError", "DeclarError", "ExportError",
           "ExpressionError", "FileLimitError", "FunctionCallError", "ImportRefused", "LayerBuildError", "Limits",
           "MigrationResult", "ModelBuildError", "PlotError", "Problem", "Spec", "SpecError", "SpecFileRefused",
           "StarterError", "VerifyError", "WeightBudgetError", "__version__", "build", "diff", "export", "fit",
           "import_model", "inspect", "load",
           "load_spec", "migrate", "save", "transfer_weights", "validate"]


def __getattr__(name: str) -> Any:
    """The names of `_LAZY`, imported from their module the first time they are asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups do not come back here
        return value
    raise AttributeError(f"module 'declar' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
