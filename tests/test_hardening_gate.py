"""Keras objects named in a spec or an archive pass one allow-list gate (issue 12, classes 1 and 4).

A layer argument that Keras deserializes (activation, initializers, regularizers, constraints, a
wrapped layer) must name a Keras built-in of its kind: never declar's own registered classes
(`declar>DeclarLayer` with an `asset_root` reads any file), never a registered custom class, never a
class chosen by a `module` key. `declar validate` says so at the offending value; archives, whose
embedded spec goes through the same checks, are refused at load; and declar's registered classes
refuse, in their own `from_config`, any key that could move where assets are read from.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_archives import config_of, refused, rewrite
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.spec.catalog import catalog

ROOT = Path(__file__).resolve().parent.parent
SECRET = "CANARY-SECRET-7f3a9c"

HEAD = "declar: 1\nname: m\ninputs: {x: {shape: [5, 3]}}\n"


def located(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based line and column of the ``occurrence``-th ``needle`` in ``text``."""
    pos = -1
    for _ in range(occurrence + 1):
        pos = text.index(needle, pos + 1)
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


# (name, spec text, needle whose position the problem must be at, message fragment)
ATTACKS = [
    ("declar layer as a kernel initializer, reading /proc/self/environ",
     HEAD + "model:\n  - Dense: {units: 2, kernel_initializer: {class_name: \"declar>DeclarLayer\", config: "
     "{types: {T: {extends: Layer, assets: {s: {kind: text, file: environ}}}}, layer_type: T, "
     "asset_root: /proc/self}}}\n",
     '"declar>DeclarLayer"', "'declar>DeclarLayer' is not a Keras built-in initializer: registered and custom"),
    ("declar loss as a bias regularizer",
     HEAD + "model:\n  - Dense: {units: 2, bias_regularizer: {class_name: \"declar>DeclarLoss\", config: {}}}\n",
     '"declar>DeclarLoss"', "not a Keras built-in regularizer"),
    ("declar metric by its bare class name as a constraint",
     HEAD + "model:\n  - Dense: {units: 2, kernel_constraint: {class_name: DeclarMetric}}\n",
     "DeclarMetric", "'DeclarMetric' is not a Keras built-in constraint"),
    ("declar layer as an activation",
     HEAD + "model:\n  - Dense: {units: 2, activation: {class_name: \"declar>DeclarLayer\", config: {}}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in activation"),
    ("a built-in activation as an object (Keras would look it up in the registry only)",
     HEAD + "model:\n  - LSTM: {units: 2, recurrent_activation: {class_name: sigmoid}}\n",
     "{class_name: sigmoid}", "an activation is given by name"),
    ("a class chosen by a module key",
     HEAD + "model:\n  - Dense: {units: 2, kernel_initializer: {class_name: GlorotUniform, module: os}}\n",
     "os}", "an initializer cannot choose its class by 'module'"),
    ("a registered_name key",
     HEAD + "model:\n  - Dense: {units: 2, kernel_initializer: {class_name: Zeros, registered_name: "
     "\"declar>DeclarLayer\"}}\n",
     '"declar>DeclarLayer"', "cannot choose its class by 'registered_name'"),
    ("a built-in of the wrong kind",
     HEAD + "model:\n  - Dense: {units: 2, kernel_initializer: {class_name: L2, config: {l2: 0.1}}}\n",
     "L2,", "'L2' is not a Keras built-in initializer"),
    ("a nested Keras object inside a built-in's config",
     HEAD + "model:\n  - Dense: {units: 2, kernel_initializer: {class_name: Constant, config: {value: "
     "{class_name: \"declar>DeclarLayer\"}}}}\n",
     '"declar>DeclarLayer"', "'value' of Constant takes a plain value, not a Keras object"),
    ("an argument the built-in does not take",
     HEAD + "model:\n  - Dense: {units: 2, kernel_regularizer: {class_name: L2, config: {asset_root: /}}}\n",
     "/}", "L2 has no argument 'asset_root'"),
    ("declar layer as Bidirectional's layer",
     HEAD + "model:\n  - Bidirectional: {layer: {class_name: \"declar>DeclarLayer\", config: {}}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in layer"),
    ("a declar layer inside the wrapped layer's initializer",
     HEAD + "model:\n  - Bidirectional: {layer: {class_name: LSTM, config: {units: 2, kernel_initializer: "
     "{class_name: \"declar>DeclarLayer\"}}}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("Lambda as a wrapped layer",
     HEAD + "model:\n  - TimeDistributed: {layer: {class_name: Lambda, config: {function: os.system}}}\n",
     "Lambda", "layer 'Lambda' runs Python code"),
    ("a Keras object in a plain argument (the dtype policy is deserialized by Keras)",
     HEAD + "model:\n  - Dense: {units: 2, quantization_config: {class_name: \"declar>DeclarLayer\"}}\n",
     '"declar>DeclarLayer"', "takes a plain value, not a Keras object"),
    ("declar layer as a custom type's typed initializer parameter",
     HEAD + "layers:\n  T:\n    extends: Layer\n    params: {init: {type: initializer}}\n"
     "    variables: {w: {shape: [3], initializer: init}}\n    call: inputs * w\n"
     "model:\n  - T: {init: {class_name: \"declar>DeclarLayer\", config: {}}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("declar layer as an untyped parameter that a variable uses as its initializer",
     HEAD + "layers:\n  T:\n    extends: Layer\n    params: {init: {type: any}}\n"
     "    variables: {w: {shape: [3], initializer: init}}\n    call: inputs * w\n"
     "model:\n  - T: {init: {class_name: \"declar>DeclarLayer\", config: {}}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("declar layer by its registered name as an untyped parameter used as an initializer",
     HEAD + "layers:\n  T:\n    extends: Layer\n    params: {init: {type: any}}\n"
     "    variables: {w: {shape: [3], initializer: init}}\n    call: inputs * w\n"
     "model:\n  - T: {init: \"declar>DeclarLayer\"}\n",
     '"declar>DeclarLayer"', "unknown initializer 'declar>DeclarLayer'"),
    ("declar layer as the default of an untyped parameter used as an initializer",
     HEAD + "layers:\n  T:\n    extends: Layer\n    params: {init: {type: any, default: {class_name: "
     "\"declar>DeclarLayer\"}}}\n    variables: {w: {shape: [3], initializer: init}}\n    call: inputs * w\n"
     "model:\n  - T: {}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("declar layer as a variable's initializer",
     HEAD + "layers:\n  T:\n    extends: Layer\n    variables: {w: {shape: [3], initializer: {class_name: "
     "\"declar>DeclarLayer\", config: {}}}}\n    call: inputs * w\nmodel:\n  - T: {}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("declar layer given to the Dense a custom type extends",
     HEAD + "layers:\n  T: {extends: Dense}\nmodel:\n  - T: {units: 2, kernel_initializer: {class_name: "
     "\"declar>DeclarLayer\"}}\n",
     '"declar>DeclarLayer"', "not a Keras built-in initializer"),
    ("declar loss by its registered name as the loss",
     HEAD + "model:\n  - Dense: {units: 1}\ncompile:\n  optimizer: adam\n  loss: \"declar>DeclarLoss\"\n",
     '"declar>DeclarLoss"', "unknown loss or metric 'declar>DeclarLoss'"),
    ("declar metric by its registered name as a metric",
     HEAD + "model:\n  - Dense: {units: 1}\ncompile:\n  optimizer: adam\n  loss: mse\n"
     "  metrics: [\"declar>DeclarMetric\"]\n",
     '"declar>DeclarMetric"', "unknown loss or metric 'declar>DeclarMetric'"),
    ("declar model as an RNN cell in a list",
     HEAD + "model:\n  - RNN: {cell: [{class_name: LSTMCell, config: {units: 2}}, {class_name: "
     "\"declar>DeclarModel\"}]}\n",
     '"declar>DeclarModel"', "'declar>DeclarModel' is not a Keras built-in layer"),
    ("declar layer as an optimizer argument",
     HEAD + "model:\n  - Dense: {units: 1}\ncompile:\n  optimizer: {name: adam, loss_scale_factor: "
     "{class_name: \"declar>DeclarLayer\"}}\n  loss: mse\n",
     '"declar>DeclarLayer"', "optimizer argument 'loss_scale_factor' takes a plain value"),
    ("declar loss inside a schedule argument",
     HEAD + "model:\n  - Dense: {units: 1}\ncompile:\n  optimizer: {name: sgd, learning_rate: {name: "
     "piecewise_constant_decay, boundaries: [10], values: [0.1, {class_name: \"declar>DeclarLoss\"}]}}\n"
     "  loss: mse\n",
     '"declar>DeclarLoss"', "schedule argument 'values' takes a plain value"),
]


@pytest.mark.parametrize(("name", "text", "needle", "fragment"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_keras_objects_outside_the_allow_list_are_refused_at_their_value(name, text, needle, fragment, tmp_path):
    line, col = located(text, needle)
    problems = declar.validate(text)
    assert problems, f"{name}: accepted"
    hits = [p for p in problems if fragment in p.message]
    assert hits, [p.render() for p in problems]
    assert (hits[0].line, hits[0].col) == (line, col), hits[0].render()
    # The same through the CLI, from a file: exit code 1, file:line:col, no traceback.
    spec = tmp_path / "attack.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 1
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert f"{spec}:{line}:{col}: error:" in output and fragment in output, output
    assert "Traceback" not in output


def test_built_in_objects_of_the_right_kind_validate_and_build_without_declar_classes(monkeypatch):
    """The allow-list does not refuse what Keras users write, and building it never makes a declar class."""
    import keras

    from declar.keras import compile as declar_compile
    from declar.keras import layer as declar_layer

    text = HEAD + (
        "model:\n"
        "  - Bidirectional:\n"
        "      layer: {class_name: LSTM, config: {units: 4, kernel_initializer: {class_name: GlorotUniform, "
        "config: {seed: 3}}, recurrent_activation: hard_sigmoid}}\n"
        "      backward_layer: {class_name: GRU, config: {units: 4, go_backwards: true}}\n"
        "  - Dense: {units: 2, activation: relu, kernel_initializer: {class_name: random_normal, config: "
        "{stddev: 0.1}}, kernel_regularizer: {class_name: L1L2, config: {l1: 0.01}}, bias_constraint: "
        "{class_name: MaxNorm, config: {max_value: 2}}}\n"
        "  - Dense: {units: 1, kernel_initializer: {class_name: Constant, config: {value: 0.5}}}\n")
    assert declar.validate(text) == []
    made = []
    for cls in (declar_layer.DeclarLayer, declar_compile.DeclarLoss, declar_compile.DeclarMetric):
        monkeypatch.setattr(cls, "__init__", lambda self, *a, _c=cls, **k: made.append(_c.__name__))
    model = declar.build(text)
    assert made == []
    wrapper = model.layers[1]
    assert isinstance(wrapper, keras.layers.Bidirectional)
    assert type(wrapper.forward_layer) is keras.layers.LSTM and type(wrapper.backward_layer) is keras.layers.GRU
    assert type(model.layers[2].kernel_regularizer).__name__ == "L1L2"


@pytest.fixture(scope="module")
def plain_archive(tmp_path_factory) -> Path:
    """A plain Keras functional model (not a DeclarModel) holding a DeclarLayer with a file asset."""
    import keras

    from declar.keras.layer import DeclarLayer

    out = tmp_path_factory.mktemp("plain")
    (out / "words.txt").write_text("harmless words")
    types = {"T": {"extends": "Layer", "assets": {"words": {"kind": "text", "file": "words.txt"}}, "call": "inputs"}}
    inputs = keras.Input((3,))
    outputs = DeclarLayer(types=types, layer_type="T", asset_root=str(out), name="t")(inputs)
    path = out / "plain.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def _declar_layer_configs(config: dict) -> list[dict]:
    return [c["config"] for c in config["config"]["layers"] if c.get("registered_name") == "declar>DeclarLayer"]


class FifoWatch:
    """A FIFO that records whether anything opened it for reading (and never lets a reader hang)."""

    def __init__(self, path: Path):
        self.path, self.opened = path, threading.Event()
        os.mkfifo(path)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with open(self.path, "w") as f:  # blocks until a reader opens the FIFO
            self.opened.set()
            f.write(SECRET)

    def close(self) -> bool:
        if not self.opened.is_set():
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
            self.thread.join(5)
            os.close(fd)
            return False
        self.thread.join(5)
        return True


@pytest.mark.parametrize("target", ["proc", "outside file", "fifo"])
def test_declar_layer_config_with_an_asset_root_reads_nothing_through_plain_keras_load(plain_archive, tmp_path,
                                                                                        target):
    import keras

    config = config_of(plain_archive)
    (layer,) = _declar_layer_configs(config)
    watch = None
    if target == "proc":
        root, name = "/proc/self", "environ"
    elif target == "outside file":
        (tmp_path / "outside").mkdir()
        (tmp_path / "outside" / "secret.txt").write_text(SECRET)
        root, name = str(tmp_path / "outside"), "secret.txt"
    else:
        watch = FifoWatch(tmp_path / "fifo")
        root, name = str(tmp_path), "fifo"
    layer["types"]["T"]["assets"]["words"]["file"] = name
    layer["asset_root"] = root
    hostile = rewrite(plain_archive, tmp_path / "hostile.keras", config)
    with pytest.raises(Exception) as err:  # Keras wraps the refusal in its own type
        keras.models.load_model(hostile)
    message = str(err.value)
    assert "asset_root: refused" in message and SECRET not in message
    with pytest.raises(declar.archive.ArchiveError, match="not an archive written by declar"):
        declar.load(hostile)
    if watch is not None:
        assert watch.close() is False, "the FIFO was opened"


def test_declar_layer_inside_a_plain_keras_initializer_reads_nothing(plain_archive, tmp_path):
    """Keras deserializes a Dense's initializer through the registry: DeclarLayer refuses there too."""
    import keras

    watch = FifoWatch(tmp_path / "fifo")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    path = tmp_path / "dense.keras"
    model.save(path)
    config = config_of(path)
    hostile_layer = {"types": {"T": {"extends": "Layer", "assets": {"s": {"kind": "text", "file": "fifo"}}}},
                     "layer_type": "T", "asset_root": str(tmp_path)}
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["kernel_initializer"] = {"class_name": "DeclarLayer", "config": hostile_layer,
                                                     "registered_name": "declar>DeclarLayer", "module": None}
    with pytest.raises(Exception, match="asset_root: refused"):
        keras.models.load_model(rewrite(path, tmp_path / "hostile.keras", config))
    assert watch.close() is False, "the FIFO was opened"


@pytest.mark.parametrize(("cls_path", "config", "fragment"), [
    ("declar.keras.layer.DeclarLayer", {"types": {"T": {"extends": "Layer"}}, "layer_type": "T", "name": "t",
                                        "trainable": True, "run_me": 1}, "unknown keys ['run_me']"),
    ("declar.keras.layer.DeclarLayer", {"types": {"T": {"extends": "Layer"}}, "layer_type": "T",
                                        "dtype": {"class_name": "DeclarLayer", "registered_name": "declar>DeclarLayer",
                                                  "config": {}}}, "unknown dtype"),
    ("declar.keras.compile.DeclarLoss", {"name": "l", "args": ["y_true", "y_pred"], "expr": "y_pred",
                                         "fn": "os.system"}, "unknown keys ['fn']"),
    ("declar.keras.compile.DeclarMetric", {"name": "m", "args": ["y_true", "y_pred"], "expr": "y_pred",
                                           "asset_root": "/"}, "unknown keys ['asset_root']"),
    ("declar.keras.compile.DeclarMetric", {"name": "m", "args": "y_true", "expr": "y_pred"}, "args a list"),
])
def test_declar_classes_refuse_config_keys_they_do_not_write(cls_path, config, fragment):
    import importlib

    import keras

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        cls.from_config(config)
    # Also through Keras's deserializer, the way an archive reaches it.
    with pytest.raises(Exception, match=r"unknown|args a list"):
        keras.saving.deserialize_keras_object({"class_name": name, "config": config,
                                               "registered_name": f"declar>{name}", "module": module})


def test_archive_whose_spec_names_a_declar_class_is_refused_before_any_read(tmp_path):
    """The embedded spec is validated with the same gate: declar.load and keras.models.load_model refuse."""
    spec = tmp_path / "s.yaml"
    spec.write_text(HEAD + "model:\n  - Dense: {units: 2}\n")
    archive = tmp_path / "a.keras"
    declar.save(spec, archive)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    config = config_of(archive)
    dense = config["config"]["spec"]["model"][0]["Dense"]
    dense["kernel_initializer"] = {"class_name": "declar>DeclarLayer", "config": {
        "types": {"T": {"extends": "Layer", "assets": {"s": {"kind": "text", "file": "secret.txt"}}}},
        "layer_type": "T", "asset_root": str(tmp_path / "outside")}}
    config["config"]["sha256"] = None
    message = refused(rewrite(archive, tmp_path / "hostile.keras", config),
                      "'declar>DeclarLayer' is not a Keras built-in initializer")
    assert SECRET not in message
    # And `declar inspect` shows the refused spec without building anything.
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "hostile.keras"), "--format", "json"])
    assert result.exit_code == 0 and SECRET not in result.output


# -- the property: every Keras-object-shaped dict in every argument kind that takes one -----------------

DECLAR_NAMES = ["declar>DeclarLayer", "declar>DeclarModel", "declar>DeclarLoss", "declar>DeclarMetric",
                "DeclarLayer", "DeclarModel", "DeclarLoss", "DeclarMetric"]
OTHER_NAMES = sorted({*catalog().layers, *catalog().activations, *catalog().losses, "function", "__lambda__",
                      "__numpy__", "__tensor__", "Model", "Functional", "Sequential", "Custom>Thing",
                      *(n for classes in catalog().object_classes.values() for n in classes)})
MODULES = [None, "keras", "keras.initializers", "keras.layers", "os", "builtins", "declar.keras.layer"]

scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=8)


@st.composite
def keras_objects(draw, depth: int = 0):
    obj = {"class_name": draw(st.sampled_from(DECLAR_NAMES) | st.sampled_from(OTHER_NAMES) | st.text(max_size=12))}
    if draw(st.booleans()):
        inner = keras_objects(depth + 1) if depth < 2 else scalars
        obj["config"] = draw(st.dictionaries(st.sampled_from(["seed", "units", "value", "l2", "max_value", "types",
                                                               "layer_type", "asset_root", "stddev", "x"]),
                                             scalars | inner, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        obj["module"] = draw(st.sampled_from(MODULES))
    if draw(st.integers(0, 4)) == 0:
        obj["registered_name"] = draw(st.sampled_from([None, *DECLAR_NAMES, "Custom>Thing"]))
    return obj


# (kind, where the object goes in a spec's data, and the path of that argument)
PLACES = {
    "initializer": ({"model": [{"Dense": {"units": 2, "kernel_initializer": "X"}}]},
                    ("model", 0, "Dense", "kernel_initializer")),
    "regularizer": ({"model": [{"Dense": {"units": 2, "activity_regularizer": "X"}}]},
                    ("model", 0, "Dense", "activity_regularizer")),
    "constraint": ({"model": [{"Embedding": {"input_dim": 4, "output_dim": 2, "embeddings_constraint": "X"}}]},
                   ("model", 0, "Embedding", "embeddings_constraint")),
    "activation": ({"model": [{"Dense": {"units": 2, "activation": "X"}}]}, ("model", 0, "Dense", "activation")),
    "layer": ({"model": [{"TimeDistributed": {"layer": "X"}}]}, ("model", 0, "TimeDistributed", "layer")),
    "cells": ({"model": [{"RNN": {"cell": ["X"]}}]}, ("model", 0, "RNN", "cell", 0)),
    "param": ({"layers": {"T": {"extends": "Layer", "params": {"p": {"type": "initializer"}},
                                "variables": {"w": {"shape": [3], "initializer": "p"}}, "call": "inputs * w"}},
               "model": [{"T": {"p": "X"}}]}, ("model", 0, "T", "p")),
    "variable": ({"layers": {"T": {"extends": "Layer", "variables": {"w": {"shape": [3], "initializer": "X"}},
                                   "call": "inputs * w"}}, "model": [{"T": {}}]},
                 ("layers", "T", "variables", "w", "initializer")),
    "optimizer": ({"model": [{"Dense": {"units": 1}}], "compile": {"optimizer": {"name": "adam",
                                                                                  "loss_scale_factor": "X"},
                                                                    "loss": "mse"}},
                  ("compile", "optimizer", "loss_scale_factor")),
}
ALLOWED = {"initializer": set(catalog().object_classes["initializer"]),
           "regularizer": set(catalog().object_classes["regularizer"]),
           "constraint": set(catalog().object_classes["constraint"]), "activation": set(),
           "layer": set(catalog().layers), "cells": set(catalog().layers),
           "param": set(catalog().object_classes["initializer"]),
           "variable": set(catalog().object_classes["initializer"]), "optimizer": set()}


def spec_with(place: str, obj: dict) -> tuple[str, tuple]:
    template, path = PLACES[place]
    data = json.loads(json.dumps({"declar": 1, "name": "m", "inputs": {"x": {"shape": [5, 3]}}, **template}))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = obj
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False), path


def _names_in(value) -> set[str]:
    found, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("class_name"), str):
                found.add(item["class_name"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


accepted: list[tuple[str, str]] = []


@settings(max_examples=int(os.environ.get("DECLAR_FUZZ_EXAMPLES", 300)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(sorted(PLACES)), obj=keras_objects())
def test_keras_object_shaped_dicts_are_accepted_only_as_built_ins_of_their_kind(place, obj):
    text, path = spec_with(place, obj)
    problems = declar.validate(text)  # never an exception
    if problems:
        for p in problems:
            assert p.line >= 1 and p.col >= 1 and p.message
        assert any(tuple(p.path[:len(path)]) == path for p in problems), [p.render() for p in problems]
        return
    assert not {"module", "registered_name"} & _keys(obj), obj
    assert obj["class_name"] in ALLOWED[place], (place, obj)
    assert not (_names_in(obj) & set(DECLAR_NAMES)), obj
    accepted.append((place, text))


def _keys(value) -> set[str]:
    found, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found |= set(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


BUILD_SAMPLES = [
    ("initializer", {"class_name": "VarianceScaling", "config": {"scale": 2, "seed": 1}}),
    ("regularizer", {"class_name": "l1l2", "config": {"l2": 0.1}}),
    ("constraint", {"class_name": "non_neg"}),
    ("layer", {"class_name": "Dense", "config": {"units": 2, "kernel_initializer": {"class_name": "Ones"}}}),
    ("variable", {"class_name": "RandomUniform", "config": {"seed": 4}}),
    ("param", {"class_name": "Zeros", "config": {}}),
]


def test_accepted_keras_objects_build_without_constructing_a_declar_class(monkeypatch):
    """Builds of accepted objects (fixed ones and up to a few the property accepted) make no declar class
    besides the DeclarModel and the spec's own custom types."""
    import keras

    from declar.keras import compile as declar_compile
    from declar.keras import layer as declar_layer

    texts = [spec_with(place, obj)[0] for place, obj in BUILD_SAMPLES]
    texts += [text for place, text in accepted if place not in ("param", "variable")][:4]
    made = []
    real_init = declar_layer.DeclarLayer.__init__

    def watched_layer(self, *args, **kwargs):
        made.append(("DeclarLayer", kwargs.get("layer_type")))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(declar_layer.DeclarLayer, "__init__", watched_layer)
    for cls in (declar_compile.DeclarLoss, declar_compile.DeclarMetric):
        monkeypatch.setattr(cls, "__init__", lambda self, *a, _c=cls, **k: made.append((_c.__name__, None)))
    built = 0
    for i, text in enumerate(texts):
        assert declar.validate(text) == [], text
        made.clear()
        try:
            model = declar.build(text)
        except declar.BuildError as err:  # shapes Keras refuses (STFT on a 2-D kernel...): located, no declar class
            assert i >= len(BUILD_SAMPLES), err
            assert "<string>:" in str(err)
        else:
            built += 1
            for layer in model._flatten_layers(include_self=False):
                assert not type(layer).__module__.startswith("declar") or type(layer).__name__ == "DeclarLayer"
            assert isinstance(model, keras.Model)
        assert all(what == "DeclarLayer" and layer_type == "T" for what, layer_type in made), made
    assert built >= len(BUILD_SAMPLES)


def test_gate_never_imports_keras_at_validate():
    import subprocess
    import sys

    code = ("import sys, declar; text = " + json.dumps(ATTACKS[0][1]) +
            "; assert declar.validate(text); assert 'keras' not in sys.modules, 'keras imported'")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_plain_archive_fixture_really_holds_a_declar_layer_without_asset_root(plain_archive):
    """The plain archive really holds a DeclarLayer config (else the asset_root tests prove nothing)."""
    with zipfile.ZipFile(plain_archive) as z:
        config = json.loads(z.read("config.json"))
    (layer,) = _declar_layer_configs(config)
    assert "asset_root" not in layer and layer["layer_type"] == "T"


def test_declar_layer_built_directly_refuses_a_registered_class_where_keras_would_deserialize_it():
    """Defence in depth where no validation ran (a DeclarLayer made in Python): the gate is asked again
    right before `keras.initializers.get` and before building a wrapped layer."""
    import numpy as np

    from declar.keras.layer import DeclarLayer, LayerBuildError, with_layer_objects

    hostile = {"class_name": "declar>DeclarLayer", "config": {"types": {}, "layer_type": "T"}}
    types = {"T": {"extends": "Layer", "params": {"init": {"type": "any"}},
                   "variables": {"w": {"shape": [3], "initializer": "init"}}, "call": "inputs * w"}}
    layer = DeclarLayer(types=types, layer_type="T", args={"init": hostile}, name="t")
    with pytest.raises(LayerBuildError, match="variable 'w': 'declar>DeclarLayer' is not a Keras built-in"):
        layer(np.ones((1, 3), "float32"))
    with pytest.raises(LayerBuildError, match="not a Keras built-in layer"):
        with_layer_objects("Bidirectional", {"layer": hostile})
