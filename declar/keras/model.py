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
from declar.errors import ArchiveError, FileLimitError
from declar.keras.adapted_state import load_adapted_state, save_adapted_state, unadapted_lookups
from declar.keras.aux_losses import declared_loss_names, loss_metrics, update_loss_metrics
from declar.keras.budget import weight_budget
from declar.keras.layer import DeclarLayer
from declar.limits import current_limits
from declar.sections.compile.build import compile_arguments
from declar.sections.model.build import construct_graph
from declar.spec.layer_count import layer_count
from declar.spec.model import Spec
from declar.stack import deep_graph

FRAMES_PER_NESTING = 40
"""Layers' worth of frames per block: calling a nested model goes through Keras's call machinery
(about 60 frames per level), which the per-layer allowance of a flat graph does not cover."""


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


def spec_layer_count(spec: Any) -> int:
    """Layers of a Spec, or of spec data not yet checked (an archive's), bounded by the layer limit."""
    if isinstance(spec, Spec):  # blocks and repeats expanded; nested models add frames of their own
        limit = current_limits.get().max_layers
        return layer_count(spec, limit) + FRAMES_PER_NESTING * len(spec.blocks)
    model = spec.get("model") if isinstance(spec, dict) else None
    if isinstance(model, dict):
        model = model.get("nodes")
    count = len(model) if isinstance(model, (list, dict)) else 0
    items = model.values() if isinstance(model, dict) else model if isinstance(model, list) else ()
    if isinstance(spec, dict) and (spec.get("blocks") or any(isinstance(i, dict) and "repeat" in i for i in items)):
        count = current_limits.get().max_layers  # expanded only once checked: allow for the most
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
        # The auxiliary losses of custom types and blocks, each reported by fit as a metric of its name.
        self._declar_loss_metrics = loss_metrics(declared_loss_names(self))
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

    def _maybe_symbolic_build(self, iterator: Any = None, data_batch: Any = None) -> Any:
        from declar.sections.distribution.build import first_local_batch

        # TensorFlow only (its trainer defines it): Keras 3.15 cannot reduce the first batch under
        # MultiWorkerMirroredStrategy; the worker's local batch gives the build its shapes.
        local = first_local_batch(self._distribute_strategy, iterator) if iterator is not None else None
        if local is not None:
            iterator, data_batch = None, local
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().fit(*args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().evaluate(*args, **kwargs)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        with self._in_distribution():
            return super().predict(*args, **kwargs)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        """Keras's total (compile loss plus every added loss), with each auxiliary loss recorded by name."""
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        update_loss_metrics(self._declar_loss_metrics, self, x)
        return total

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
        from declar.keras.layer import check_asset_totals

        if dir_path and os.path.isdir(dir_path):
            try:
                check_asset_totals(dir_path, current_limits.get(), f"model '{self.name}': ")
                load_adapted_state(self, dir_path, current_limits.get())
            except FileLimitError as err:
                raise ValueError(str(err)) from None

    def save_assets(self, dir_path: str) -> None:
        """The adapted state Keras keeps only in a layer config (see `declar.keras.adapted_state`)."""
        save_adapted_state(self, dir_path)

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
        unadapted = unadapted_lookups(self)
        if unadapted:
            raise ArchiveError(f"model '{self.name}': layer '{unadapted[0]}' has no vocabulary, and Keras cannot load "
                               "a lookup layer saved without one; adapt it on data first (declar adapt SPEC DATA -o "
                               "OUT.keras, or declar fit) or give its vocabulary in the spec", code="not-adapted")
        super().save(filepath, *args, **kwargs)

    def _check_asset_sizes(self) -> None:
        """Refuse, before anything is written, an archive whose assets loading would refuse: each
        asset and all of them together within the limits load checks (sizes as they are written)."""
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
