"""Random draws in a custom type's call: keras.io's VAE sampling layer, written as a spec.

`random_normal` / `random_uniform` draw from a `keras.random.SeedGenerator` the layer owns, seeded
from the spec's seed and the layer's name (`declar.keras.ops.draw_seed`); its state is saved with
the layer's variables, so a model loaded from an archive draws what the saved model would have
drawn next. The fresh-process round trip of specs/keras_io/vae_encoder.yaml (every spec under
specs/ goes through tests/roundtrip_worker.py) checks that predictions after load are bit-identical.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from keras_io_layers import keras_io_encoder
from twins import assert_same_model, example_inputs

import declar
from declar.keras.layer import SEED_STATE
from declar.keras.ops import draw_seed

ROOT = Path(__file__).resolve().parent.parent
VAE = ROOT / "specs" / "keras_io" / "vae_encoder.yaml"

HEADER = "declar: 2\nname: m\nseed: 5\ninputs:\n  x: {shape: [4]}\n"


def test_vae_encoder_is_the_keras_io_encoder_with_the_same_draws() -> None:
    """Same parameter count (69,076 as keras.io prints), weights copied, outputs equal with the same seed."""
    twin = keras_io_encoder(draw_seed(1337, "z"))
    model = assert_same_model(VAE, twin)
    assert model.count_params() == 69_076
    # The test can fail: a twin drawing from another seed gives another z.
    other = keras_io_encoder(draw_seed(1337, "zz"))
    x = example_inputs(model)
    for a, b in zip(model.weights, other.weights, strict=True):
        b.assign(a)
    assert not np.allclose(ops.convert_to_numpy(model(x)[2]), ops.convert_to_numpy(other(x)[2]), atol=1e-3)


def test_each_call_draws_anew_and_a_build_draws_the_same_as_another() -> None:
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    first, second = declar.build(str(VAE), compile=False), declar.build(str(VAE), compile=False)
    a1, a2 = first.predict(x, verbose=0)[2], first.predict(x, verbose=0)[2]
    b1 = second.predict(x, verbose=0)[2]
    assert not np.array_equal(a1, a2)  # the state advanced: new epsilon
    assert np.array_equal(a1, b1)  # a function of the spec's seed and the layer's name only


def _spec(seed: int = 5, name: str = "noise", call: str = "inputs + random_normal(shape(inputs), stddev=0.5)") -> str:
    return (f"declar: 2\nname: m\nseed: {seed}\ninputs:\n  x: {{shape: [4]}}\nlayers:\n  Noise:\n"
            f"    extends: Layer\n    call: \"{call}\"\nmodel:\n  - Noise: {{name: {name}}}\n")


def _draws(text: str) -> np.ndarray:
    return np.asarray(declar.build(text, compile=False)(np.zeros((3, 4), "float32")))


def test_the_seed_depends_on_the_spec_seed_and_the_layer_name() -> None:
    base = _draws(_spec())
    assert np.array_equal(base, _draws(_spec()))
    assert not np.array_equal(base, _draws(_spec(seed=6)))
    assert not np.array_equal(base, _draws(_spec(name="other")))
    assert 0.2 < float(np.std(base)) < 1.0  # stddev=0.5 reached keras.random.normal


def test_uniform_draws_respect_their_bounds() -> None:
    drawn = _draws(_spec(call="random_uniform(shape(inputs), minval=2.0, maxval=3.0)"))
    assert drawn.shape == (3, 4) and drawn.min() >= 2.0 and drawn.max() < 3.0
    assert len(np.unique(drawn)) == drawn.size


def test_only_a_layer_that_draws_has_a_seed_generator(tmp_path: Path) -> None:
    model = declar.build(_spec(call="inputs * 2"), compile=False)
    assert model.get_layer("noise").seed_generator is None
    store: dict = {}
    model.get_layer("noise").save_own_variables(store)
    assert store == {}  # archives of layers without draws are unchanged
    drawing = declar.build(_spec(), compile=False).get_layer("noise")
    drawing.save_own_variables(store)
    assert list(store) == [SEED_STATE]


def test_load_restores_the_seed_state_in_process(tmp_path: Path) -> None:
    """The state at save, not the initial one: a loaded model continues where the saved one was."""
    model = declar.build(str(VAE), compile=False)
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    model.predict(x, verbose=0)  # advance the state past its initial value
    path = tmp_path / "vae.keras"
    declar.save(model, str(path))
    expected = model.predict(x, verbose=0)[2]
    loaded = keras.models.load_model(str(path))
    assert np.array_equal(loaded.predict(x, verbose=0)[2], expected)
    fresh = declar.build(str(VAE), compile=False)
    fresh.set_weights(model.get_weights())
    assert not np.array_equal(fresh.predict(x, verbose=0)[2], expected)  # the initial state draws otherwise


def test_an_archive_without_the_seed_state_is_refused() -> None:
    layer = declar.build(_spec(), compile=False).get_layer("noise")
    with pytest.raises(ValueError, match=r"missing \['@seed_generator_state'\]"):
        layer.load_own_variables({})
    with pytest.raises(ValueError, match="has shape"):
        layer.load_own_variables({SEED_STATE: np.zeros((3,), "int64")})


def test_predictions_after_a_fresh_process_load_are_bit_identical(roundtrip: Path) -> None:
    """The batched round trip of every spec includes the VAE encoder; its z is drawn, not constant."""
    before = np.load(roundtrip / "vae_encoder.pred.npz")
    after = np.load(roundtrip / "vae_encoder.pred_loaded.npz")
    z_mean, z = before["arr_0"], before["arr_2"]
    assert not np.allclose(z, z_mean, atol=1e-3)  # epsilon was drawn
    assert np.array_equal(z, after["arr_2"])


def test_random_draws_outside_a_call_are_unknown_functions() -> None:
    """A variable's shape (and a graph op, a spec function) has no seed generator to draw from."""
    spec = (HEADER + "layers:\n  T:\n    extends: Layer\n    variables:\n      v: {shape: [\"random_normal([2])\"]}\n"
            "    call: inputs\nmodel:\n  - T: {}\n")
    problems = declar.validate(spec)
    assert [p.render().split(": error: ")[0] for p in problems] == ["<string>:10:20"]
    assert "unknown function 'random_normal'" in problems[0].message
    assert "random draws exist only in a custom layer's call" in problems[0].hint


def test_a_draw_too_large_is_refused_at_validate_at_its_shape() -> None:
    problems = declar.validate(_spec(call="inputs + random_normal([1, 10**12])[0, :4]"))
    assert [p.render().split(": error: ")[0] for p in problems] == ["<string>:9:35"]  # the shape list
    assert "random_normal() would make 1,000,000,000,000 elements per example" in problems[0].message


def test_a_seed_state_saved_by_another_backend_loads_in_this_ones_dtype() -> None:
    layer = declar.build(_spec(), compile=False).get_layer("noise")
    layer.load_own_variables({SEED_STATE: np.array([7, 3], "uint32")})  # JAX's dtype
    assert ops.convert_to_numpy(layer.seed_generator.state).tolist() == [7, 3]
    with pytest.raises(ValueError, match="does not fit"):
        layer.load_own_variables({SEED_STATE: np.array([1.5, 0.0], "float32")})


@pytest.mark.parametrize("seed", ["1", -1, 2**40, True, 1.0])
def test_a_layer_config_with_a_bad_seed_is_refused(seed) -> None:
    config = declar.build(_spec(), compile=False).get_layer("noise").get_config()
    assert config["seed"] == 5  # the spec's seed; the layer's own is drawn from it and its name
    with pytest.raises(declar.errors.LayerBuildError, match="seed that is not an integer"):
        type(declar.build(_spec(), compile=False).get_layer("noise")).from_config({**config, "seed": seed})
