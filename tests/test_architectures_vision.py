"""Real Keras vision and generative architectures as specs, each against a twin written by hand.

Each spec under specs/architectures/ reproduces a public Keras example (cited in its header).
The twin below writes the same model the way that example writes it (its functions, loops and
subclassed layers, at the spec's tiny sizes); `assert_same_model` builds the spec, copies its
weights into the twin and compares parameter counts and outputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.keras.ops import draw_seed
from tests.keras_io_layers import PatchEncoder, Patches, keras_io_encoder
from tests.sequence_twins import TokenAndPositionEmbedding
from tests.twins import assert_same_model, copy_weights, example_inputs

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURES = ROOT / "specs" / "architectures"
NAMES = ["vit_classifier", "unet_segmentation", "toy_resnet", "vae", "autoencoder_nested",
         "timeseries_transformer"]
runner = CliRunner()


def spec(name: str) -> Path:
    return ARCHITECTURES / f"{name}.yaml"


@pytest.mark.parametrize("name", NAMES)
def test_declar_validate_is_clean(name):
    result = runner.invoke(app, ["validate", str(spec(name))])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 spec valid"


# -- 1. Vision Transformer ------------------------------------------------------------------------
# https://keras.io/examples/vision/image_classification_with_vision_transformer/


def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def vit_twin() -> keras.Model:
    input_shape, patch_size, image_size = (16, 16, 3), 4, 16
    num_patches = (image_size // patch_size) ** 2
    projection_dim, num_heads = 8, 2
    hidden_dim = projection_dim * num_heads
    transformer_units = [hidden_dim * 2, hidden_dim]
    transformer_layers, mlp_head_units, num_classes = 2, [32, 16], 10

    inputs = keras.Input(shape=input_shape)
    patches = Patches(patch_size)(inputs)
    encoded_patches = PatchEncoder(num_patches, hidden_dim)(patches)
    for _ in range(transformer_layers):
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim,
                                                     dropout=0.1)(x1, x1)
        x2 = layers.Add()([attention_output, encoded_patches])
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        x3 = mlp(x3, hidden_units=transformer_units, dropout_rate=0.1)
        encoded_patches = layers.Add()([x3, x2])
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(0.5)(representation)
    features = mlp(representation, hidden_units=mlp_head_units, dropout_rate=0.5)
    logits = layers.Dense(num_classes)(features)
    return keras.Model(inputs=inputs, outputs=logits)


def test_vit_classifier_is_the_examples_model():
    model = assert_same_model(spec("vit_classifier"), vit_twin())
    assert isinstance(model.get_layer("transformer"), keras.Model)


# -- 2. U-Net ---------------------------------------------------------------------------------------
# https://keras.io/examples/vision/oxford_pets_image_segmentation/


def unet_twin(img_size=(32, 32), num_classes=3) -> keras.Model:
    inputs = keras.Input(shape=(*img_size, 3))

    # Entry block
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x

    for filters in [8, 16, 32]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x

    for filters in [32, 16, 8, 4]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x

    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return keras.Model(inputs, outputs)


def test_unet_segmentation_is_the_examples_model():
    model = assert_same_model(spec("unet_segmentation"), unet_twin())
    assert model.output_shape == (None, 32, 32, 3)


# -- 3. Toy ResNet ----------------------------------------------------------------------------------
# https://keras.io/guides/functional_api/#a-toy-resnet-model


def toy_resnet_twin() -> keras.Model:
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)

    x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])

    x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])

    x = layers.Conv2D(16, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


def test_toy_resnet_is_the_guides_model():
    model = assert_same_model(spec("toy_resnet"), toy_resnet_twin())
    repeated = model.get_layer("residual_blocks")
    assert [layer.name for layer in repeated.layers[1:]] == ["block_1", "block_2"]
    kernels = {w.path for w in repeated.weights if w.path.endswith("kernel")}
    assert "residual_blocks/block_2/conv_1/kernel" in kernels


# -- 4. Variational autoencoder -------------------------------------------------------------------
# https://keras.io/examples/generative/vae/


# The spec's Sampling layer `z` draws from a seed generator seeded from its name and the seed of
# its scope, the block use `encoder` (itself drawn from the spec's seed).
SAMPLING_SEED = draw_seed(draw_seed(1337, "encoder"), "z")


def vae_twin(sampling_seed: int, latent_dim: int = 2) -> keras.Model:
    """The example's encoder and decoder, chained as its VAE.call does (also returning z_mean and
    z_log_var, as the spec does)."""
    encoder = keras_io_encoder(sampling_seed, latent_dim)

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

    digits = keras.Input(shape=(28, 28, 1))
    z_mean, z_log_var, z = encoder(digits)
    return keras.Model(digits, {"z_mean": z_mean, "z_log_var": z_log_var, "reconstruction": decoder(z)})


def test_vae_is_the_examples_encoder_and_decoder_with_the_same_draws():
    model = assert_same_model(spec("vae"), vae_twin(SAMPLING_SEED))
    assert model.count_params() == 69_076 + 65_089  # the example's summaries: encoder, decoder
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    assert [tuple(t.shape) for t in encoder.outputs] == [(None, 2)] * 3
    assert tuple(decoder(np.zeros((1, 2), "float32")).shape) == (1, 28, 28, 1)


def test_vae_draws_anew_at_each_call_and_other_draws_differ_from_the_twins():
    model = declar.build(str(spec("vae")), compile=False)
    xs = example_inputs(model)
    first, second = (keras.ops.convert_to_numpy(model(xs)["reconstruction"]) for _ in range(2))
    assert not np.array_equal(first, second)  # the sampling layer's state advanced
    other = vae_twin(SAMPLING_SEED + 1)
    copy_weights(model, other)
    ours = keras.ops.convert_to_numpy(declar.build(str(spec("vae")), compile=False)(xs)["reconstruction"])
    np.testing.assert_array_equal(ours, first)  # a new build draws the same again
    assert not np.allclose(keras.ops.convert_to_numpy(other(xs)["reconstruction"]), first, atol=1e-4)


# -- 5. Nested autoencoder --------------------------------------------------------------------------
# https://keras.io/guides/functional_api/#all-models-are-callable-just-like-layers


def autoencoder_twin() -> tuple[keras.Model, keras.Model]:
    """The guide's autoencoder and its decoder."""
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")

    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
    decoder = keras.Model(decoder_input, decoder_output, name="decoder")

    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    return keras.Model(autoencoder_input, decoded_img, name="autoencoder"), decoder


# Run in a fresh process: `import declar` alone, the archive loaded strictly (safe mode on), then
# the model (or one of its layers, by name) called on saved inputs.
PREDICT = """
import sys
import numpy as np
import declar
model = declar.load(sys.argv[1])
called = model.get_layer(sys.argv[4]) if len(sys.argv) > 4 else model
np.save(sys.argv[3], np.asarray(called(np.load(sys.argv[2]))))
"""


def predict_in_fresh_process(archive: Path, x: np.ndarray, layer: str | None = None) -> np.ndarray:
    """What a fresh process that loads ``archive`` computes on ``x`` (with ``layer``, that layer's output)."""
    folder = archive.parent
    np.save(folder / "x.npy", x)
    args = [str(archive), str(folder / "x.npy"), str(folder / "y.npy"), *([layer] if layer else [])]
    proc = subprocess.run([sys.executable, "-c", PREDICT, *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(folder / "y.npy")


def test_autoencoder_nested_is_the_guides_model():
    twin, _ = autoencoder_twin()
    model = assert_same_model(spec("autoencoder_nested"), twin)
    assert [layer.name for layer in model.layers[1:]] == ["encoder", "decoder"]
    assert all(isinstance(layer, keras.Model) for layer in model.layers[1:])


def test_autoencoder_decoder_after_load_in_a_fresh_process_is_the_guides_decoder(tmp_path):
    model = declar.build(str(spec("autoencoder_nested")))
    archive = tmp_path / "autoencoder.keras"
    declar.save(model, str(archive))
    twin, twin_decoder = autoencoder_twin()
    copy_weights(model, twin)
    latent = np.random.default_rng(1).random((3, 16)).astype("float32")
    decoded = predict_in_fresh_process(archive, latent, "decoder")
    assert decoded.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(decoded, keras.ops.convert_to_numpy(model.get_layer("decoder")(latent)))
    np.testing.assert_allclose(decoded, keras.ops.convert_to_numpy(twin_decoder(latent)), atol=1e-6)


# -- 6. Timeseries Transformer ----------------------------------------------------------------------
# https://keras.io/examples/timeseries/timeseries_classification_transformer/


def transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(inputs, inputs)
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs
    # Feed Forward Part
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def timeseries_transformer_twin(input_shape=(16, 1), head_size=8, num_heads=2, ff_dim=4,
                                num_transformer_blocks=2, mlp_units=(16,), dropout=0.25,
                                mlp_dropout=0.4, n_classes=2) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(x, head_size, num_heads, ff_dim, dropout)
    x = layers.GlobalAveragePooling1D(data_format="channels_last")(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_timeseries_transformer_is_the_examples_model():
    model = assert_same_model(spec("timeseries_transformer"), timeseries_transformer_twin())
    assert isinstance(model.get_layer("transformer_blocks"), keras.Model)



# Two uses of a block holding a random draw, and the copies of a repeated one, must not draw the
# same numbers (a VAE-style noise layer in a repeated block would otherwise add the same noise).
POSITIONS = """\
declar: 2
name: positions
seed: 2
inputs:
  tokens: {shape: [12], dtype: int32}
model:
  nodes:
    token_emb: {Embedding: {input_dim: 20, output_dim: 4}, inputs: tokens}
    positions: {op: "arange(0, 12)"}
    pos_emb: {Embedding: {input_dim: 12, output_dim: 4}, inputs: positions}
    embedded: {op: "token_emb + pos_emb"}
  outputs: embedded
"""


NOISY_BLOCKS = """\
declar: 2
name: noisy
seed: 3
inputs:
  x: {shape: [4]}
layers:
  Noise:
    extends: Layer
    call: "inputs + random_normal(shape=(shape(inputs)[0], shape(inputs)[1]))"
blocks:
  Noisy:
    nodes:
      noise: {Noise: {}, inputs: inputs}
    outputs: noise
model:
  nodes:
    first: {Noisy: {}, inputs: x}
    second: {Noisy: {}, inputs: x}
    chain: {Noisy: {}, inputs: x, repeat: 2}
  outputs: [first, second, chain]
"""


def test_a_layer_on_a_constant_op_is_part_of_the_model_and_survives_a_load(tmp_path):
    path = tmp_path / "positions.yaml"
    path.write_text(POSITIONS)
    tokens = keras.Input((12,), dtype="int32")
    twin = keras.Model(tokens, TokenAndPositionEmbedding(12, 20, 4)(tokens))
    model = assert_same_model(path, twin, high=20)
    assert [layer.name for layer in model.layers] == ["tokens", "positions", "token_emb", "pos_emb"]
    archive = tmp_path / "positions.keras"
    declar.save(model, str(archive))
    x = example_inputs(model, high=20)
    np.testing.assert_array_equal(predict_in_fresh_process(archive, x), keras.ops.convert_to_numpy(model(x)))


def test_block_uses_and_repeat_copies_draw_their_own_numbers(tmp_path):
    path = tmp_path / "noisy.yaml"
    path.write_text(NOISY_BLOCKS)
    model = declar.build(str(path), compile=False)
    first, second, chain = (keras.ops.convert_to_numpy(y) for y in model(np.zeros((64, 4), "float32")))
    assert not np.allclose(first, second)
    # chain = x + e1 + e2: were the copies' draws the same, chain would be exactly 2 * e1 for some
    # draw e1 of the chain's first copy; its variance (2 for independent draws, 4 for equal ones) tells.
    assert 1.4 < chain.var() < 2.8
    again = declar.build(str(path), compile=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(np.zeros((64, 4), "float32"))[0]), first)
