"""Layers written by hand in Keras, as a spec's custom types would be, for the twins of the tests
(`twins.assert_same_model`): each says which spec type it stands for.

Example:
    twin = keras.Sequential([keras.Input((4,)), Shifted(2, 0.5)])
"""

from __future__ import annotations

import keras


class Scaled(keras.layers.Dense):
    """The spec's Scaled, by hand: a Dense whose output is multiplied by a factor."""

    def __init__(self, units: int, factor: float, **kwargs):
        super().__init__(units, **kwargs)
        self.factor = factor

    def call(self, inputs):
        return super().call(inputs) * self.factor


class Shifted(keras.layers.Layer):
    """The spec's Shifted (extends Scaled): a Scaled child, plus a shift of ones."""

    def __init__(self, units: int, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.base = Scaled(units, factor)

    def build(self, input_shape):
        self.base.build(input_shape)
        self.shift = self.add_weight(shape=(self.base.units,), initializer="ones")

    def compute_output_shape(self, input_shape):
        return self.base.compute_output_shape(input_shape)

    def call(self, inputs):
        return self.base(inputs) + self.shift
