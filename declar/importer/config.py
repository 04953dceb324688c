"""What a Keras model is made of, read from its serialized config without running any of it.

A .keras file from a stranger is a zip whose ``config.json`` names the classes Keras would
instantiate; a `Lambda` layer in it carries Python bytecode, a custom class names a module to
import. This module reads that config (member sizes checked first, as `declar.archive` does) and
walks it as plain JSON, so every layer that cannot become a spec is named before Keras is asked to
load anything, and the rest of the model is still listed.

Example:
    >>> config = {"class_name": "Sequential", "module": "keras", "config": {"name": "m", "layers": [
    ...     {"class_name": "Dense", "module": "keras.layers", "config": {"name": "d", "units": 2}},
    ...     {"class_name": "Lambda", "module": "keras.layers", "config": {"name": "double"}}]}}
    >>> survey(config).refused
    ["layer 'double' (class Lambda) is custom Python code and cannot become a spec"]
    >>> survey(config).importable
    ['d']
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from declar.archive import _check_zip, _read_json_member
from declar.spec.catalog import catalog
from declar.spec.facts import UNSAFE_LAYERS

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
"""Keras's own model classes: a nested one becomes a block; any other model class is a subclass."""
CUSTOM = "is custom Python code and cannot become a spec"


class Unimportable(ValueError):
    """A built-in construct the spec language cannot say (a ragged input, a keras.ops call on a
    tensor); `declar.importer.convert` raises it, the import reports it as a refusal."""


@dataclass
class Survey:
    """The layers of a model config: the names that would import, and why the others cannot."""

    importable: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model config of a .keras file, its member sizes checked against the current limits
    before anything is read (`declar.archive`'s checks); nothing in it is deserialized."""
    archive = Path(path)
    _check_zip(archive)
    with zipfile.ZipFile(archive) as z:
        return _read_json_member(z, archive, "config.json")


def is_builtin(entry: dict[str, Any]) -> bool:
    """Whether a serialized object names a Keras class: a ``keras`` module and no registered
    (custom-object) name, which is what Keras writes for its own classes."""
    module = entry.get("module")
    registered = entry.get("registered_name")
    return isinstance(module, str) and (module == "keras" or module.startswith("keras.")) and \
        (registered is None or registered == entry.get("class_name"))


def class_label(entry: dict[str, Any]) -> str:
    """The class as a refusal names it: Keras's registered name (``my_pkg>Scale``) when it has one."""
    return str(entry.get("registered_name") or entry.get("class_name"))


def is_model(entry: dict[str, Any]) -> bool:
    """A nested model of Keras's own classes (a block in the spec)."""
    return entry.get("class_name") in MODEL_CLASSES and is_builtin({**entry, "registered_name": None})


def survey(config: dict[str, Any]) -> Survey:
    """Walk a serialized model: each layer (inside nested models and wrappers too) either imports
    or is refused with a message naming it."""
    result = Survey()
    if not is_model(config):
        name = (config.get("config") or {}).get("name", "?")
        result.refused.append(f"model '{name}' (class {class_label(config)}) subclasses keras.Model with its "
                              "own call and cannot become a spec")
        return result
    for entry in _layers(config):
        if str(entry.get("module", "")).startswith("keras.src.ops"):
            continue  # an operation Keras recorded (a mask's not_equal): the converter decides
        problem = _refusal(entry)
        if problem:
            result.refused.append(problem)
        elif entry.get("class_name") != "InputLayer":
            result.importable.append(_name(entry))
    compile_config = config.get("compile_config")
    for obj in _objects(compile_config if isinstance(compile_config, dict) else None):
        if not is_builtin(obj):  # a custom loss or metric is Python code as a custom layer is
            result.refused.append(f"compile setting '{_name(obj)}' (class {class_label(obj)}) {CUSTOM}")
    return result


def _name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or (entry.get("config") or {}).get("name") or "?")


def _layers(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in (model.get("config") or {}).get("layers") or ():
        if not isinstance(entry, dict):
            continue
        if is_model(entry):
            yield from _layers(entry)
        else:
            yield entry


def _refusal(entry: dict[str, Any]) -> str | None:
    """Why one layer (and any layer its config holds) cannot import, or None."""
    name, cls = _name(entry), entry.get("class_name")
    if cls in UNSAFE_LAYERS:
        reason = CUSTOM if cls == "Lambda" else f"{UNSAFE_LAYERS[cls]} and cannot become a spec"
        return f"layer '{name}' (class {cls}) {reason}"
    if not is_builtin(entry):
        return f"layer '{name}' (class {class_label(entry)}) {CUSTOM}"
    if cls not in catalog().layers:
        return f"layer '{name}' (class {cls}) is not a layer declar's catalog knows"
    for inner in _objects(entry.get("config")):
        if str(inner.get("module")).startswith("keras.layers"):
            problem = _refusal(inner)
        elif not is_builtin(inner):  # a custom initializer or activation is Python code as a layer is
            problem = f"layer '{name}' uses class {class_label(inner)}, which {CUSTOM}"
        else:
            problem = None
        if problem:
            return problem
    return None


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """The serialized objects inside a config (a wrapper's ``layer``, an initializer), outermost only."""
    if isinstance(value, list):
        for item in value:
            yield from _objects(item)
    elif isinstance(value, dict):
        if "class_name" in value:
            yield value
        else:
            for item in value.values():
                yield from _objects(item)
