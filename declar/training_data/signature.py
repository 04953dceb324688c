"""What a model takes and gives, as the data sources check it: names, per-example shapes, dtypes.

Every source compares its names, shapes and dtypes with a model's `Signature` before training,
and packs what it read the way `model.fit` wants it (one array, a list, or a dict of outputs).

Example:
    >>> s = Signature((Port("x", (2,), "float32"),), (Port("y", (1,), "float32"),), dict_outputs=False)
    >>> s.pack({"x": [[1.0, 2.0]], "y": [[0.0]]})
    ([[1.0, 2.0]], [[0.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from declar.errors import DataError

if TYPE_CHECKING:
    import keras

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Port:
    """One input or output: its name, its shape per example (no batch dimension), its dtype."""

    name: str
    shape: Shape
    dtype: str


@dataclass(frozen=True)
class Signature:
    """A model's inputs and outputs, in the order `model.fit` takes them."""

    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    dict_outputs: bool
    """The model's outputs are a dict (named outputs): targets are given as a dict too."""

    @classmethod
    def of(cls, model: keras.Model) -> Signature:
        """The signature of a model built by declar (its spec names the inputs and outputs)."""
        spec = model.declar_spec
        names = list(spec.output_names)
        dict_outputs = isinstance(model.output, dict)
        tensors = model.output if dict_outputs else dict(
            zip(names, model.outputs if isinstance(model.outputs, list) else [model.output], strict=True))
        inputs = tuple(Port(i.name, tuple(i.shape), i.dtype) for i in spec.inputs)
        outputs = tuple(Port(n, tuple(tensors[n].shape[1:]), str(tensors[n].dtype)) for n in names)
        return cls(inputs, outputs, dict_outputs)

    @property
    def input_names(self) -> list[str]:
        return [p.name for p in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [p.name for p in self.outputs]

    def pack(self, arrays: dict[str, Any]) -> tuple[Any, Any]:
        """``x`` and ``y`` for `model.fit` from arrays named after the inputs and outputs."""
        x = [arrays[n] for n in self.input_names]
        if self.dict_outputs:
            return (x if len(x) > 1 else x[0]), {n: arrays[n] for n in self.output_names}
        y = [arrays[n] for n in self.output_names]
        return (x if len(x) > 1 else x[0]), (y if len(y) > 1 else y[0])


def check_string_inputs(signature: Signature, shown: str) -> None:
    """Refuse string inputs off the TensorFlow backend: Keras's other backends have no string tensors
    (and Keras takes no NumPy string array), so the data could never reach the model."""
    import keras

    names = [p.name for p in signature.inputs if p.dtype == "string"]
    if names and keras.backend.backend() != "tensorflow":
        raise DataError(f"{shown}: string inputs {names} train on the TensorFlow backend only (Keras's other "
                        "backends have no string tensors); run with KERAS_BACKEND=tensorflow", file=shown)


def string_tensor(values: Any, shape: Shape) -> Any:
    """Strings as the TensorFlow string tensor `model.fit` takes, one example per row of ``shape``
    (Keras refuses NumPy string arrays)."""
    import tensorflow as tf  # string inputs exist on the TensorFlow backend only (check_string_inputs)

    return tf.reshape(tf.constant(values), (-1, *shape))


def shape_text(shape: Shape) -> str:
    """``[28, 28, None]``: a shape as a spec writes it."""
    return "[" + ", ".join("None" if s is None else str(s) for s in shape) + "]"
