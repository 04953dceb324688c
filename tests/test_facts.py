"""Each fact of `declar.spec.facts` against the schema's enums and the installed Keras.

The tables are written once, by hand; these tests fail when the JSON Schema says otherwise or when
Keras no longer agrees (a policy it refuses, a strategy engine it dropped, a layer it renamed, a
change in how it names layers).
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from declar.spec.catalog import catalog
from declar.spec.facts import DTYPE_POLICIES, DTYPES, MODEL_DTYPE_POLICIES, STRATEGIES, UNSAFE_LAYERS, snake_case
from declar.spec.load import load_spec
from declar.spec.schema import schema

keras = pytest.importorskip("keras")
from keras.src.utils.naming import to_snake_case  # noqa: E402  (after the backend is chosen)

from declar.keras.layer import LayerBuildError, layer_class  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {"schemas/declar.schema.json": json.loads((ROOT / "schemas" / "declar.schema.json").read_text()),
           "packaged": schema()}


@pytest.mark.parametrize("where", sorted(SCHEMAS))
def test_schema_enums_are_the_tables(where):
    defs = SCHEMAS[where]["$defs"]
    assert defs["dtypePolicy"]["enum"] == list(MODEL_DTYPE_POLICIES)
    assert defs["dtype"]["enum"] == list(DTYPES)
    assert defs["distribution"]["properties"]["strategy"]["enum"] == [s for b in STRATEGIES.values() for s in b]


def test_model_policies_are_layer_policies():
    assert set(MODEL_DTYPE_POLICIES) < set(DTYPE_POLICIES)


@pytest.mark.parametrize("policy", DTYPE_POLICIES)
def test_every_dtype_policy_is_one_keras_accepts_by_name(policy):
    assert keras.dtype_policies.get(policy).name == policy


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_is_a_keras_dtype_name(dtype):
    assert keras.backend.standardize_dtype(dtype) == dtype


@pytest.mark.parametrize(("backend", "strategy", "engine"),
                         [(b, s, e) for b, table in STRATEGIES.items() for s, e in table.items()])
def test_every_strategy_engine_exists(backend, strategy, engine):
    package, *path = engine.split(".")
    found = pytest.importorskip({"tf": "tensorflow"}.get(package, package))
    for attribute in path:
        found = getattr(found, attribute)
    assert isinstance(found, type), f"{strategy} ({backend}): {engine}"


def test_strategies_cover_the_backends_with_a_distribution_engine():
    assert set(STRATEGIES) == {"tensorflow", "jax", "torch"}
    assert not STRATEGIES["torch"]


@pytest.mark.parametrize("name", sorted(UNSAFE_LAYERS))
def test_every_refused_layer_is_a_keras_layer_and_refused_by_the_lookup(name):
    assert issubclass(getattr(keras.layers, name), keras.layers.Layer)
    assert name in catalog().layers  # what makes refusing it necessary
    with pytest.raises(LayerBuildError, match=f"layer '{name}' .*; declar refuses it"):
        layer_class(name)


@pytest.mark.parametrize("name", sorted(set(catalog().layers) - set(UNSAFE_LAYERS)))
def test_lookup_finds_every_catalog_layer_as_keras_exports_it(name):
    assert layer_class(name) is getattr(keras.layers, name)


@pytest.mark.parametrize("name", ["Input", "deserialize", "InputSpec", "Dens", ""])
def test_lookup_refuses_what_is_not_a_built_in_layer_class(name):
    with pytest.raises(LayerBuildError, match="is not a built-in Keras layer"):
        layer_class(name)


def test_lookup_never_consults_the_registry_of_custom_objects():
    class Impostor(keras.layers.Layer):
        pass

    custom = keras.saving.get_custom_objects()
    custom["Dense"] = Impostor  # where keras.layers.deserialize({"class_name": "Dense", ...}) would look first
    try:
        assert layer_class("Dense") is keras.layers.Dense
    finally:
        del custom["Dense"]


def test_snake_case_is_keras_to_snake_case_for_every_catalog_name():
    names = [*catalog().layers, *(c for classes in catalog().object_classes.values() for c in classes),
             "LSTMCell", "Conv2D", "CustomBuild", "HTTPServer2D", "A", "Scale_2x"]
    assert [snake_case(n) for n in names] == [to_snake_case(n) for n in names]


def test_snake_case_examples_from_the_issue():
    assert (snake_case("LSTMCell"), snake_case("Conv2D")) == ("lstm_cell", "conv2d")


def _cheap_layers():
    required = catalog().layers_required
    return sorted(n for n in catalog().layers if n not in required and n not in UNSAFE_LAYERS)


def test_snake_case_of_the_class_is_the_name_keras_gives_an_unnamed_layer():
    named = 0
    for name in _cheap_layers():
        cls = getattr(keras.layers, name)
        try:
            layer = cls()
        except Exception:  # a layer that needs more than its defaults is skipped
            continue
        base = snake_case(cls.__name__)
        assert re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name), (name, layer.name, base)
        named += 1
    assert named > 50


def test_unnamed_sequential_layers_are_named_as_keras_names_them():
    layers = [("Conv1D", {"filters": 2, "kernel_size": 1}), ("Conv1D", {"filters": 2, "kernel_size": 1}),
              ("LayerNormalization", {}), ("GlobalAveragePooling1D", {}), ("Dense", {"units": 1})]
    spec = load_spec("declar: 1\nname: m\ninputs: {x: {shape: [8, 4]}}\nmodel:\n"
                     + "".join(f"  - {name}: {json.dumps(args)}\n" for name, args in layers)).spec
    keras.backend.clear_session()  # Keras numbers names per session; declar per model
    expected = [getattr(keras.layers, name)(**args).name for name, args in layers]
    assert [node.name for node in spec.nodes] == expected == ["conv1d", "conv1d_1", "layer_normalization",
                                                              "global_average_pooling1d", "dense"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return found | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_facts_import_neither_keras_nor_jsonschema():
    assert _imports(ROOT / "declar" / "spec" / "facts.py") <= {"__future__", "re"}


@pytest.mark.parametrize("module", sorted((ROOT / "declar" / "keras").glob("*.py")), ids=lambda p: p.name)
def test_the_build_never_imports_the_semantic_checks(module):
    assert not {m for m in _imports(module) if m.startswith("declar.spec.checks")}
