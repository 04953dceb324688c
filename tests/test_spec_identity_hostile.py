"""Spec identity under attack: specs differing in one small thing are unequal in ==, hash and
sha256 alike; specs written differently are equal; nothing read from a Spec can change it; a Spec
and a LoadedSpec survive pickle and copy as the same spec."""

from __future__ import annotations

import copy
import pickle

import pytest
import yaml

import declar
from declar.spec.model import Spec

BASE = """\
declar: 2
name: m
description: a model
inputs:
  x: {shape: [10]}
layers:
  Vocab:
    extends: Dense
    params:
      vocab: {type: string, default: ""}
    assets:
      vocab: {kind: text, param: vocab, transform: {replace: {"<unk>": little}}}
  Scale:
    extends: Layer
    params:
      k: {type: number, default: 1.0}
    call: inputs * k
model:
  nodes:
    h:
      Vocab: {vocab: "a <unk>", units: 5, kernel_initializer: {class_name: Ones, config: {}}}
      inputs: x
      description: hidden
    out: {Scale: {k: 2.0}, inputs: h}
  outputs: out
compile: {optimizer: adam, loss: mse, metrics: [mae]}
"""


def spec_of(edit=None) -> Spec:
    data = yaml.safe_load(BASE)
    if edit:
        edit(data)
    return declar.load_spec(yaml.safe_dump(data, sort_keys=False)).spec


ONE_DIFFERENCE = {
    "compile_metric": lambda d: d["compile"].update(metrics=["mse"]),
    "compile_metric_added": lambda d: d["compile"].update(metrics=["mae", "mse"]),
    "distribution_layout": lambda d: d.update(distribution={"strategy": "mirrored"}),
    "asset_value": lambda d: d["model"]["nodes"]["h"]["Vocab"].update(vocab="b <unk>"),
    "asset_transform": lambda d: d["layers"]["Vocab"]["assets"]["vocab"]["transform"]["replace"].update(
        {"<unk>": "big"}),
    "layer_type_call": lambda d: d["layers"]["Scale"].update(call="k * inputs"),
    "node_description": lambda d: d["model"]["nodes"]["h"].update(description="other"),
    "nested_argument": lambda d: d["model"]["nodes"]["h"]["Vocab"]["kernel_initializer"].update(class_name="Zeros"),
    "param_default": lambda d: d["layers"]["Scale"]["params"]["k"].update(default=2.0),
}


@pytest.mark.parametrize("name", ONE_DIFFERENCE)
def test_specs_differing_in_one_thing_differ_in_eq_hash_and_sha256(name):
    a, b = spec_of(), spec_of(ONE_DIFFERENCE[name])
    assert a.sha256 != b.sha256
    assert a != b and hash(a) != hash(b)


def test_the_same_spec_written_differently_is_equal():
    flow = declar.load_spec(yaml.safe_dump(yaml.safe_load(BASE), default_flow_style=True)).spec
    reordered = spec_of(lambda d: [d.update({k: d.pop(k)}) for k in list(d)[::-1]])
    for other in (flow, reordered):
        assert other == spec_of() and hash(other) == hash(spec_of()) and other.sha256 == spec_of().sha256
    assert declar.load_spec(BASE) == declar.load_spec(yaml.safe_dump(yaml.safe_load(BASE)))
    assert len({declar.load_spec(BASE), declar.load_spec(BASE)}) == 1  # a LoadedSpec is hashable


MUTATIONS = {
    "nested_argument": lambda s: s.nodes[0].args["kernel_initializer"].update(class_name="Zeros"),
    "section_mapping": lambda s: s.section_data("compile").__setitem__("loss", "mae"),
    "section_list": lambda s: s.section_data("compile")["metrics"].append("mse"),
    "model_data": lambda s: s.section_data("model")["nodes"]["h"]["Vocab"].pop("units"),
    "layer_type_definition": lambda s: s.layer_types["Scale"].definition["params"]["k"].__setitem__("default", 3),
    "input_shape_list": lambda s: s.section_data("inputs")["x"]["shape"].extend([1]),
    "node_args": lambda s: s.nodes[0].args.__setitem__("units", 3),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_nothing_read_from_a_spec_can_change_it(name):
    spec = spec_of()
    sha, data = spec.sha256, spec.to_data()
    with pytest.raises((TypeError, AttributeError)):
        MUTATIONS[name](spec)
    assert spec.to_data() == data and Spec.from_data(spec.to_data()).sha256 == sha


def test_to_data_is_a_mutable_copy():
    spec = spec_of()
    data = spec.to_data()
    data["compile"]["metrics"].append("mse")
    assert spec.section_data("compile")["metrics"] == ["mae"]
    assert Spec.from_data(data) != spec


@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))])
def test_spec_and_loaded_spec_survive_pickle_and_copy(how):
    loaded = declar.load_spec(BASE)
    again = how(loaded)
    assert again == loaded and hash(again) == hash(loaded)
    assert again.spec.sha256 == loaded.spec.sha256 and again.spec.nodes == loaded.spec.nodes
    assert again.problem(("compile", "loss"), "x").render() == loaded.problem(("compile", "loss"), "x").render()
    assert how(loaded.spec) == loaded.spec
