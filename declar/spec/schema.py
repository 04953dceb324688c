"""The JSON Schema of the spec format and the one conversion point from jsonschema's errors.

Example:
    >>> from declar.spec.source import parse_yaml
    >>> doc = parse_yaml("declar: 2\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\nseeed: 3\\n")
    >>> [p.render() for p in schema_problems(doc)]
    ["<string>:5:1: error: unknown key 'seeed' (did you mean 'seed'?)"]
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from declar.data import DATA_DIR
from declar.errors import Problem
from declar.hints import did_you_mean
from declar.spec.catalog import catalog
from declar.spec.json_types import JSON_TYPES
from declar.spec.keras_objects import LAYER_KINDS, argument_kind
from declar.spec.source import Document

SCHEMA_FILE = "declar.schema.json"


@functools.cache
def schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    """The spec format's JSON Schema (Draft 2020-12), or another schema file shipped beside it."""
    return json.loads((DATA_DIR / name).read_text("utf-8"))


@functools.cache
def _validator() -> Draft202012Validator:
    # The schema has no recursive references, so they are inlined once: validation then never
    # resolves a $ref, which is most of jsonschema's time on a 1,000-layer spec.
    # The layer-argument schema is left to `layer_args_problems` (one small validator per layer,
    # only for the layers a spec uses), which keeps validation of a 1,000-layer spec fast.
    return Draft202012Validator(_inline_refs(schema(), SCHEMA_FILE, follow_files=False))


LAYER_SCHEMA_FILE = "keras-layers.schema.json"


@functools.cache
def _layer_validator(layer: str) -> Draft202012Validator | None:
    definition = schema(LAYER_SCHEMA_FILE)["$defs"].get(layer)
    if definition is None:
        return None
    # Unknown and missing arguments are declar's own checks (with "did you mean", and a custom
    # type's parameters beside its base layer's arguments): only the values are checked here.
    values_only = {k: v for k, v in definition.items() if k not in _NAME_RULES}
    # A layer-valued argument (`Bidirectional: {layer: {LSTM: ...}}`) is checked as a layer of its
    # own by the model checks, with its position; the editor's schema of it would report it twice.
    values_only["properties"] = {k: {} if argument_kind(layer, k) in LAYER_KINDS else rule
                                 for k, rule in definition.get("properties", {}).items()}
    return Draft202012Validator(_inline_refs(values_only, LAYER_SCHEMA_FILE))


_NAME_RULES = ("additionalProperties", "required", "defaultSnippets")


def layer_args_problems(doc: Document, path: tuple[Any, ...], layer: str, args: dict[str, Any]) -> list[Problem]:
    """Type and enum problems of a built-in layer's arguments (unknown names are checked elsewhere)."""
    validator = _layer_validator(layer)
    if validator is None:
        return []
    properties = validator.schema.get("properties", {})
    if all(_plainly_valid(properties.get(k, {}), v) for k, v in args.items()):
        return []  # the common case, decided without jsonschema's machinery
    return [p for error in validator.iter_errors(args) for p in _convert(doc, error, prefix=path)]


def _plainly_valid(rule: dict[str, Any], value: Any) -> bool:
    """True when ``value`` obviously satisfies ``rule``; False means "ask jsonschema"."""
    if "anyOf" in rule:
        return any(_plainly_valid(branch, value) for branch in rule["anyOf"])
    if "enum" in rule and value not in rule["enum"]:
        return False
    kind = rule.get("type")
    if kind is not None and not any(JSON_TYPES.get(k, lambda v: False)(value) for k in
                                    (kind if isinstance(kind, list) else [kind])):
        return False
    number = JSON_TYPES["number"](value)
    if ("minimum" in rule or "maximum" in rule) and not (
            number and rule.get("minimum", value) <= value <= rule.get("maximum", value)):
        return False
    if "items" in rule and not (isinstance(value, list) and all(_plainly_valid(rule["items"], v) for v in value)):
        return False
    if "pattern" in rule and not (isinstance(value, str) and re.search(rule["pattern"], value)):
        return False
    return set(rule) <= {"anyOf", "enum", "type", "default", "description", "minimum", "maximum",
                         "items", "pattern"} or (
        kind == "object" and isinstance(value, dict) and "class_name" in value)


def _inline_refs(node: Any, document: str, follow_files: bool = True) -> Any:
    """Replace every ``$ref`` (within a file, or to a sibling schema file) by its target."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref:
            target_doc, _, pointer = ref.partition("#")
            if target_doc and not follow_files:
                return {k: _inline_refs(v, document, follow_files) for k, v in node.items() if k != "$ref"}
            target_doc = target_doc or document
            target = schema(target_doc)
            for part in pointer.strip("/").split("/"):
                target = target[part]
            rest = {k: _inline_refs(v, document, follow_files) for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(target, target_doc, follow_files), **rest}
        return {k: _inline_refs(v, document, follow_files) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, document, follow_files) for v in node]
    return node


def schema_problems(doc: Document) -> list[Problem]:
    """Every schema violation of ``doc``, each located at its line and column."""
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_convert(doc, error))
    return problems


def _convert(doc: Document, error: ValidationError, prefix: tuple[Any, ...] = ()) -> Iterator[Problem]:
    path = (*prefix, *error.absolute_path)
    validator = error.validator
    if validator in ("if", "then", "else") and error.context:
        for sub in error.context:
            yield from _convert(doc, sub, prefix)
        return
    if validator in ("anyOf", "oneOf") and error.context:
        # A name that is not in a list of names: say so, with "did you mean".
        enum = [e for e in error.context if e.validator == "enum" and isinstance(e.instance, str)]
        if enum:
            yield from _convert(doc, enum[0], prefix)
            return
        # A value of the right JSON type: report what is wrong inside the branch for that type
        # (an unknown key in an object, say) rather than "not valid under any of the schemas".
        kind = _json_type(error.instance)
        branches = error.validator_value if isinstance(error.validator_value, list) else []
        matching = [i for i, b in enumerate(branches) if isinstance(b, dict) and _accepts_type(b, kind)]
        if len(matching) == 1:
            inner = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == matching[0]]
            if inner:
                for sub in inner:
                    yield from _convert(doc, sub, prefix)
                return
        if not matching:
            expected = list(dict.fromkeys(t for b in branches if isinstance(b, dict) for t in _types_of(b)))
            key = f"{path[-1]}: " if path and isinstance(path[-1], str) and prefix else ""
            got = f"{key}expected {' or '.join(expected)}, got {kind} {json.dumps(error.instance)}"
            yield doc.problem(path, got[:160],
                              error.schema.get("description", "")[:120], "schema-type")
            return
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        for key in error.instance:
            if key not in known and not any(p.search(key) for p in patterns):
                hint = did_you_mean(key, known) or (f"allowed keys: {', '.join(known)}" if known else "")
                if patterns:  # a graph node, whose layer is a CamelCase key
                    format_1 = key in ("layer", "args")  # not a layer in the wrong case: the old node form
                    layer = None if format_1 else _layers_by_lower_case().get(key.lower())
                    hint = ((f"did you mean '{layer}'? " if layer else "")
                            + f"a layer is a CamelCase key, e.g. `Dense: {{units: 8}}`; other keys: {', '.join(known)}"
                            + ("; `declar migrate` upgrades format 1 nodes" if format_1 else ""))
                yield doc.problem((*path, key), f"unknown key '{key}'", hint, "unknown-key", at_key=True)
        return
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield doc.problem(path, f"missing required key '{missing}'" + _where(path), _describe(error.schema, missing),
                          "missing-key", at_key=bool(path))
        return
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key at its parent object; point at the key itself.
        key = error.instance
        parent_schema = _schema_at(list(error.absolute_schema_path)[:-2]) if not prefix else {}
        yield doc.problem((*path, key), f"'{key}' is not a valid name here", _name_hint(parent_schema), "bad-name",
                          at_key=True)
        return
    yield doc.problem(path, _message(error), _hint(error), f"schema-{validator}")


def _where(path: tuple[Any, ...]) -> str:
    return f" in {path[-1]}" if path and isinstance(path[-1], str) else ""


def _describe(schema_part: dict[str, Any], key: str) -> str:
    prop = schema_part.get("properties", {}).get(key, {})
    return prop.get("description", "")


def _schema_at(schema_path: list[Any]) -> dict[str, Any]:
    node: Any = _validator().schema
    for part in schema_path:
        node = node[part]
    return node if isinstance(node, dict) else {}


def _name_hint(parent_schema: dict[str, Any]) -> str:
    names = parent_schema.get("propertyNames", {})
    if names.get("pattern", "").startswith("^[A-Z]") or names.get("$ref", "").endswith("typeName"):
        return "layer type names are CamelCase, e.g. Dense or MyLayer"
    return "names are Python identifiers: letters, digits and _, not starting with a digit"


@functools.cache
def _layers_by_lower_case() -> dict[str, str]:
    """Keras's layer names by their lower-case spelling: `dense` (a format-1 `layer: dense`) is `Dense`."""
    return {name.lower(): name for name in catalog().layers}


def _message(error: ValidationError) -> str:
    value = error.instance
    shown = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    v = error.validator
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        key = error.absolute_path[-1] if error.absolute_path else None
        where = f"{key}: " if isinstance(key, str) else ""
        return f"{where}expected {expected}, got {_json_type(value)} {shown}"
    kind = _object_kind(error.validator_value) if v == "enum" else None
    if kind:
        return f"unknown {kind} '{value}'"
    if v == "enum":
        choices = error.validator_value
        if len(choices) > 6:
            return f"{shown} is not one of the {len(choices)} accepted values"
        return f"{shown} is not one of {', '.join(json.dumps(x) for x in choices)}"
    if v == "const":
        return f"expected {json.dumps(error.validator_value)}, got {shown}"
    if v == "pattern":
        return f"{shown} is not a valid name"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        key = error.absolute_path[-1] if error.absolute_path else None
        where = f"{key}: " if isinstance(key, str) else ""
        return f"{where}{shown} is out of range ({v} {error.validator_value})"
    return error.message


@functools.cache
def _object_kinds() -> dict[frozenset[str], str]:
    cat = catalog()
    return {frozenset(cat.activations): "activation", frozenset(cat.initializers): "initializer",
            frozenset(cat.regularizers): "regularizer", frozenset(cat.constraints): "constraint"}


def _object_kind(choices: Any) -> str | None:
    """The kind of Keras object whose catalog names are ``choices`` (an enum of the layer schema)."""
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return None
    return _object_kinds().get(frozenset(choices))


def _hint(error: ValidationError) -> str:
    if error.validator == "enum" and isinstance(error.instance, str):
        return did_you_mean(error.instance, [str(x) for x in error.validator_value])
    return error.schema.get("description", "")[:120] if error.validator == "type" else ""


def _types_of(branch: dict[str, Any]) -> list[str]:
    kind = branch.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def _accepts_type(branch: dict[str, Any], kind: str) -> bool:
    kinds = _types_of(branch)
    return not kinds or kind in kinds or (kind == "integer" and "number" in kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
