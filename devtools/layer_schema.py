"""The JSON Schema of every built-in Keras layer's arguments, generated from the installed Keras.

``python -m devtools.generate`` writes ``schemas/keras-layers.schema.json`` with it: for each
layer, its arguments with descriptions (from the docstring's ``Args:`` section), defaults, and
types or enums where they are certain (booleans, activations, initializers, regularizers,
constraints, padding and data format). The spec schema refers to it, so editors complete and
explain layer arguments, and `declar validate` reports a mistyped one at its line. Unknown
arguments are left to the semantic check, which can say "did you mean".
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from declar.spec.catalog import COMMON_LAYER_ARGS
from declar.spec.keras_objects import KINDS, LAYER_KINDS, argument_kind
from devtools.catalog import arg_names, keras_layers, required_args

SCHEMA_ID = "https://declar.dev/schemas/keras-layers.schema.json"
_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments):\s*$")
_ARG_LINE = re.compile(r"^(\s*)(\w+):\s*(.*)$")


def docstring_args(doc: str | None) -> dict[str, str]:
    """Argument descriptions from a Google-style docstring's ``Args:`` section."""
    if not doc:
        return {}
    lines = doc.splitlines()
    out: dict[str, str] = {}
    inside, indent, current = False, None, None
    for line in lines:
        if _ARGS_HEADER.match(line):
            inside, indent, current = True, None, None
            continue
        if not inside:
            continue
        if line.strip() and indent is not None and len(line) - len(line.lstrip()) < indent:
            inside = False  # a new section started
            continue
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = match.group(2)
            out[current] = match.group(3).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return {k: re.sub(r"\s+", " ", v)[:400] for k, v in out.items()}


def _shared_defs(catalog: dict[str, Any]) -> dict[str, Any]:
    """One definition per kind of Keras object: a known name, {class_name, config}, or null."""
    as_object = {"type": "object", "required": ["class_name"],
                 "properties": {"class_name": {"type": "string"}, "config": {"type": "object"}}}
    return {f"_{kind}": {"description": f"A Keras {kind}: a name, {{class_name, config}}, or null.",
                         "anyOf": [{"type": "string", "enum": catalog[f"{kind}s"], "x-kind": kind}, as_object,
                                   {"type": "null"}]}
            for kind in KINDS}


def _object_schema(kind: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/_{kind}"}


def _arg_schema(layer: str, name: str, param: inspect.Parameter, catalog: dict[str, Any], description: str
                ) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    default = param.default
    if default is not param.empty:
        try:
            json.dumps(default)
            schema["default"] = default
        except (TypeError, ValueError):
            pass
    if name == "activation" or name.endswith("_activation"):
        schema.update(_object_schema("activation"))
    elif name.endswith("_initializer"):
        schema.update(_object_schema("initializer"))
    elif name.endswith("_regularizer"):
        schema.update(_object_schema("regularizer"))
    elif name.endswith("_constraint"):
        schema.update(_object_schema("constraint"))
    elif name == "padding" and isinstance(default, str):
        modes = ["valid", "same", "causal"] if layer.endswith("1D") and "Conv" in layer else ["valid", "same"]
        schema["enum"] = modes + [m.upper() for m in modes]  # Keras accepts either case
    elif name == "data_format":
        schema["enum"] = ["channels_last", "channels_first", None]
    elif isinstance(default, bool):
        schema["type"] = "boolean"
    elif _FRACTION_DOC.match(description):
        schema.update(type="number", minimum=0, maximum=1)  # "rate: Float between 0 and 1"
    elif isinstance(default, float) or (default is param.empty and _FLOAT_DOC.match(description)):
        # A float argument given a string ("1e-6" quoted, "0.5x") passes Keras's constructor and
        # fails only when the model runs: refuse it at validate.
        schema["type"] = "number"
    elif _SIZES_DOC.match(description):  # kernel_size, strides, dilation_rate, pool_size
        positive = {"type": "integer", "minimum": 1}
        schema["anyOf"] = [positive, {"type": "array", "items": positive}]
    elif default is param.empty and (_INTEGER_DOC.match(description) or (name in _COUNTS and
                                     re.match(r"^int\b", description, re.I))):
        schema["type"] = "integer"  # "units: Positive integer, ..." and the like
        if description.lower().startswith("positive") or name in _COUNTS:
            schema["minimum"] = 1
    return schema


_LAYER_ARG_DOC = ("A layer written as in a model, `{LSTM: {units: 64}}` (a built-in or a custom type of the "
                  "spec), or Keras's `{class_name, config}` (a built-in).")

# Sizes that Keras requires to be at least 1 when they are plain integers.
_COUNTS = frozenset({"units", "filters", "input_dim", "output_dim"})
_FRACTION_DOC = re.compile(r"^float between 0 and 1\b", re.I)
_FLOAT_DOC = re.compile(r"^(positive |non-negative )?float\b(?!.{0,40}\b(tuple|list|or)\b)", re.I)
_SIZES_DOC = re.compile(r"^int or tuple(/list)? of \d+ integers?\b", re.I)


# A docstring that starts by saying the argument is one integer (not "int or tuple of ints").
_INTEGER_DOC = re.compile(r"^(positive |non-negative )?(integer|int)\b(?!.{0,40}\b(tuple|list|or)\b)", re.I)


def generate(layers: dict[str, type], catalog: dict[str, Any]) -> dict[str, Any]:
    """The layer-argument schema for the given layer classes."""
    defs: dict[str, Any] = {}
    for name, cls in sorted(layers.items()):
        docs = docstring_args(cls.__doc__)
        properties: dict[str, Any] = {}
        parameters = inspect.signature(cls.__init__).parameters
        for pname in arg_names(cls):
            prop = _arg_schema(name, pname, parameters[pname], catalog, docs.get(pname, ""))
            if docs.get(pname):
                prop["description"] = docs[pname]
            if argument_kind(name, pname) in LAYER_KINDS:  # checked by declar as a node's layer
                prop["description"] = _LAYER_ARG_DOC + (f" Keras: {docs[pname]}" if docs.get(pname) else "")
            properties[pname] = prop
        for common in COMMON_LAYER_ARGS:
            properties.setdefault(common, {})
        summary = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        required = required_args(cls)
        entry: dict[str, Any] = {"type": ["object", "null"], "description": f"keras.layers.{name}: {summary}"[:300],
                                 "properties": properties}
        if required:
            entry["x-required"] = required  # reported by declar's own check, with the layer's position
        defs[name] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Arguments of the built-in Keras layers",
        "description": f"Generated from Keras {catalog['keras_version']} by `python -m devtools.generate`.",
        "$defs": {
            "sequentialItem": {
                "description": "A layer of a Sequential model: `LayerName: {arguments}`.",
                "type": "object",
                "properties": {name: {"$ref": f"#/$defs/{name}"} for name in defs},
            },
            **_shared_defs(catalog),
            **defs,
        },
    }


def render(catalog: dict[str, Any]) -> str:
    """The layer-argument schema file's content for the installed Keras, given its catalog."""
    return json.dumps(generate(keras_layers(), catalog), indent=1, sort_keys=True) + "\n"
