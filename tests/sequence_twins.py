"""The sequence models of the Keras examples written by hand, as the examples write them (tiny sizes).

Each function returns the twin of one spec under specs/architectures/ (the spec's header cites
the example); tests/test_architectures_sequence.py compares them with the specs, and bench/run.py
times building and predicting with them next to declar.

Example:
    twin = bidirectional_lstm()          # keras.io/examples/nlp/bidirectional_lstm_imdb
    twin.count_params()                  # the same count as specs/architectures/bidirectional_lstm.yaml
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import layers, ops

# -- keras.io/examples/nlp/text_classification_with_transformer ---------------------------------


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


def text_transformer(maxlen: int = 12, vocab_size: int = 20, embed_dim: int = 16, num_heads: int = 2,
                     ff_dim: int = 16) -> keras.Model:
    """The example's classifier: TokenAndPositionEmbedding, TransformerBlock, pooling, Dense head."""
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


# -- keras.io/examples/nlp/lstm_seq2seq ----------------------------------------------------------

def seq2seq_lstm(num_encoder_tokens: int = 6, num_decoder_tokens: int = 7, latent_dim: int = 8) -> keras.Model:
    """The example's training model: the decoder LSTM starts from the encoder LSTM's states."""
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    _encoder_outputs, state_h, state_c = encoder(encoder_inputs)  # the outputs are discarded, as in the example
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    return keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)


# -- keras.io/examples/nlp/bidirectional_lstm_imdb -----------------------------------------------

def bidirectional_lstm(max_features: int = 20, embed_dim: int = 8, units: int = 4) -> keras.Model:
    """The example's model: Embedding, two Bidirectional LSTMs, a sigmoid."""
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, embed_dim)(inputs)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(units))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


# -- keras.io/examples/nlp/neural_machine_translation_with_transformer ----------------------------

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


def attention_mask(embed_dim: int = 8, latent_dim: int = 16, num_heads: int = 2, vocab_size: int = 10,
                   target_length: int = 6, source_length: int = 7) -> keras.Model:
    """The example's decoder model: TransformerDecoder over the encoder outputs, Dropout, softmax."""
    decoder_inputs = keras.Input(shape=(target_length, embed_dim))
    encoded_seq_inputs = keras.Input(shape=(source_length, embed_dim))
    encoder_padding = keras.Input(shape=(source_length,), dtype="int32")
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)(decoder_inputs, encoded_seq_inputs, encoder_padding)
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    return keras.Model([decoder_inputs, encoded_seq_inputs, encoder_padding], decoder_outputs)


# -- keras.io/guides/understanding_masking_and_padding -------------------------------------------

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


def masked_lstm(mask_zero: bool = True) -> keras.Model:
    """The guide's Embedding(mask_zero=True) -> LSTM, through Embedding, an extension of it and the
    guide's CustomEmbedding (``mask_zero=False``: the same model with no masks anywhere)."""
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=20, output_dim=8, mask_zero=mask_zero)(inputs)
    builtin = layers.LSTM(8)(x)
    x = ScaledEmbedding(input_dim=20, output_dim=8, mask_zero=mask_zero, scale=2.0)(inputs)
    extended = layers.LSTM(8)(x)
    x = CustomEmbedding(20, 8, mask_zero=mask_zero)(inputs)
    custom = layers.LSTM(8)(x)
    return keras.Model(inputs, {"builtin": builtin, "extended": extended, "custom": custom})


# -- keras.io/api/layers/recurrent_layers/time_distributed, keras.io/examples/vision/video_classification

def timedistributed_video(frames: int = 4, size: int = 16, classes: int = 5) -> keras.Model:
    """A CNN-RNN: the same Conv2D and pooling on every frame, an LSTM over the frames."""
    inputs = keras.Input(shape=(frames, size, size, 3))
    x = layers.TimeDistributed(layers.Conv2D(8, (3, 3), activation="relu"))(inputs)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.LSTM(8)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


# -- weight order ---------------------------------------------------------------------------------

def _part(model: keras.Model, kind: type) -> Any:
    (found,) = [layer for layer in model.layers if isinstance(layer, kind)]
    return found


def _text_transformer_parts(twin: keras.Model) -> list[Any]:
    embedding, block = _part(twin, TokenAndPositionEmbedding), _part(twin, TransformerBlock)
    hidden, head = [layer for layer in twin.layers if isinstance(layer, layers.Dense)]
    return [embedding.token_emb, embedding.pos_emb, block.att, block.layernorm1, block.ffn, block.layernorm2,
            hidden, head]


def _attention_mask_parts(twin: keras.Model) -> list[Any]:
    decoder = _part(twin, TransformerDecoder)
    return [decoder.attention_1, decoder.layernorm_1, decoder.attention_2, decoder.layernorm_2, decoder.dense_proj,
            decoder.layernorm_3, _part(twin, layers.Dense)]


# The twins whose layers create their weights in another order than the spec's graph runs them.
_PARTS_IN_SPEC_ORDER: dict[str, Callable[[keras.Model], list[Any]]] = {
    "text_transformer": _text_transformer_parts, "attention_mask": _attention_mask_parts}


def spec_order(name: str, twin: keras.Model) -> Callable[[keras.Model], list[Any]] | None:
    """``order=`` for twins.assert_same_model / copy_weights pairing spec ``name``'s model with
    ``twin``: the spec's model keeps ``model.weights``, the twin's are taken in the spec's order
    (None when the two orders agree already).

    Example:
        twin = text_transformer()
        assert_same_model("specs/architectures/text_transformer.yaml", twin, order=spec_order("text_transformer", twin))
    """
    parts = _PARTS_IN_SPEC_ORDER.get(name)
    if parts is None:
        return None

    def order(model: keras.Model) -> list[Any]:
        return [w for p in parts(twin) for w in p.weights] if model is twin else list(model.weights)
    return order
