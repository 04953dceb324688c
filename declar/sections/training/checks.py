"""The training section's checks: what the schema cannot say about its settings and callbacks.

Each callback is looked up in the allow-list (`allow_list`) and its arguments in the catalog's
signature of the Keras class (``callbacks``), without importing keras: an unknown callback gets a
did-you-mean, a refused one its reason, an unknown argument a did-you-mean, a wrong type the type
Keras wants, a path that is absolute or climbs out through ``..`` is refused.
"""

from __future__ import annotations

import posixpath
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
# A width or precision of three digits or more: str.format would build a string that long
# (`{epoch:2000000000d}` is 2 GB) before the file name is refused.
_WIDE_FORMAT = re.compile(r"[0-9]{3,}")
_BACKUP_DELETES = "BackupAndRestore deletes its directory when training ends"


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
    yield from _check_backup_overlap(doc, section.get("callbacks"))


def _normal(path: str) -> str:
    """A relative path as a comparable form: ``./a//b/`` is ``a/b``, the directory itself ``.``."""
    return posixpath.normpath(path.replace("\\", "/"))


def _check_backup_overlap(doc: Document, callbacks: Any) -> Iterator[Problem]:
    """No callback writes under a BackupAndRestore directory: Keras deletes it when training ends."""
    if not isinstance(callbacks, list):
        return
    paths = [(i, name, args[PATH_ARGS[name]]) for i, item in enumerate(callbacks)
             if isinstance(item, Mapping) and len(item) == 1
             for name, args in item.items()
             if name in PATH_ARGS and isinstance(args, Mapping) and isinstance(args.get(PATH_ARGS[name]), str)]
    backups = [_normal(p) for _, name, p in paths if name == "BackupAndRestore" and _normal(p) != "."]
    for i, name, value in paths:
        if name == "BackupAndRestore":
            continue
        for backup in backups:
            if _normal(value) == backup or _normal(value).startswith(backup + "/"):
                yield doc.problem((*BASE, "callbacks", i, name, PATH_ARGS[name]),
                                  f"{name} {PATH_ARGS[name]} {value!r} is under BackupAndRestore's backup_dir "
                                  f"{backup!r}", f"{_BACKUP_DELETES}; write it elsewhere", "callback-arg")
                break


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
        elif key == "save_freq" and value != "epoch" and (isinstance(value, bool) or not isinstance(value, int)
                                                          or value < 1):
            yield doc.problem(where, f"{name} save_freq {typed_repr(value)} is neither 'epoch' nor a number of "
                              "batches", "save_freq: epoch (the default) or a whole number of batches, e.g. 100",
                              "callback-arg")
        elif name == "ReduceLROnPlateau" and key == "factor" and value >= 1.0:
            yield doc.problem(where, f"ReduceLROnPlateau factor {value} must be below 1.0",
                              "the learning rate is multiplied by it when the metric stops improving: 0.5 halves it",
                              "callback-arg")
        elif key == PATH_ARGS.get(name):
            yield from _check_path(doc, where, value, "the output archive's directory")
            if name == "BackupAndRestore" and not path_refusal(value) and _normal(value) == ".":
                yield doc.problem(where, f"BackupAndRestore backup_dir {value!r} is the output archive's directory",
                                  f"{_BACKUP_DELETES}; give it a directory of its own, e.g. backup", "callback-arg")
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
        elif _WIDE_FORMAT.search(spec or ""):
            yield doc.problem(path, f"ModelCheckpoint filepath field {{{field}}} has a width or precision over 99",
                              "a file name holds no more; {epoch:02d}, {val_loss:.3f}", "callback-arg")
