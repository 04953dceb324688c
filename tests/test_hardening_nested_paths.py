"""Round 2 of the hardening attacks: a lookup layer's file path nested inside a layer-valued argument,
a layout_map with thousands of keys, a closed stdout pipe, and archive fields that nothing verifies.

Each test is named after the attack it stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_hardening_gate import SECRET, FifoWatch, located
from test_hostile_archives import config_of, rewrite
from typer.testing import CliRunner

import declar
from declar.archive import ArchiveError
from declar.cli import EXIT_BROKEN_PIPE, app
from declar.spec.model import canonical_json
from declar.spec.patterns import MAX_LAYOUT_KEYS

LOOKUPS = ("StringLookup", "IntegerLookup", "TextVectorization")
PATH_FRAGMENT = "as a string is a file path, which declar never reads"

# Every argument that takes a layer, with `{L}` where the hostile lookup layer goes.
WRAPPERS = {
    "Pipeline": "Pipeline: {{layers: [{L}]}}",
    "Pipeline, second layer": "Pipeline: {{layers: [{{class_name: Identity}}, {L}]}}",
    "TimeDistributed": "TimeDistributed: {{layer: {L}}}",
    "Bidirectional layer": "Bidirectional: {{layer: {L}}}",
    "Bidirectional backward_layer": "Bidirectional: {{layer: {{class_name: LSTM, config: {{units: 2}}}}, "
                                    "backward_layer: {L}}}",
    "SpectralNormalization": "SpectralNormalization: {{layer: {L}}}",
    "RNN cell": "RNN: {{cell: {L}}}",
    "RNN list of cells": "RNN: {{cell: [{{class_name: LSTMCell, config: {{units: 2}}}}, {L}]}}",
    "StackedRNNCells": "StackedRNNCells: {{cells: [{L}]}}",
    "Pipeline inside TimeDistributed": "TimeDistributed: {{layer: {{class_name: Pipeline, config: "
                                       "{{layers: [{L}]}}}}}}",
    "Bidirectional of TimeDistributed": "Bidirectional: {{layer: {{class_name: TimeDistributed, config: "
                                        "{{layer: {L}}}}}}}",
}
CASES = [(w, lookup) for w in WRAPPERS for lookup in LOOKUPS]
IDS = [f"{lookup} in {w}" for w, lookup in CASES]


def _lookup(lookup: str, path: str) -> str:
    return f"{{class_name: {lookup}, config: {{vocabulary: '{path}'}}}}"


def _spec(wrapper: str, lookup: str, path: str) -> str:
    layer = WRAPPERS[wrapper].format(L=_lookup(lookup, path))
    return f"declar: 1\nname: m\ninputs:\n  x: {{shape: [1], dtype: string}}\nmodel:\n  - {layer}\n"


def _layer_value(wrapper: str, lookup: str, path: str) -> dict:
    """The wrapper's layer as the embedded spec holds it (JSON, as in an archive)."""
    import yaml

    return yaml.safe_load(_spec(wrapper, lookup, path))["model"][0]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(f"{SECRET}\n")
    return path


def _output(result) -> str:
    return result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize(("wrapper", "lookup"), CASES, ids=IDS)
def test_lookup_layer_nested_in_a_layer_argument_cannot_name_a_vocabulary_file(wrapper, lookup, secret, tmp_path):
    text = _spec(wrapper, lookup, str(secret))
    line, col = located(text, f"'{secret}'")
    problems = declar.validate(text)
    hits = [p for p in problems if PATH_FRAGMENT in p.message]
    assert hits, f"accepted: {[p.render() for p in problems]}"
    assert (hits[0].line, hits[0].col) == (line, col), hits[0].render()
    assert hits[0].hint == f"give the list itself; {lookup} would open the file"
    spec = tmp_path / "attack.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(spec)])
    output = _output(result)
    assert result.exit_code == 1, output
    assert f"{spec}:{line}:{col}: error: 'vocabulary' {PATH_FRAGMENT} (give the list itself; {lookup} would" in output
    assert "Traceback" not in output and SECRET not in output


def test_build_and_save_of_a_nested_vocabulary_path_read_nothing_and_write_no_archive(secret, tmp_path):
    """`declar build` and `declar save` (CLI and API) stop at validation; the secret reaches no output or archive."""
    for i, (wrapper, lookup) in enumerate([("Pipeline", "StringLookup"), ("TimeDistributed", "IntegerLookup"),
                                           ("Bidirectional layer", "TextVectorization"), ("RNN cell", "StringLookup")]):
        spec = tmp_path / f"attack{i}.yaml"
        spec.write_text(_spec(wrapper, lookup, str(secret)))
        line, col = located(spec.read_text(), f"'{secret}'")
        out = tmp_path / f"attack{i}.keras"
        for command in (["build", str(spec)], ["save", str(spec), str(out)]):
            result = CliRunner().invoke(app, command)
            output = _output(result)
            assert result.exit_code == 1, output
            assert f"{spec}:{line}:{col}: error:" in output and PATH_FRAGMENT in output, output
            assert "Traceback" not in output and SECRET not in output
        with pytest.raises(declar.SpecError, match=PATH_FRAGMENT):
            declar.save(spec, out)
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.suffix == ".keras" or ".tmp" in p.name]


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_layer_built_without_validation_refuses_a_vocabulary_path_before_keras_opens_it(lookup, tmp_path):
    """Defence at build: every layer declar constructs passes `with_layer_objects`, which refuses the
    path before the layer exists; a FIFO proves nothing opened it (a read would block on it)."""
    from declar.keras.layer import DeclarLayer, LayerBuildError, with_layer_objects

    watch = FifoWatch(tmp_path / "fifo")
    hostile = {"class_name": lookup, "config": {"vocabulary": str(watch.path)}}
    attempts = [
        (lookup, hostile["config"]),  # a node's own layer
        ("Pipeline", {"layers": [hostile]}),
        ("TimeDistributed", {"layer": hostile}),
        ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {"units": 2}}, "backward_layer": hostile}),
        ("RNN", {"cell": [hostile]}),
        ("TimeDistributed", {"layer": {"class_name": "Pipeline", "config": {"layers": [hostile]}}}),
    ]
    for layer, args in attempts:
        with pytest.raises(LayerBuildError, match=f"'vocabulary' {PATH_FRAGMENT}") as err:
            with_layer_objects(layer, args)
        assert f"give the list itself; {lookup} would open the file" in str(err.value)
    # A custom type's base, made in Python (no spec, no validation).
    types = {"T": {"extends": lookup, "call": "base(inputs)"}}
    with pytest.raises(LayerBuildError, match=PATH_FRAGMENT):
        DeclarLayer(types=types, layer_type="T", args={"vocabulary": str(watch.path)}, name="t")
    types = {"P": {"extends": "Pipeline", "call": "base(inputs)"}}
    with pytest.raises(LayerBuildError, match=PATH_FRAGMENT):
        DeclarLayer(types=types, layer_type="P", args={"layers": [hostile]}, name="p")
    assert watch.close() is False, "the FIFO was opened"


@pytest.fixture(scope="module")
def lookup_archive(tmp_path_factory) -> Path:
    """A real declar archive whose model is a Pipeline of a StringLookup with its vocabulary inline."""
    out = tmp_path_factory.mktemp("lookup")
    spec = out / "lookup.yaml"
    spec.write_text("declar: 1\nname: lookup\ninputs:\n  x: {shape: [1], dtype: string}\nmodel:\n"
                    "  - Pipeline: {layers: [{class_name: StringLookup, config: {vocabulary: [a, b]}}]}\n")
    declar.save(spec, out / "lookup.keras")
    return out / "lookup.keras"


def _resealed(src: Path, dst: Path, layer: dict) -> Path:
    """``src`` with the first layer of its embedded spec replaced and the sha256 recomputed, as an
    attacker would: the hash covers the spec, so a consistent forgery is easy."""
    config = config_of(src)
    spec = config["config"]["spec"]
    spec["model"][0] = layer
    config["config"]["sha256"] = hashlib.sha256(canonical_json(spec).encode()).hexdigest()
    return rewrite(src, dst, config)


def test_archive_whose_resealed_spec_nests_a_vocabulary_path_is_refused_by_both_loaders(lookup_archive, tmp_path):
    import keras

    watch = FifoWatch(tmp_path / "fifo")
    for i, (wrapper, lookup) in enumerate(CASES):
        hostile = _resealed(lookup_archive, tmp_path / f"hostile{i}.keras",
                            _layer_value(wrapper, lookup, str(watch.path)))
        with pytest.raises(ArchiveError) as err:
            declar.load(hostile)
        assert f"'vocabulary' {PATH_FRAGMENT}" in str(err.value) and lookup in str(err.value), (wrapper, str(err.value))
        assert "vocabulary" in str(err.value)
        with pytest.raises(Exception, match=PATH_FRAGMENT):  # whatever Keras wraps it in
            keras.models.load_model(hostile, safe_mode=False)
        result = CliRunner().invoke(app, ["inspect", str(hostile)])  # inspect reads no vocabulary either
        assert "Traceback" not in _output(result)
    assert watch.close() is False, "the FIFO was opened"
    # The untampered archive still loads, and its lookup works.
    model = declar.load(lookup_archive)
    assert model.layers[-1].__class__.__name__ == "Pipeline"


def _layout_spec(keys: int) -> str:
    layout = "".join(f"    'dense_{i}/kernel': [null, model]\n" for i in range(keys))
    return ("declar: 1\nname: lm\ninputs:\n  x: {shape: [4]}\nmodel:\n  - Dense: {units: 2}\n"
            "distribution:\n  strategy: model_parallel\n  mesh: {shape: [1], axis_names: [model]}\n"
            f"  layout_map:\n{layout}")


@pytest.mark.parametrize("keys", [MAX_LAYOUT_KEYS + 1, 3_000, 6_000])
def test_layout_map_of_thousands_of_keys_is_refused_at_the_layout_map(keys, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("KERAS_BACKEND", "jax")  # model_parallel is JAX's; validate never imports it
    text = _layout_spec(keys)
    line, col = located(text, "layout_map")
    start = time.perf_counter()
    problems = declar.validate(text)
    assert time.perf_counter() - start < 5
    assert [p.render() for p in problems] == [
        f"<string>:{line}:{col}: error: layout_map has {keys:,} keys, over the limit of {MAX_LAYOUT_KEYS}: each "
        "variable path is matched against every key (let one pattern cover many variables, e.g. dense_\\d+/kernel)"]
    spec = tmp_path / "lm.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 1 and f"{spec}:{line}:{col}: error: layout_map has" in _output(result)


def test_layout_map_at_the_key_bound_is_accepted(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert declar.validate(_layout_spec(MAX_LAYOUT_KEYS)) == []


def test_make_distribution_refuses_a_layout_map_over_the_bound_before_keras_matches_it(monkeypatch):
    """The second lock in declar/sections/distribution/build.py, on whatever backend runs the tests."""
    import keras

    from declar.sections.distribution import build as distribute
    from declar.spec.model import DistributionSpec

    if keras.backend.backend() != "jax":
        monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "jax")
        monkeypatch.setattr(distribute.keras, "distribution", _FakeDistribution(), raising=False)
    section = {"strategy": "model_parallel", "mesh": {"shape": [1], "axis_names": ["model"]},
               "layout_map": {f"dense_{i}/kernel": [None, "model"] for i in range(3_000)}}
    with pytest.raises(ValueError, match=r"distribution\.layout_map has 3,000 keys, over the limit of 256"):
        distribute.make_distribution(DistributionSpec.from_data(section))


class _FakeDistribution:
    """Stands in for keras.distribution off JAX; reaching ModelParallel means the bound was not applied."""

    class LayoutMap(dict):
        def __init__(self, mesh):
            super().__init__()

    def list_devices(self):
        return ["cpu:0"]

    def DeviceMesh(self, **kwargs):  # Keras's names
        return kwargs

    def ModelParallel(self, **kwargs):
        raise AssertionError("reached ModelParallel with an unbounded layout map")


def _many_problems(tmp_path: Path) -> Path:
    """A spec whose problem listing is far larger than a pipe's buffer (64 KiB)."""
    args = ", ".join(f"bogus_argument_{i}: 1" for i in range(3_000))
    spec = tmp_path / "many.yaml"
    spec.write_text(f"declar: 1\nname: m\ninputs:\n  x: {{shape: [4]}}\nmodel:\n  - Dense: {{units: 2, {args}}}\n")
    return spec


def test_stdout_closed_by_head_ends_quietly_with_the_sigpipe_code(tmp_path):
    spec = _many_problems(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # A real pipe, its reader gone after one line.
    proc = subprocess.Popen([sys.executable, "-m", "declar.cli", "validate", str(spec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) == EXIT_BROKEN_PIPE == 141
    assert b"has no argument 'bogus_argument_0'" in first
    assert "internal error" not in stderr and "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    # And as a user types it, under pipefail.
    shell = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m declar.cli validate '{spec}' "
                            "| head -3"], capture_output=True, text=True, env=env, timeout=60)
    assert shell.returncode == 141, shell.stderr
    assert len(shell.stdout.splitlines()) == 3 and shell.stderr == "", shell.stderr
    # Without the pipe closed the same command still lists everything and exits 1.
    full = subprocess.run([sys.executable, "-m", "declar.cli", "validate", str(spec)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert full.returncode == 1 and full.stdout.count("has no argument") == 3_000


def test_stdout_whose_reader_left_before_the_first_write_ends_quietly(lookup_archive, tmp_path):
    """The reader is gone before declar writes: the buffered output fails at the final flush, which
    before ended in "internal error: BrokenPipeError" and exit 70 (deterministic, unlike head)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nmodel:\n  - Dense: {units: 2, bogus: 1}\n")
    for args in (["inspect", str(lookup_archive)], ["inspect", str(lookup_archive), "--format", "json"],
                 ["validate", str(bad)], ["ops"]):
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run([sys.executable, "-m", "declar.cli", *args], stdout=write, stderr=subprocess.PIPE,
                                  text=True, env=env, timeout=60)
        finally:
            os.close(write)
        assert proc.returncode == EXIT_BROKEN_PIPE, (args, proc.returncode, proc.stderr)
        assert proc.stderr == "", (args, proc.stderr)


def _tampered_metadata(src: Path, dst: Path, keras_version: str, declar_version: str, date: str) -> Path:
    config = config_of(src)
    config["config"]["declar_version"] = declar_version
    with zipfile.ZipFile(src) as z:
        metadata = json.loads(z.read("metadata.json"))
    metadata.update(keras_version=keras_version, date_saved=date)
    rewrite(src, dst, config, drop=("metadata.json",), extra={"metadata.json": json.dumps(metadata)})
    return dst


def test_inspect_marks_tampered_versions_and_dates_as_unverified(lookup_archive, tmp_path):
    claim = "3.15.1 (signed and verified by security team)"
    padded = "0.1.0" + " " * 150 + "(verified)"  # pushes a trailing mark off the screen: the mark comes first
    hostile = _tampered_metadata(lookup_archive, tmp_path / "meta.keras", claim, padded, "audited 2026-11-30")
    result = CliRunner().invoke(app, ["inspect", str(hostile)])
    assert result.exit_code == 0, _output(result)
    lines = result.output.splitlines()
    assert f"keras:    (unverified) {claim}" in lines
    assert any(line.startswith("declar:   (unverified) 0.1.0 ") for line in lines), lines
    assert "saved:    (unverified) audited 2026-11-30" in lines
    assert "model:    lookup" in lines  # the sha256 covers the spec, so its name is not marked
    assert any(line.startswith("(unverified) = as the archive records it") for line in lines)
    # JSON keeps the values raw, with the list of fields no hash covers.
    info = json.loads(CliRunner().invoke(app, ["inspect", str(hostile), "--format", "json"]).output)
    assert info["keras_version"] == claim and info["saved"] == "audited 2026-11-30"
    assert info["unverified"] == ["declar_version", "keras_version", "saved"]
    assert info["sha256_verified"] is True
    # An untampered archive: the same fields are marked, since nothing could have verified them.
    plain = CliRunner().invoke(app, ["inspect", str(lookup_archive)]).output.splitlines()
    assert any(line.startswith("keras:    (unverified) 3.") for line in plain), plain
    assert declar.inspect(lookup_archive)["unverified"] == ["declar_version", "keras_version", "saved"]


def test_inspect_marks_the_name_unverified_when_the_sha256_does_not_match(lookup_archive, tmp_path):
    config = config_of(lookup_archive)
    config["config"]["spec"]["name"] = "trusted_production_model"
    hostile = rewrite(lookup_archive, tmp_path / "renamed.keras", config)
    result = CliRunner().invoke(app, ["inspect", str(hostile)])
    assert "model:    (unverified) trusted_production_model" in result.output.splitlines(), result.output
    info = json.loads(CliRunner().invoke(app, ["inspect", str(hostile), "--format", "json"]).output)
    assert info["unverified"][0] == "name" and info["sha256_verified"] is False


NESTED_MISTAKES = [
    ("TimeDistributed: {layer: {class_name: Dense, config: {units: eight}}}", "eight",
     'units: expected integer, got string "eight"'),
    ("Pipeline: {layers: [{class_name: Identity}, {class_name: TimeDistributed, config: {layer: {class_name: Dense, "
     "config: {units: -3}}}}]}", "-3", "units: -3 is out of range (minimum 1)"),
    ("Bidirectional: {layer: {class_name: LSTM, config: {units: 2, return_sequences: maybe}}}", "maybe",
     'return_sequences: expected boolean, got string "maybe"'),
    ("RNN: {cell: [{class_name: LSTMCell, config: {units: 2, dtype: float33}}]}", "float33",
     "unknown dtype policy 'float33'"),
]


@pytest.mark.parametrize(("layer", "needle", "fragment"), NESTED_MISTAKES, ids=[m[1] for m in NESTED_MISTAKES])
def test_layer_nested_in_a_layer_argument_gets_the_argument_checks_of_a_node(layer, needle, fragment):
    """Before, a nested layer's arguments were checked for names and Keras objects only: a wrong type
    passed validate and failed at build."""
    text = f"declar: 1\nname: m\ninputs:\n  x: {{shape: [5, 3]}}\nmodel:\n  - {layer}\n"
    line, col = located(text, needle)
    rendered = [p.render() for p in declar.validate(text)]
    assert any(r.startswith(f"<string>:{line}:{col}: error: {fragment}") for r in rendered), rendered


def test_a_thousand_nested_layers_validate_fast():
    import time

    nodes = "".join("  - TimeDistributed: {layer: {class_name: Dense, config: {units: 2, activation: relu}}}\n"
                    for _ in range(1_000))
    text = f"declar: 1\nname: m\ninputs:\n  x: {{shape: [5, 3]}}\nmodel:\n{nodes}"
    start = time.perf_counter()
    assert declar.validate(text) == []
    assert time.perf_counter() - start < 10
