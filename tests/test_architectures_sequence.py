"""Sequence architectures of the Keras examples, each as a spec and as the example writes it by hand.

Every spec under specs/architectures/ here reproduces a public Keras example (cited in its header
comment); its twin below is that example's model code at tiny sizes. `assert_same_model` checks
equal parameter counts and, with the spec's weights copied into the twin, equal outputs. The
round trip through an archive is in test_roundtrip.py (every spec under specs/).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers, ops
from twins import assert_same_model
from typer.testing import CliRunner

from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs" / "architectures"
NAMES = ["text_transformer", "seq2seq_lstm", "bidirectional_lstm", "attention_mask", "masked_lstm",
         "timedistributed_video"]


def spec(name: str) -> Path:
    return SPECS / f"{name}.yaml"


def twin_order(twin: keras.Model, parts: Sequence[keras.layers.Layer]) -> Callable[[keras.Model], list[Any]]:
    """``order=`` for `assert_same_model` when the twin creates its weights in another order than
    the spec's graph runs its layers: the spec's model keeps ``model.weights``; the twin's weights
    are taken part by part, in ``parts`` order."""
    def order(model: keras.Model) -> list[Any]:
        if model is twin:
            return [w for part in parts for w in part.weights]
        return list(model.weights)
    return order


@pytest.mark.parametrize("name", NAMES)
def test_declar_validate_is_clean(name):
    result = CliRunner().invoke(app, ["validate", str(spec(name))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1 spec valid")


# -- 7. keras.io/examples/nlp/text_classification_with_transformer ------------------------------

class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def test_text_transformer_is_the_examples_model():
    maxlen, vocab_size, embed_dim, num_heads, ff_dim = 12, 20, 16, 2, 16
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    hidden = layers.Dense(20, activation="relu")
    x = hidden(x)
    x = layers.Dropout(0.1)(x)
    head = layers.Dense(2, activation="softmax")
    outputs = head(x)
    twin = keras.Model(inputs=inputs, outputs=outputs)

    block = transformer_block
    order = twin_order(twin, [embedding_layer.pos_emb, embedding_layer.token_emb, block.att, block.layernorm1,
                              block.ffn, block.layernorm2, hidden, head])
    model = assert_same_model(spec("text_transformer"), twin, order=order, high=vocab_size)
    # Each block use is a nested model a user can take out and call.
    encoder = model.get_layer("transformer_block")
    assert isinstance(encoder, keras.Model)
    assert "transformer_block/att/query/kernel" in {w.path for w in model.weights}


# -- 8. keras.io/examples/nlp/lstm_seq2seq -----------------------------------------------------

def test_seq2seq_lstm_is_the_examples_model():
    num_encoder_tokens, num_decoder_tokens, latent_dim = 6, 7, 8
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    _encoder_outputs, state_h, state_c = encoder(encoder_inputs)  # discarded, as in the example
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    twin = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)

    model = assert_same_model(spec("seq2seq_lstm"), twin)
    # The decoder really starts from the encoder's states: other encoder inputs, other predictions.
    rng = np.random.default_rng(1)
    dec = rng.random((2, 5, 7)).astype("float32")
    a = model.predict([rng.random((2, 4, 6)).astype("float32"), dec], verbose=0)
    b = model.predict([rng.random((2, 4, 6)).astype("float32"), dec], verbose=0)
    assert not np.allclose(a, b, atol=1e-4)


# -- 9. keras.io/examples/nlp/bidirectional_lstm_imdb ------------------------------------------

def test_bidirectional_lstm_is_the_examples_model():
    max_features = 20
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 8)(inputs)
    x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(4))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    twin = keras.Model(inputs, outputs)

    model = assert_same_model(spec("bidirectional_lstm"), twin, high=max_features)
    wrapper = model.get_layer("bidirectional_2")
    assert isinstance(wrapper, layers.Bidirectional) and isinstance(wrapper.forward_layer, layers.LSTM)


# -- 10. keras.io/examples/nlp/neural_machine_translation_with_transformer ---------------------

class TransformerDecoder(layers.Layer):
    """The example's TransformerDecoder in keras.ops, with the encoder's padding mask an explicit
    input (the example derives it from the decoder's own Keras mask)."""

    def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.latent_dim = latent_dim
        self.num_heads = num_heads
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential([layers.Dense(latent_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()

    def call(self, inputs, encoder_outputs, encoder_padding):
        causal_mask = self.get_causal_attention_mask(inputs)
        padding_mask = ops.cast(encoder_padding[:, None, :], dtype="int32")
        attention_output_1 = self.attention_1(query=inputs, value=inputs, key=inputs, attention_mask=causal_mask)
        out_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(query=out_1, value=encoder_outputs, key=encoder_outputs,
                                              attention_mask=padding_mask)
        out_2 = self.layernorm_2(out_1 + attention_output_2)
        proj_output = self.dense_proj(out_2)
        return self.layernorm_3(out_2 + proj_output)

    def get_causal_attention_mask(self, inputs):
        # The example's mask, (1, T, T), broadcast over the batch by MultiHeadAttention rather than tiled.
        sequence_length = ops.shape(inputs)[1]
        i = ops.arange(sequence_length)[:, None]
        j = ops.arange(sequence_length)
        mask = ops.cast(i >= j, dtype="int32")
        return ops.reshape(mask, (1, sequence_length, sequence_length))


def test_attention_mask_is_the_examples_decoder():
    embed_dim, latent_dim, num_heads, vocab_size = 8, 16, 2, 10
    decoder_inputs = keras.Input(shape=(6, embed_dim))
    encoded_seq_inputs = keras.Input(shape=(7, embed_dim))
    encoder_padding = keras.Input(shape=(7,), dtype="int32")
    decoder = TransformerDecoder(embed_dim, latent_dim, num_heads)
    x = decoder(decoder_inputs, encoded_seq_inputs, encoder_padding)
    x = layers.Dropout(0.5)(x)
    head = layers.Dense(vocab_size, activation="softmax")
    decoder_outputs = head(x)
    twin = keras.Model([decoder_inputs, encoded_seq_inputs, encoder_padding], decoder_outputs)

    order = twin_order(twin, [decoder.attention_1, decoder.layernorm_1, decoder.attention_2, decoder.layernorm_2,
                              decoder.dense_proj, decoder.layernorm_3, head])
    model = assert_same_model(spec("attention_mask"), twin, order=order)

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


# -- 11. keras.io/guides/understanding_masking_and_padding -------------------------------------

class ScaledEmbedding(layers.Embedding):
    """An Embedding extension: its compute_mask is Embedding's own."""

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return super().call(inputs) * self.scale


class CustomEmbedding(keras.layers.Layer):
    """The guide's CustomEmbedding (tf.nn.embedding_lookup is ops.take along axis 0)."""

    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim), initializer="random_normal",
                                          dtype="float32")

    def call(self, inputs):
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)


def masked_lstm_twin(mask_zero: bool = True) -> keras.Model:
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=20, output_dim=8, mask_zero=mask_zero)(inputs)
    builtin = layers.LSTM(8)(x)
    x = ScaledEmbedding(input_dim=20, output_dim=8, mask_zero=mask_zero, scale=2.0)(inputs)
    extended = layers.LSTM(8)(x)
    x = CustomEmbedding(20, 8, mask_zero=mask_zero)(inputs)
    custom = layers.LSTM(8)(x)
    return keras.Model(inputs, {"builtin": builtin, "extended": extended, "custom": custom})


def test_masked_lstm_is_the_guides_model():
    model = assert_same_model(spec("masked_lstm"), masked_lstm_twin())
    # Masking as a user sees it: a sequence padded with zeros gives what the unpadded one gives,
    # for the built-in Embedding, the extension of Embedding and the CustomEmbedding alike.
    padded = model.predict(np.array([[4, 7, 2, 0, 0, 0]], dtype="int32"), verbose=0)
    short = model.predict(np.array([[4, 7, 2]], dtype="int32"), verbose=0)
    assert sorted(padded) == ["builtin", "custom", "extended"]
    for key in padded:
        np.testing.assert_allclose(padded[key], short[key], atol=1e-6)


def test_masked_lstm_differs_from_the_same_model_without_masks():
    # The twin comparison above can fail: without mask_zero the padded steps change the outputs.
    with pytest.raises(AssertionError):
        assert_same_model(spec("masked_lstm"), masked_lstm_twin(mask_zero=False))


# -- 12. TimeDistributed docs and keras.io/examples/vision/video_classification -----------------

def test_timedistributed_video_is_the_cnn_rnn_model():
    inputs = keras.Input(shape=(4, 16, 16, 3))
    x = layers.TimeDistributed(layers.Conv2D(8, (3, 3), activation="relu"))(inputs)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.LSTM(8)(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    twin = keras.Model(inputs, outputs)

    model = assert_same_model(spec("timedistributed_video"), twin)
    wrapped = [layer.layer for layer in model.layers if isinstance(layer, layers.TimeDistributed)]
    assert [type(layer).__name__ for layer in wrapped] == ["Conv2D", "GlobalAveragePooling2D"]

