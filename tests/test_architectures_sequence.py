"""Sequence architectures of the Keras examples, each as a spec and as the example writes it by hand.

Every spec under specs/architectures/ here reproduces a public Keras example (cited in its header
comment); its twin in sequence_twins.py is that example's model code at tiny sizes.
`assert_same_model` checks equal parameter counts and, with the spec's weights copied into the
twin, equal outputs. The round trip through an archive is in test_roundtrip.py (every spec under
specs/), on every installed backend.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import sequence_twins as T
from keras import layers
from test_cli import readme_block, run
from twins import assert_same_model
from typer.testing import CliRunner

from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs" / "architectures"
NAMES = ["text_transformer", "seq2seq_lstm", "bidirectional_lstm", "attention_mask", "masked_lstm",
         "timedistributed_video"]


def spec(name: str) -> Path:
    return SPECS / f"{name}.yaml"


@pytest.mark.parametrize("name", NAMES)
def test_declar_validate_is_clean(name):
    result = CliRunner().invoke(app, ["validate", str(spec(name))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1 spec valid")


def test_text_transformer_is_the_examples_model():
    twin = T.text_transformer()
    model = assert_same_model(spec("text_transformer"), twin, order=T.spec_order("text_transformer", twin), high=20)
    # Each block use is a nested model a user can take out and call, its weights named by path.
    assert isinstance(model.get_layer("transformer_block"), keras.Model)
    assert "transformer_block/att/query/kernel" in {w.path for w in model.weights}


def test_seq2seq_lstm_is_the_examples_model():
    model = assert_same_model(spec("seq2seq_lstm"), T.seq2seq_lstm())
    # The decoder really starts from the encoder's states: other encoder inputs, other predictions.
    rng = np.random.default_rng(1)
    dec = rng.random((2, 5, 7)).astype("float32")
    a = model.predict([rng.random((2, 4, 6)).astype("float32"), dec], verbose=0)
    b = model.predict([rng.random((2, 4, 6)).astype("float32"), dec], verbose=0)
    assert not np.allclose(a, b, atol=1e-4)


def test_bidirectional_lstm_is_the_examples_model():
    model = assert_same_model(spec("bidirectional_lstm"), T.bidirectional_lstm(), high=20)
    wrapper = model.get_layer("bidirectional_2")
    assert isinstance(wrapper, layers.Bidirectional) and isinstance(wrapper.forward_layer, layers.LSTM)


def test_attention_mask_is_the_examples_decoder():
    twin = T.attention_mask()
    model = assert_same_model(spec("attention_mask"), twin, order=T.spec_order("attention_mask", twin))

    # Both masks matter: a later target step changes no earlier prediction (causal), and a padded
    # source step changes nothing at all, while an unpadded one does.
    rng = np.random.default_rng(2)
    dec, enc = rng.random((1, 6, 8)).astype("float32"), rng.random((1, 7, 8)).astype("float32")
    padding = np.array([[1, 1, 1, 1, 1, 0, 0]], dtype="int32")
    base = model.predict([dec, enc, padding], verbose=0)
    later = dec.copy()
    later[:, 4:] += 1.0
    changed = model.predict([later, enc, padding], verbose=0)
    np.testing.assert_allclose(changed[:, :4], base[:, :4], atol=1e-6)
    assert not np.allclose(changed[:, 4:], base[:, 4:], atol=1e-4)
    padded, unpadded = enc.copy(), enc.copy()
    padded[:, 5:] += 1.0
    unpadded[:, :1] += 1.0
    np.testing.assert_allclose(model.predict([dec, padded, padding], verbose=0), base, atol=1e-6)
    assert not np.allclose(model.predict([dec, unpadded, padding], verbose=0), base, atol=1e-4)


def test_masked_lstm_is_the_guides_model():
    model = assert_same_model(spec("masked_lstm"), T.masked_lstm())
    # Masking as a user sees it: a sequence padded with zeros gives what the unpadded one gives,
    # for the built-in Embedding, the extension of Embedding and the CustomEmbedding alike.
    padded = model.predict(np.array([[4, 7, 2, 0, 0, 0]], dtype="int32"), verbose=0)
    short = model.predict(np.array([[4, 7, 2]], dtype="int32"), verbose=0)
    assert sorted(padded) == ["builtin", "custom", "extended"]
    for key in padded:
        np.testing.assert_allclose(padded[key], short[key], atol=1e-6)


def test_masked_lstm_differs_from_the_same_model_without_masks():
    # The twin comparison above can fail: without masks the padded steps change the outputs.
    with pytest.raises(AssertionError):
        assert_same_model(spec("masked_lstm"), T.masked_lstm(mask_zero=False))


def test_timedistributed_video_is_the_cnn_rnn_model():
    model = assert_same_model(spec("timedistributed_video"), T.timedistributed_video())
    wrapped = [layer.layer for layer in model.layers if isinstance(layer, layers.TimeDistributed)]
    assert [type(layer).__name__ for layer in wrapped] == ["Conv2D", "GlobalAveragePooling2D"]


POSITIONS = """declar: 2
name: positions
seed: 1
inputs:
  tokens: {shape: [12], dtype: int32}
model:
  nodes:
    positions: {op: "arange(0, shape(tokens)[-1], 1)"}
    pos_emb: {Embedding: {input_dim: 12, output_dim: 4}, inputs: positions}
    token_emb: {Embedding: {input_dim: 20, output_dim: 4}, inputs: tokens}
    added: {op: "token_emb + pos_emb"}
  outputs: added
"""


def test_a_layer_over_an_op_of_static_shapes_keeps_its_weights(tmp_path):
    # `arange(0, shape(tokens)[-1])` reads no tensor's values: keras.ops gives a constant, and the
    # position Embedding applied to it used to run once at build and drop out of the model with
    # its weights (80 parameters instead of 128, and the round trip passed on the baked constant).
    path = tmp_path / "positions.yaml"
    path.write_text(POSITIONS)
    inputs = keras.Input((12,), dtype="int32")
    twin = keras.Model(inputs, T.TokenAndPositionEmbedding(maxlen=12, vocab_size=20, embed_dim=4)(inputs))
    model = assert_same_model(path, twin, order=lambda m: sorted(m.weights, key=lambda w: w.shape[0]), high=20)
    assert model.get_layer("pos_emb").count_params() == 48


def test_readme_shows_what_declar_build_prints_for_the_text_transformer():
    result = run("build", str(ROOT / "specs" / "architectures" / "text_transformer.yaml"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == readme_block("$ declar build specs/architectures/text_transformer.yaml")
