"""`DeclarModel`: a functional Keras model rebuilt from the spec embedded in its own config.

The archive's config.json holds the normalized spec, the spec as written, its sha256 and the
declar version, and nothing else: `from_config` validates that spec like a file from a stranger
and rebuilds the graph from it. The compile hooks are synthesized from the spec's compile section,
and the optimizer is built against the model's variables right after compiling, so every saved
optimizer variable has a place to load into (no "Skipping variable loading for optimizer").
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from declar._version import __version__
from declar.keras.budget import weight_budget
from declar.keras.compile import compile_arguments
from declar.keras.layer import DeclarLayer, with_layer_objects
from declar.limits import current_limits
from declar.spec.model import BUILD_KEY, NodeSpec, Spec
from declar.stack import deep_graph


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Keras draws the seeds of unseeded initializers from Python's `random`; seed it, then restore.

    This makes initial weights a function of the spec's seed without touching the caller's global
    random state (unlike `keras.utils.set_random_seed`).
    """
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _make_layer(spec: Spec, node: NodeSpec, asset_root: str | None) -> keras.layers.Layer:
    args = dict(node.args)
    name = args.pop("name", None) or node.name
    if spec.dtype_policy and "dtype" not in args:
        args["dtype"] = spec.dtype_policy  # per layer: the caller's global policy is left alone
    if node.layer in spec.layer_types:
        build_args = args.pop(BUILD_KEY, None) or {}
        types = spec.layer_type_definitions(node.layer or "")
        trainable = args.pop("trainable", True)
        dtype = args.pop("dtype", None)
        return DeclarLayer(types=types, layer_type=node.layer, args=args, build_args=build_args,
                           asset_root=asset_root, name=name, trainable=trainable, dtype=dtype)
    return getattr(keras.layers, node.layer or "")(**with_layer_objects(node.layer or "", args), name=name)


class ModelBuildError(ValueError):
    """Keras refused a layer of the spec; ``node`` names it so the CLI can locate it."""

    def __init__(self, node: NodeSpec, message: str):
        super().__init__(message)
        self.node = node


class OutputSizeError(ValueError):
    """A layer's output would hold more than Limits.max_variable_elements elements per example."""


def check_output_sizes(node: NodeSpec, outputs: Any) -> None:
    """Refuse a layer whose symbolic outputs are too large per example, before anything runs.

    Keras has only computed shapes at this point; a `RepeatVector` of 3e8 or a `CategoryEncoding`
    of 1e9 tokens would allocate its output at the first call. Unknown sizes count as 1 (a lower
    bound); the batch axis is not counted, as for inputs.
    """
    limit = current_limits.get().max_variable_elements
    for tensor in keras.tree.flatten(outputs):
        shape = getattr(tensor, "shape", None)
        if shape is None:
            continue
        elements = 1
        for size in tuple(shape)[1:]:
            elements *= size if isinstance(size, int) else 1
        if elements > limit:
            kind = node.layer or (f"shares '{node.shares}'" if node.shares else "?")
            message = (f"layer '{node.name}' ({kind}): output of shape {list(shape[1:])} has {elements:,} elements "
                       f"per example, over the limit of {limit:,}; raise Limits.max_variable_elements if this "
                       "is intended")
            raise ModelBuildError(node, message) from OutputSizeError(message)


def build_order(spec: Spec) -> list[NodeSpec]:
    """The nodes in the order they are built: passes over the list, each building (in list order)
    every node whose inputs and shared layer are built by then (so initial weights, drawn in this
    order, do not depend on how it is computed).

    Computed in O(n log n): a node's pass is the latest pass of its dependencies, plus one for a
    dependency listed after it (repeated passes over a reversed 10,000-node list took minutes).
    """
    position = {n.name: i for i, n in enumerate(spec.nodes)}
    deps = {n.name: [d for d in (*n.inputs, *((n.shares,) if n.shares else ())) if d in position]
            for n in spec.nodes}
    users: dict[str, list[str]] = {n.name: [] for n in spec.nodes}
    waiting = {name: len(d) for name, d in deps.items()}
    for name, d in deps.items():
        for dep in d:
            users[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    passes: dict[str, int] = {}
    while ready:  # Kahn's algorithm: each node after all its dependencies
        name = ready.pop()
        passes[name] = max((passes[d] + (position[d] > position[name]) for d in deps[name]), default=0)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(passes) < len(spec.nodes):  # the checks guarantee an acyclic graph; this is a last guard
        stuck = next(n for n in spec.nodes if n.name not in passes)
        raise ModelBuildError(stuck, "the graph cannot be ordered")
    return sorted(spec.nodes, key=lambda n: (passes[n.name], position[n.name]))


def construct_graph(spec: Spec, asset_root: str | None) -> tuple[dict[str, Any], Any]:
    """Keras inputs and outputs of the spec's graph, layers created and called in node order."""
    tensors: dict[str, Any] = {i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name) for i in spec.inputs}
    layers: dict[str, keras.layers.Layer] = {}
    for node in build_order(spec):
        try:
            layer = layers[node.shares] if node.shares else _make_layer(spec, node, asset_root)
            layers[node.name] = layer
            args = [tensors[r] for r in node.inputs]
            tensors[node.name] = layer(args if node.inputs_as_list else args[0])
        except Exception as err:  # Keras reports bad arguments and shapes in many types
            raise ModelBuildError(node, f"{type(err).__name__}: {err}") from err
        check_output_sizes(node, tensors[node.name])
    inputs = {i.name: tensors[i.name] for i in spec.inputs}
    declared = spec.outputs
    # Keras returns what the spec lists: one tensor (a list of one is one), a list or a mapping.
    if declared.form == "mapping":
        outputs: Any = {name: tensors[ref] for name, ref in zip(declared.names, declared.refs, strict=True)}
    elif len(declared.refs) == 1:
        outputs = tensors[declared.refs[0]]
    else:
        outputs = [tensors[ref] for ref in declared.refs]
    return inputs, outputs


def spec_layer_count(spec: Any) -> int:
    """Layers of a Spec, or of spec data not yet checked (an archive's), bounded by the layer limit."""
    if isinstance(spec, Spec):
        return len(spec.nodes)
    model = spec.get("model") if isinstance(spec, dict) else None
    if isinstance(model, dict):
        model = model.get("nodes")
    count = len(model) if isinstance(model, (list, dict)) else 0
    return min(count, current_limits.get().max_layers)  # more is refused by the checks before any build


@keras.saving.register_keras_serializable(package="declar", name="DeclarModel")
class DeclarModel(keras.Model):
    """A model built from a spec; its config is the spec itself.

    Example:
        >>> import declar
        >>> model = declar.build("specs/keras_guide/custom_build.yaml")
        >>> model.declar_spec.name
        'custom_build_model'
    """

    # Keras's functional graph walk recurses once per layer: a deep spec is built with enough stack,
    # whether it comes from declar.build, declar.load or keras.models.load_model (via from_config).
    @deep_graph(lambda self, spec, *args, **kwargs: spec_layer_count(spec))
    def __init__(self, spec: dict[str, Any] | Spec, source: str = "", sha256: str | None = None,
                 declar_version: str = __version__, asset_root: str | None = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any):
        from declar.spec.load import spec_from_data

        if kwargs:  # nothing is silently ignored: Keras's other Model arguments do not apply here
            raise TypeError(f"DeclarModel() got unknown keyword arguments {sorted(kwargs)}; a DeclarModel takes "
                            "spec, source, sha256, declar_version, asset_root, name and trainable")
        # A Spec object was checked by declar.build; data (from an archive) is checked here.
        parsed = spec if isinstance(spec, Spec) else \
            spec_from_data(spec, sha256=sha256, limits=current_limits.get()).spec
        if name is not None and name != parsed.name:
            # The spec is the model: a name given here would not be saved, and the archive would
            # come back under the spec's name. Say so rather than ignore it.
            raise ValueError(f"DeclarModel(name={name!r}): the model's name is the spec's name "
                             f"({parsed.name!r}); change `name:` in the spec instead")
        # Every variable of every layer is checked against the limits before Keras allocates it,
        # for declar.build, declar.load and keras.models.load_model alike.
        with seeded(parsed.seed), weight_budget(current_limits.get()):
            inputs, outputs = construct_graph(parsed, asset_root)
        single_input = len(inputs) == 1
        # A list in spec order (not a dict, which Keras sorts by name): positional data follows the spec.
        super().__init__(inputs=next(iter(inputs.values())) if single_input else list(inputs.values()),
                         outputs=outputs,
                         name=parsed.name, trainable=trainable)
        if parsed.dtype_policy:
            self.dtype_policy = parsed.dtype_policy  # compile() wraps the optimizer for mixed_float16
        self._declar = {"spec": parsed, "source": source, "declar_version": declar_version}
        self._declar_compiled = None
        self._declar_distribution: Any = None

    # -- distribution ------------------------------------------------------------------------

    @property
    def declar_distribution(self) -> Any:
        """The tf.distribute strategy or keras.distribution in use, or None (one device)."""
        return self._declar_distribution

    def attach_distribution(self, distribution: Any) -> None:
        """Remember the distribution the model was built in, to train and predict in it."""
        self._declar_distribution = distribution

    def _in_distribution(self) -> Any:
        from declar.sections.distribution.build import distribution_scope

        # Keras's TensorFlow trainer keeps its strategy itself; the JAX trainer reads the
        # current keras.distribution at fit time, so its scope is entered again here.
        jax = keras.backend.backend() == "jax"
        return distribution_scope(self._declar_distribution if jax else None)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().fit(*args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().evaluate(*args, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().predict(*args, **kwargs)

    @property
    def declar_spec(self) -> Spec:
        """The Spec this model was built from."""
        return self._declar["spec"]

    def get_config(self) -> dict[str, Any]:
        spec: Spec = self._declar["spec"]
        return {"spec": spec.to_data(), "source": self._declar["source"], "sha256": spec.sha256,
                "declar_version": self._declar["declar_version"], "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> DeclarModel:
        known = {"spec", "source", "sha256", "declar_version", "trainable", "name"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"declar model config has unknown keys {unknown}")
        return cls(**config)

    # -- assets ------------------------------------------------------------------------------

    def load_assets(self, dir_path: str | None) -> None:
        """Keras calls this with the directory it extracted the archive's assets to, before any
        layer reads its own: all the layers' asset files together are checked against the limits
        here (each layer checks only its own), for keras.models.load_model as for declar.load."""
        from declar.bounded import FileLimitError
        from declar.keras.layer import check_asset_totals

        if dir_path and os.path.isdir(dir_path):
            try:
                check_asset_totals(dir_path, current_limits.get(), f"model '{self.name}': ")
            except FileLimitError as err:
                raise ValueError(str(err)) from None

    # -- compile -----------------------------------------------------------------------------

    def compile_from_spec(self) -> None:
        """Compile with the spec's compile section and build the optimizer's variables."""
        spec: Spec = self._declar["spec"]
        if not spec.compile:
            raise ValueError(f"spec '{spec.name}' has no compile section")
        self.compile(**compile_arguments(spec))
        self.optimizer.build(self.trainable_variables)
        self._declar_compiled = self._compile_config

    def save(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        # Refuse a hand-compiled model before Keras opens the file: Keras writes as it goes, and a
        # refusal from inside its writer would leave a partial archive behind.
        if self.compiled:
            self.get_compile_config()
        self._check_asset_sizes()
        super().save(filepath, *args, **kwargs)

    def _check_asset_sizes(self) -> None:
        """Refuse, before anything is written, an archive whose assets loading would refuse: each
        asset and all of them together within the limits load checks (sizes as they are written)."""
        from declar.archive import ArchiveError
        from declar.keras.layer import saved_asset_sizes

        limits = current_limits.get()
        total = json_total = 0
        for layer in self._flatten_layers(include_self=False):
            if not isinstance(layer, DeclarLayer):
                continue
            for name, size, json_text in saved_asset_sizes(layer):
                limit, limit_name = limits.asset_limit(json_text)
                if size > limit:
                    raise ArchiveError(f"model '{self.name}': layer '{layer.name}': {name} would be {size:,} bytes in "
                                       f"the archive, over Limits.{limit_name} = {limit:,}, which loading checks; "
                                       "raise it if this is intended")
                total, json_total = total + size, json_total + (size if json_text else 0)
        for size, limit, limit_name, kind in ((total, limits.max_asset_bytes, "max_asset_bytes", ""),
                                              (json_total, limits.max_json_asset_bytes, "max_json_asset_bytes",
                                               "JSON ")):
            if size > limit:
                raise ArchiveError(f"model '{self.name}': its {kind}assets would be {size:,} bytes together in the "
                                   f"archive, over Limits.{limit_name} = {limit:,}, which loading checks; raise it "
                                   "if this is intended")

    def get_compile_config(self) -> dict[str, Any]:
        if self._declar_compiled is not None and self._declar_compiled is getattr(self, "_compile_config", None):
            return {"declar": True}
        if getattr(self, "_compile_config", None) is not None:
            # A declar archive compiles only from its embedded spec (strict loading refuses any other
            # compile config), so an archive of a hand-compiled model could never be loaded: say so now.
            from declar.archive import ArchiveError

            raise ArchiveError(f"model '{self.name}' was compiled with model.compile(), not from its spec; declar "
                               "archives carry only the spec's compile settings: move them into the spec's "
                               "compile: section (or build with compile=False and save before compiling)")
        return super().get_compile_config()

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile from the embedded spec, the only compile settings a declar archive may carry.

        Any other compile config (another loss or optimizer than the spec's) is refused: the spec
        and its sha256 would otherwise describe a model that does not run.
        """
        from declar.archive import is_declar_compile_config

        if not is_declar_compile_config(config):
            raise ValueError("this DeclarModel archive carries its own compile settings "
                             f"({str(config)[:120]}); a DeclarModel compiles only from its embedded spec, "
                             "whose compile config is {\"declar\": true}")
        self.compile_from_spec()
