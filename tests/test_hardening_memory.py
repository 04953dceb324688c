"""Unbounded memory (issue 12, class 2) and the data-file tracebacks of class 5: every variable, asset,
archive member and data file is checked against declar's limits before anything is allocated or
read, through the CLI, the Python API and `keras.models.load_model`.

Each attack is tried cheaply with a small explicit `Limits`, and once for real at the default limits
(a refusal that returns at once, with the peak memory measured)."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from test_asset_paths import ASSET_COL, ASSET_LINE, asset_spec
from test_hostile_archives import config_of, rewrite
from typer.testing import CliRunner

import declar
from declar.archive import ArchiveError
from declar.cli import app
from declar.limits import Limits, current_limits

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "specs" / "keras_guide"
runner = CliRunner()
MB = 2**20


def cli(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def spec(inputs: str, *layers: str, extra: str = "") -> str:
    body = "".join(f"  - {layer}\n" for layer in layers)
    return "declar: 1\nname: m\ninputs:\n" + inputs + extra + "model:\n" + body


# Sized only by Keras at build (validate cannot know what Flatten makes, nor a declared type's base):
# the weight budget is what refuses these. Their statically sized twins are refused by validate.
WIDE_DENSE = spec("  x: {shape: [200, 200]}\n", "Flatten: {}", "Dense: {units: 40000}")  # 1.6e9 float32 = 6.4 GB
HUGE_EMBEDDING = ("declar: 1\nname: m\ninputs:\n  x: {shape: [4], dtype: int32}\nlayers:\n  Lookup:\n"
                  "    extends: Embedding\n    call: base(inputs)\nmodel:\n"
                  "  - Lookup: {input_dim: 2000000000, output_dim: 8}\n")


def resealed(config: dict) -> dict:
    """The archive config with its embedded spec's sha256 recomputed, as an attacker would."""
    from declar.spec.model import canonical_json

    # Hashed directly: an attacker's spec need not pass validation to carry a matching hash.
    config["config"]["sha256"] = hashlib.sha256(canonical_json(config["config"]["spec"]).encode()).hexdigest()
    return config


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("budget") / "small.keras"
    declar.save(spec("  x: {shape: [4]}\n", "Dense: {units: 4}"), out)
    return out


# -- 1. the weight budget ---------------------------------------------------------------------------


def test_dense_of_40000_squared_is_refused_before_allocation(tmp_path):
    """API, CLI build/save/plot/diff: each refuses at once, naming layer, variable, shape and limit."""
    before = peak_rss_bytes()
    with pytest.raises(declar.BuildError) as err:
        declar.build(WIDE_DENSE)
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == (7, 5)
    assert ("layer 'dense' (Dense): variable 'kernel': shape [40000, 40000] has 1,600,000,000 elements, over the "
            "limit of 500,000,000; raise Limits.max_variable_elements") in problem.message
    assert "before Keras allocated it" in problem.hint
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE_DENSE)
    small = tmp_path / "small.yaml"
    small.write_text(spec("  x: {shape: [200, 200]}\n", "Flatten: {}", "Dense: {units: 4}"))
    for args in (["build", str(path)], ["save", str(path), str(tmp_path / "w.keras")],
                 ["plot", str(path), "-o", str(tmp_path / "w.dot")], ["diff", str(small), str(path)]):
        result = cli(*args)
        assert result.exit_code != 0, (args, result.output)
        assert f"{path}:7:5" in result.output and "shape [40000, 40000]" in result.output, (args, result.output)
        assert "max_variable_elements" in result.output
    assert not (tmp_path / "w.keras").exists()
    assert peak_rss_bytes() - before < 500 * MB  # the kernel alone would be 6.4 GB


def test_embedding_of_two_billion_rows_is_refused_before_allocation():
    before = peak_rss_bytes()
    with pytest.raises(declar.BuildError, match=r"layer 'lookup/base' \(Embedding\): variable 'embeddings': shape "
                                                r"\[2000000000, 8\] has 16,000,000,000 elements"):
        declar.build(HUGE_EMBEDDING)
    assert peak_rss_bytes() - before < 200 * MB  # 64 GB if allocated


def test_archive_of_a_huge_dense_or_embedding_is_refused_at_load(small_archive, tmp_path):
    """A 2 KB archive whose spec asks for gigabytes: declar.load, keras.models.load_model, CLI diff and plot."""
    before = peak_rss_bytes()
    for name, (inputs, layers) in {
            "dense": ({"x": {"shape": [200, 200]}}, [{"Flatten": {}}, {"Dense": {"units": 40000}}]),
            "embedding": ({"x": {"shape": [4], "dtype": "int32"}},
                          [{"Embedding": {"input_dim": 2_000_000_000, "output_dim": 8}}])}.items():
        config = config_of(small_archive)
        config["config"]["spec"]["inputs"] = inputs
        config["config"]["spec"]["model"] = layers
        hostile = rewrite(small_archive, tmp_path / f"{name}.keras", resealed(config))
        assert hostile.stat().st_size < 20_000
        with pytest.raises(ArchiveError, match=f"layer '{name}'.*max_variable_elements"):
            declar.load(hostile)
        with pytest.raises(ValueError, match="max_variable_elements"):
            keras.models.load_model(hostile)
        for args in (["diff", str(small_archive), str(hostile)], ["plot", str(hostile), "-o", str(tmp_path / "p.dot")]):
            result = cli(*args)
            assert result.exit_code != 0 and "max_variable_elements" in result.output, result.output
    assert peak_rss_bytes() - before < 300 * MB


def test_several_large_variables_cannot_add_up_past_the_model_limit(small_archive, tmp_path):
    limits = Limits(max_variable_elements=50_000, max_model_elements=100_000)
    # After Flatten, validate knows the second and third kernels only (80,400 elements): build sees all three.
    three = spec("  x: {shape: [10, 20]}\n", "Flatten: {}", "Dense: {units: 200}", "Dense: {units: 200}",
                 "Dense: {units: 200}")
    with pytest.raises(declar.BuildError) as err:
        declar.build(three, limits=limits)
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == (9, 5)  # the third Dense: 3 * 40,000 kernels > 100,000
    assert ("layer 'dense_2' (Dense): variable 'kernel': shape [200, 200] (40,000 elements) would bring the model's "
            "variables to 120,400 elements, over Limits.max_model_elements = 100,000") in problem.message
    assert declar.build(three, limits=Limits(max_variable_elements=50_000, max_model_elements=120_600)).count_params()
    # The same through an archive, loaded with the caller's limits.
    out = tmp_path / "three.keras"
    declar.save(three, out)
    with pytest.raises(ArchiveError, match="max_model_elements = 100,000"):
        declar.load(out, limits=limits)
    token = current_limits.set(limits)
    try:
        with pytest.raises(ValueError, match="max_model_elements"):
            keras.models.load_model(out)
    finally:
        current_limits.reset(token)
    assert declar.load(out).count_params() == 3 * 40_200


def test_sublayers_and_declared_bases_are_charged_to_the_budget():
    from declar.keras.budget import WeightBudgetError, weight_budget

    limits = Limits(max_variable_elements=100_000, max_model_elements=300_000)
    x = keras.Input((5, 8))
    with pytest.raises(WeightBudgetError, match=r"layer 'attn/query' \(EinsumDense\): variable 'kernel': "
                                                r"shape \[8, 2, 40000\] has 640,000 elements"), weight_budget(limits):
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=40_000, name="attn")(x, x)
    with pytest.raises(WeightBudgetError, match=r"'bi/forward_lstm(_\d+)?/lstm_cell' \(LSTMCell\): variable "
                                                r"'recurrent_kernel'"), weight_budget(limits):
        keras.layers.Bidirectional(keras.layers.LSTM(200), name="bi")(x)
    with pytest.raises(declar.BuildError, match=r"'lstm/lstm_cell' \(LSTMCell\): variable 'recurrent_kernel': shape "
                                                r"\[200, 800\]"):
        declar.build(spec("  x: {shape: [5, 8]}\n", "LSTM: {units: 200}"), limits=limits)
    # A declared type: its base (a Dense) and its declared variable share the model's budget.
    declared = ("declar: 1\nname: m\ninputs:\n  x: {shape: [300]}\nlayers:\n  Big:\n    extends: Dense\n"
                "    variables:\n      w: {shape: ['input_shape[-1]', 300]}\n    call: base(inputs)\nmodel:\n"
                + "  - Big: {units: 300}\n" * 4)
    with pytest.raises(declar.BuildError, match=r"layer 'big_1' \(Big\): variable 'w': shape \[300, 300\] \(90,000 "
                                                r"elements\) would bring the model's variables to 360,600"):
        declar.build(declared, limits=limits)
    with pytest.raises(declar.BuildError, match=r"'big/base' \(Dense\): variable 'kernel'.*max_variable_elements"):
        declar.build(declared, limits=Limits(max_variable_elements=50_000))


def test_lone_declared_layer_has_a_budget_of_its_own():
    """keras.models.load_model of a lone DeclarLayer: its base and variables are bounded too."""
    from declar.keras.layer import DeclarLayer

    types = {"Big": {"extends": "Dense", "variables": {"w": {"shape": [10, 10]}}, "call": "base(inputs) + 0 * sum(w)"}}
    token = current_limits.set(Limits(max_variable_elements=1_000, max_model_elements=1_050))
    try:
        layer = DeclarLayer(types=types, layer_type="Big", args={"units": 100}, name="lone")
        with pytest.raises(ValueError, match=r"'lone' \(Big\): variable 'w'.*over Limits.max_model_elements = 1,050"):
            layer(np.ones((1, 9), "float32"))  # base kernel 900 + bias 100, then w 100 > 1,050
    finally:
        current_limits.reset(token)


def test_plain_keras_is_unaffected_when_no_budget_is_active():
    from declar.keras.budget import weight_budget

    assert getattr(keras.layers.Layer.add_weight, "__declar_budget__", False), "the guard is installed"
    with weight_budget(Limits(max_variable_elements=10)):
        pass
    layer = keras.layers.Dense(100)
    layer.build((None, 100))  # 10,000 elements: the budget above is no longer active
    assert layer.kernel.shape == (100, 100)


# -- 2. assets ---------------------------------------------------------------------------------------


@pytest.fixture
def spec_dir(tmp_path) -> Path:
    d = tmp_path / "spec"
    d.mkdir()
    return d


def write_asset_spec(spec_dir: Path, name: str) -> Path:
    path = spec_dir / "m.yaml"
    path.write_text(asset_spec(name))
    return path


def test_five_gigabyte_asset_file_is_refused_before_reading(spec_dir):
    big = spec_dir / "big.txt"
    with open(big, "wb") as f:
        f.truncate(5 * 10**9)  # sparse: 5 GB as far as stat and read are concerned, nothing on disk
    path = write_asset_spec(spec_dir, "big.txt")
    before = peak_rss_bytes()
    (problem,) = declar.validate(path)
    assert (problem.line, problem.col, problem.code) == (ASSET_LINE, ASSET_COL, "asset-size")
    assert "asset file 'big.txt' is 5,000,000,000 bytes, over the limit of 256,000,000" in problem.message
    assert "Limits.max_asset_bytes" in problem.hint
    result = cli("validate", str(path))
    assert result.exit_code == 1 and f"{path}:{ASSET_LINE}:{ASSET_COL}" in result.output
    with pytest.raises(declar.SpecError, match="5,000,000,000 bytes"):
        declar.build(path)
    # The build-time read checks again (the file may grow after validation): a lone layer with a root.
    from declar.keras.layer import DeclarLayer, LayerBuildError

    types = {"Vocab": {"extends": "Layer", "assets": {"words": {"kind": "text", "file": "big.txt"}}, "call": "inputs"}}
    with pytest.raises(LayerBuildError, match=r"layer 'v' \(Vocab\): asset 'words': file 'big.txt' is "
                                              r"5,000,000,000 bytes, over Limits.max_asset_bytes = 256,000,000"):
        DeclarLayer(types=types, layer_type="Vocab", asset_root=str(spec_dir), name="v")
    assert peak_rss_bytes() - before < 100 * MB
    big.write_text("small now")
    assert DeclarLayer(types=types, layer_type="Vocab", asset_root=str(spec_dir), name="v").words == "small now"


def _finishes(fn, seconds: float = 20.0):
    """Run fn in a thread: a read that hangs fails the test instead of hanging it."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn()
        except Exception as err:  # the caller inspects it
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read hung"
    return outcome


@pytest.mark.parametrize("kind", ["fifo", "dev_zero_link_inside", "directory"])
def test_fifo_device_or_directory_asset_is_never_read(spec_dir, kind):
    from declar.bounded import read_file
    from declar.keras.layer import DeclarLayer

    target = spec_dir / "words.txt"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:  # a link to /dev/zero, swapped in after validation (validation refuses links out of the directory)
        target.symlink_to("/dev/zero")
    problems = declar.validate(write_asset_spec(spec_dir, "words.txt"))
    assert [(p.line, p.col) for p in problems] == [(ASSET_LINE, ASSET_COL)], problems
    assert any(w in problems[0].message for w in ("not a regular file", "resolves outside")), problems[0].message
    words = {"words": {"kind": "text", "file": "words.txt"}}
    types = {"Vocab": {"extends": "Layer", "assets": words, "call": "inputs"}}
    outcome = _finishes(lambda: DeclarLayer(types=types, layer_type="Vocab", asset_root=str(spec_dir), name="v"))
    assert "error" in outcome and "asset 'words'" in str(outcome["error"]), outcome
    assert any(w in str(outcome["error"]) for w in ("not a regular file", "resolves outside"))
    if kind != "directory":  # without a root (an archive's extracted file): still never read
        outcome = _finishes(lambda: read_file(str(target), limit=100, limit_name="max_asset_bytes", what="x"))
        assert "not a regular file" in str(outcome.get("error")), outcome


def test_replace_transform_that_multiplies_the_text_is_refused_before_it_runs(tmp_path):
    """30,000 characters, each replaced by 10,000: 300 MB at load from a 40 KB spec."""
    text, growth = "a" * 30_000, "b" * 10_000
    value_spec = ("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n  Vocab:\n    extends: Layer\n"
                  f"    assets:\n      words:\n        kind: text\n        value: {text}\n"
                  f"        transform: {{replace: {{a: {growth}}}}}\n    call: inputs\nmodel:\n  - Vocab: {{}}\n")
    (problem,) = declar.validate(value_spec)
    assert (problem.line, problem.col, problem.code) == (12, 20, "asset-size"), problem
    assert "after replacing 'a' by" in problem.message and "300,000,000 bytes" in problem.message
    assert declar.validate(value_spec, Limits(max_asset_bytes=300_000_000)) == []
    # A param's text is transformed only at load: build and save it, then load the archive.
    param_spec = value_spec.replace(f"value: {text}", "param: words").replace(
        "    call: inputs", f"    params:\n      words: {{type: string, default: {text}}}\n    call: inputs")
    assert declar.validate(param_spec) == []
    out = tmp_path / "m.keras"
    declar.save(param_spec, out)
    before = peak_rss_bytes()
    with pytest.raises(ArchiveError, match=r"asset 'words'.*after replacing 'a' by 'b+' is 300,000,000 bytes, over "
                                           r"Limits.max_asset_bytes = 256,000,000"):
        declar.load(out)
    with pytest.raises(ValueError, match="max_asset_bytes"):
        keras.models.load_model(out)
    assert peak_rss_bytes() - before < 100 * MB
    (layer,) = [lr for lr in declar.load(out, limits=Limits(max_asset_bytes=300_000_000)).layers if lr.name == "vocab"]
    assert len(layer.words) == 300_000_000
    del layer


def test_transform_size_is_computed_exactly_before_the_result_is_built():
    from declar.bounded import FileLimitError, transform_text

    cases = [("a<unk>b<unk>", [("replace", {"<unk>": "little"})]), ("abc", [("replace", {"": "--"})]),
             ("été", [("replace", {"é": "€€"})]), ("  x y  ", [("replace", {"x": "xx"}), ("strip", True)]),
             ("aaa", [("replace", {"a": "bb", "b": "ccc"})])]
    for text, transform in cases:
        expected, largest = text, len(text.encode("utf-8"))
        for key, value in transform:
            for old, new in (value.items() if key == "replace" else []):
                expected = expected.replace(old, new)
                largest = max(largest, len(expected.encode("utf-8")))
            expected = expected.strip() if key == "strip" else expected
        # Every intermediate result is checked: at the largest one's size it passes...
        assert transform_text(text, len(text.encode()), transform, largest, "t") == expected
        with pytest.raises(FileLimitError, match="max_asset_bytes"):  # ...and one byte under, it is refused
            transform_text(text, len(text.encode()), transform, largest - 1, "t")


def _asset_member(archive: Path, suffix: str) -> str:
    with zipfile.ZipFile(archive) as z:
        (name,) = [n for n in z.namelist() if n.startswith("assets/") and n.endswith(suffix)
                   and not n.endswith("declar_assets.json")]
    return name


@pytest.fixture(scope="module")
def json_asset_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("json") / "j.keras"
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n  Table:\n    extends: Layer\n"
            "    assets:\n      table: {kind: json, value: {a: 1}}\n    call: inputs\nmodel:\n  - Table: {}\n")
    declar.save(text, out)
    return out


def test_json_asset_member_expanding_to_hundreds_of_mb_is_refused_before_parsing(json_asset_archive, tmp_path):
    member = _asset_member(json_asset_archive, ".json")

    # 300 MB of JSON in a few hundred KB: refused from the zip directory before Keras extracts it.
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(json_asset_archive) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename != member:
                zout.writestr(item, zin.read(item.filename))
                continue
            with zout.open(member, "w", force_zip64=True) as f:
                f.write(b"[")
                for _ in range(300):
                    f.write(b"0," * (MB // 2))
                f.write(b"0]")
    assert bomb.stat().st_size < 2 * MB
    before = peak_rss_bytes()
    with pytest.raises(ArchiveError, match=rf"member {member} declares 314,572,803 bytes .*over Limits.max_asset_bytes "
                                           r"= 256,000,000.*checked before reading"):
        declar.load(bomb)
    with pytest.raises(ArchiveError, match="max_asset_bytes"):
        declar.inspect(bomb)
    result = cli("inspect", str(bomb))
    assert result.exit_code == 1 and "max_asset_bytes" in result.output
    assert peak_rss_bytes() - before < 100 * MB
    # Keras extracts members itself for keras.models.load_model; declar's own read is then bounded.
    small = tmp_path / "small.keras"
    with zipfile.ZipFile(json_asset_archive) as zin, zipfile.ZipFile(small, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, b"[" + b"0," * 5_000 + b"0]" if item.filename == member else data)
    limits = Limits(max_asset_bytes=10_000)
    with pytest.raises(ArchiveError, match="max_asset_bytes = 10,000"):
        declar.load(small, limits=limits)
    token = current_limits.set(limits)
    try:
        with pytest.raises(ValueError, match=r"asset 'table'.*is 10,003 bytes, over Limits.max_asset_bytes = 10,000"):
            keras.models.load_model(small)
    finally:
        current_limits.reset(token)
    assert len(declar.load(small).layers[1].table) == 5_001


def test_npy_asset_with_a_forged_header_is_refused_before_allocation(tmp_path):
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\nlayers:\n  Table:\n    extends: Layer\n"
            "    assets:\n      table: {kind: array, value: [1, 2, 3]}\n    call: inputs\nmodel:\n  - Table: {}\n")
    good = tmp_path / "a.keras"
    declar.save(text, good)
    member = _asset_member(good, ".npy")
    from numpy.lib import format as npy

    for shape, fragment in (((10**6, 10**6), "is 4,000,000,000,000 bytes, over Limits.max_asset_bytes"),
                            ((1000, 1000), "declares 4,000,000 bytes of data but only 12 follow")):
        header = io.BytesIO()
        npy.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
        forged = tmp_path / "f.keras"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(forged, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                zout.writestr(item, header.getvalue() + b"\0" * 12 if item.filename == member else data)
        before = peak_rss_bytes()
        with pytest.raises(ArchiveError, match=f"asset 'table'.*{fragment}"):
            declar.load(forged)
        with pytest.raises(ValueError, match=fragment):
            keras.models.load_model(forged)
        assert peak_rss_bytes() - before < 100 * MB


# -- 3. archives: config and weights members ------------------------------------------------------------


@pytest.mark.parametrize("member", ["config.json", "metadata.json"])
def test_config_member_over_the_limit_is_refused_before_reading(small_archive, tmp_path, member):
    with zipfile.ZipFile(small_archive) as z:
        original = z.read(member)
    padded = rewrite(small_archive, tmp_path / "padded.keras", drop=(member,),
                     extra={member: original + b" " * 5_000})
    limits = Limits(max_archive_config_bytes=5_000)
    with pytest.raises(ArchiveError, match=f"member {member} declares .* over Limits.max_archive_config_bytes = 5,000"):
        declar.load(padded, limits=limits)
    with pytest.raises(ArchiveError, match="max_archive_config_bytes"):
        declar.inspect(padded, limits=limits)
    assert declar.inspect(padded)["name"] == "m"
    # At the default limit: 100 MB of whitespace deflated to about 100 KB.
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(small_archive) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename != member:
                zout.writestr(item, zin.read(item.filename))
        with zout.open(member, "w", force_zip64=True) as f:
            f.write(original)
            for _ in range(100):
                f.write(b" " * MB)
    assert bomb.stat().st_size < MB
    before = peak_rss_bytes()
    for attempt in (lambda: declar.load(bomb), lambda: declar.inspect(bomb)):
        with pytest.raises(ArchiveError, match=f"member {member} declares .*max_archive_config_bytes = 64,000,000"):
            attempt()
    for args in (["inspect", str(bomb)], ["diff", str(small_archive), str(bomb)],
                 ["plot", str(bomb), "-o", str(tmp_path / "p.dot")]):
        result = cli(*args)
        assert result.exit_code != 0 and "max_archive_config_bytes" in result.output, (args, result.output)
    assert peak_rss_bytes() - before < 50 * MB


def test_weights_member_is_checked_from_the_directory_and_streamed_by_inspect(small_archive, tmp_path, monkeypatch):
    import declar.archive as archive

    # The weights bound follows Limits.max_model_elements; without the HDF5 allowance it is tiny here.
    monkeypatch.setattr(archive, "H5_OVERHEAD_BYTES", 0)
    limits = Limits(max_model_elements=10)
    with pytest.raises(ArchiveError, match=r"member model.weights.h5 declares .* over what Limits.max_model_elements "
                                           r"allows = 240"):
        declar.load(small_archive, limits=limits)
    with pytest.raises(ArchiveError, match="max_model_elements"):
        declar.inspect(small_archive, limits=limits)
    # Past the directory check (a member larger than declared cannot come out of zipfile, but the copy
    # has its own bound): the stream is cut at the bound and refused.
    token = current_limits.set(limits)
    try:
        with zipfile.ZipFile(small_archive) as z, pytest.raises(ArchiveError, match="holds more than 240 bytes"):
            archive._weights(z)
    finally:
        current_limits.reset(token)
    monkeypatch.undo()
    # A 300 MB weights member (the real HDF5 file, padded) is inspected without holding it in memory.
    with zipfile.ZipFile(small_archive) as z:
        weights = z.read("model.weights.h5")
    padded = tmp_path / "padded.keras"
    with zipfile.ZipFile(small_archive) as zin, zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename != "model.weights.h5":
                zout.writestr(item, zin.read(item.filename))
        with zout.open("model.weights.h5", "w", force_zip64=True) as f:
            f.write(weights)
            for _ in range(300):
                f.write(b"\0" * MB)
    before = peak_rss_bytes()
    shown = declar.inspect(padded)
    assert {v["path"].split("/")[-1] for v in shown["variables"]} >= {"0", "1"}
    assert peak_rss_bytes() - before < 100 * MB


# -- 4. data files for declar fit ---------------------------------------------------------------------------

COMPILE_SPEC = GUIDE / "custom_compile.yaml"  # input x: [8], output dense_1: [4]


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _forged_npz(path: Path, shape: tuple[int, ...], data: bytes = b"") -> Path:
    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue() + data)
        buf = io.BytesIO()
        np.save(buf, np.ones((8, 4), "float32"))
        z.writestr("dense_1.npy", buf.getvalue())
    return path


def bad_data_files(d: Path) -> dict[str, tuple[Path, str]]:
    y = np.full((8, 4), 0.25, "float32")
    (d / "fifo.npz").exists() or os.mkfifo(d / "fifo.npz")
    (d / "dir.npz").mkdir(exist_ok=True)
    np.save(d / "one.npy", np.ones((8, 8)))
    (d / "text.npz").write_bytes(b"x,dense_1\n1,2\n")
    (d / "pickle.npz").write_bytes(__import__("pickle").dumps({"x": np.ones((8, 8))}))
    (d / "empty.npz").write_bytes(b"")
    good = _npz(d / "good.npz", x=np.ones((8, 8), "float32"), dense_1=y)
    (d / "truncated.npz").write_bytes(good.read_bytes()[:300])
    return {
        "wrong input width": (_npz(d / "wide.npz", x=np.ones((8, 9)), dense_1=y),
                              "array 'x' has shape [8, 9], so examples of shape [9]; input 'x' takes [8]"),
        "wrong input rank": (_npz(d / "rank.npz", x=np.ones((8, 2, 4)), dense_1=y), "input 'x' takes [8]"),
        "wrong output width": (_npz(d / "owide.npz", x=np.ones((8, 8)), dense_1=np.ones((8, 5))),
                               "array 'dense_1' has shape [8, 5], so targets of shape [5]; output 'dense_1' gives [4]"),
        "row counts differ": (_npz(d / "rows.npz", x=np.ones((8, 8)), dense_1=y[:7]),
                              "different numbers of rows (examples): 'x' 8, 'dense_1' 7"),
        "no rows": (_npz(d / "norows.npz", x=np.ones((0, 8)), dense_1=y[:0]), "no rows"),
        "strings": (_npz(d / "str.npz", x=np.array([["a"] * 8] * 8), dense_1=y),
                    "array 'x' has dtype <U1; training data must be numbers or booleans"),
        "bytes": (_npz(d / "bytes.npz", x=np.array([[b"a"] * 8] * 8), dense_1=y), "dtype |S1"),
        "complex": (_npz(d / "complex.npz", x=np.ones((8, 8), complex), dense_1=y), "dtype complex128"),
        "objects": (_npz(d / "obj.npz", x=np.array([1, "a", None], dtype=object), dense_1=y),
                    "array 'x': holds Python objects (dtype object), which are never unpickled"),
        "structured": (_npz(d / "rec.npz", x=np.zeros(8, dtype=[("a", "f4"), ("b", "f4")]), dense_1=y),
                       "structured dtype"),
        "0-d": (_npz(d / "zero.npz", x=np.float32(1), dense_1=y), "array 'x' is a single value (0-d)"),
        "not a zip": (d / "text.npz", "not an .npz file (File is not a zip file); write one with numpy.savez"),
        "empty file": (d / "empty.npz", "not an .npz file"),
        "truncated zip": (d / "truncated.npz", "not an .npz file"),
        ".npy instead of .npz": (d / "one.npy", "a .npy file (one array) where an .npz file (named arrays) is needed"),
        "pickle": (d / "pickle.npz", "a Python pickle, which is never loaded"),
        "missing arrays": (_npz(d / "named.npz", inputs=np.ones((8, 8))),
                           "missing arrays ['x', 'dense_1']; expected inputs ['x'] and outputs ['dense_1']"),
        "forged header": (_forged_npz(d / "forged.npz", (1000, 8), b"\0" * 64),
                          "array 'x': its header declares 32,000 bytes of data but only 64 follow"),
        "FIFO": (d / "fifo.npz", "is not a regular file"),
        "directory": (d / "dir.npz", "is not a regular file"),
        "no such file": (d / "nope.npz", "cannot open"),
    }


def test_bad_data_files_get_a_data_error_never_a_traceback(tmp_path):
    """Every variant through the reader, then through declar.fit and the CLI (one model build each side)."""
    from declar.training_data import check_shapes, read_arrays

    cases = bad_data_files(tmp_path)
    for label, (path, fragment) in cases.items():
        def attempt(path=path):
            arrays = read_arrays(path, ["x"], ["dense_1"])
            check_shapes(path, {"x": (8,)}, {"dense_1": (4,)}, arrays)

        outcome = _finishes(attempt)
        assert isinstance(outcome.get("error"), declar.DataError), (label, outcome)
        assert fragment in str(outcome["error"]), (label, str(outcome["error"]))
    sparse_labels = _npz(tmp_path / "sparse.npz", x=np.ones((8, 8)), dense_1=np.zeros(8))
    check_shapes(sparse_labels, {"x": (8,)}, {"dense_1": (4,)}, read_arrays(sparse_labels, ["x"], ["dense_1"]))
    # Through the API and the CLI: a few variants, each refused before training, nothing written.
    out = tmp_path / "m.keras"
    for label in ("wrong input width", "strings", ".npy instead of .npz"):
        path, fragment = cases[label]
        with pytest.raises(declar.DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
            declar.fit(COMPILE_SPEC, path, out, verbose=0)
    for label in ("row counts differ", "0-d", "not a zip", "pickle", "FIFO", "objects"):
        path, fragment = cases[label]
        result = cli("fit", str(COMPILE_SPEC), "--data", str(path), "--out", str(out))
        assert result.exit_code == 1, (label, result.output)
        assert fragment in result.output and result.output.startswith("error: "), (label, result.output)
    assert not out.exists()


def test_npz_that_expands_past_the_data_limit_is_refused_before_reading(tmp_path):
    from declar.training_data import read_arrays

    # Summed over the arrays: each fits alone, together they do not.
    two = tmp_path / "two.npz"  # compressed: the file is small, the arrays are not
    np.savez_compressed(two, x=np.zeros((800, 8), "float32"), dense_1=np.zeros((800, 4), "float32"))
    assert two.stat().st_size < 30_000
    with pytest.raises(declar.DataError, match=r"would expand to 38,400 bytes or more \(array 'dense_1' declares "
                                               r"shape \[800, 4\] of float32\), over Limits.max_data_bytes = 30,000"):
        read_arrays(two, ["x"], ["dense_1"], Limits(max_data_bytes=30_000))
    assert read_arrays(two, ["x"], ["dense_1"], Limits(max_data_bytes=38_400))["x"].shape == (800, 8)
    with pytest.raises(declar.DataError, match="max_data_bytes"):
        declar.fit(COMPILE_SPEC, two, tmp_path / "m.keras", verbose=0, limits=Limits(max_data_bytes=30_000))
    # At the default limits: a header declaring 6.4 GB over 64 bytes of data (within the limit: a bomb),
    # and one declaring 4 TB (over the limit).
    forged = _forged_npz(tmp_path / "forged.npz", (200_000_000, 8), b"\0" * 64)
    with pytest.raises(declar.DataError, match=r"array 'x' declares 6,400,000,000 bytes \(shape \[200000000, 8\] of "
                                               r"float32\) but only 192 are stored, more than 100:1"):
        read_arrays(forged, ["x"], ["dense_1"])
    with pytest.raises(declar.DataError, match=r"over Limits\.max_data_bytes = 8,000,000,000"):
        read_arrays(_forged_npz(tmp_path / "huge.npz", (10**6, 10**6)), ["x"], ["dense_1"])


def test_npz_decompression_bomb_is_refused_at_default_limits_through_the_cli(tmp_path):
    """A real bomb: 1 GB of float32 zeros deflated to about 1 MB, given to `declar fit` in a fresh process."""
    from numpy.lib import format as npy

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("x.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            npy.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**25, 8)})
            f.write(header.getvalue())
            for _ in range(2**30 // (16 * MB)):
                f.write(b"\0" * (16 * MB))
        buf = io.BytesIO()
        np.save(buf, np.ones((2**25, 4), "float32")[:1])
        z.writestr("dense_1.npy", buf.getvalue())
    assert bomb.stat().st_size < 8 * MB
    # The peak is VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so it would show pytest's.
    script = ("import re, sys\nfrom typer.testing import CliRunner\nfrom declar.cli import app\n"
              "r = CliRunner().invoke(app, sys.argv[1:])\n"
              "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
              "print(r.exit_code, peak)\nprint(r.output)\n")
    proc = subprocess.run([sys.executable, "-c", script, "fit", str(COMPILE_SPEC), "--data", str(bomb), "--out",
                           str(tmp_path / "m.keras")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    code, peak_kb = proc.stdout.split("\n")[0].split()
    assert code == "1", proc.stdout + proc.stderr
    assert "array 'x' declares 1,073,741,824 bytes (shape [33554432, 8] of float32) but only" in proc.stdout
    assert "a decompression bomb, refused before reading" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert int(peak_kb) * 1024 < 1024 * MB  # TensorFlow itself takes most of this; the bomb alone would be 1 GB
    assert not (tmp_path / "m.keras").exists()
