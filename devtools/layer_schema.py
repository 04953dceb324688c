"""The JSON Schema of every built-in Keras layer's arguments, generated from the installed Keras.

``python -m devtools.generate`` writes ``schemas/keras-layers.schema.json`` with it: for each
layer, a closed set of its arguments (the base keyword arguments every layer takes included),
the required ones as ``required``, descriptions (from the docstring's ``Args:`` section along
the class's bases, else `ARG_DESCRIPTIONS`), defaults, types, enums and ranges where they are
certain, and a snippet inserting the required arguments. ``sequentialItem`` is what a layer key
of a Sequential item or a graph node may be: a built-in with its closed schema, a refused or
unusable built-in (not offered, refused), a near miss of a built-in name (``Conv2Dx``, ``Dens``,
``conv2d``: refused, so an editor flags the typo), or any other CamelCase name, which is a custom
type or block of the spec (`declar validate` checks that it is defined). ``blockItem`` is the same
for a block's node, whose values may be expressions over the block's parameters: only the
argument names are checked there.

The file is standard JSON Schema 2020-12 with one editor annotation, ``defaultSnippets``
(yaml-language-server and VS Code), and no union types, so ajv in strict mode accepts it.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from declar.spec.catalog import COMMON_LAYER_ARGS
from declar.spec.facts import DTYPE_POLICIES, UNSAFE_LAYERS, UNUSABLE_LAYERS
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
                         "anyOf": [{"type": "string", "enum": catalog[f"{kind}s"]}, as_object,
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


# A layer-valued argument: `{LSTM: {units: 64}}` checked as a Sequential item (a custom name is
# left to declar), `{class_name, config}` (which no built-in layer name spells), or null.
_ONE_LAYER = {"anyOf": [{"$ref": "#/$defs/sequentialItem"}, {"type": "null"}]}
_SOME_LAYERS = {"type": "array", "items": {"$ref": "#/$defs/sequentialItem"}}
_LAYER_VALUES: dict[str, dict[str, Any]] = {
    "layer": _ONE_LAYER, "layers": _SOME_LAYERS, "layer or layers": {"anyOf": [*_ONE_LAYER["anyOf"], _SOME_LAYERS]}}

_LAYER_ARG_DOC = ("A layer written as in a model, `{LSTM: {units: 64}}` (a built-in or a custom type of the "
                  "spec), or Keras's `{class_name, config}` (a built-in).")

# Sizes that Keras requires to be at least 1 when they are plain integers.
_COUNTS = frozenset({"units", "filters", "input_dim", "output_dim"})
_FRACTION_DOC = re.compile(r"^float between 0 and 1\b", re.I)
_FLOAT_DOC = re.compile(r"^(positive |non-negative )?float\b(?!.{0,40}\b(tuple|list|or)\b)", re.I)
_SIZES_DOC = re.compile(r"^int or tuple(/list)? of \d+ integers?\b", re.I)


# A docstring that starts by saying the argument is one integer (not "int or tuple of ints").
_INTEGER_DOC = re.compile(r"^(positive |non-negative )?(integer|int)\b(?!.{0,40}\b(tuple|list|or)\b)", re.I)


# The base keyword arguments every layer takes (`COMMON_LAYER_ARGS`), as declar accepts them.
BASE_ARGS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
             "description": "The layer's name in the Keras model (default: the graph node's name, or one Keras "
                            "makes from the class name)."},
    "trainable": {"type": "boolean", "description": "Whether the layer's variables are updated by training "
                  "(default: true)."},
    "dtype": {"enum": [*DTYPE_POLICIES, None], "description": "The layer's dtype policy: the dtype of its "
              "variables and computations (`mixed_float16` computes in float16 with float32 variables); "
              "default: the spec's `dtype_policy`."},
    "autocast": {"type": "boolean", "description": "Whether the layer casts its floating-point inputs to its "
                 "compute dtype (default: true)."},
    "input_shape": {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                    "description": "Shape of the layer's input without the batch axis (Keras's shortcut for an "
                                   "input layer; in a spec the model's `inputs:` give the shapes)."},
    "input_dim": {"type": "integer", "minimum": 1,
                  "description": "Size of the input's last axis (Keras's shortcut for `input_shape=(input_dim,)`)."},
}

# Descriptions of the arguments whose Keras docstring (along the class's bases) says nothing.
ARG_DESCRIPTIONS: dict[str, str] = {
    "data_format": "string, either `\"channels_last\"` or `\"channels_first\"`: the ordering of the dimensions "
                   "in the inputs. Defaults to the `image_data_format` value of your Keras config file "
                   "(`channels_last` unless changed).",
    "seed": "Integer seed of the layer's random draws (the same seed gives the same draws).",
    "weights": "Initial weights of the wrapped layers (the forward layer's, then the backward layer's).",
    "output_padding": "int or tuple/list of 3 integers: the padding added to the output along depth, height and "
                      "width (each less than its stride). `None` infers it.",
    "quantization_config": "Configuration of a quantized layer (Keras's quantization API); `None` for a float layer.",
    "lora_alpha": "Scale of the LoRA update, which is multiplied by `lora_alpha / lora_rank` "
                  "(default: `lora_rank`).",
    "gptq_unpacked_column_size": "Set by GPTQ quantization: the kernel's column count before packing.",
    "shape": "Shape of the input without the batch axis.",
    "batch_size": "Fixed batch size of the input, or `None`.",
    "sparse": "Whether the input is a sparse tensor.",
    "ragged": "Whether the input is a ragged tensor.",
    "batch_shape": "Shape of the input including the batch axis.",
    "input_tensor": "An existing tensor to wrap as the input.",
    "optional": "Whether the input may be `None`.",
    "params": "Parameters of the wrapped JAX function.",
    "state": "Non-trainable state of the wrapped JAX function.",
    "native_serialization_platforms": "Platforms the wrapped JAX function is serialized for.",
    "activity_regularizer": "Optional regularizer function for the output of the layer.",
    "autocast": BASE_ARGS["autocast"]["description"],
    "mask_value": "Timesteps whose features all equal this value are masked (skipped by the layers after it).",
    "fill_value": "Value of the padding added to boxes and labels beyond their count.",
    "layers": "The layers applied one after the other.",
    "value_range": "The range of the input values, `[low, high]`, e.g. `[0, 255]`.",
    "antialias": "Whether to use an antialiasing filter when downsampling an image.",
    "call_training_endpoint": "Name of the SavedModel endpoint called in training.",
    "output_shape": "Shape of the wrapped module's output.",
}


def argument_descriptions(cls: type) -> dict[str, str]:
    """What the docstrings of ``cls`` and its bases say about each argument (the class's own first)."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        for doc in (getattr(base.__init__, "__doc__", None), base.__doc__):
            docs.update({k: v for k, v in docstring_args(doc).items() if v})
    return docs


def near_miss_pattern(names: list[str], usable: list[str]) -> str:
    """A pattern matching a typo of a name in ``usable`` and no name in ``names``: the name with
    one or two letters added at its end (``Conv2Dx``), its last character (or, in a name of six or
    more, its last two) dropped or changed to up to two letters (``Dens``, ``Dence``), or the name
    in another case (``conv2d``).

    Adding digits, an underscore or a word is no typo (`ReLU6`, `Dense_2`, `DenseBlock` are custom
    names). A typo inside a name (`Desne`) is left to `declar validate`, which knows the spec's
    own types: the pattern stays small (validators such as check-jsonschema compile it per use).

    Example:
        >>> import re
        >>> pattern = near_miss_pattern(["Conv2D", "Dense", "PReLU", "ReLU"], ["Conv2D", "Dense", "ReLU"])
        >>> [n for n in ("Conv2Dx", "Dens", "Densr", "dense", "ReLu", "PReLU", "ReLU6", "Dense", "DenseBlock")
        ...  if re.search(pattern, n)]
        ['Conv2Dx', 'Dens', 'Densr', 'dense', 'ReLu']
    """
    long_enough = [n for n in usable if len(n) >= 4]  # Add, Dot, GRU...: near many words; only the case counts
    stems = sorted({n[:-1] for n in long_enough} | {n[:-2] for n in long_enough if len(n) >= 6})
    any_case = ["".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in n) for n in usable]
    return (f"^(?!(?:{'|'.join(names)})$)(?:(?:{'|'.join(long_enough)})[A-Za-z]{{1,2}}"
            f"|(?:{'|'.join(stems)})[A-Za-z]{{0,2}}|{'|'.join(any_case)})$")


def _layer_entry(name: str, cls: type, catalog: dict[str, Any]) -> dict[str, Any]:
    """One layer's closed argument schema."""
    docs = argument_descriptions(cls)
    properties: dict[str, Any] = {}
    parameters = inspect.signature(cls.__init__).parameters
    for pname in arg_names(cls):
        description = docs.get(pname) or ARG_DESCRIPTIONS[pname]  # a KeyError: write its description
        prop = _arg_schema(name, pname, parameters[pname], catalog, docs.get(pname, ""))
        prop["description"] = description
        kind = argument_kind(name, pname)
        if kind in LAYER_KINDS:  # checked by declar as a node's layer
            prop = {**_LAYER_VALUES[kind], "description": _LAYER_ARG_DOC + f" Keras: {description}"}
        properties[pname] = prop
    for common in COMMON_LAYER_ARGS:  # what declar accepts; a KeyError: describe it in BASE_ARGS
        properties.setdefault(common, dict(BASE_ARGS[common]))
    summary = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    entry: dict[str, Any] = {"type": "object", "description": f"keras.layers.{name}: {summary}"[:300],
                             "properties": properties, "additionalProperties": False}
    required = required_args(cls)
    if required:
        entry["required"] = required
    return entry


def _item_property(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A layer key of a Sequential item or graph node: its arguments, and the snippet an editor
    inserts on completing the key (the required arguments, not every argument with a default)."""
    if "required" not in entry:  # no required arguments: may be written with no value (`Flatten:`)
        return {"anyOf": [{"$ref": f"#/$defs/{name}"}, {"type": "null"}]}
    body = {arg: f"${{{i}}}" for i, arg in enumerate(entry["required"], 1)}
    # `allOf` rather than a `$ref` beside the snippet: yaml-language-server ignores the siblings of a `$ref`
    return {"allOf": [{"$ref": f"#/$defs/{name}"}],
            "defaultSnippets": [{"description": f"{name} with its required arguments", "body": body}]}


def _block_item_property(entry: dict[str, Any]) -> dict[str, Any]:
    """A layer key of a block's node: the closed set of argument names and the required ones."""
    names: dict[str, Any] = {"type": "object", "description": entry["description"],
                             "properties": {arg: True for arg in entry["properties"]}, "additionalProperties": False}
    if "required" not in entry:
        return {"anyOf": [names, {"type": "null"}]}
    return {**names, "required": entry["required"]}


def generate(layers: dict[str, type], catalog: dict[str, Any]) -> dict[str, Any]:
    """The layer-argument schema for the given layer classes."""
    defs = {name: _layer_entry(name, cls, catalog) for name, cls in sorted(layers.items())}
    refused = sorted(n for n in defs if n in UNSAFE_LAYERS or n in UNUSABLE_LAYERS)
    usable = [n for n in defs if n not in refused]
    item_properties = {n: _item_property(n, defs[n]) for n in usable}
    refusals = {
        f"^(?:{'|'.join(refused)})$": False,  # refused by declar, or failing at build
        near_miss_pattern(sorted(defs), usable): False,  # a typo of a built-in's name
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Arguments of the built-in Keras layers",
        "description": f"Generated from Keras {catalog['keras_version']} by `python -m devtools.generate`.",
        "$defs": {
            "sequentialItem": {
                "description": "A layer of a Sequential model or a graph node: `LayerName: {arguments}`, a built-in "
                               "layer or a custom type or block of the spec.",
                "type": "object",
                "properties": item_properties,
                "patternProperties": refusals,
            },
            "blockItem": {
                "description": "A layer of a block's node: `LayerName: {arguments}`, whose values may be "
                               "expressions over the block's parameters (`units: width * 4`), so only the "
                               "argument names are checked here.",
                "type": "object",
                "properties": {n: _block_item_property(defs[n]) for n in usable},
                "patternProperties": refusals,
            },
            **_shared_defs(catalog),
            **defs,
        },
    }


def render(catalog: dict[str, Any]) -> str:
    """The layer-argument schema file's content for the installed Keras, given its catalog."""
    return json.dumps(generate(keras_layers(), catalog), indent=1, sort_keys=True) + "\n"
