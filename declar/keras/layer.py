"""`DeclarLayer`: one registered Keras layer class whose every hook is synthesized from its spec.

A custom layer type of a spec (``layers: {CustomBuild: {...}}``) is not turned into a new Python
class; each use is a `DeclarLayer` holding the type's definition. The extended layer is a child
(``self.base``), built before the declared variables; Keras saves and restores it by its own
hooks, while this class owns only what the spec declares:

- get_config/from_config carry the definition, the arguments and the build arguments;
- save_own_variables/load_own_variables use the declared names as keys and check names, shapes
  and dtypes at load (never positions, never a silent reorder);
- save_assets/load_assets write every declared asset plus a manifest (so the directory is never
  empty), and apply the declared transform at load;
- get_build_config/build_from_config record the input shape and every build argument, and raise
  when the build fails;
- call runs the checked expression (or program with `let` names), where ``base(...)`` calls the
  extended layer; a call that draws random numbers (``random_normal``...) draws from the layer's
  own seed generator, seeded from the spec's seed and the layer's name (`draw_seed`), whose state
  is saved with the declared variables (`SEED_STATE`) so predictions after load continue exactly
  as the saved model's would;
- the type's ``losses`` are added (Keras's add_loss, each under its name for fit's metrics:
  `declar.keras.aux_losses`) and its ``updates`` applied to its non-trainable variables
  (`declar.keras.updates`) after the call, over the call's names, its let names and ``outputs``;
- compute_output_shape traces call symbolically (so wrappers such as TimeDistributed, and a type
  extending this one, can ask for it);
- masks propagate as through the extended layer (supports_masking and compute_mask are its own),
  or as the type's declared ``mask`` expression computes them.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

import keras
import numpy as np
from keras.src import api_export
from keras.src.backend import set_keras_mask
from keras.src.ops.operation import Operation

from declar.bounded import open_regular, over_limit, read_file, read_npy, transform_text
from declar.errors import FileLimitError, LayerBuildError
from declar.expr.evaluate import ExpressionError
from declar.expr.ops import RANDOM_OPS
from declar.expr.parse import Context
from declar.expr.program import CheckedProgram, check_program, program_closure, program_scope_closure
from declar.keras.aux_losses import NamedLosses, add_losses, loss_closures
from declar.keras.budget import variable_message, weight_budget
from declar.keras.ops import draw_seed, keras_functions, random_functions
from declar.keras.updates import apply_updates, update_closures
from declar.limits import Limits, current_limits
from declar.spec.expressions import after_call_context, call_context, compute_shape, mask_context
from declar.spec.facts import DTYPE_POLICIES, UNSAFE_LAYERS, snake_case
from declar.spec.keras_objects import LAYER_ARGS, path_refusals, refusal
from declar.spec.model import BUILD_KEY, AssetSpec, LayerTypeSpec, layer_type_from_data
from declar.spec.nested_layers import spec_form
from declar.spec.shapes import shape_errors

MANIFEST = "declar_assets.json"
# The key of the seed generator's state among a layer's saved variables: not an identifier, so no
# declared variable can have it.
SEED_STATE = "@seed_generator_state"


@keras.saving.register_keras_serializable(package="declar", name="DeclarLayer")
class DeclarLayer(NamedLosses, keras.layers.Layer):
    """A layer of a custom type declared in a spec.

    Example:
        >>> types = {"Scale": {"extends": "Layer", "variables": {"s": {"shape": [1], "initializer": "ones"}},
        ...                    "call": "inputs * s"}}
        >>> layer = DeclarLayer(types=types, layer_type="Scale")
        >>> keras.ops.convert_to_numpy(layer(np.ones((2, 1)))).tolist()
        [[1.0], [1.0]]
    """

    def __init__(self, types: dict[str, Any], layer_type: str, args: dict[str, Any] | None = None,
                 build_args: dict[str, Any] | None = None, asset_root: str | None = None, seed: int | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self._seed = seed  # the spec's seed (or a scope's): random draws are seeded from it and the name
        self._types = types
        self._layer_type = layer_type
        self.definition: LayerTypeSpec = layer_type_from_data(layer_type, types[layer_type])
        args = dict(args or {})
        given_build = dict(build_args or {})
        self.params = {p.name: args.pop(p.name, p.default) for p in self.definition.params}
        self.build_arguments = {p.name: given_build.pop(p.name, p.default) for p in self.definition.build_args}
        self._base_args = args  # what is left goes to the extended layer
        self._base_build_args = given_build
        self.base = self._make_base(args, given_build, asset_root)
        self._declared: dict[str, keras.Variable] = {}
        program = _checked(self.definition.call, call_context(self.definition))
        functions = {**keras_functions(), "base": self._call_base}
        self.seed_generator: keras.random.SeedGenerator | None = None
        if program.functions & set(RANDOM_OPS):  # only then: other layers save exactly what they did
            self.seed_generator = keras.random.SeedGenerator(draw_seed(seed or 0, self.name), name="seed_generator")
            functions.update(random_functions(self.seed_generator))
        self._call = program_closure(program, functions)
        # Losses and updates read the call's let names and result: the call then keeps its scope.
        owner = f"layer '{self.name}' ({layer_type})"
        definition = self.definition
        self._loss_closures = loss_closures(definition.losses, after_call_context(definition, "losses"), owner)
        self._update_closures = update_closures(definition.updates, after_call_context(definition, "updates"),
                                                {v.name: v.trainable for v in definition.variables}, owner)
        effects = self._loss_closures or self._update_closures
        self._call_scope = program_scope_closure(program, functions) if effects else None
        self.declar_loss_names = [loss.name for loss in self.definition.losses]
        self._mask = None if self.definition.mask is None else \
            program_closure(_checked(self.definition.mask, mask_context(self.definition)), keras_functions())
        # Keras sets an output mask only for a layer that supports masking; without a declared mask,
        # this layer masks as its base (an Embedding with mask_zero, an LSTM, a Dense passing it on).
        self.supports_masking = self._mask is not None or bool(getattr(self.base, "supports_masking", False))
        self._input_mask: Any = None  # the mask of the call in progress, passed on to base(inputs)
        self._inputs: Any = None
        self.assets: dict[str, Any] = {a.name: self._initial_asset(a, asset_root) for a in self.definition.assets}

    # -- construction ------------------------------------------------------------------------

    def _make_base(self, args: dict[str, Any], build_args: dict[str, Any], asset_root: str | None
                   ) -> keras.layers.Layer | None:
        extends = self.definition.extends
        if extends == "Layer":
            return None
        if extends in self._types:
            return DeclarLayer(types=self._types, layer_type=extends, args=args, build_args=build_args,
                               asset_root=asset_root, name="base", dtype=self.dtype_policy,
                               seed=draw_seed(self._seed or 0, self.name))
        args = {"dtype": self.dtype_policy, **args}  # the base computes like its owner
        return builtin_layer(extends, args, name="base", types=self._types)

    def _initial_asset(self, asset: AssetSpec, root: str | None) -> Any:
        if asset.source == "value":
            return asset.value
        if asset.source == "param":
            return self.params.get(asset.param or "")
        if root is None:
            return None  # read by load_assets from the archive
        try:  # inside the spec's directory only, a regular file within Limits.max_asset_bytes
            return _read_asset(asset, asset.file or "", root, transform=False)
        except (FileLimitError, ValueError, UnicodeDecodeError) as err:
            raise LayerBuildError(f"layer '{self.name}' ({self._layer_type}): asset '{asset.name}': {err}") from None

    def __getattr__(self, name: str) -> Any:
        # The guide reads assets as attributes (`layer.vocab`); only declared asset names resolve.
        assets = self.__dict__.get("assets")
        if isinstance(assets, dict) and name in assets:
            return assets[name]
        parent = getattr(super(), "__getattr__", None)  # torch layers keep sub-layers in nn.Module's registry
        if parent is not None:
            return parent(name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # -- build -------------------------------------------------------------------------------

    def build(self, input_shape: Any) -> None:
        # Inside a model, the model's budget; a lone layer (keras.models.load_model of a layer)
        # gets its own, so its base's and its declared variables are bounded either way.
        with weight_budget(_limits()):
            if self.base is not None and not self.base.built:
                self.base.build(input_shape)
            env = {**self.params, **self.build_arguments, "input_shape": _as_shape(input_shape)}
            if self.base is not None:
                env["output_shape"] = _as_shape(self.base.compute_output_shape(input_shape))
            for var in self.definition.variables:
                shape = self._variable_shape(var.name, var.shape, env)
                initializer = var.initializer
                if isinstance(initializer, str) and initializer in env:
                    initializer = env[initializer]
                refused = refusal("initializer", initializer) if initializer is not None else None
                if refused is not None:  # validated already; a second look where Keras deserializes it
                    raise LayerBuildError(f"layer '{self.name}' ({self._layer_type}): variable '{var.name}': "
                                          f"{refused[1]}")
                # add_weight charges the shape to the budget (both limits) before allocating.
                self._declared[var.name] = self.add_weight(
                    name=var.name, shape=shape, dtype=var.dtype, trainable=var.trainable,
                    initializer=keras.initializers.get(initializer))

    def _variable_shape(self, name: str, shape: Any, env: dict[str, Any]) -> tuple[int, ...]:
        parts = [shape] if isinstance(shape, str) else list(shape)
        sizes: list[Any] = []
        for part in parts:
            if not isinstance(part, str):
                sizes.append(part)
                continue
            try:
                value = compute_shape(part, env, _limits())
            except ExpressionError as err:
                raise LayerBuildError(f"layer '{self.name}' ({self._layer_type}): variable '{name}': shape "
                                      f"{part!r} for input shape {env['input_shape']}: {err}") from None
            if isinstance(shape, str):
                sizes.extend(value if isinstance(value, (list, tuple)) else [value])
            else:
                sizes.append(value)
        # The same rule, in the same words, as the budget's check of every variable (which also
        # runs, in add_weight): here first, because Keras would refuse a non-integer size its own way.
        for message, hint in shape_errors(sizes, _limits()):
            raise LayerBuildError(variable_message(f"'{self.name}' ({self._layer_type})", name, message, hint))
        return tuple(sizes)

    def get_build_config(self) -> dict[str, Any]:
        config = super().get_build_config() or {}
        config["build_args"] = dict(self.build_arguments)
        return config

    def build_from_config(self, config: dict[str, Any]) -> None:
        if "input_shape" not in config:
            raise LayerBuildError(f"layer '{self.name}': build config has no input_shape")
        self.build_arguments.update(config.get("build_args") or {})
        if not self.built:
            self.build(config["input_shape"])
            self.built = True

    # -- call --------------------------------------------------------------------------------

    def _call_base(self, *args: Any, **kwargs: Any) -> Any:
        # base(inputs) gets the input's mask explicitly: a tensor carries its mask as an attribute on
        # some backends only, and an LSTM base must skip the padded steps on all of them.
        if self._input_mask is not None and args and args[0] is self._inputs and "mask" not in kwargs \
                and getattr(self.base, "_call_has_mask_arg", False):
            kwargs["mask"] = self._input_mask
        return self.base(*args, **kwargs)

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        env = {**self._names(inputs, mask), "training": training}
        self._input_mask, self._inputs = mask, inputs
        try:
            if self._call_scope is None:
                outputs = self._call(env)
            else:
                outputs, scope = self._call_scope(env)
                scope["outputs"] = outputs
                owner = f"layer '{self.name}' ({self._layer_type})"
                add_losses(self, self._loss_closures, scope, owner)
                apply_updates(self._update_closures, self._declared, scope, training, owner)
        except LayerBuildError as err:  # a loss or an update that does not fit: one line, as below
            err._keras_call_info_injected = True  # type: ignore[attr-defined]
            raise
        except ExpressionError as err:  # a guard of the expression tripped (a size or constant limit)
            refused = LayerBuildError(f"layer '{self.name}' ({self._layer_type}): call {err}")
            refused._keras_call_info_injected = True  # type: ignore[attr-defined]  # keep it one line
            raise refused from None
        finally:
            self._input_mask = self._inputs = None
        if self._mask is not None and outputs is not inputs:
            # The base's own mask, attached to its output inside call, would otherwise win over the
            # declared one when the model runs (Keras keeps a mask already set on an output).
            masks = keras.tree.flatten(self.compute_mask(inputs, mask))
            for tensor, out_mask in zip(keras.tree.flatten(outputs), masks, strict=False):
                set_keras_mask(tensor, out_mask)
        return outputs

    def _names(self, inputs: Any, mask: Any) -> dict[str, Any]:
        """What the call and mask expressions name (a parameter named like one of these wins)."""
        return {"inputs": inputs, "mask": mask, **self.params, **self.build_arguments, **self._declared}

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The declared mask expression's value, else the extended layer's mask (None for Layer).

        Example:
            >>> types = {"Pad": {"extends": "Layer", "call": "inputs", "mask": "not_equal(inputs, 0)"}}
            >>> layer = DeclarLayer(types=types, layer_type="Pad")
            >>> keras.ops.convert_to_numpy(layer.compute_mask(np.array([[1, 0]]))).tolist()
            [[True, False]]
        """
        if self._mask is not None:
            try:
                return self._mask(self._names(inputs, previous_mask))
            except ExpressionError as err:
                raise LayerBuildError(f"layer '{self.name}' ({self._layer_type}): mask {err}") from None
        if self.base is None:
            return None
        return self.base.compute_mask(inputs, previous_mask)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape, from the call traced on a symbolic input of ``input_shape``.

        Wrappers (TimeDistributed) and a type extending this one ask for it; the layer is built
        first when it is not, as Keras builds a layer before its first call.

        Example:
            >>> layer = DeclarLayer(types={"D": {"extends": "Dense", "call": "base(inputs) * 2"}}, layer_type="D",
            ...                     args={"units": 3})
            >>> layer.compute_output_shape((None, 5))
            (None, 3)
        """
        shape = _as_shape(input_shape)
        if not self.built:
            self.build(shape)
            self.built = True
        symbolic = [keras.KerasTensor(s, dtype=self.compute_dtype) for s in shape] if isinstance(shape, list) \
            else keras.KerasTensor(shape, dtype=self.compute_dtype)
        return keras.tree.map_structure(lambda t: tuple(t.shape), self.compute_output_spec(symbolic))

    def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any:
        # Traced from call, never from compute_output_shape (which traces this): the outputs keep the
        # dtypes the call gives them. Keras rewraps an error of call() into a long message about
        # output shapes; a refusal by declar (a size or constant limit of the call expression) stays
        # the one line it was.
        try:
            return Operation.compute_output_spec(self, *args, **kwargs)
        except LayerBuildError as wrapped:
            original = wrapped.__context__
            if isinstance(original, LayerBuildError) and getattr(original, "_keras_call_info_injected", False):
                raise original from None
            raise

    # -- config ------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(types=self._types, layer_type=self._layer_type,
                      args={**self.params, **self._base_args},
                      build_args={**self._base_build_args, **self.build_arguments})
        if self._seed is not None:
            config["seed"] = self._seed
        return config

    # What get_config writes; from_config refuses anything else. `asset_root` above all: it is
    # given by declar.build only (the spec's directory), so no config can point reads elsewhere.
    CONFIG_KEYS = frozenset({"name", "trainable", "dtype", "types", "layer_type", "args", "build_args", "seed"})

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DeclarLayer:
        from declar.spec.load import check_fragment  # validation of untrusted config

        if not isinstance(config, dict):
            raise LayerBuildError(f"DeclarLayer config must be a mapping, got {type(config).__name__}")
        if "asset_root" in config:
            raise LayerBuildError("DeclarLayer config has an asset_root: refused, assets are read only from the "
                                  "spec's directory at build and from the archive's asset directory at load")
        unknown = sorted(set(config) - cls.CONFIG_KEYS, key=str)
        if unknown:
            raise LayerBuildError(f"DeclarLayer config has unknown keys {unknown}")
        _check_dtype(config.get("dtype"))
        seed = config.get("seed")
        if seed is not None and not (type(seed) is int and 0 <= seed < 2**32):
            raise LayerBuildError(f"DeclarLayer config has a seed that is not an integer in [0, 2**32): "
                                  f"{str(seed)[:40]}")
        check_fragment(config.get("types"), config.get("layer_type"), config.get("args"), config.get("build_args"))
        return cls(**config)

    # -- variables ---------------------------------------------------------------------------

    def _saved_variables(self) -> dict[str, keras.Variable]:
        saved = dict(self._declared)
        if self.seed_generator is not None:
            saved[SEED_STATE] = self.seed_generator.state
        return saved

    def save_own_variables(self, store: Any) -> None:
        for name, variable in self._saved_variables().items():
            store[name] = keras.ops.convert_to_numpy(variable)

    def load_own_variables(self, store: Any) -> None:
        saved = self._saved_variables()
        expected, found = set(saved), set(store.keys())
        if expected != found:
            missing, extra = sorted(expected - found), sorted(found - expected)
            raise ValueError(f"layer '{self.name}' ({self._layer_type}): the archive's variables do not match "
                             f"the spec: missing {missing}, unexpected {extra}")
        for name, variable in saved.items():
            value = np.asarray(store[name])
            if name == SEED_STATE:  # each backend keeps it in its own integer dtype (TensorFlow int64, JAX uint32)
                value = _seed_state(value, keras.backend.standardize_dtype(variable.dtype), self.name)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"layer '{self.name}' ({self._layer_type}): variable '{name}' has shape "
                                 f"{tuple(value.shape)} in the archive, the spec builds {tuple(variable.shape)}")
            if str(value.dtype) != keras.backend.standardize_dtype(variable.dtype):
                raise ValueError(f"layer '{self.name}' ({self._layer_type}): variable '{name}' has dtype "
                                 f"{value.dtype} in the archive, the spec declares {variable.dtype}")
            variable.assign(value)

    # -- assets ------------------------------------------------------------------------------

    def save_assets(self, dir_path: str) -> None:
        manifest = {"layer_type": self._layer_type, "assets": {}}
        for asset in self.definition.assets:
            value = self.assets.get(asset.name)
            if value is None:
                continue
            _write_asset(asset, value, os.path.join(dir_path, asset.filename))
            manifest["assets"][asset.name] = asset.filename
        with open(os.path.join(dir_path, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f)

    def load_assets(self, dir_path: str | None) -> None:
        if not self.definition.assets:
            return
        manifest_path = os.path.join(dir_path, MANIFEST) if dir_path else None
        if manifest_path is None or not os.path.isfile(manifest_path):
            raise ValueError(f"layer '{self.name}' ({self._layer_type}): the archive has no assets for this layer")
        limit = _limits().max_json_asset_bytes  # the manifest is a few names, parsed like a JSON asset
        try:
            # Before anything is read: this layer's asset files together within the totals (a model's
            # layers together are checked by DeclarModel.load_assets, and by declar.load from the zip).
            check_asset_totals(dir_path or "", _limits())
            manifest = json.loads(read_file(MANIFEST, root=dir_path, limit=limit, limit_name="max_json_asset_bytes",
                                            what=f"asset manifest {MANIFEST}"))
        except (FileLimitError, ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"layer '{self.name}' ({self._layer_type}): {err}") from None
        saved = manifest.get("assets") if isinstance(manifest, dict) else None
        if not isinstance(saved, dict):
            raise ValueError(f"layer '{self.name}' ({self._layer_type}): the archive's asset manifest is malformed")
        for asset in self.definition.assets:
            # The file name comes from the spec, never from the archive.
            path = os.path.join(dir_path or "", asset.filename)
            if asset.name not in saved and self.assets.get(asset.name) is None:
                continue  # nothing was saved because there was nothing to save
            if asset.name not in saved or not os.path.isfile(path):
                raise ValueError(f"layer '{self.name}' ({self._layer_type}): asset '{asset.name}' is missing "
                                 "from the archive")
            try:  # Keras extracted the archive's assets to dir_path; read them within the limits
                self.assets[asset.name] = _read_asset(asset, asset.filename, dir_path or "", transform=True)
            except (OSError, ValueError, UnicodeDecodeError) as err:
                raise ValueError(f"layer '{self.name}' ({self._layer_type}): asset '{asset.name}' cannot be read: "
                                 f"{err}") from None


def _seed_state(value: np.ndarray, dtype: str, layer: str) -> np.ndarray:
    """A saved seed state in this backend's dtype: integers that fit it, else refused."""
    limits = np.iinfo(dtype)
    if value.dtype.kind not in "iu" or (value.size and (value.min() < limits.min or value.max() > limits.max)):
        # a few values only: a tampered state may be millions of them, and tolist() makes an object of each
        shown = value.ravel()[:4].tolist()
        raise ValueError(f"layer '{layer}': the archive's seed generator state {value.dtype} of shape "
                         f"{tuple(value.shape)} {shown} does not fit the backend's {dtype}")
    return value.astype(dtype)


def check_asset_totals(root: str, limits: Limits, what: str = "") -> None:
    """The files Keras extracted under ``root`` (an archive's assets), summed from their sizes before
    any is read: all of them within Limits.max_asset_bytes, the JSON ones (parsed into Python
    objects) within Limits.max_json_asset_bytes. Links are not followed (they are never read).

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> for n in "ab":
        ...     with open(os.path.join(d, n + ".json"), "w") as f:
        ...         _ = f.write("[0]")
        >>> check_asset_totals(d, Limits(max_json_asset_bytes=5))
        Traceback (most recent call last):
        ...
        declar.errors.FileLimitError: the archive's 2 JSON asset files are 6 bytes together, over \
Limits.max_json_asset_bytes = 5; raise it if this is intended
    """
    total = json_total = count = json_count = 0
    for directory, _, files in os.walk(root, followlinks=False):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            if not stat.S_ISREG(info.st_mode):
                continue
            # Each file first, as the layer's own read would refuse it (it has not happened yet).
            limit, limit_name = limits.asset_limit(json_text=name.endswith(".json"))
            if info.st_size > limit:
                shown = "asset manifest" if name == MANIFEST else f"asset '{os.path.splitext(name)[0]}'"
                raise over_limit(f"{what}{shown} ({os.path.relpath(os.path.join(directory, name), root)})",
                                 info.st_size, limit, limit_name)
            total, count = total + info.st_size, count + 1
            if name.endswith(".json"):
                json_total, json_count = json_total + info.st_size, json_count + 1
    for size, n, limit, limit_name, kind in ((total, count, limits.max_asset_bytes, "max_asset_bytes", ""),
                                             (json_total, json_count, limits.max_json_asset_bytes,
                                              "max_json_asset_bytes", "JSON ")):
        if size > limit:
            raise FileLimitError(f"{what}the archive's {n:,} {kind}asset files are {size:,} bytes together, over "
                                 f"Limits.{limit_name} = {limit:,}; raise it if this is intended")


def _check_dtype(dtype: Any) -> None:
    """A layer config's dtype: a policy name, or the plain DTypePolicy dict Keras writes.

    Keras deserializes a dict through its registry, so a dict naming another class is refused.
    """
    if dtype is None or dtype in DTYPE_POLICIES:
        return
    if isinstance(dtype, dict) and set(dtype) <= {"module", "class_name", "config", "registered_name"} \
            and dtype.get("module") == "keras" and dtype.get("class_name") == "DTypePolicy" \
            and dtype.get("registered_name") is None and isinstance(dtype.get("config"), dict) \
            and set(dtype["config"]) == {"name"} and dtype["config"]["name"] in DTYPE_POLICIES:
        return
    raise LayerBuildError(f"DeclarLayer config has an unknown dtype {str(dtype)[:120]}")


def layer_class(class_name: str) -> type[keras.layers.Layer]:
    """The built-in Keras layer class ``class_name``, found as Keras's deserializer finds the class of
    ``{"module": "keras.layers", "class_name": ...}``: by its exported name in Keras's registry of
    built-ins, then (for aliases such as ``Convolution2D``) in the ``keras.layers`` module. Keras's
    registry of custom objects is never consulted, and the layers declar refuses stay refused.

    Example:
        >>> layer_class("Dense") is keras.layers.Dense, layer_class("Convolution2D") is keras.layers.Conv2D
        (True, True)
    """
    if class_name in UNSAFE_LAYERS:
        raise LayerBuildError(f"layer '{class_name}' {UNSAFE_LAYERS[class_name]}; declar refuses it")
    found = api_export.get_symbol_from_name(f"keras.layers.{class_name}") or vars(keras.layers).get(class_name)
    if not (isinstance(found, type) and issubclass(found, keras.layers.Layer)):
        raise LayerBuildError(f"'{class_name}' is not a built-in Keras layer")
    return found


def builtin_layer(class_name: str, args: dict[str, Any], types: dict[str, Any] | None = None,
                  **kwargs: Any) -> keras.layers.Layer:
    """The built-in layer ``class_name`` made from ``args`` (its layer-valued arguments built first,
    through the gate; a custom type of ``types`` named in them becomes a DeclarLayer), with
    ``kwargs`` such as its name.

    Example:
        >>> builtin_layer("Dense", {"units": 2}, name="out").name
        'out'
        >>> builtin_layer("TimeDistributed", {"layer": {"Dense": {"units": 2}}}).layer.units
        2
    """
    return layer_class(class_name)(**with_layer_objects(class_name, args, types), **kwargs)


def with_layer_objects(layer: str, args: dict[str, Any], types: dict[str, Any] | None = None) -> dict[str, Any]:
    """``args`` with the layer-valued arguments of ``layer`` (Bidirectional's ``layer``...) built.

    A value is a layer written ``{LayerName: {arguments}}`` or ``{class_name, config}``. The values
    were checked by the allow-list gate; built-ins are built here by their built-in class, never
    through Keras's registry of custom objects, and a custom type (a definition of ``types``, the
    spec's) as a DeclarLayer. Every built-in layer declar constructs (a node, a custom type's base,
    a layer inside another) passes here first, so an argument Keras would open as a file is refused
    again right before construction, wherever validation was skipped.

    Example:
        >>> try:
        ...     with_layer_objects("StringLookup", {"vocabulary": "/etc/passwd"})
        ... except LayerBuildError as err:
        ...     print(str(err).split(" (")[0])
        'vocabulary' as a string is a file path, which declar never reads
    """
    for _, message, hint in path_refusals(layer, args):
        raise LayerBuildError(f"{message} ({hint})")
    kinds = LAYER_ARGS.get(layer, {})
    if not kinds or not any(k in args for k in kinds):
        return args
    built = {k: _layer_object(v, types or {}) if k in kinds else v for k, v in args.items()}
    if layer == "RNN" and isinstance(built.get("cell"), list):
        # RNN stacks a list of cells in a StackedRNNCells of Keras's counted default name; named
        # here, as every layer inside a layer is, so the weight paths do not depend on the process.
        built["cell"] = keras.layers.StackedRNNCells(built["cell"], name="stacked_rnn_cells")
    return built


def _layer_object(value: Any, types: dict[str, Any], name: str | None = None) -> Any:
    if isinstance(value, list):
        names = _list_names(value)
        return [_layer_object(v, types, n) for v, n in zip(value, names, strict=True)]
    if not isinstance(value, dict):
        return value  # Keras refuses it with its own message (validation refused it first)
    # The whole gate, at every depth, before anything is constructed; the custom types it lets
    # through are checked by DeclarLayer (from_config checks a definition from an archive).
    refused = refusal("layer", value, custom=types)
    if refused is not None:
        where = ".".join(str(k) for k in refused[0])
        message = f"{refused[1]} ({refused[2]})" if refused[2] else refused[1]
        raise LayerBuildError(f"{where}: {message}" if where else message)
    form = spec_form(value)
    layer, args = (value["class_name"], dict(value.get("config") or {})) if form is None else \
        (form[0], dict(form[1] or {}))
    # Named after its class unless it says otherwise, as a sequential layer is: Keras's own default
    # (lstm_3) counts the layers made so far in the process, so the weight paths of a model would
    # differ between the process that saved it and the one that loads it.
    name = args.pop("name", None) or name or snake_case(layer)
    if layer not in types:
        return builtin_layer(layer, args, types, name=name)
    return DeclarLayer(types=types, layer_type=layer, args={k: v for k, v in args.items()
                                                          if k not in (BUILD_KEY, "trainable", "dtype")},
                       build_args=args.get(BUILD_KEY) or {}, name=name,
                       trainable=args.get("trainable", True), dtype=args.get("dtype"))


def _list_names(values: list[Any]) -> list[str | None]:
    """Default names of the layers of a list, unique within the list as Keras makes them (lstm_cell,
    lstm_cell_1); None for a value that is no layer (refused by the gate)."""
    counts: dict[str, int] = {}
    names: list[str | None] = []
    for value in values:
        form = spec_form(value)
        layer = form[0] if form is not None else value.get("class_name") if isinstance(value, dict) else None
        if not isinstance(layer, str):
            names.append(None)
            continue
        base = snake_case(layer)
        n = counts.get(base, 0)
        counts[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names


def _checked(value: Any, context: Context) -> CheckedProgram:
    """A call or mask of a type, checked again where it is built (from an archive's config too)."""
    program = check_program(value, context)
    if not program.ok:
        raise ValueError(f"{context.kind}: {program.problems[0].problem.message}")
    return program


def _as_shape(input_shape: Any) -> Any:
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        return [tuple(s) for s in input_shape]
    return tuple(input_shape)


def _limits() -> Any:
    return current_limits.get()


def saved_asset_sizes(layer: DeclarLayer) -> list[tuple[str, int, bool]]:
    """What `save_assets` will write for ``layer``, as (what, bytes, is JSON), computed without
    writing: each asset with a value, and the manifest (written for every DeclarLayer)."""
    sizes: list[tuple[str, int, bool]] = []
    manifest: dict[str, Any] = {"layer_type": layer._layer_type, "assets": {}}
    for asset in layer.definition.assets:
        value = layer.assets.get(asset.name)
        if value is None:
            continue
        manifest["assets"][asset.name] = asset.filename
        if asset.kind == "text":
            sizes.append((f"asset '{asset.name}'", len(str(value).encode("utf-8")), False))
        elif asset.kind == "json":
            sizes.append((f"asset '{asset.name}'", len(json.dumps(value).encode("utf-8")), True))
        else:  # a .npy: the array and its header (128 bytes for any shape a model can hold)
            sizes.append((f"asset '{asset.name}'", np.asarray(value, dtype=asset.dtype or "float32").nbytes + 128,
                          False))
    sizes.append(("the asset manifest", len(json.dumps(manifest).encode("utf-8")), True))
    return sizes


def _write_asset(asset: AssetSpec, value: Any, path: str) -> None:
    if asset.kind == "text":
        with open(path, "w", encoding="utf-8") as f:
            f.write(str(value))
    elif asset.kind == "json":
        with open(path, "w", encoding="utf-8") as f:
            json.dump(value, f)
    else:
        np.save(path, np.asarray(value, dtype=asset.dtype or "float32"), allow_pickle=False)


def _read_asset(asset: AssetSpec, name: str, root: str, transform: bool) -> Any:
    """The asset file ``name`` under ``root``: a regular file, its size (and an array's declared size,
    and a text's size after its transform) within Limits.max_asset_bytes, checked before reading."""
    limit = _limits().max_asset_bytes
    what = f"file '{name}'"
    if asset.kind == "array" and name.endswith(".npy"):
        with open_regular(name, root=root, limit=limit, limit_name="max_asset_bytes", what=what) as f:
            return read_npy(f, available=os.fstat(f.fileno()).st_size, limit=limit, limit_name="max_asset_bytes",
                            what=what)
    text_limit, limit_name = _limits().asset_limit(json_text=asset.kind != "text")
    data = read_file(name, root=root, limit=text_limit, limit_name=limit_name, what=what)
    # As the text mode of open() did: UTF-8, and universal newlines ("\r\n" and "\r" read as "\n").
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    if asset.kind == "array":
        return np.asarray(json.loads(text), dtype=asset.dtype or "float32")
    if asset.kind == "json":
        return json.loads(text)
    if transform:
        text = transform_text(text, len(data) - data.count(b"\r\n"), asset.transform, limit, what)
    return text


__all__ = ["BUILD_KEY", "DeclarLayer", "LayerBuildError"]
