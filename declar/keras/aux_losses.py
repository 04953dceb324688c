"""Auxiliary losses: what a custom type's or a block's ``losses:`` add during the call, by name.

Keras's ``add_loss`` sums every added loss into the training loss but forgets which is which; fit
reports each one by name (``kl_loss``) because every layer that adds one records the name of each
tensor it adds (`NamedLosses.add_named_loss`), and the model (`declar.keras.model.DeclarModel`)
updates one Mean metric per name (`loss_metrics`, `update_loss_metrics`) from the losses of the
forward pass its ``compute_loss`` sums, weighted by the batch size as Keras weights its own
``loss``. The epoch's ``kl_loss`` is then the mean of what was added, as ``loss`` is of the total.

A custom type adds its losses in its own call (`declar.keras.layer.DeclarLayer`). A block is a
nested functional model, which runs no call of declar's: its losses are computed by an
`AuxiliaryLoss` layer inserted in the block's graph (`with_block_losses`), which reads the node
tensors the expressions name and passes the block's first output through unchanged, so that it
lies on the path to the outputs and Keras keeps it in the graph. The layer is made from the spec
at every build, from declar.load too, so a loaded model adds the same losses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from declar.errors import LayerBuildError
from declar.expr.evaluate import ExpressionError, to_closure
from declar.expr.parse import Context, check
from declar.keras.ops import keras_functions
from declar.spec.facts import snake_case
from declar.spec.model import LossSpec


class NamedLosses:
    """A mixin for layers: `add_named_loss` adds a loss as Keras's ``add_loss`` does, and keeps its name
    until Keras clears the layer's losses (at the start of every top-level call)."""

    _declar_loss_names: dict[int, str]

    def add_named_loss(self, name: str, value: Any, owner: str) -> None:
        """Add ``value`` (a scalar tensor) to the layer's losses under ``name``; ``owner`` names the layer
        in the message when the value is not a scalar."""
        shape = tuple(getattr(value, "shape", ()))
        if shape:
            raise LayerBuildError(f"{owner}: loss '{name}' must be a scalar, its value has shape {shape}; reduce "
                                  "it, e.g. mean(...) or sum(...)")
        value = keras.ops.cast(value, "float32")
        self.add_loss(value)  # type: ignore[attr-defined]
        names = self.__dict__.get("_declar_loss_names")
        if names is None:
            names = {}
            object.__setattr__(self, "_declar_loss_names", names)  # a plain dict: Keras need not track it
        names[id(value)] = name

    def _clear_losses(self) -> None:
        names = self.__dict__.get("_declar_loss_names")
        if names:
            names.clear()
        super()._clear_losses()  # type: ignore[misc]


def loss_closures(losses: Sequence[LossSpec], context: Context, owner: str) -> list[tuple[str, float, Any]]:
    """(name, weight, closure) for each loss, checked again where it is built (from an archive too)."""
    found = []
    for loss in losses:
        checked = check(loss.value, context)
        if checked.tree is None:
            raise LayerBuildError(f"{owner}: loss '{loss.name}': {checked.problems[0].message}")
        found.append((loss.name, loss.weight, to_closure(checked.tree, keras_functions())))
    return found


def add_losses(layer: NamedLosses, closures: Sequence[tuple[str, float, Any]], env: Mapping[str, Any],
               owner: str) -> None:
    """Compute each loss over ``env`` and add ``weight * value`` to ``layer``'s losses under its name."""
    for name, weight, closure in closures:
        try:
            value = closure(env)
        except ExpressionError as err:
            raise LayerBuildError(f"{owner}: loss '{name}': {err}") from None
        layer.add_named_loss(name, value if weight == 1.0 else weight * value, owner)


def named_losses(model: keras.Model) -> dict[str, Any]:
    """The auxiliary losses of ``model``'s forward pass in progress, summed by name (what fit reports).

    Example (inside a `compute_loss` override, after the forward pass): ``named_losses(self)``
    gives ``{"kl_loss": <scalar tensor>}``.
    """
    names: dict[int, str] = {}
    for layer in model._flatten_layers(include_self=False):
        names.update(layer.__dict__.get("_declar_loss_names") or {})
    if not names:
        return {}
    summed: dict[str, Any] = {}
    for loss in model.losses:
        name = names.get(id(loss))
        if name is not None:
            summed[name] = loss if name not in summed else summed[name] + loss
    return summed


def declared_loss_names(model: keras.Model) -> list[str]:
    """The names of the auxiliary losses the layers of ``model`` declare, in layer order, each once."""
    found: dict[str, None] = {}
    for layer in model._flatten_layers(include_self=False):
        for name in getattr(layer, "declar_loss_names", ()):
            found[name] = None
    return list(found)


def loss_metrics(names: Sequence[str]) -> dict[str, keras.metrics.Mean]:
    """One Mean metric per auxiliary loss name, named after it (what fit's history shows)."""
    return {name: keras.metrics.Mean(name=name) for name in names}


def update_loss_metrics(metrics: Mapping[str, keras.metrics.Mean], model: keras.Model, x: Any) -> None:
    """Update ``metrics`` with the named losses of ``model``'s forward pass on ``x``, each weighted by the
    batch size, as Keras weights its own ``loss`` (the epoch's figure is then a mean per example)."""
    values = named_losses(model) if metrics else {}
    if not values:
        return
    batch = keras.ops.cast(keras.ops.shape(keras.tree.flatten(x)[0])[0], "float32")
    for name, value in values.items():
        if name in metrics:
            metrics[name].update_state(value, sample_weight=batch)


@keras.saving.register_keras_serializable(package="declar", name="AuxiliaryLoss")
class AuxiliaryLoss(NamedLosses, keras.layers.Layer):
    """The losses of a block, computed from the node tensors they name, in the block's graph.

    Called on ``[passed, *read]``: ``passed`` (the block's first output) is returned unchanged, and
    ``read`` are the tensors of ``names``; ``params`` are the block's parameters by value.

    Example:
        >>> layer = AuxiliaryLoss(losses=[{"name": "l1", "value": "sum(abs(h))", "weight": 0.5}], names=["h"])
        >>> out = layer([keras.ops.ones((2,)), keras.ops.ones((2, 3))])
        >>> [float(x) for x in layer.losses]
        [3.0]
    """

    def __init__(self, losses: Sequence[Mapping[str, Any]], names: Sequence[str],
                 params: Mapping[str, Any] | None = None, block: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self._loss_data = [dict(loss) for loss in losses]
        self._loss_inputs = list(names)
        self._block_params = dict(params or {})
        self._block_name = block
        typed = [_typed_loss(loss, self._owner) for loss in losses]
        context = Context(names={*self._loss_inputs, *self._block_params, "training"}, kind=f"losses of block {block}")
        self._loss_closures = loss_closures(typed, context, self._owner)
        self.declar_loss_names = [loss.name for loss in typed]

    @property
    def _owner(self) -> str:
        return f"block '{self._block_name}'" if self._block_name else f"layer '{self.name}'"

    def call(self, inputs: Sequence[Any], training: bool | None = None) -> Any:
        passed, *read = inputs
        env = {**self._block_params, **dict(zip(self._loss_inputs, read, strict=True)), "training": training}
        add_losses(self, self._loss_closures, env, self._owner)
        return passed

    def compute_output_spec(self, inputs: Sequence[Any], training: bool | None = None) -> Any:
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)

    CONFIG_KEYS = frozenset({"name", "trainable", "dtype", "losses", "names", "params", "block"})

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AuxiliaryLoss:
        # Our own, not Keras's (which rewraps every error in a TypeError): a refusal stays one line.
        if not isinstance(config, dict):
            raise LayerBuildError(f"AuxiliaryLoss config must be a mapping, got {type(config).__name__}")
        unknown = sorted(set(config) - cls.CONFIG_KEYS, key=str)
        if unknown:
            raise LayerBuildError(f"AuxiliaryLoss config has unknown keys {unknown}")
        if not isinstance(config.get("losses"), list) or not isinstance(config.get("names"), list) \
                or not all(isinstance(n, str) for n in config["names"]):
            raise LayerBuildError("AuxiliaryLoss config needs a list of losses and a list of names")
        params = config.get("params")
        if params is not None and not (isinstance(params, dict) and all(isinstance(k, str) for k in params)):
            raise LayerBuildError(f"AuxiliaryLoss config params must be a mapping of names, got {str(params)[:80]}")
        if not isinstance(config.get("block", ""), str):
            raise LayerBuildError("AuxiliaryLoss config block must be a block's name")
        for loss in config["losses"]:
            _typed_loss(loss, "AuxiliaryLoss config")  # before __init__ copies each as a mapping
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(losses=self._loss_data, names=self._loss_inputs, params=self._block_params,
                      block=self._block_name)
        return config


def _typed_loss(loss: Any, owner: str) -> LossSpec:
    """One loss of a config, ``{name, value, weight}``, or refused."""
    weight = loss.get("weight", 1.0) if isinstance(loss, Mapping) else None
    well_formed = isinstance(loss, Mapping) and not set(loss) - {"name", "value", "weight"} \
        and isinstance(loss.get("name"), str) and isinstance(loss.get("value"), str) \
        and isinstance(weight, (int, float)) and not isinstance(weight, bool)
    if not well_formed:
        raise LayerBuildError(f"{owner}: a loss of the config is not {{name, value, weight}}: {str(loss)[:120]}")
    return LossSpec(loss["name"], loss["value"], float(weight))


def with_block_losses(block: str, losses: Sequence[LossSpec], tensors: Mapping[str, Any],
                      params: Mapping[str, Any], outputs: Any) -> Any:
    """``outputs`` of a block's graph with its first tensor passed through an `AuxiliaryLoss` layer
    adding ``losses`` (over the graph's ``tensors`` and the block's ``params``); as given without losses."""
    if not losses:
        return outputs
    used: dict[str, None] = {}
    for loss in losses:
        checked = check(loss.value, Context(names={*tensors, *params, "training"}))
        used.update(dict.fromkeys(sorted(n for n in checked.names if n in tensors)))
    flat = keras.tree.flatten(outputs)
    layer = AuxiliaryLoss([{"name": loss.name, "value": loss.value, "weight": loss.weight} for loss in losses],
                          list(used), dict(params), block, name=f"{snake_case(block)}_losses")
    flat[0] = layer([flat[0], *(tensors[name] for name in used)])
    return keras.tree.pack_sequence_as(outputs, flat)

