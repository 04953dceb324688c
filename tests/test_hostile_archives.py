"""Archives from strangers: every tampered, truncated or mismatched archive is refused with a
clear error, and nothing in it is run (a canary file would be written if anything ran)."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import declar
from declar.archive import ArchiveError

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "specs" / "keras_guide"


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("archives")
    made = {}
    for name in ("custom_build", "custom_variables", "custom_compile", "custom_assets"):
        made[name] = out / f"{name}.keras"
        declar.save(GUIDE / f"{name}.yaml", made[name])
    return made


def rewrite(src: Path, dst: Path, config=None, weights=None, drop=(), extra=None) -> Path:
    """Copy an archive, replacing config.json and/or model.weights.h5, dropping or adding members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "config.json" and config is not None:
                data = json.dumps(config).encode()
            if item.filename == "model.weights.h5" and weights is not None:
                data = weights
            zout.writestr(item, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def config_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def weights_of(path: Path, tmp: Path, edit) -> bytes:
    with zipfile.ZipFile(path) as z:
        raw = z.read("model.weights.h5")
    local = tmp / "w.h5"
    local.write_bytes(raw)
    with h5py.File(local, "r+") as h5:
        edit(h5)
    return local.read_bytes()


def refused(path: Path, *fragments: str) -> str:
    """Both declar.load and plain keras.models.load_model (declar imported) must refuse."""
    with pytest.raises(ArchiveError) as err:
        declar.load(path)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    with pytest.raises(Exception):  # noqa: B017 - Keras raises several types; any refusal will do
        keras.models.load_model(path)
    return message


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "something in the archive was executed"


class TestConfigTampering:
    def test_unknown_class_is_refused(self, archives, tmp_path):
        config = config_of(archives["custom_build"])
        config["registered_name"] = "evil>Backdoor"
        config["class_name"] = "Backdoor"
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "cannot load")

    def test_module_to_import_is_refused(self, archives, tmp_path, canary):
        config = {"module": "os", "class_name": "system", "config": {"command": f"touch {canary}"},
                  "registered_name": "system"}
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "cannot load")

    def test_lambda_layer_with_marshalled_code_is_refused(self, archives, tmp_path, canary):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
        path = tmp_path / "lambda.keras"
        model.save(path)
        refused(path, "cannot load")

    def test_expression_outside_the_language_is_refused(self, archives, tmp_path, canary):
        config = config_of(archives["custom_build"])
        spec = config["config"]["spec"]
        spec["layers"]["LayerWithCustomBuild"]["call"] = f"__import__('os').system('touch {canary}')"
        config["config"]["sha256"] = None
        message = refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "cannot load")
        assert "attribute access (.system) is not allowed" in message

    def test_attribute_escape_in_a_loss_function_is_refused(self, archives, tmp_path, canary):
        config = config_of(archives["custom_compile"])
        config["config"]["spec"]["functions"]["mean_pred"]["expr"] = "y_pred.__class__.__mro__"
        config["config"]["sha256"] = None
        message = refused(rewrite(archives["custom_compile"], tmp_path / "a.keras", config), "cannot load")
        assert "attribute access" in message

    def test_definition_that_fails_validation_is_refused(self, archives, tmp_path):
        config = config_of(archives["custom_build"])
        config["config"]["spec"]["model"][0] = {"Dens": {"units": 3}}
        config["config"]["sha256"] = None
        message = refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "cannot load")
        assert "unknown layer type 'Dens'" in message

    @pytest.mark.parametrize(("layer", "args", "fragment"), [
        ("Lambda", {"function": "os.system"}, "layer 'Lambda' runs a Python function"),
        ("TFSMLayer", {"filepath": "/tmp/model"}, "layer 'TFSMLayer' loads a SavedModel from a path"),
        ("TextVectorization", {"vocabulary": "/etc/passwd"}, "'vocabulary' as a string is a file path"),
    ])
    def test_layers_that_run_code_or_read_paths_are_refused(self, archives, tmp_path, layer, args, fragment):
        config = config_of(archives["custom_build"])
        config["config"]["spec"]["model"].insert(0, {layer: args})
        config["config"]["sha256"] = None
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), fragment)

    def test_unknown_key_in_the_embedded_spec_is_refused(self, archives, tmp_path):
        config = config_of(archives["custom_build"])
        config["config"]["spec"]["backdoor"] = {"module": "os"}
        config["config"]["sha256"] = None
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "unknown key 'backdoor'")

    def test_spec_changed_without_its_hash_is_refused(self, archives, tmp_path):
        config = config_of(archives["custom_build"])
        config["config"]["spec"]["model"][1]["Dense"]["units"] = 2
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "does not match its sha256")

    def test_unknown_model_config_key_is_refused(self, archives, tmp_path):
        config = config_of(archives["custom_build"])
        config["config"]["run_me"] = "import os"
        refused(rewrite(archives["custom_build"], tmp_path / "a.keras", config), "unknown keys ['run_me']")

    def test_asset_file_path_in_the_spec_cannot_leave_the_archive(self, archives, tmp_path):
        config = copy.deepcopy(config_of(archives["custom_assets"]))
        asset = config["config"]["spec"]["layers"]["LayerWithCustomAssets"]["assets"]["vocab"]
        asset.pop("param")
        asset["file"] = "../../../../etc/passwd"
        config["config"]["sha256"] = None
        refused(rewrite(archives["custom_assets"], tmp_path / "a.keras", config), "leaves the spec's directory")

    def test_lone_declar_layer_with_a_hostile_call_is_refused(self, tmp_path, canary):
        from declar.keras.layer import DeclarLayer

        layer = DeclarLayer(types={"T": {"extends": "Layer", "call": "inputs * 2"}}, layer_type="T", name="t")
        model = keras.Sequential([keras.Input((2,)), layer])
        path = tmp_path / "plain.keras"
        model.save(path)
        config = config_of(path)
        for layer_config in config["config"]["layers"]:
            if layer_config.get("registered_name") == "declar>DeclarLayer":
                layer_config["config"]["types"]["T"]["call"] = f"open('{canary}', 'w')"
        hostile = rewrite(path, tmp_path / "b.keras", config)
        message = refused(hostile, "cannot load")
        assert "not an archive written by declar" in message  # declar.load is strict: a plain Sequential
        with pytest.raises(Exception, match="unknown function 'open'"):  # and Keras's own load checks the call
            keras.models.load_model(hostile)


class TestBrokenFiles:
    def test_truncated_zip_is_refused(self, archives, tmp_path):
        data = archives["custom_build"].read_bytes()
        path = tmp_path / "t.keras"
        path.write_bytes(data[: len(data) // 2])
        refused(path, "not a readable .keras archive")

    def test_corrupted_member_is_refused(self, archives, tmp_path):
        data = bytearray(archives["custom_build"].read_bytes())
        with zipfile.ZipFile(archives["custom_build"]) as z:
            info = z.getinfo("model.weights.h5")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
        data[start:start + 64] = bytes(64)
        path = tmp_path / "c.keras"
        path.write_bytes(bytes(data))
        refused(path, "corrupted")

    def test_random_bytes_are_refused(self, tmp_path):
        path = tmp_path / "r.keras"
        path.write_bytes(np.random.default_rng(0).bytes(4096))
        refused(path, "not a readable .keras archive")

    def test_missing_config_is_refused(self, archives, tmp_path):
        refused(rewrite(archives["custom_build"], tmp_path / "m.keras", drop=("config.json",)), "missing config.json")


class TestWeights:
    def test_missing_declared_variable_names_layer_and_variable(self, archives, tmp_path):
        def drop_b(h5):
            del h5["layers/declar_layer/vars/b"]
        weights = weights_of(archives["custom_build"], tmp_path, drop_b)
        refused(rewrite(archives["custom_build"], tmp_path / "w.keras", weights=weights),
                "layer 'layer_with_custom_build' (LayerWithCustomBuild)", "missing ['b']")

    def test_extra_variable_is_refused(self, archives, tmp_path):
        def add(h5):
            h5["layers/declar_layer/vars"].create_dataset("sneaky", data=np.zeros(3))
        weights = weights_of(archives["custom_build"], tmp_path, add)
        refused(rewrite(archives["custom_build"], tmp_path / "w.keras", weights=weights), "unexpected ['sneaky']")

    def test_wrong_shape_names_the_variable(self, archives, tmp_path):
        def reshape(h5):
            del h5["layers/declar_layer/vars/w"]
            h5["layers/declar_layer/vars"].create_dataset("w", data=np.zeros((16, 8), "float32"))
        weights = weights_of(archives["custom_build"], tmp_path, reshape)
        refused(rewrite(archives["custom_build"], tmp_path / "w.keras", weights=weights),
                "variable 'w' has shape (16, 8) in the archive, the spec builds (8, 16)")

    def test_wrong_dtype_names_the_variable(self, archives, tmp_path):
        def retype(h5):
            del h5["layers/declar_layer/vars/special_arr"]
            h5["layers/declar_layer/vars"].create_dataset("special_arr", data=np.zeros(10, "float64"))
        weights = weights_of(archives["custom_variables"], tmp_path, retype)
        refused(rewrite(archives["custom_variables"], tmp_path / "w.keras", weights=weights),
                "variable 'special_arr' has dtype float64")

    def test_missing_optimizer_state_is_an_error_for_declar_load(self, archives, tmp_path):
        def drop_optimizer(h5):
            del h5["optimizer"]
        weights = weights_of(archives["custom_compile"], tmp_path, drop_optimizer)
        path = rewrite(archives["custom_compile"], tmp_path / "o.keras", weights=weights)
        with pytest.raises(ArchiveError, match="loading would lose state: Skipping variable loading"):
            declar.load(path)

    def test_missing_asset_is_refused(self, archives, tmp_path):
        with zipfile.ZipFile(archives["custom_assets"]) as z:
            drop = [n for n in z.namelist() if n.endswith("vocab.txt")]
        assert drop
        refused(rewrite(archives["custom_assets"], tmp_path / "a.keras", drop=drop), "asset 'vocab' is missing")
