"""Adapted preprocessing: `adapt()` of a model's preprocessing layers on data, in graph order.

Normalization, TextVectorization, StringLookup, IntegerLookup and Discretization learn their state
(mean and variance, a vocabulary, bin boundaries) from data rather than by training. `adapt_model`
hands each such layer of a model the data that reaches it: a model input's arrays as they are, or,
for a layer after others, what those layers make of them (computed by a sub-model from the model's
inputs to the layer's input, after the layers before it were adapted, so a Normalization after a
TextVectorization sees adapted ids). A layer whose state the spec gives (a ``vocabulary``, a
``mean`` and ``variance``, ``bin_boundaries``) keeps it and is reported as such.

Keras stores what was adapted in the archive: vocabularies as assets, mean and variance as
variables; Discretization's boundaries, which Keras keeps only in a layer config (a declar archive's
config is the spec), are stored by `declar.keras.adapted_state`.

Example:
    >>> import declar, numpy as np
    >>> spec = "declar: 2\\nname: m\\ninputs: {x: {shape: [2]}}\\nmodel: [{Normalization: {}}, {Dense: {units: 1}}]\\n"
    >>> report = adapt_model(declar.build(spec), FitData(np.array([[0.0, 2.0], [2.0, 4.0]]), None))
    >>> report.lines()
    ['normalization (Normalization): mean and variance of 2 features, from 2 examples']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from declar.api import build, save
from declar.archive import is_archive
from declar.errors import BuildError, DataError, DeclarError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.load import SpecSource, load_spec
from declar.text import first_line
from declar.training_data import open_data
from declar.training_data.fit_data import FitData

if TYPE_CHECKING:
    import keras

    from declar.spec.model import NodeSpec, Spec

ADAPTABLE = ("Normalization", "TextVectorization", "StringLookup", "IntegerLookup", "Discretization")
"""The Keras layers whose state `adapt()` learns from data."""

GIVEN_STATE = {"Normalization": ("mean", "variance"), "TextVectorization": ("vocabulary",),
               "StringLookup": ("vocabulary",), "IntegerLookup": ("vocabulary",),
               "Discretization": ("bin_boundaries",)}
"""The arguments that give a layer its state in the spec, so that it is not adapted."""

PREDICT_BATCH = 256
UNREACHABLE_HINT = "adapt reaches the model's own layers: move it into the model's graph, or give its state"


@dataclass(frozen=True)
class Adapted:
    """One layer adapted: its name, class, what it learned and from how many examples."""

    layer: str
    kind: str
    state: str
    rows: int

    def line(self) -> str:
        """One line for the user: ``norm (Normalization): mean and variance of 3 features, from 80 examples``."""
        return f"{self.layer} ({self.kind}): {self.state}, from {self.rows:,} examples"


@dataclass(frozen=True)
class AdaptReport:
    """What `adapt_model` did: the layers adapted, and those that kept the state the spec gives."""

    adapted: tuple[Adapted, ...] = ()
    kept: tuple[tuple[str, str, str], ...] = ()
    """(layer, class, argument) of each adaptable layer whose state the spec gives."""

    def lines(self) -> list[str]:
        """The report as the command prints it, one line per layer, in graph order."""
        return [a.line() for a in self.adapted] + [
            f"{name} ({kind}): kept the {arg} the spec gives" for name, kind, arg in self.kept]


def adaptable_nodes(spec: Spec) -> list[NodeSpec]:
    """The nodes of the model's own graph whose layer is adaptable, in the order they are written.

    Example:
        >>> from declar.spec.load import load_spec
        >>> text = ("declar: 2\\nname: m\\ninputs: {x: {shape: [2]}}\\n"
        ...         "model: [{Normalization: {}}, {Dense: {units: 1}}]\\n")
        >>> [n.layer for n in adaptable_nodes(load_spec(text).spec)]
        ['Normalization']
    """
    return [n for n in spec.graph.nodes if n.layer in ADAPTABLE and n.shares is None and n.repeat is None]


def unreachable_nodes(spec: Spec) -> list[tuple[NodeSpec, str]]:
    """Adaptable layers `adapt_model` cannot reach, with why: inside a block (a nested model) or
    repeated; their state would stay Keras's initial one, so adapting refuses them."""
    found = [(n, "it is repeated") for n in spec.graph.nodes if n.layer in ADAPTABLE and n.repeat is not None]
    found += [(n, f"it is inside block '{block.name}'") for block in spec.blocks.values() for n in block.graph.nodes
              if n.layer in ADAPTABLE]
    return [(n, why) for n, why in found if given_state(n) is None]


def given_state(node: NodeSpec) -> str | None:
    """The argument of ``node`` that gives its layer's state in the spec (it is then not adapted), or None."""
    return next((arg for arg in GIVEN_STATE.get(node.layer or "", ()) if node.args.get(arg) is not None), None)


def adapt_model(model: keras.Model, data: FitData | str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS
                ) -> AdaptReport:
    """Run `adapt()` of every adaptable layer of ``model`` (a DeclarModel) on the data that reaches
    it, in graph order; layers whose state the spec gives are left as they are.

    ``data`` is a `FitData` (arrays or a batched dataset of ``(x, y)``) or a path opened by
    `declar.training_data.open_data`. At most ``limits.max_adapt_rows`` examples are used (more is
    refused), and an adapted vocabulary may hold at most ``limits.max_vocabulary_tokens`` tokens.
    Raises `DataError` when the data does not fit.
    """
    spec: Spec = model.declar_spec
    unreachable = unreachable_nodes(spec)
    if unreachable:
        node, why = unreachable[0]
        raise DataError(f"layer '{_layer_name(node)}' ({node.layer}) cannot be adapted: {why}; {UNREACHABLE_HINT}")
    nodes = adaptable_nodes(spec)
    kept = tuple((_layer_name(n), n.layer or "", arg) for n in nodes if (arg := given_state(n)) is not None)
    todo = [n for n in nodes if given_state(n) is None]
    if not todo:
        return AdaptReport((), kept)
    if not isinstance(data, FitData):
        data = open_data(data, model, limits)
    inputs = input_arrays(model, data, limits)
    rows = len(inputs[0])
    adapted = []
    for node in todo:
        layer = model.get_layer(_layer_name(node))
        try:
            layer.adapt(layer_input(model, layer, inputs))
        except DeclarError:
            raise
        except Exception as err:  # Keras and TensorFlow refuse data in many types
            raise DataError(f"layer '{layer.name}' ({node.layer}) cannot adapt on the data: {type(err).__name__}: "
                            f"{first_line(str(err))}") from None
        adapted.append(Adapted(layer.name, node.layer or "", _state(layer, node.layer or "", limits), rows))
    return AdaptReport(tuple(adapted), kept)


def adapt_spec(source: SpecSource, data: FitData | str | os.PathLike[str], out_path: str | os.PathLike[str],
               limits: Limits = DEFAULT_LIMITS) -> AdaptReport:
    """`declar adapt`: build the spec ``source``, adapt its preprocessing layers on ``data`` (see
    `adapt_model`) and write the archive ``out_path`` atomically.

    A spec with nothing to adapt (no adaptable layer, or all given their state) is a `BuildError`
    located in the spec.

    Example:
        >>> import numpy as np, tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> spec = "declar: 2\\nname: m\\ninputs: {x: {shape: [1]}}\\nmodel: [{Normalization: {}}]\\n"
        >>> adapt_spec(spec, FitData(np.array([[1.0], [3.0]])), os.path.join(d, "m.keras")).lines()
        ['normalization (Normalization): mean and variance of 1 feature, from 2 examples']
    """
    if is_archive(source):
        raise DataError(f"{os.fspath(source)}: declar adapt takes a spec; an archive's layers were adapted when it "
                        "was made", file=os.fspath(source))
    loaded = load_spec(source, limits)
    unreachable = unreachable_nodes(loaded.spec)
    if unreachable:
        raise BuildError([loaded.problem(node.path, f"layer '{_layer_name(node)}' ({node.layer}) cannot be adapted: "
                                         f"{why}", UNREACHABLE_HINT, "not-adaptable") for node, why in unreachable])
    nodes = adaptable_nodes(loaded.spec)
    if not nodes:
        raise BuildError([loaded.problem(("model",), "nothing to adapt: the model has no " + ", ".join(ADAPTABLE[:-1])
                                         + f" or {ADAPTABLE[-1]} layer", "declar fit and declar save build it as it is",
                                         "nothing-to-adapt")])
    if all(given_state(n) is not None for n in nodes):
        node = nodes[0]
        raise BuildError([loaded.problem((*node.args_path, given_state(node) or ""),
                                         "nothing to adapt: every preprocessing layer has the state the spec gives",
                                         "remove the argument to adapt the layer on data", "nothing-to-adapt")])
    model = build(loaded, limits=limits)
    report = adapt_model(model, data, limits)
    save(model, out_path, limits=limits)
    return report


def _layer_name(node: NodeSpec) -> str:
    return node.args.get("name") or node.name


def input_arrays(model: keras.Model, data: FitData, limits: Limits) -> list[Any]:
    """The examples of every model input (in the spec's order) as NumPy arrays, at most
    ``limits.max_adapt_rows`` of them (more is refused, not cut)."""
    import numpy as np

    names = [i.name for i in model.declar_spec.inputs]
    if _is_dataset(data.x):
        arrays = _dataset_arrays(data.x, len(names), limits)
    else:
        arrays = _as_list(data.x, names)
    arrays = [np.asarray(a) for a in arrays]
    if len(arrays) != len(names):
        raise DataError(f"the data gives {len(arrays)} inputs; the model takes {len(names)} ({', '.join(names)})")
    rows = len(arrays[0]) if arrays and arrays[0].ndim else 0
    if rows == 0:
        raise DataError("the data has no examples to adapt on")
    if rows > limits.max_adapt_rows:
        raise DataError(f"the data has {rows:,} examples, over Limits.max_adapt_rows = {limits.max_adapt_rows:,}; "
                        "adapt on a sample, or raise the limit if this is intended")
    return [a.astype(object) if a.dtype.kind in "SU" else a for a in arrays]  # Keras takes strings as objects


def _as_list(x: Any, names: Sequence[str]) -> list[Any]:
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise DataError(f"the data has no examples for inputs {missing}")
        return [x[n] for n in names]
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_dataset(x: Any) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "element_spec")


def _dataset_arrays(dataset: Any, count: int, limits: Limits) -> list[Any]:
    """The inputs of a batched dataset of ``x`` or ``(x, y)``, read batch by batch and refused as
    soon as they pass the row limit (a dataset may be endless)."""
    import numpy as np

    parts: list[list[Any]] = [[] for _ in range(count)]
    rows = 0
    for element in dataset:
        x = element[0] if isinstance(element, tuple) else element
        xs = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
        for part, value in zip(parts, xs, strict=False):
            part.append(np.asarray(value))
        rows += len(parts[0][-1])
        if rows > limits.max_adapt_rows:
            raise DataError(f"the data has more than {limits.max_adapt_rows:,} examples, over "
                            "Limits.max_adapt_rows; adapt on a sample, or raise the limit if this is intended")
    return [np.concatenate(p) if p else np.empty((0,)) for p in parts]


def layer_input(model: keras.Model, layer: keras.layers.Layer, inputs: list[Any]) -> Any:
    """What reaches ``layer`` when ``model`` is given ``inputs``: a model input's arrays as they
    are, or the output of a sub-model from the model's inputs to the layer's input."""
    import keras

    tensor = layer.input
    for given, array in zip(model.inputs, inputs, strict=True):
        if tensor is given:
            return array
    sub = keras.Model(model.inputs, tensor)
    given = [as_model_input(a) for a in inputs]
    return sub.predict(given if len(given) > 1 else given[0], batch_size=PREDICT_BATCH, verbose=0)


def as_model_input(array: Any) -> Any:
    """``array`` as `Model.predict` takes it: strings (a NumPy object array) as a TensorFlow string
    tensor, which is how Keras takes text (with the TensorFlow backend), anything else as it is.

    Example:
        >>> import numpy as np
        >>> as_model_input(np.array(["a b"], dtype=object)).dtype.name
        'string'
    """
    if getattr(getattr(array, "dtype", None), "kind", None) != "O":
        return array
    import tensorflow as tf

    return tf.constant(array)


def _state(layer: keras.layers.Layer, kind: str, limits: Limits) -> str:
    """What ``layer`` learned, in words; a vocabulary over the limit is refused."""
    if kind == "Normalization":
        import numpy as np

        features = int(np.size(layer.mean))
        return f"mean and variance of {features} feature{'s' if features != 1 else ''}"
    if kind == "Discretization":
        return f"{len(layer.bin_boundaries)} bin boundaries"
    size = layer.vocabulary_size()
    if size > limits.max_vocabulary_tokens:
        raise DataError(f"layer '{layer.name}' ({kind}) adapted a vocabulary of {size:,} tokens, over "
                        f"Limits.max_vocabulary_tokens = {limits.max_vocabulary_tokens:,}; give it max_tokens, or "
                        "raise the limit if this is intended")
    return f"vocabulary of {size:,} tokens"


__all__ = ["ADAPTABLE", "AdaptReport", "Adapted", "adapt_model", "adapt_spec", "adaptable_nodes", "given_state"]
