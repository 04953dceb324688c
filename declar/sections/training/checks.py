"""The training section's checks: what the schema cannot say about its settings and callbacks.

Each callback is looked up in the allow-list (`allow_list`) and its arguments in the catalog's
signature of the Keras class (``callbacks``), without importing keras: an unknown callback gets a
did-you-mean, a refused one its reason, an unknown argument a did-you-mean, a wrong type the type
Keras wants, a path that is absolute or climbs out through ``..`` is refused.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.sections.training.allow_list import ALLOWED, MODES, PATH_ARGS, REFUSED, REFUSED_ARGS
from declar.sections.training.paths import path_refusal
from declar.spec.catalog import arg_type_ok, catalog
from declar.spec.json_types import typed_repr
from declar.spec.loaded import LoadedSpec
from declar.spec.source import Document

BASE = ("training",)
DATA_PATHS = ("data", "validation_data")
"""Settings naming files `declar fit` reads: relative to the spec."""

# What a `{field:spec}` of ModelCheckpoint's filepath may hold: a name (epoch, batch or a logged
# metric) and a plain format spec. Keras calls str.format with it, which would otherwise reach
# attributes and items of its arguments (`{epoch.__class__}`).
_FORMAT_SPEC = re.compile(r"[0-9a-zA-Z.,_+\- <>=^#%]*")


def check_training(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    """Every problem of the ``training:`` section, located (the callbacks' names and arguments)."""
    doc = loaded.document
    section = doc.data.get("training")
    if not isinstance(section, Mapping) or not section:
        return
    for key in DATA_PATHS:
        if isinstance(section.get(key), str):
            yield from _check_path(doc, (*BASE, key), section[key], "the spec's directory")
    if "validation_split" in section and "validation_data" in section:
        yield doc.problem((*BASE, "validation_data"), "give validation_split or validation_data, not both",
                          "validation_split holds out part of the training data; validation_data is another file",
                          "training-validation", at_key=True)
    if isinstance(section.get("class_weight"), Mapping):
        for key in section["class_weight"]:
            if not _class_index(key):
                yield doc.problem((*BASE, "class_weight", key), f"class_weight key {key!r} is not a class index",
                                  "the keys are class indices 0, 1, 2...: the integer labels of the training data",
                                  "class-weight", at_key=True)
    for i, item in enumerate(section.get("callbacks") or ()):
        yield from _check_callback(doc, (*BASE, "callbacks", i), item)


def _class_index(key: Any) -> bool:
    return (isinstance(key, int) and not isinstance(key, bool) and key >= 0) or \
        (isinstance(key, str) and key.isascii() and key.isdigit())


def _check_path(doc: Document, path: JsonPath, value: str, relative_to: str) -> Iterator[Problem]:
    refusal = path_refusal(value)
    if refusal:
        yield doc.problem(path, f"path {value!r} {refusal}", f"give a path relative to {relative_to}, without ..",
                          "training-path")


def _check_callback(doc: Document, path: JsonPath, item: Any) -> Iterator[Problem]:
    if isinstance(item, str):
        name, args, name_path, at_key = item, {}, path, False
    elif isinstance(item, Mapping) and len(item) == 1:
        (name, args), = item.items()
        name_path, at_key = (*path, name), True
    else:
        return  # the schema reports a callback that is neither a name nor a one-key mapping
    if name in REFUSED:
        yield doc.problem(name_path, f"callback '{name}' is refused: {REFUSED[name]}",
                          f"allowed callbacks: {', '.join(ALLOWED)}", "callback-refused", at_key=at_key)
        return
    if name not in ALLOWED:
        hint = did_you_mean(str(name), ALLOWED) or f"allowed callbacks: {', '.join(ALLOWED)}"
        yield doc.problem(name_path, f"unknown callback {name!r}", hint, "unknown-callback", at_key=at_key)
        return
    if not isinstance(args, Mapping):
        return  # the schema reports arguments that are not a mapping
    yield from _check_arguments(doc, (*path, name), name, args)


def _check_arguments(doc: Document, path: JsonPath, name: str, args: Mapping[str, Any]) -> Iterator[Problem]:
    signature = catalog().callbacks[name]
    known, types = signature["args"], signature["types"]
    misspelt = set()  # a required argument written with a typo is one mistake, reported once
    for key, value in args.items():
        where = (*path, key)
        if (name, key) in REFUSED_ARGS:
            yield doc.problem(where, f"{name} argument '{key}' is refused: {REFUSED_ARGS[name, key]}", "",
                              "callback-arg", at_key=True)
        elif key not in known:
            hint = did_you_mean(str(key), known)
            misspelt.add(hint.removeprefix("did you mean '").removesuffix("'?"))
            yield doc.problem(where, f"{name} has no argument {key!r}", hint or f"arguments: {', '.join(known)}",
                              "unknown-arg", at_key=True)
        elif key in types and not arg_type_ok(types[key], value):
            expected = types[key]
            shown = expected.removesuffix("?") + (" or null" if expected.endswith("?") else "")
            yield doc.problem(where, f"{name} argument '{key}' expects {shown}, got {typed_repr(value)}"[:160], "",
                              "param-type")
        elif key == "mode" and value not in MODES:
            yield doc.problem(where, f"{name} mode {value!r} is not one of {', '.join(MODES)}",
                              did_you_mean(str(value), MODES), "callback-arg")
        elif key == PATH_ARGS.get(name):
            yield from _check_path(doc, where, value, "the output archive's directory")
            if name == "ModelCheckpoint":
                yield from _check_checkpoint_path(doc, where, value, bool(args.get("save_weights_only")))
    missing = [a for a in signature["required"] if a not in args and a not in misspelt]
    if missing:
        yield doc.problem(path, f"{name} needs argument{'s' * (len(missing) > 1)} "
                          f"{', '.join(repr(m) for m in missing)}", "", "missing-arg", at_key=True)


def _check_checkpoint_path(doc: Document, path: JsonPath, value: str, weights_only: bool) -> Iterator[Problem]:
    """ModelCheckpoint's filepath: the file kind Keras writes, and only plain ``{name:spec}`` fields."""
    ending = ".weights.h5" if weights_only else ".keras"
    if not value.endswith(ending):
        hint = "with save_weights_only: true, Keras writes a .weights.h5 file" if weights_only else \
            "a declar archive; for the weights alone, save_weights_only: true and a .weights.h5 file"
        yield doc.problem(path, f"ModelCheckpoint filepath {value!r} must end in {ending}", hint, "callback-arg")
        return
    try:
        fields = [(f, conv, spec) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as err:
        yield doc.problem(path, f"ModelCheckpoint filepath {value!r}: {err}", "write a literal brace as {{ or }}",
                          "callback-arg")
        return
    for field, conversion, spec in fields:
        if not field.isidentifier() or conversion is not None or not _FORMAT_SPEC.fullmatch(spec or ""):
            yield doc.problem(path, f"ModelCheckpoint filepath field {{{field}}} is not a plain name",
                              "fields name the epoch, the batch or a logged metric, with an optional format: "
                              "{epoch:02d}, {val_loss:.3f}", "callback-arg")
