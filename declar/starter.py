"""A starter spec for `declar init NAME`: valid, buildable, with the editor's schema modeline.

The first line, ``# yaml-language-server: $schema=...``, turns on completion, hover docs and
checking in editors with the YAML language server. It points at the schema's published ``$id``
(https://declar.dev/schemas/declar.schema.json, where the self-contained file of `declar schema
--bundle` is served), never at a file of this machine: the spec is committed and opened on other
machines, where a path into this machine's site-packages or checkout does not exist, and a
schema copied into the project would go stale when declar is upgraded. `--schema` overrides it
(a path relative to the spec, e.g. to a bundle written with `declar schema --bundle`, for work
offline).

Example:
    >>> from declar.spec.load import validate
    >>> validate(starter_spec("my_model", schema_ref="declar.schema.json"))
    []
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from declar.errors import StarterError
from declar.spec.schema import schema
from declar.spec.versions import FORMAT_VERSION

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

TEMPLATE = """\
# yaml-language-server: $schema={schema_ref}
# A starter declar spec. Check it with `declar validate {file}`, see its layers with
# `declar build {file}`, write a model archive with `declar save {file} {name}.keras`.
declar: {version}
name: {name}
description: A small binary classifier to start from.
seed: 42                      # same spec and seed, same initial weights, in every process
inputs:
  features: {{shape: [16]}}     # one input of 16 numbers per example (batch size left out)
layers:                       # custom layer types, used in `model:` like Keras's own
  FeatureScale:
    extends: Layer
    description: A learned scale per feature, initialized to 1.
    variables:
      gain: {{shape: "[input_shape[-1]]", initializer: ones}}
    call: inputs * gain
model:                        # a list is a sequential model; see the docs for graphs
  - FeatureScale: {{}}
  - Dense: {{units: 32, activation: relu}}
  - Dropout: {{rate: 0.1}}
  - Dense: {{units: 1, activation: sigmoid}}
compile:
  optimizer: {{name: adam, learning_rate: 0.001}}
  loss: binary_crossentropy
  metrics: [binary_accuracy]
"""


def schema_ref() -> str:
    """The schema's published address: the same on every machine.

    Example:
        >>> schema_ref()
        'https://declar.dev/schemas/declar.schema.json'
    """
    return schema()["$id"]


def starter_spec(name: str, *, file: str = "spec.yaml", schema_ref: str) -> str:
    """The text of a starter spec for a model called ``name``."""
    if not IDENTIFIER.match(name):
        suggestion = re.sub(r"\W", "_", name)
        suggestion = suggestion if IDENTIFIER.match(suggestion) else "my_model"
        raise StarterError(f"the model name {name!r} must be a Python identifier of at most 64 characters "
                           f"(letters, digits, _; not starting with a digit), e.g. {suggestion!r}")
    return TEMPLATE.format(name=name, file=file, schema_ref=schema_ref, version=FORMAT_VERSION)


def default_path(name: str) -> Path:
    """``NAME.declar.yaml``: the pre-commit hook's ``files`` pattern matches it anywhere."""
    return Path(f"{name}.declar.yaml")


def write_starter(name: str, out: str | os.PathLike[str] | None = None, *, schema: str | None = None) -> Path:
    """Write the starter spec (never over an existing file) and return its path."""
    path = Path(out) if out is not None else default_path(name)
    text = starter_spec(name, file=str(path), schema_ref=schema or schema_ref())
    if not path.parent.is_dir():
        raise StarterError(f"{path}: directory {path.parent} does not exist", file=os.fspath(path))
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": fails if the file exists, even in a race
            f.write(text)
    except FileExistsError:
        raise StarterError(f"{path} already exists; not overwriting it (choose another name with -o)",
                           file=os.fspath(path)) from None
    return path


__all__ = ["StarterError", "schema_ref", "starter_spec", "write_starter"]
