"""Two Keras models written with plain Keras and saved with `model.save`, for the README's
"Import an existing Keras model": one of built-in layers (two inputs, a shared layer, two
outputs, compiled), and one with a custom class and a Lambda layer, which `declar import` refuses.

Run from the directory the files should go to: ``python docs/examples/keras_models.py``.
"""

from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="my_pkg")
class Scale(layers.Layer):
    """A custom layer: Python code, so it cannot become a spec."""

    def call(self, x):
        return x * 2.0


def tickets() -> keras.Model:
    title, body = keras.Input((6,), name="title"), keras.Input((4,), name="body")
    merged = layers.Concatenate(name="merged")([layers.Dense(8, name="t")(title), layers.Dense(8, name="b")(body)])
    shared = layers.Dense(8, activation="relu", name="shared")
    h = shared(shared(layers.Dense(8, name="project")(merged)))
    model = keras.Model([title, body], [layers.Dense(1, activation="sigmoid", name="priority")(h),
                                        layers.Dense(3, activation="softmax", name="department")(h)], name="tickets")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-4),
                  loss={"priority": "binary_crossentropy", "department": "categorical_crossentropy"},
                  metrics={"department": ["accuracy"]})
    return model


def with_code() -> keras.Model:
    x = keras.Input((4,), name="x")
    h = Scale(name="scale")(layers.Dense(4, name="hidden")(x))
    h = layers.Lambda(lambda t: t + 1.0, name="plus_one")(h)
    return keras.Model(x, layers.Dense(1, name="out")(h), name="with_code")


if __name__ == "__main__":
    tickets().save("tickets_keras.keras")
    with_code().save("with_code.keras")
    print("wrote tickets_keras.keras and with_code.keras")
