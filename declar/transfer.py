"""Carry trained weights from one version of a model to the next (`declar transfer`).

Layers are matched by name (in a spec, the node name). A layer's weights are copied when the old
model has a layer of that name with the same number of weights, the same variable names (paths
inside the layer, e.g. ``base/kernel`` for a custom layer's extended Dense) and the same shapes
and dtypes; otherwise the layer keeps the initial weights its spec's seed gave it, and the report
says why. Layers without weights (Dropout, Add...) are left out of the report. The optimizer's
state is not carried: the new model starts training with a fresh optimizer.

Example:
    >>> import declar
    >>> old = declar.build("specs/examples/versions/classifier_v1.yaml")
    >>> new = declar.build("specs/examples/versions/classifier_v2.yaml")
    >>> report = transfer_weights(new, old)
    >>> report.carried, report.new
    (['encoder'], ['bottleneck', 'norm'])
    >>> report.mismatched
    [('head', 'kernel (8, 4) in old, (8, 6) in new')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from declar.summary import layer_rows


@dataclass
class TransferReport:
    """What `transfer_weights` did, layer by layer (layer names, in the new model's order)."""

    carried: list[str] = field(default_factory=list)
    """Layers whose weights were copied from the old model."""
    new: list[str] = field(default_factory=list)
    """Layers with weights that the old model has no layer of the same name for."""
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    """(layer, why) for layers of the same name whose weights do not fit."""
    dropped: list[str] = field(default_factory=list)
    """Layers of the old model with weights and no layer of the same name in the new one."""

    def render(self) -> str:
        lines = [f"carried: {', '.join(self.carried) or 'none'}", f"new: {', '.join(self.new) or 'none'}"]
        lines.append("did not fit:" + ("" if self.mismatched else " none"))
        lines += [f"  {name}: {why}" for name, why in self.mismatched]
        if self.dropped:
            lines.append(f"not in the new model: {', '.join(self.dropped)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"carried": self.carried, "new": self.new,
                "mismatched": [{"layer": n, "reason": r} for n, r in self.mismatched], "dropped": self.dropped}


def _variables(layer: Any, name: str | None = None) -> list[tuple[str, tuple[int, ...], str, Any]]:
    """(path inside the layer, shape, dtype, variable) of each weight, in the layer's order; ``name``
    is the layer's path in the model (``encoder/block_1/ffn`` inside a block)."""
    out = []
    prefix = f"{name or layer.name}/"
    for w in layer.weights:
        path = getattr(w, "path", None) or w.name
        out.append((path[len(prefix):] if path.startswith(prefix) else w.name, tuple(w.shape), str(w.dtype), w))
    return out


def _layers(model: Any) -> dict[str, Any]:
    """The model's layers by path; a nested model (a block use, a repeat) by the layers inside it,
    so one changed layer in a block does not keep the block's other layers from carrying over."""
    rows = layer_rows(model)
    nested = {row.name.rsplit("/", 1)[0] for row in rows if row.depth}
    return {row.name: row.layer for row in rows if row.name not in nested}


def _why_not(old: list[tuple[str, tuple[int, ...], str, Any]], new: list[tuple[str, tuple[int, ...], str, Any]]
             ) -> str | None:
    if len(old) != len(new):
        return (f"{len(old)} weight{'s' * (len(old) != 1)} in old ({', '.join(v[0] for v in old)}), "
                f"{len(new)} in new ({', '.join(v[0] for v in new)})")
    for (o_name, o_shape, o_dtype, _), (n_name, n_shape, n_dtype, _) in zip(old, new, strict=True):
        if o_name != n_name:
            return f"weight {o_name} in old, {n_name} in new"
        if o_shape != n_shape:
            return f"{n_name} {o_shape} in old, {n_shape} in new"
        if o_dtype != n_dtype:
            return f"{n_name} is {o_dtype} in old, {n_dtype} in new"
    return None


def transfer_weights(model: Any, old_model: Any) -> TransferReport:
    """Copy into ``model`` the weights of every layer of ``old_model`` with the same name and shapes.

    Both are built Keras models (declar's or any other). ``model`` is changed in place; the
    returned `TransferReport` lists the carried, new and mismatched layers.
    """
    import keras

    report = TransferReport()
    old_layers = _layers(old_model)
    new_layers = _layers(model)
    for name, layer in new_layers.items():
        new_vars = _variables(layer, name)
        if not new_vars:
            continue
        old_layer = old_layers.get(name)
        if old_layer is None or not _variables(old_layer, name):
            report.new.append(name)
            continue
        old_vars = _variables(old_layer, name)
        why = _why_not(old_vars, new_vars)
        if why is not None:
            report.mismatched.append((name, why))
            continue
        for (_, _, _, source), (_, _, _, target) in zip(old_vars, new_vars, strict=True):
            target.assign(keras.ops.convert_to_numpy(source))
        report.carried.append(name)
    report.dropped = [n for n, layer in old_layers.items() if n not in new_layers and layer.weights]
    return report


__all__ = ["TransferReport", "transfer_weights"]
