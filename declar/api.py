"""The Python API; the CLI is a thin layer over these functions.

Nothing here imports keras until a function that needs it is called.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from declar.limits import DEFAULT_LIMITS, Limits
from declar.problems import Problem, SpecError
from declar.spec.load import SpecSource, load_spec
from declar.spec.model import Spec

if TYPE_CHECKING:
    import keras


class BuildError(ValueError):
    """Keras refused part of a valid spec; ``problems`` locate it in the spec."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


def build(spec: SpecSource | Spec, *, compile: bool = True, limits: Limits = DEFAULT_LIMITS) -> keras.Model:
    """Build the Keras model of a spec (compiled, with its optimizer built, when it has compile settings).

    Example:
        >>> import declar
        >>> model = declar.build("specs/keras_guide/custom_build.yaml")
        >>> model.output_shape
        (None, 1)
    """
    from declar._keras_hook import register

    register()
    from declar.keras.model import DeclarModel, ModelBuildError

    parsed = load_spec(spec, limits)
    try:
        model = DeclarModel(spec=parsed, source=parsed.source_text, asset_root=parsed.base_dir)
    except ModelBuildError as err:
        raise BuildError([_locate(parsed, err.node.path, str(err))]) from err
    if compile and parsed.compile:
        try:
            model.compile_from_spec()
        except (ValueError, TypeError, KeyError) as err:
            raise BuildError([_locate(parsed, ("compile",), f"{type(err).__name__}: {err}")]) from err
    return model


def _locate(spec: Spec, path: tuple[Any, ...], message: str) -> Problem:
    from declar.spec.source import Document, parse_yaml

    doc = parse_yaml(spec.source_text, spec.source_file) if spec.source_text else None
    if isinstance(doc, Document):
        return doc.problem(path, message.splitlines()[0][:300], "Keras refused this layer", "keras-build",
                           at_key=spec.sequential and path[:1] == ("model",))
    return Problem(spec.source_file, 1, 1, path, message, "", "keras-build")


def save(source: SpecSource | Spec | keras.Model, out_path: str | os.PathLike[str]) -> None:
    """Build (unless given a model) and write a self-contained .keras archive atomically.

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> declar.save("specs/keras_guide/custom_build.yaml", out)
        >>> os.path.exists(out)
        True
    """
    from declar.archive import atomic_save

    model = source if hasattr(source, "save") and not isinstance(source, (str, os.PathLike)) else build(source)
    atomic_save(model, out_path)


def load(path: str | os.PathLike[str], *, compile: bool = True) -> keras.Model:
    """Load an archive strictly: safe_mode on, and lost state (skipped optimizer variables,
    a model that cannot be built, compile not restored) is an error, not a warning.

    Example:
        >>> import declar, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> declar.save("specs/keras_guide/custom_build.yaml", out)
        >>> declar.load(out).name
        'custom_build_model'
    """
    from declar._keras_hook import register
    from declar.archive import strict_load

    register()
    return strict_load(path, compile=compile)


def inspect(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a declar archive holds, read without keras (see `declar inspect`)."""
    from declar.archive import inspect_archive

    return inspect_archive(path)


__all__ = ["BuildError", "Spec", "SpecError", "build", "inspect", "load", "load_spec", "save"]
