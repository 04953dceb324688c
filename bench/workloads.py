"""The workloads of the benchmark: spec texts and the same models written by hand with Keras.

Every spec generator here has a hand-written twin that builds the same architecture (same layer
types, sizes, activations and connections) with plain ``keras.layers``. Nothing in this module
imports keras at import time, so the validate pair can use it without loading TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any

INPUT_DIM = 32
WIDTH = 32

# ---------------------------------------------------------------------------------------------
# Spec texts
# ---------------------------------------------------------------------------------------------

_HEADER = "declar: 2\nname: {name}\nseed: 7\ninputs:\n  x: {{shape: [{dim}]}}\n"

# Custom layer types used "for variety" in the validate specs (and smoke-built in the tests of the
# generator): a Dense with an extra non-trainable scale, and an affine layer from scratch.
_CUSTOM_TYPES = """layers:
  ScaledDense:
    extends: Dense
    variables:
      scale: {{shape: [{width}], initializer: ones, trainable: false}}
    call: base(inputs) * scale
  Affine:
    extends: Layer
    params:
      units: {{type: integer, default: {width}}}
    variables:
      w: {{shape: "[input_shape[-1], units]", initializer: glorot_uniform}}
      b: {{shape: "[units]", initializer: zeros}}
    call: relu(matmul(inputs, w) + b)
"""


def sequential_spec(n_layers: int, *, width: int = WIDTH, input_dim: int = INPUT_DIM, custom_every: int = 0,
                    name: str = "bench_seq", compile_yaml: str = "") -> str:
    """A Sequential list of ``n_layers`` Dense layers (relu); every ``custom_every``-th is a custom type."""
    lines = [_HEADER.format(name=name, dim=input_dim)]
    if custom_every:
        lines.append(_CUSTOM_TYPES.format(width=width))
    lines.append("model:\n")
    for i in range(n_layers):
        if custom_every and i % custom_every == custom_every - 1:
            kind = "ScaledDense" if (i // custom_every) % 2 == 0 else "Affine"
            if kind == "ScaledDense":
                lines.append(f"  - ScaledDense: {{units: {width}}}\n")
            else:
                lines.append(f"  - Affine: {{units: {width}}}\n")
        else:
            lines.append(f"  - Dense: {{units: {width}, activation: relu}}\n")
    lines.append(compile_yaml)
    return "".join(lines)


def graph_edges(n_layers: int) -> list[tuple[str, str, list[str]]]:
    """(name, kind, inputs) of a residual chain: Dense nodes, and every 4th node Adds a skip."""
    nodes: list[tuple[str, str, list[str]]] = []
    prev = "x"
    for i in range(n_layers):
        name = f"n{i}"
        if i % 4 == 3:
            nodes.append((name, "Add", [prev, f"n{i - 2}"]))
        else:
            nodes.append((name, "Dense", [prev]))
        prev = name
    return nodes


def graph_spec(n_layers: int, *, width: int = WIDTH, name: str = "bench_graph") -> str:
    """A functional graph of ``n_layers`` nodes (Dense chain with Add skip connections)."""
    lines = [_HEADER.format(name=name, dim=width), "model:\n  nodes:\n"]
    for node, kind, inputs in graph_edges(n_layers):
        if kind == "Add":
            lines.append(f"    {node}: {{Add: {{}}, inputs: [{', '.join(inputs)}]}}\n")
        else:
            lines.append(f"    {node}: {{Dense: {{units: {width}, activation: relu}}, "
                         f"inputs: {inputs[0]}}}\n")
    lines.append(f"  outputs: n{n_layers - 1}\n")
    return "".join(lines)


def hand_sequential(n_layers: int, *, width: int = WIDTH, input_dim: int = INPUT_DIM) -> Any:
    import keras

    return keras.Sequential([keras.Input((input_dim,)),
                             *[keras.layers.Dense(width, activation="relu") for _ in range(n_layers)]])


def hand_functional_chain(n_layers: int, *, width: int = WIDTH, input_dim: int = INPUT_DIM) -> Any:
    """The Sequential spec's architecture as a functional model (what declar builds for it).

    Used for layer-count scaling: `keras.models.load_model` of a `keras.Sequential` re-adds layers
    one by one and grows quadratically (~400 s for 1,000 layers on the reference machine), which
    measures Keras's Sequential loader rather than anything declar does.
    """
    import keras

    x = keras.Input((input_dim,))
    y = x
    for _ in range(n_layers):
        y = keras.layers.Dense(width, activation="relu")(y)
    return keras.Model(x, y)


def hand_graph(n_layers: int, *, width: int = WIDTH) -> Any:
    import keras

    x = keras.Input((width,), name="x")
    tensors = {"x": x}
    for node, kind, inputs in graph_edges(n_layers):
        if kind == "Add":
            tensors[node] = keras.layers.Add()([tensors[r] for r in inputs])
        else:
            tensors[node] = keras.layers.Dense(width, activation="relu")(tensors[inputs[0]])
    return keras.Model(x, tensors[f"n{n_layers - 1}"])


# ---------------------------------------------------------------------------------------------
# run: a custom layer with variables and an expression call
# ---------------------------------------------------------------------------------------------

def run_spec(features: int, units: list[int]) -> str:
    model = "".join(f"  - Affine: {{units: {u}}}\n" for u in units)
    return (_HEADER.format(name="bench_run", dim=features)
            + "layers:\n  Affine:\n    extends: Layer\n    params:\n      units: {type: integer, default: 32}\n"
              "    variables:\n"
              "      w: {shape: \"[input_shape[-1], units]\", initializer: glorot_uniform}\n"
              "      b: {shape: \"[units]\", initializer: zeros}\n"
              "    call: relu(matmul(inputs, w) + b)\n"
            + "model:\n" + model)


def hand_run(features: int, units: list[int]) -> Any:
    import keras

    class Affine(keras.layers.Layer):
        def __init__(self, units: int = 32, **kwargs: Any):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(name="w", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")

        def call(self, inputs: Any) -> Any:
            return keras.ops.relu(keras.ops.matmul(inputs, self.w) + self.b)

    return keras.Sequential([keras.Input((features,)), *[Affine(u) for u in units]])


# ---------------------------------------------------------------------------------------------
# train: custom loss and metric
# ---------------------------------------------------------------------------------------------

LOSS_EXPR = "mean(square(y_pred - y_true), axis=-1) + 0.1 * mean(abs(y_pred - y_true), axis=-1)"
METRIC_EXPR = "mean(abs(y_pred - y_true))"


def train_spec(features: int, hidden: int, outputs: int) -> str:
    return (_HEADER.format(name="bench_train", dim=features)
            + f"model:\n  - Dense: {{units: {hidden}, activation: relu}}\n"
              f"  - Dense: {{units: {hidden}, activation: relu}}\n  - Dense: {{units: {outputs}}}\n"
              "compile:\n  optimizer: adam\n  loss: mixed_loss\n  metrics: [mean_abs]\n"
              "functions:\n"
              f"  mixed_loss:\n    args: [y_true, y_pred]\n    expr: \"{LOSS_EXPR}\"\n"
              f"  mean_abs:\n    args: [y_true, y_pred]\n    expr: \"{METRIC_EXPR}\"\n")


def hand_train(features: int, hidden: int, outputs: int) -> Any:
    import keras
    from keras import ops

    def mixed_loss(y_true: Any, y_pred: Any) -> Any:
        return ops.mean(ops.square(y_pred - y_true), axis=-1) + 0.1 * ops.mean(ops.abs(y_pred - y_true), axis=-1)

    def mean_abs(y_true: Any, y_pred: Any) -> Any:
        return ops.mean(ops.abs(y_pred - y_true))

    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(outputs)])
    model.compile(optimizer="adam", loss=mixed_loss, metrics=[mean_abs])
    return model


# ---------------------------------------------------------------------------------------------
# save/load and parameter scaling: a stack of wide Dense layers
# ---------------------------------------------------------------------------------------------

def wide_width(params: float, depth: int) -> int:
    """Width w such that ``depth`` Dense(w) layers on a w-wide input hold about ``params`` parameters."""
    return max(2, round(math.sqrt(params / depth)))


def wide_spec(width: int, depth: int, *, compiled: bool) -> str:
    compile_yaml = "compile:\n  optimizer: adam\n  loss: mean_squared_error\n" if compiled else ""
    return sequential_spec(depth, width=width, input_dim=width, name="bench_wide", compile_yaml=compile_yaml)


def hand_wide(width: int, depth: int, *, compiled: bool) -> Any:
    model = hand_sequential(depth, width=width, input_dim=width)
    if compiled:
        model.compile(optimizer="adam", loss="mean_squared_error")
    return model
