"""A custom type of a spec as the source of a `keras.layers.Layer` subclass, its hooks written out.

The class does what `declar.keras.layer.DeclarLayer` does for the type, in the same order (the
extended layer made in ``__init__``, the declared variables in ``build``), so that a model built
from it draws the same initial weights from Python's seeded `random`: ``__init__`` takes the
node's ``args`` (the type's parameters, the rest going to the extended layer) and ``build_args``
as DeclarLayer does; ``call`` is the type's checked call program over keras.ops; the saving hooks
(get_config, get_build_config/build_from_config, save_own_variables/load_own_variables,
save_assets/load_assets) are written only where the type declares what they save.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from declar.eject.expr import Unsupported, literal_source, shape_call, source, tensor_call
from declar.eject.names import RESERVED, Names
from declar.expr.ops import RANDOM_OPS
from declar.expr.parse import check
from declar.expr.program import CheckedProgram, check_program
from declar.keras.layer import _read_asset, layer_class
from declar.spec.expressions import after_call_context, call_context, mask_context, shape_context
from declar.spec.keras_objects import LAYER_ARGS
from declar.spec.model import UPDATE_FORMS, LayerTypeSpec

# Attributes of the generated classes themselves: a parameter or variable gets another name.
OWN_ATTRIBUTES = frozenset({"base", "seed", "seed_generator", "base_args", "base_build_args", "assets",
                            "call_base", "own_variables"})
SEED_STATE = "@seed_generator_state"  # as declar.keras.layer.SEED_STATE: archives stay comparable
MANIFEST = "declar_assets.json"


def _layer_attributes() -> frozenset[str]:
    return frozenset(dir(keras.layers.Layer)) | OWN_ATTRIBUTES | RESERVED


def _program(value: Any, context: Any) -> CheckedProgram:
    program = check_program(value, context)
    if not program.ok:
        raise Unsupported(f"a {context.kind} that does not check")
    return program


class TypeClass:
    """The source of one custom type's class; `lines` is the class, `uses` what the module must define."""

    def __init__(self, definition: LayerTypeSpec, class_names: Mapping[str, str], base_dir: str | None):
        self.d = definition
        self.class_names = class_names
        self.base_dir = base_dir
        self.uses: set[str] = set()
        attributes = Names(_layer_attributes())
        # The names the call sees, in DeclarLayer's order (a later one wins): inputs, mask, the
        # parameters, the build arguments, the variables; then training.
        self.attr = {p.name: attributes.bind(p.name) for p in (*definition.params, *definition.build_args)}
        self.var_attr = {v.name: attributes.bind(v.name) for v in definition.variables}
        self.program = _program(definition.call, call_context(definition))
        self.random = bool(self.program.functions & set(RANDOM_OPS))
        if definition.extends in LAYER_ARGS:
            raise Unsupported(f"custom type '{definition.name}' extending {definition.extends}, a layer of layers")

    @property
    def custom_base(self) -> bool:
        return self.d.extends in self.class_names

    @property
    def has_base(self) -> bool:
        return self.d.extends != "Layer"

    def _names(self) -> dict[str, str]:
        names = {"inputs": "inputs", "mask": "mask"}
        names.update({k: f"self.{v}" for k, v in self.attr.items()})
        names.update({k: f"self.{v}" for k, v in self.var_attr.items()})
        names["training"] = "training"
        return names

    def lines(self) -> list[str]:
        d = self.d
        name = self.class_names[d.name]
        head = ["@keras.saving.register_keras_serializable(package=PACKAGE)",
                f"class {name}(keras.layers.Layer):",
                f"    \"\"\"The custom type {literal_source(d.name)} of the spec, extending {d.extends}.\"\"\"", ""]
        body = [*self._init(), *self._build(), *self._call(), *self._mask(), *self._shape(), *self._config(),
                *self._variables(), *self._assets()]
        return [*head, *body]

    # -- construction ---------------------------------------------------------------------

    def _init(self) -> list[str]:
        d = self.d
        out = ["    def __init__(self, args=None, build_args=None, seed=None, **kwargs):",
               "        super().__init__(**kwargs)",
               "        args = dict(args or {})",
               "        build_args = dict(build_args or {})",
               "        self.seed = seed"]
        for p in d.params:
            out.append(f"        self.{self.attr[p.name]} = args.pop({literal_source(p.name)}, "
                       f"{literal_source(p.default)})")
        for p in d.build_args:
            out.append(f"        self.{self.attr[p.name]} = build_args.pop({literal_source(p.name)}, "
                       f"{literal_source(p.default)})")
        out += ["        self.base_args = args  # the rest goes to the extended layer",
                "        self.base_build_args = build_args"]
        if self.custom_base:
            self.uses.add("draw_seed")
            out += [f"        self.base = {self.class_names[d.extends]}(",
                    "            args=args, build_args=build_args, name=\"base\", dtype=self.dtype_policy,",
                    "            seed=draw_seed(seed or 0, self.name),", "        )"]
        elif self.has_base:
            cls = layer_class(d.extends)
            if getattr(keras.layers, d.extends, None) is not cls or not d.extends.isidentifier():
                raise Unsupported(f"extending '{d.extends}', not an attribute of keras.layers")
            out.append(f"        self.base = keras.layers.{d.extends}(**{{\"dtype\": self.dtype_policy, **args}}, "
                       "name=\"base\")")
        else:
            out.append("        self.base = None")
        if self.random:
            self.uses.add("draw_seed")
            out += ["        # The call's random draws: seeded from the spec's seed (or its scope's) and the name.",
                    "        self.seed_generator = keras.random.SeedGenerator(draw_seed(seed or 0, self.name), "
                    "name=\"seed_generator\")"]
        if d.mask is not None:
            out.append("        self.supports_masking = True")
        elif self.has_base:
            out.append("        self.supports_masking = bool(getattr(self.base, \"supports_masking\", False))")
        if self.has_base:
            out.append("        self._input_mask = self._call_inputs = None")
        if d.assets:
            items = ", ".join(f"{literal_source(a.name)}: {self._initial_asset(a)}" for a in d.assets)
            out.append(f"        self.assets = {{{items}}}")
        return [*out, ""]

    def _initial_asset(self, asset: Any) -> str:
        if asset.source == "value":
            return literal_source(asset.value)
        if asset.source == "param":
            return f"self.{self.attr[asset.param]}" if asset.param in self.attr else "None"
        if self.base_dir is None:
            raise Unsupported(f"asset '{asset.name}' read from a file, without the spec's directory")
        value = _read_asset(asset, asset.file or "", self.base_dir, transform=False)
        if asset.kind == "array":
            self.uses.add("numpy")
            return f"np.asarray({literal_source(value.tolist())}, dtype={literal_source(asset.dtype or 'float32')})"
        return literal_source(value)

    # -- build ----------------------------------------------------------------------------

    def _build(self) -> list[str]:
        d = self.d
        if not d.variables and not self.has_base:
            return []
        self.uses.add("as_shape")
        out = ["    def build(self, input_shape):"]
        if self.has_base:
            out += ["        if not self.base.built:", "            self.base.build(input_shape)",
                    "        output_shape = as_shape(self.base.compute_output_shape(input_shape))"]
        head = len(out)
        if d.variables:
            out.append("        input_shape = as_shape(input_shape)")
        env = {k: f"self.{v}" for k, v in self.attr.items()}
        env["input_shape"] = "input_shape"
        if self.has_base:
            env["output_shape"] = "output_shape"
        for var in d.variables:
            shape = self._shape_source(var.shape, env)
            init = var.initializer
            if isinstance(init, str) and init in self.attr:
                init_source = f"self.{self.attr[init]}"
            else:
                init_source = literal_source(init)
            out += [f"        self.{self.var_attr[var.name]} = self.add_weight(",
                    f"            name={literal_source(var.name)},",
                    f"            shape={shape},",
                    f"            dtype={literal_source(var.dtype)},",
                    f"            trainable={var.trainable!r},",
                    f"            initializer=keras.initializers.get({init_source}),",
                    "        )"]
        if self.has_base and not any("output_shape" in line for line in out[head:]):
            del out[3]  # the extended layer's output shape, when no variable's shape names it
        return [*out, ""]

    def _shape_source(self, shape: Any, env: Mapping[str, str]) -> str:
        def expression(text: str) -> str:
            checked = check(text, shape_context(env))
            if checked.tree is None:
                raise Unsupported(f"the variable shape {text!r}")
            return source(checked.tree, env, shape_call)

        if isinstance(shape, str):
            self.uses.add("sizes")
            return f"sizes({expression(shape)})"
        parts = [expression(p) if isinstance(p, str) else literal_source(p) for p in shape]
        return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"

    # -- call -----------------------------------------------------------------------------

    def _call(self) -> list[str]:
        d = self.d
        names = self._names()
        local = Names()
        out = ["    def call(self, inputs, training=None, mask=None):"]
        if self.has_base:
            out.append("        self._input_mask, self._call_inputs = mask, inputs")
        for let, checked in self.program.steps:
            ident = local.bind(let)
            out.append(f"        {ident} = {source(checked.tree, names, tensor_call)}")
            names[let] = ident
        assert self.program.result is not None and self.program.result.tree is not None
        out.append(f"        outputs = {source(self.program.result.tree, names, tensor_call)}")
        if self.has_base:
            out.append("        self._input_mask = self._call_inputs = None")
        out += self._effects({**names, "outputs": "outputs"})
        if d.mask is not None:
            self.uses.add("set_keras_mask")
            out += ["        if outputs is not inputs:",
                    "            # The declared mask wins over one the extended layer set inside the call.",
                    "            masks = keras.tree.flatten(self.compute_mask(inputs, mask))",
                    "            for tensor, out_mask in zip(keras.tree.flatten(outputs), masks, strict=False):",
                    "                set_keras_mask(tensor, out_mask)"]
        out += ["        return outputs", ""]
        if self.has_base:
            out += ["    def call_base(self, *args, **kwargs):",
                    "        # base(inputs) gets the input's mask explicitly, so an LSTM base skips the padded steps.",
                    "        if (self._input_mask is not None and args and args[0] is self._call_inputs",
                    "                and \"mask\" not in kwargs",
                    "                and getattr(self.base, \"_call_has_mask_arg\", False)):",
                    "            kwargs[\"mask\"] = self._input_mask",
                    "        return self.base(*args, **kwargs)", ""]
        return out

    def _effects(self, names: Mapping[str, str]) -> list[str]:
        """The type's losses (added with their weights) and updates of its non-trainable variables,
        over the call's names, its let names and ``outputs`` (declar.keras.aux_losses, .updates)."""
        d = self.d
        out = []
        for what, items in (("losses", d.losses), ("updates", d.updates)):
            context = after_call_context(d, what)
            for item in items:
                checked = check(item.value, context)
                if checked.tree is None:
                    raise Unsupported(f"a {what[:-1]} that does not check")
                value = source(checked.tree, names, tensor_call)
                if what == "losses":
                    weighted = value if item.weight == 1.0 else f"{item.weight!r} * ({value})"
                    out.append(f"        self.add_loss({weighted})  # {_comment(item.name)}")
                    continue
                if item.form not in UPDATE_FORMS:
                    raise Unsupported(f"the update form '{item.form}'")
                self.uses.add("fitted")
                variable = f"self.{self.var_attr[item.variable]}"
                line = f"{variable}.{item.form}(fitted({value}, {variable}))"
                out += ["        if training:", f"            {line}"] if item.training_only else [f"        {line}"]
        return out

    def _mask(self) -> list[str]:
        d = self.d
        out = ["    def compute_mask(self, inputs, previous_mask=None):"]
        if d.mask is not None:
            program = _program(d.mask, mask_context(d))
            names = {k: v for k, v in self._names().items() if k != "training"}
            local = Names()
            if "mask" in program.names:
                out.append("        mask = previous_mask")
            for let, checked in program.steps:
                ident = local.bind(let)
                out.append(f"        {ident} = {source(checked.tree, names, tensor_call)}")
                names[let] = ident
            assert program.result is not None and program.result.tree is not None
            out.append(f"        return {source(program.result.tree, names, tensor_call)}")
        elif self.has_base:
            out.append("        return self.base.compute_mask(inputs, previous_mask)")
        else:
            out.append("        return None")
        return [*out, ""]

    def _shape(self) -> list[str]:
        self.uses.add("as_shape")
        return ["    def compute_output_shape(self, input_shape):",
                "        # Traced from call on a symbolic input (wrappers and extending types ask for it).",
                "        shape = as_shape(input_shape)",
                "        if not self.built:",
                "            self.build(shape)",
                "            self.built = True",
                "        if isinstance(shape, list):",
                "            symbolic = [keras.KerasTensor(s, dtype=self.compute_dtype) for s in shape]",
                "        else:",
                "            symbolic = keras.KerasTensor(shape, dtype=self.compute_dtype)",
                "        spec = self.compute_output_spec(symbolic)",
                "        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)", "",
                "    def compute_output_spec(self, *args, **kwargs):",
                "        # From call, never from compute_output_shape (which traces this).",
                "        return keras.Operation.compute_output_spec(self, *args, **kwargs)", ""]

    # -- saving hooks ---------------------------------------------------------------------

    def _config(self) -> list[str]:
        d = self.d
        params = ", ".join(f"{literal_source(p.name)}: self.{self.attr[p.name]}" for p in d.params)
        build = ", ".join(f"{literal_source(p.name)}: self.{self.attr[p.name]}" for p in d.build_args)
        out = ["    def get_config(self):",
               "        config = super().get_config()",
               "        config.update(",
               f"            args={{{params + ', ' if params else ''}**self.base_args}},",
               f"            build_args={{**self.base_build_args{', ' + build if build else ''}}},",
               "        )",
               "        if self.seed is not None:",
               "            config[\"seed\"] = self.seed",
               "        return config", ""]
        if d.build_args:
            out += ["    def get_build_config(self):",
                    "        config = super().get_build_config() or {}",
                    f"        config[\"build_args\"] = {{{build}}}",
                    "        return config", "",
                    "    def build_from_config(self, config):",
                    "        given = config.get(\"build_args\") or {}"]
            for p in d.build_args:
                attr = self.attr[p.name]
                out.append(f"        self.{attr} = given.get({literal_source(p.name)}, self.{attr})")
            out += ["        if not self.built:",
                    "            self.build(config[\"input_shape\"])",
                    "            self.built = True", ""]
        return out

    def _variables(self) -> list[str]:
        d = self.d
        if not d.variables and not self.random:
            return []
        self.uses.add("numpy")
        items = [f"{literal_source(v.name)}: self.{self.var_attr[v.name]}" for v in d.variables]
        if self.random:
            items.append(f"{literal_source(SEED_STATE)}: self.seed_generator.state")
        return ["    def own_variables(self):",
                "        \"\"\"The saved variables by their declared names (never by position).\"\"\"",
                f"        return {{{', '.join(items)}}}", "",
                "    def save_own_variables(self, store):",
                "        for key, variable in self.own_variables().items():",
                "            store[key] = keras.ops.convert_to_numpy(variable)", "",
                "    def load_own_variables(self, store):",
                "        variables = self.own_variables()",
                "        if set(store.keys()) != set(variables):",
                "            raise ValueError(f\"layer {self.name!r}: saved variables {sorted(store.keys())}, \"",
                "                             f\"expected {sorted(variables)}\")",
                "        for key, variable in variables.items():",
                "            value = np.asarray(store[key])",
                "            if tuple(value.shape) != tuple(variable.shape):",
                "                raise ValueError(f\"layer {self.name!r}: variable {key!r} has shape {value.shape}\")",
                "            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))", ""]

    def _assets(self) -> list[str]:
        d = self.d
        if not d.assets:
            return []
        self.uses.update({"os", "json"})
        save = ["    def save_assets(self, dir_path):",
                f"        manifest = {{\"layer_type\": {literal_source(d.name)}, \"assets\": {{}}}}"]
        load = ["    def load_assets(self, dir_path):"]
        for asset in d.assets:
            key, filename = literal_source(asset.name), literal_source(asset.filename)
            save += [f"        if self.assets[{key}] is not None:",
                     f"            path = os.path.join(dir_path, {filename})"]
            load += [f"        path = os.path.join(dir_path, {filename})", "        if os.path.isfile(path):"]
            if asset.kind == "array":
                self.uses.add("numpy")
                dtype = literal_source(asset.dtype or "float32")
                save.append(f"            np.save(path, np.asarray(self.assets[{key}], dtype={dtype}), "
                            "allow_pickle=False)")
                load.append(f"            self.assets[{key}] = np.load(path, allow_pickle=False)")
            else:
                save += ["            with open(path, \"w\", encoding=\"utf-8\") as f:",
                         f"                json.dump(self.assets[{key}], f)" if asset.kind == "json" else
                         f"                f.write(str(self.assets[{key}]))"]
                load += ["            with open(path, encoding=\"utf-8\") as f:",
                         "                value = " + ("json.load(f)" if asset.kind == "json" else "f.read()")]
                for kind, value in asset.transform:
                    if kind == "replace":
                        for old, new in value.items():
                            load.append(f"            value = value.replace({literal_source(old)}, "
                                        f"{literal_source(new)})")
                    elif kind == "strip" and value:
                        load.append("            value = value.strip()")
                    elif kind != "strip":
                        raise Unsupported(f"the asset transform '{kind}'")
                load.append(f"            self.assets[{key}] = value")
            save.append(f"            manifest[\"assets\"][{key}] = {filename}")
        save += [f"        manifest_path = os.path.join(dir_path, {literal_source(MANIFEST)})",
                 "        with open(manifest_path, \"w\", encoding=\"utf-8\") as f:",
                 "            json.dump(manifest, f)", ""]
        return [*save, *load, ""]


def _comment(text: str) -> str:
    """A name shown in a comment: printable characters only (a newline would end the comment)."""
    return "".join(c if c.isprintable() else "?" for c in text)
