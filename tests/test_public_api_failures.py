"""What the public functions do with inputs a user gets wrong: a DeclarError with problems and a
code for a bad spec or file, a TypeError naming what is accepted for a value of the wrong type."""

from __future__ import annotations

import pytest

import declar


def test_directory_named_without_yaml_suffix_is_read_as_a_path_not_as_yaml_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    with pytest.raises(declar.SpecError) as refused:
        declar.load_spec("specs")
    assert str(refused.value) == ("specs:1:1: error: the spec is a directory, not a regular file "
                                  "(give the path of a .yaml file)")
    assert refused.value.problems[0].code == "file"
    (problem,) = declar.validate("specs")
    assert problem.message == "the spec is a directory, not a regular file"


def test_spec_file_named_without_yaml_suffix_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = "declar: 2\nname: m\ninputs: {x: {shape: [3]}}\nmodel: [{Dense: {units: 1}}]\n"
    (tmp_path / "model.spec").write_text(spec)
    assert declar.load_spec("model.spec").spec.name == "m"
    assert declar.load_spec("model.spec").origin.file == "model.spec"


@pytest.mark.parametrize("value", [5, None, b"declar: 2", ["spec.yaml"]])
def test_value_of_the_wrong_type_is_a_type_error_naming_what_is_accepted(value):
    for function in (declar.load_spec, declar.validate):
        with pytest.raises(TypeError, match=f"a spec is a path, YAML text, a Spec or a LoadedSpec, not "
                                            f"{type(value).__name__}$"):
            function(value)
