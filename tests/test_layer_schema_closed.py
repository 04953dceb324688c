"""The layer-argument schema says everything about layer arguments that the catalog knows, so an
editor reading it flags what `declar validate` flags: closed argument sets (the base keyword
arguments included), required arguments as `required`, a description for every argument,
snippets of the required arguments, no refused layer offered, and typos of layer names refused
while custom types and blocks (names the schema cannot know) stay accepted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import declar
from declar.spec.catalog import COMMON_LAYER_ARGS, catalog
from declar.spec.facts import UNSAFE_LAYERS, UNUSABLE_LAYERS
from declar.spec.schema import LAYER_SCHEMA_FILE, schema

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "editor_corpus"
LAYERS = schema(LAYER_SCHEMA_FILE)["$defs"]
ITEM = LAYERS["sequentialItem"]
BUILT_INS = sorted(catalog().layers)


def editor_validator() -> Draft202012Validator:
    """The spec schema with every reference followed, as an editor reads it."""
    layers = schema(LAYER_SCHEMA_FILE)
    registry = Registry().with_resource(layers["$id"], Resource.from_contents(layers))
    return Draft202012Validator(schema(), registry=registry)


def test_every_built_in_layer_has_a_closed_argument_set_of_what_declar_accepts():
    for name in BUILT_INS:
        entry = LAYERS[name]
        assert entry["type"] == "object" and entry["additionalProperties"] is False, name
        assert set(entry["properties"]) == set(catalog().layers[name]) | set(COMMON_LAYER_ARGS), name


def test_required_arguments_are_standard_required():
    for name in BUILT_INS:
        assert LAYERS[name].get("required", []) == list(catalog().layers_required.get(name, ())), name


def test_every_argument_has_a_description():
    missing = [f"{name}.{arg}" for name in BUILT_INS for arg, rule in LAYERS[name]["properties"].items()
               if not rule.get("description", "").strip()]
    assert missing == []
    assert "dtype policy" in LAYERS["Dense"]["properties"]["dtype"]["description"]  # a base keyword argument


def test_no_private_keywords():
    text = (ROOT / "schemas" / LAYER_SCHEMA_FILE).read_text()
    assert not re.findall(r'"x-[a-z-]+"', text)


def test_refused_and_unusable_layers_are_not_offered_and_are_refused():
    offered = set(ITEM["properties"])
    not_for_models = set(UNSAFE_LAYERS) | set(UNUSABLE_LAYERS)
    assert offered == set(BUILT_INS) - not_for_models
    validator = Draft202012Validator(ITEM)
    for name in sorted(not_for_models):
        assert list(validator.iter_errors({name: {}})), name


def test_the_snippet_of_a_layer_inserts_its_required_arguments():
    conv = ITEM["properties"]["Conv2D"]
    assert [s["body"] for s in conv["defaultSnippets"]] == [{"filters": "${1}", "kernel_size": "${2}"}]
    for name, rule in ITEM["properties"].items():
        required = LAYERS[name].get("required")
        snippets = rule.get("defaultSnippets", [{"body": {}}])
        assert sorted(snippets[0]["body"]) == sorted(required or []), name


@pytest.mark.parametrize("name, flagged", [
    ("Conv2Dx", True), ("Dens", True), ("conv2d", True), ("Conv2d", True), ("LSTMs", True), ("Flatte", True),
    ("Flatten", False), ("PReLU", False), ("ReLU6", False), ("Dense_2", False), ("DenseBlock", False),
    ("TransformerBlock", False), ("Scale", False), ("Sampling", False)])
def test_typos_of_built_in_names_are_refused_and_custom_names_accepted(name, flagged):
    errors = list(editor_validator().iter_errors(
        {"declar": 2, "name": "m", "inputs": {"x": {"shape": [4]}}, "model": [{name: None}]}))
    assert bool(errors) == flagged, errors


def test_no_custom_type_or_block_of_the_repository_looks_like_a_typo():
    """The typo rule must not refuse a custom name written in the example and test specs."""
    pattern = next(p for p in ITEM["patternProperties"] if len(p) > 1000)
    names = set()
    for path in [*ROOT.glob("specs/**/*.yaml"), *ROOT.glob("tests/**/*.yaml")]:
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):  # the corpus of unreadable specs
            continue
        for section in ("layers", "blocks"):
            if isinstance(data, dict) and isinstance(data.get(section), dict):
                names |= {str(n) for n in data[section]}
    assert len(names) > 10
    assert [n for n in sorted(names) if re.search(pattern, n)] == []


def test_the_editor_schema_checks_the_list_and_graph_forms_as_validate_does():
    validator = editor_validator()
    for name, where in [("list_form.yaml", lambda i: ("model", i)),
                        ("graph_form.yaml", lambda n: ("model", "nodes", n))]:
        data = yaml.safe_load((CORPUS / name).read_text())
        found = sorted((tuple(e.absolute_path), str(e.validator)) for e in validator.iter_errors(data))
        first, typo, short = (0, 1, 2) if name == "list_form.yaml" else ("conv", "typo", "short")
        assert found == sorted([((*where(first), "Conv2D"), "additionalProperties"),
                                ((*where(first), "Conv2D"), "required"),
                                (where(typo), "None"),  # the false schema of a typo of a layer name
                                ((*where(short), "Conv2D"), "required")]), name
    assert [p.render() for p in declar.validate(CORPUS / "list_form.yaml")] == [
        f"{CORPUS / 'list_form.yaml'}:6:5: error: 'Conv2D' needs argument 'filters'",
        f"{CORPUS / 'list_form.yaml'}:6:14: error: 'Conv2D' has no argument 'filterz' (did you mean 'filters'?)",
        f"{CORPUS / 'list_form.yaml'}:7:5: error: unknown layer type 'Conv2Dx' (did you mean 'Conv2D'?)",
        f"{CORPUS / 'list_form.yaml'}:8:5: error: 'Conv2D' needs argument 'kernel_size'"]


def test_every_example_spec_and_custom_names_pass_the_editor_schema():
    validator = editor_validator()
    for path in [CORPUS / "custom_types.yaml", *ROOT.glob("specs/**/*.yaml")]:
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


@pytest.mark.parametrize("layer, message", [
    ("InputLayer: {shape: [4]}", "layer 'InputLayer' is made by declar from the spec's `inputs:`; it cannot be a "
                                 "layer of a model (declare the input under `inputs:`)"),
    ("Layer: {}", "layer 'Layer' is the base class of layers and has no call; it cannot be a layer of a model "
                  "(write a custom type with `extends: Layer` and a call)"),
    ("Wrapper: {layer: {Dense: {units: 2}}}", "layer 'Wrapper' is an abstract base class; it cannot be a layer of "
                                              "a model (use a wrapper such as Bidirectional or TimeDistributed)"),
])
def test_validate_refuses_the_layers_that_fail_at_build(tmp_path, layer, message):
    spec = tmp_path / "m.yaml"
    spec.write_text(f"declar: 2\nname: m\ninputs: {{x: {{shape: [4]}}}}\nmodel:\n  - {layer}\n"
                    "  - Dense: {units: 1}\n")
    assert [p.render() for p in declar.validate(spec)] == [f"{spec}:5:5: error: {message}"]
