"""An `op:` node over constants only (``arange(0, maxlen)``) stays in the functional graph, so a
layer applied to it is part of the model: its weights counted, trained, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from twins import assert_same_model

import declar

SPEC = Path(__file__).parent / "specs" / "constant_ops" / "positions.yaml"
L = keras.layers


class TokenAndPositionEmbedding(L.Layer):
    """keras.io/examples/nlp/text_classification_with_transformer, as the example writes it."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = L.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = L.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = keras.ops.shape(x)[-1]
        positions = self.pos_emb(keras.ops.arange(start=0, stop=maxlen, step=1))
        return self.token_emb(x) + positions


class TransformerBlock(L.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, **kwargs):
        super().__init__(**kwargs)
        # The example's layers, assigned in the order the spec's nodes are (weights pair in order).
        self.att = L.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.layernorm1 = L.LayerNormalization(epsilon=1e-6)
        self.ffn = keras.Sequential([L.Dense(ff_dim, activation="relu"), L.Dense(embed_dim)])
        self.layernorm2 = L.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        out1 = self.layernorm1(inputs + self.att(inputs, inputs))
        return self.layernorm2(out1 + self.ffn(out1))


def _twin() -> keras.Model:
    tokens = keras.Input((12,), dtype="int32")
    x = TokenAndPositionEmbedding(12, 20, 8)(tokens)
    x = TransformerBlock(8, 2, 16)(TransformerBlock(8, 2, 16)(x))
    both = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.Bidirectional(L.LSTM(4))(x)])
    return keras.Model(tokens, L.Dense(2, activation="softmax")(both))


def test_a_layer_on_a_constant_op_has_its_weights_in_the_model():
    model = declar.build(str(SPEC), compile=False)
    paths = [v.path for v in model.trainable_weights]
    assert "emb/pos_emb/embeddings" in paths
    assert model.get_layer("emb").count_params() == 20 * 8 + 12 * 8


def test_the_position_embedding_model_equals_the_keras_example_written_by_hand():
    assert_same_model(SPEC, _twin(), high=20)


def test_training_changes_the_position_embedding():
    model = declar.build(str(SPEC))
    before = keras.ops.convert_to_numpy(model.get_layer("emb").get_layer("pos_emb").embeddings).copy()
    x = np.random.default_rng(0).integers(0, 20, size=(8, 12)).astype("int32")
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    model.fit(x, y, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(model.get_layer("emb").get_layer("pos_emb").embeddings)
    assert not np.allclose(before, after)
