"""An `op:` node over constants only (``arange(0, maxlen)``) stays in the functional graph, so a
layer applied to it is part of the model: its weights counted and trained (the twin of keras.io's
TokenAndPositionEmbedding, and the load in a fresh process, are in test_architectures_*.py)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

import declar

SPEC = Path(__file__).parent / "specs" / "constant_ops" / "positions.yaml"
def test_a_layer_on_a_constant_op_has_its_weights_in_the_model():
    model = declar.build(str(SPEC), compile=False)
    paths = [v.path for v in model.trainable_weights]
    assert "emb/pos_emb/embeddings" in paths
    assert model.get_layer("emb").count_params() == 20 * 8 + 12 * 8


def test_training_changes_the_position_embedding():
    model = declar.build(str(SPEC))
    before = keras.ops.convert_to_numpy(model.get_layer("emb").get_layer("pos_emb").embeddings).copy()
    x = np.random.default_rng(0).integers(0, 20, size=(8, 12)).astype("int32")
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    model.fit(x, y, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(model.get_layer("emb").get_layer("pos_emb").embeddings)
    assert not np.allclose(before, after)
