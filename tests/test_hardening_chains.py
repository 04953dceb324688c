"""Long `extends` chains resolved once per type, not per use; and archive assets bounded together
and JSON assets bounded tighter (their text becomes Python objects 10-20 times its size)."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import declar
from declar.archive import ArchiveError
from declar.limits import Limits, current_limits
from declar.sections.model import checks as nodes
from tests.test_hardening_memory import cli

ROOT = Path(__file__).resolve().parent.parent
HEAD = "declar: 1\nname: c\ninputs:\n  x: {shape: [4]}\n"


# --- F5: a chain of layer types used many times ---------------------------------------------------

def _chain(types: int, uses: int, root: str = "A0: {extends: Dense}", last: str = "{units: 2}") -> str:
    lines = [HEAD.rstrip("\n"), "layers:", f"  {root}"]
    lines += [f"  A{i}: {{extends: A{i - 1}}}" for i in range(1, types)]
    lines += ["model:", *[f"  - A{types - 1}: {{units: 2}}"] * (uses - 1), f"  - A{types - 1}: {last}", ""]
    return "\n".join(lines)


DEEP = Limits(max_extends_depth=50_000)


def test_extends_chain_deeper_than_the_limit_is_refused_once_at_the_type_that_passes_it(tmp_path):
    # HEAD is 4 lines, then `layers:`, so type A{i} stands on line 6 + i.
    # Keras nests each type's layer in the next: a chain of a few hundred ends in RecursionError at
    # build, and merging parameters along it is quadratic, so validate refuses it first.
    problems = declar.validate(_chain(40_000, 9_990))
    assert [(p.line, p.col, p.message) for p in problems] == [
        (4 + 1 + 33, 18, "layer type 'A32' is 33 custom types deep in its extends chain, over the limit of 32")]
    shallow = tmp_path / "shallow.yaml"
    shallow.write_text(_chain(32, 3))
    assert cli("validate", str(shallow)).exit_code == 0
    result = cli("--limit", "max_extends_depth=31", "validate", str(shallow))
    assert result.exit_code == 1 and f"{shallow}:37:18: error: layer type 'A31' is 32 custom types deep" in \
        result.output and "raise Limits.max_extends_depth" in result.output


def _validate_cli(spec: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    # The chains here are far deeper than Limits.max_extends_depth (32), which refuses them at once;
    # raised, validation must still be linear in chain length and uses.
    proc = subprocess.run([sys.executable, "-m", "declar.cli", "--limit", "max_extends_depth=50000", "validate",
                           str(spec)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)  # hang guard: this took 93.6 s before
    return proc, time.monotonic() - start


def test_extends_chain_of_40000_types_used_9990_times_validates_without_hanging(tmp_path):
    good = tmp_path / "c_40000_9990.yaml"
    good.write_text(_chain(40_000, 9_990))
    assert 1_200_000 < good.stat().st_size < 2_000_000  # the attack's 1.3 MB, under max_file_bytes
    proc, seconds = _validate_cli(good)
    print(f"validate of a 40,000-type chain used 9,990 times: {seconds:.1f} s (93.6 s before)")
    assert (proc.returncode, (proc.stdout + proc.stderr).strip()) == (0, "1 spec valid"), proc.stderr[-2000:]

    # The same chain, its last use with a mistake: found, at its line and column, as fast.
    bad = tmp_path / "c_bad.yaml"
    bad.write_text(_chain(40_000, 9_990, last="{units: 2, bogus: 1}"))
    proc, seconds = _validate_cli(bad)
    print(f"... with a mistake in the last use: {seconds:.1f} s")
    line = 5 + 40_000 + 1 + 9_990  # head, `layers:`, the types, `model:`, the uses
    assert proc.returncode == 1
    assert f"{bad}:{line}:24: error: 'A39999' has no argument 'bogus'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_initializer_parameter_at_the_root_of_a_40000_type_chain_is_still_checked_at_each_use(tmp_path):
    # The root declares an untyped parameter that a variable takes as its initializer; the 39,999
    # types above declare nothing and share its resolution. A use passing declar's own class
    # there is refused at its value, as with a chain of one.
    root = ("A0: {extends: Dense, params: {init: {type: any, default: null}}, variables: {s: {shape: [1], "
            "initializer: init}}, call: base(inputs) * s}")
    spec = tmp_path / "c_init.yaml"
    spec.write_text(_chain(40_000, 9_990, root=root, last="{units: 2, init: {class_name: 'declar>DeclarLayer', "
                                                         "config: {}}}"))
    start = time.monotonic()
    problems = declar.validate(spec, limits=DEEP)
    print(f"validate (API) of the chain with an initializer parameter: {time.monotonic() - start:.1f} s")
    line = 5 + 40_000 + 1 + 9_990
    assert [(p.line, p.col) for p in problems] == [(line, 43)], problems  # at the class_name's value
    assert problems[0].message.startswith("'declar>DeclarLayer' is not a Keras built-in initializer"), problems


def test_chain_is_resolved_once_per_declaring_type_not_once_per_use(monkeypatch):
    # Counted rather than timed, so a quadratic walk fails whatever the machine's speed: the
    # initializer parameters were resolved along the whole chain for every use.
    calls: list[str] = []
    real = nodes._initializer_params

    def counting(spec, layer, params):
        calls.append(layer)
        return real(spec, layer, params)

    monkeypatch.setattr(nodes, "_initializer_params", counting)
    root = "A0: {extends: Dense, params: {k: {type: integer, default: 1}}}"
    assert declar.validate(_chain(2_000, 500, root=root), limits=DEEP) == []
    assert calls == ["A0"]  # the one type that declares something; the 1,999 above share it


# --- the build side of chains ----------------------------------------------------------------------

def test_type_extending_a_custom_type_builds_saves_and_loads(tmp_path):
    # Every custom-on-custom `extends` passed validate and failed at build ("DeclarLayer does not
    # have a compute_output_shape method"), so no chain could be built, long or short.
    text = (HEAD + "layers:\n  Scaled:\n    extends: Dense\n    variables:\n      s: {shape: [1], initializer: ones}\n"
            "    call: base(inputs) * s\n  Shifted:\n    extends: Scaled\n    variables:\n"
            "      b: {shape: '[output_shape[-1]]', initializer: ones}\n    call: base(inputs) + b\n"
            "  Top: {extends: Shifted}\nmodel:\n  - Top: {units: 3}\n")
    model = declar.build(text)
    assert sorted(tuple(v.shape) for v in model.weights) == [(1,), (3,), (3,), (4, 3)]
    x = np.ones((2, 4), "float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / "chain.keras"
    declar.save(text, path)
    for loaded in (declar.load(path), keras.models.load_model(path)):
        np.testing.assert_allclose(loaded.predict(x, verbose=0), declar.load(path).predict(x, verbose=0))
    assert expected.shape == (2, 3)
    # The config each layer saves holds its chain, as before: the three types, nothing else.
    assert sorted(model.layers[1].get_config()["types"]) == ["Scaled", "Shifted", "Top"]


# --- F3: JSON assets in archives ---------------------------------------------------------------------

JS = (HEAD.replace("name: c", "name: js") + "layers:\n  T:\n    extends: Dense\n    assets:\n"
      + "".join(f"      {n}: {{kind: json, value: [0]}}\n" for n in "abcd") + "model:\n  - T: {units: 2}\n")
MEMBER = "assets/layers/declar_layer/{}.json"


@pytest.fixture(scope="module")
def js_archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("js") / "js.keras"
    declar.save(JS, path)
    with zipfile.ZipFile(path) as z:
        assert {MEMBER.format(n) for n in "abcd"} <= set(z.namelist())
    return path


def _json_bomb(src: Path, dst: Path, sizes: dict[str, int]) -> Path:
    """The archive with asset members replaced by b"[" + b"0," * n + b"0]", deflated (the attack's
    four 240 MB members fitted in 935 KB)."""
    members = {MEMBER.format(name): n for name, n in sizes.items()}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename not in members:
                zout.writestr(item, zin.read(item.filename))
                continue
            with zout.open(item.filename, "w", force_zip64=True) as f:
                f.write(b"[")
                for _ in range(members[item.filename] // 1_000_000):
                    f.write(b"0," * 1_000_000)
                f.write(b"0," * (members[item.filename] % 1_000_000) + b"0]")
    return dst


def _refused_everywhere(path: Path, limits: Limits, load_fragment: str, keras_fragment: str) -> None:
    """declar.load, declar.inspect, `declar inspect` and keras.models.load_model all refuse."""
    with pytest.raises(ArchiveError) as err:
        declar.load(path, limits=limits)
    assert load_fragment in str(err.value) and "checked before reading" in str(err.value), err.value
    with pytest.raises(ArchiveError, match="checked before reading") as err:
        declar.inspect(path, limits=limits)
    assert load_fragment in str(err.value)
    flags = [f"--limit={name}={getattr(limits, name)}" for name in ("max_asset_bytes", "max_json_asset_bytes")
             if getattr(limits, name) != getattr(Limits(), name)]
    result = cli(*flags, "inspect", str(path))
    assert result.exit_code == 1 and load_fragment in result.output, result.output
    token = current_limits.set(limits)  # what declar.load sets; plain Keras reads the defaults otherwise
    try:
        with pytest.raises(ValueError) as err:
            keras.models.load_model(path)
    finally:
        current_limits.reset(token)
    assert keras_fragment in str(err.value), err.value


def test_four_json_asset_members_each_within_the_limit_are_refused_together(js_archive, tmp_path):
    # js_big: four members each under the per-asset limit that add up past it.
    bomb = _json_bomb(js_archive, tmp_path / "js_big.keras", dict.fromkeys("abcd", 150))
    with zipfile.ZipFile(bomb) as z:
        sizes = {i.filename: i.file_size for i in z.infolist() if i.filename.startswith("assets/")}
    total = sum(sizes.values())  # the four members and the layer's manifest (JSON as well)
    assert max(sizes.values()) == 303 and 1_200 < total < 1_400
    _refused_everywhere(bomb, Limits(max_json_asset_bytes=1_000),
                        f"its 5 JSON asset members declare {total:,} bytes together",
                        f"model 'js': the archive's 5 JSON asset files are {total:,} bytes together, over "
                        "Limits.max_json_asset_bytes = 1,000")
    # All the asset members together, JSON or not, against max_asset_bytes.
    _refused_everywhere(bomb, Limits(max_asset_bytes=1_100),
                        f"its 5 asset members declare {total:,} bytes together",
                        f"the archive's 5 asset files are {total:,} bytes together, over Limits.max_asset_bytes = "
                        "1,100")
    # Within both totals it loads, with the assets read in full.
    model = declar.load(bomb, limits=Limits(max_json_asset_bytes=total))
    assert len(model.layers[1].assets["a"]) == 151


def test_one_json_asset_member_over_the_json_limit_is_refused_before_parsing(js_archive, tmp_path):
    # js_one: a single member under max_asset_bytes but over the JSON bound.
    bomb = _json_bomb(js_archive, tmp_path / "js_one.keras", {"a": 1_000})
    _refused_everywhere(bomb, Limits(max_json_asset_bytes=1_000),
                        f"member {MEMBER.format('a')} declares 2,003 bytes",
                        "asset 'a' (layers/declar_layer/a.json) is 2,003 bytes, over Limits.max_json_asset_bytes "
                        "= 1,000")
    # The same archive read by a layer alone (what a plain Keras model holding it would do).
    limits = Limits(max_json_asset_bytes=1_000)
    with zipfile.ZipFile(bomb) as z:
        z.extractall(tmp_path / "x", [n for n in z.namelist() if n.startswith("assets/")])
    layer = declar.build(JS).layers[1]
    token = current_limits.set(limits)
    try:
        with pytest.raises(ValueError, match=r"layer 't' \(T\): asset 'a' \(a.json\) is 2,003 bytes, "
                                             r"over Limits.max_json_asset_bytes = 1,000"):
            layer.load_assets(str(tmp_path / "x" / "assets" / "layers" / "declar_layer"))
    finally:
        current_limits.reset(token)


def test_json_asset_member_of_17_mb_in_a_small_archive_is_refused_with_default_limits(js_archive, tmp_path):
    # Under max_asset_bytes (256 MB), over max_json_asset_bytes (16 MB): parsed, it was 250+ MB of
    # Python objects; the attack's 240 MB member took 133 s and 3.5 GB.
    bomb = _json_bomb(js_archive, tmp_path / "js_default.keras", {"b": 8_500_000})
    assert bomb.stat().st_size < 200_000
    size = f"{2 * 8_500_000 + 3:,}"
    _refused_everywhere(bomb, Limits(), f"member {MEMBER.format('b')} declares {size} bytes",
                        f"asset 'b' (layers/declar_layer/b.json) is {size} bytes, over Limits.max_json_asset_bytes "
                        "= 16,000,000")
    result = cli("inspect", str(bomb))
    assert result.exit_code == 1 and "raise it if this is intended" in result.output


def test_archive_whose_assets_loading_would_refuse_together_is_refused_at_save(tmp_path):
    # Each asset within its bound, together over it: refused before anything is written, not saved
    # into an archive that no load within the same limits could read.
    text = JS.replace("value: [0]", "value: [" + ", ".join(["1"] * 100) + "]")
    good = tmp_path / "ok.keras"
    declar.save(text, good)
    with zipfile.ZipFile(good) as z:
        sizes = [i.file_size for i in z.infolist() if i.filename.startswith("assets/")]
    total = sum(sizes)  # what save computes is what load counts, to the byte
    for limits, fragment in ((Limits(max_json_asset_bytes=total - 1), "its JSON assets would be"),
                             (Limits(max_asset_bytes=total - 1), "its assets would be"),
                             (Limits(max_json_asset_bytes=max(sizes) - 1), "asset 'a' would be")):
        out = tmp_path / "refused.keras"
        with pytest.raises(ArchiveError, match=fragment) as err:
            declar.save(text, out, limits=limits)
        assert "which loading checks; raise it if this is intended" in str(err.value)
        assert not out.exists()
        with pytest.raises(ArchiveError):
            declar.load(good, limits=limits)
    declar.save(text, tmp_path / "edge.keras", limits=Limits(max_json_asset_bytes=total, max_asset_bytes=total))
    # A model built under raised limits is saved under them too (the limits reach the save's check).
    model = declar.build(text, limits=Limits(max_json_asset_bytes=total, max_asset_bytes=total))
    declar.save(model, tmp_path / "edge2.keras", limits=Limits(max_json_asset_bytes=total, max_asset_bytes=total))
    with pytest.raises(ArchiveError, match="its JSON assets would be"):
        declar.save(model, tmp_path / "refused2.keras", limits=Limits(max_json_asset_bytes=total - 1))
    loaded = declar.load(tmp_path / "edge.keras", limits=Limits(max_json_asset_bytes=total, max_asset_bytes=total))
    assert loaded.layers[1].assets["d"] == [1] * 100


# --- the JSON bound at build and at validate --------------------------------------------------------

@pytest.mark.parametrize(("kind", "file"), [("json", "big.json"), ("array", "big.json"), ("array", "big.txt")])
def test_json_asset_file_over_the_json_limit_is_refused_at_validate_and_build(tmp_path, kind, file):
    (tmp_path / file).write_bytes(b"[" + b"0," * 1_000 + b"0]")  # 2,003 bytes
    spec = tmp_path / "s.yaml"
    spec.write_text(HEAD + f"layers:\n  T:\n    extends: Dense\n    assets:\n      a: {{kind: {kind}, file: {file}}}\n"
                    "model:\n  - T: {units: 2}\n")
    limits = Limits(max_json_asset_bytes=1_000)
    (problem,) = declar.validate(spec, limits=limits)
    col = len(f"      a: {{kind: {kind}, file: ") + 1
    assert (problem.line, problem.col) == (9, col)
    assert problem.message == f"asset file '{file}' is 2,003 bytes, over the limit of 1,000"
    assert problem.hint == "raise Limits.max_json_asset_bytes if this is intended"
    result = cli("--limit", "max_json_asset_bytes=1000", "validate", str(spec))
    assert result.exit_code == 1 and f"{spec}:9:{col}: error: asset file '{file}' is 2,003 bytes" in result.output
    # At build (validate passed, the file then grew; or a DeclarLayer made directly): the same bound.
    from declar.keras.layer import DeclarLayer, LayerBuildError

    token = current_limits.set(limits)
    try:
        with pytest.raises(LayerBuildError, match=rf"asset 'a': file '{file}' is 2,003 bytes, over "
                                                  r"Limits.max_json_asset_bytes = 1,000"):
            DeclarLayer(types={"T": {"extends": "Dense", "assets": {"a": {"kind": kind, "file": file}}}},
                        layer_type="T", args={"units": 2}, asset_root=str(tmp_path))
    finally:
        current_limits.reset(token)
    # Within the JSON bound (and far under max_asset_bytes) it builds.
    assert declar.validate(spec, limits=Limits(max_json_asset_bytes=2_003)) == []
