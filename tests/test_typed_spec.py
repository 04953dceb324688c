"""The typed Spec: equal (and hash equal) exactly when its sha256 is; the load context beside it."""

from __future__ import annotations

import copy

import pytest

import declar
import declar.api
from declar.spec.load import check_spec, load_spec
from declar.spec.loaded import LoadedSpec
from declar.spec.model import JsonMap, Spec

BASE = {
    "declar": 2, "name": "m", "seed": 1,
    "inputs": {"x": {"shape": [4]}},
    "layers": {"Scaled": {"extends": "Dense", "params": {"k": {"type": "float", "default": 1.0}}}},
    "model": {"nodes": {"h": {"Dense": {"units": 3, "kernel_initializer": "zeros"}, "inputs": "x"},
                        "y": {"Scaled": {"units": 1}, "inputs": "h"}},
              "outputs": {"out": "y"}},
    "functions": {"l2": {"args": ["y_true", "y_pred"], "expr": "mean(square(y_pred - y_true), axis=-1)"}},
    "compile": {"optimizer": {"name": "adam", "learning_rate": 0.01}, "loss": "l2", "metrics": ["mae"]},
    "distribution": {"strategy": "model_parallel", "mesh": {"shape": [1, 1], "axis_names": ["batch", "model"]},
                     "layout_map": {"h/kernel": [None, "model"]}},
}


def changed(path: tuple, value: object) -> dict:
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


ONE_FIELD_CHANGES = {
    "units": (("model", "nodes", "h", "Dense", "units"), 4),
    "initializer": (("model", "nodes", "h", "Dense", "kernel_initializer"), "ones"),
    "compile metric": (("compile", "metrics"), ["mse"]),
    "learning rate": (("compile", "optimizer", "learning_rate"), 0.02),
    "distribution mesh": (("distribution", "mesh", "shape"), [2, 1]),
    "layout": (("distribution", "layout_map", "h/kernel"), ["model", None]),
    "seed": (("seed",), 2),
    "output name": (("model", "outputs"), {"prediction": "y"}),
    "function": (("functions", "l2", "expr"), "mean(abs(y_pred - y_true), axis=-1)"),
    "custom type default": (("layers", "Scaled", "params", "k", "default"), 2.0),
    "node input form": (("model", "nodes", "h", "inputs"), ["x"]),
}


@pytest.mark.parametrize("what", sorted(ONE_FIELD_CHANGES))
def test_specs_differing_in_one_field_are_unequal_with_different_hashes(what):
    path, value = ONE_FIELD_CHANGES[what]
    a, b = Spec.from_data(BASE), Spec.from_data(changed(path, value))
    assert a.sha256 != b.sha256
    assert a != b
    assert hash(a) != hash(b)
    assert len({a, b}) == 2


def test_a_node_differing_only_in_its_arguments_is_another_node():
    a = Spec.from_data(BASE).node("h")
    b = Spec.from_data(changed(("model", "nodes", "h", "Dense", "units"), 4)).node("h")
    assert a != b and hash(a) != hash(b)


def test_specs_saying_the_same_thing_are_equal_whatever_the_key_order():
    reordered = {k: BASE[k] for k in reversed(list(BASE))}
    reordered["compile"] = {"metrics": ["mae"], "loss": "l2", "optimizer": {"learning_rate": 0.01, "name": "adam"}}
    a, b = Spec.from_data(BASE), Spec.from_data(reordered)
    assert a == b and hash(a) == hash(b) and a.sha256 == b.sha256
    assert len({a, b}) == 1


def test_a_yaml_file_and_its_data_make_equal_specs():
    text = ("declar: 1\nname: m\ninputs: {x: {shape: [3]}}\n"
            "model:\n  - Dense: {units: 2, activation: relu}  # a comment does not count\n")
    data = {"model": [{"Dense": {"activation": "relu", "units": 2}}], "inputs": {"x": {"shape": [3]}},
            "name": "m", "declar": 2}
    assert load_spec(text).spec == Spec.from_data(data)


def test_the_spec_is_immutable_and_its_data_a_fresh_copy():
    spec = Spec.from_data(BASE)
    with pytest.raises(AttributeError):
        spec.nodes = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.node("h").args["units"] = 9  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.layer_types["Other"] = spec.layer_types["Scaled"]  # type: ignore[index]
    before = spec.sha256
    spec.to_data()["seed"] = 99
    assert spec.to_data()["seed"] == 1 and spec.sha256 == before
    source = copy.deepcopy(BASE)
    from_source = Spec.from_data(source)
    source["seed"] = 5
    assert from_source.sha256 == before


def test_every_section_is_typed():
    spec = Spec.from_data(BASE)
    assert (spec.header.format_version, spec.name, spec.seed) == (2, "m", 1)
    assert (spec.outputs.refs, spec.outputs.names, spec.outputs.form) == (("y",), ("out",), "mapping")
    compile_ = spec.compile
    assert compile_ is not None
    assert (compile_.optimizer.name, dict(compile_.optimizer.args)) == ("adam", {"learning_rate": 0.01})
    assert list(compile_.loss.names()) == ["l2"] and list(compile_.metrics.names()) == ["mae"]
    assert spec.functions["l2"].args == ("y_true", "y_pred")
    distribution = spec.distribution
    assert distribution is not None and distribution.mesh is not None
    assert distribution.mesh.axis_names == ("batch", "model")
    assert distribution.layout_map == (("h/kernel", (None, "model")),)
    assert spec.node("h").args_path == ("model", "nodes", "h", "Dense")


def test_a_schedule_and_clipping_are_typed_apart_from_the_other_optimizer_arguments():
    data = changed(("compile", "optimizer"), {"name": "sgd", "clipnorm": 1.0, "momentum": 0.9,
                                              "learning_rate": {"name": "exponential_decay",
                                                                "initial_learning_rate": 0.1,
                                                                "decay_steps": 10, "decay_rate": 0.9}})
    optimizer = Spec.from_data(data).compile.optimizer
    assert optimizer.schedule is not None and optimizer.schedule.name == "exponential_decay"
    assert dict(optimizer.clipping) == {"clipnorm": 1.0}
    assert "learning_rate" not in optimizer.args


def test_json_map_compares_by_content():
    assert JsonMap({"a": [1, {"b": 2}]}) == JsonMap({"a": [1, {"b": 2}]})
    assert JsonMap({"a": 1}) != JsonMap({"a": 1.5})
    assert JsonMap({"a": 1}) == {"a": 1}


def test_the_loader_keeps_the_document_and_the_origin_beside_the_spec(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("declar: 1\nname: m\ninputs: {x: {shape: [3]}}\nmodel: [{Dense: {units: 1}}]\n")
    loaded, problems = check_spec(path)
    assert problems == [] and isinstance(loaded, LoadedSpec)
    assert loaded.origin.file == str(path) and loaded.origin.base_dir == str(tmp_path.resolve())
    assert not loaded.origin.archive and loaded.document.data["name"] == "m"
    assert not hasattr(loaded.spec, "source_text") and not hasattr(loaded.spec, "base_dir")
    assert declar.load_spec(path) == loaded


def test_a_build_error_is_located_from_the_kept_document_without_parsing_again(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    import declar.spec.source as source

    path = tmp_path / "m.yaml"
    path.write_text("declar: 1\nname: m\ninputs: {x: {shape: [3]}}\nmodel:\n  - Dense: {units: 2}\n"
                    "  - Reshape: {target_shape: [5]}\n")
    loaded = declar.load_spec(path)

    def no_second_parse(*args, **kwargs):
        raise AssertionError("the spec was parsed again")

    monkeypatch.setattr(source, "parse_yaml", no_second_parse)
    with pytest.raises(declar.api.BuildError) as raised:
        declar.build(loaded)
    assert raised.value.problems[0].render().startswith(f"{path}:6:5: error: ")


def test_build_takes_a_path_a_loaded_spec_and_a_bare_spec(tmp_path):
    pytest.importorskip("keras")
    text = "declar: 1\nname: m\ninputs: {x: {shape: [3]}}\nmodel: [{Dense: {units: 1}}]\n"
    path = tmp_path / "m.yaml"
    path.write_text(text)
    loaded = declar.load_spec(path)
    models = [declar.build(x, compile=False) for x in (path, loaded, loaded.spec)]
    assert {m.declar_spec.sha256 for m in models} == {loaded.spec.sha256}
