"""The Spec: what a model IS, as frozen plain data, with no Keras in sight.

A `Spec` is made from schema-valid data by `Spec.from_data`; it is what `build` reads, what an
archive embeds (`Spec.data` is JSON) and what `declar inspect` prints. Sequential specs are
normalized into the same node list as graphs, so the builder has one way through.

Example:
    >>> spec = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
    ...                        "model": [{"Dense": {"units": 2}}]})
    >>> [(n.name, n.layer, n.inputs) for n in spec.nodes]
    [('dense', 'Dense', ('x',))]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from declar.errors import JsonPath
from declar.spec.facts import snake_case

# Where the layer's own arguments stop and declar's start: these keys of a use-site argument
# mapping are never forwarded to the extended Keras layer.
BUILD_KEY = "build"

# The keys of a graph node that are not its layer: the one other key names the layer (`Dense: {...}`).
NODE_KEYS = frozenset({"inputs", "shares", "description"})


def node_layers(raw: dict[str, Any]) -> list[str]:
    """The keys of a graph node's data that name a layer (one in a valid spec; CamelCase, as the schema says)."""
    return [key for key in raw if key not in NODE_KEYS and key[:1].isupper()]


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any = None
    required: bool = True


@dataclass(frozen=True)
class VariableSpec:
    name: str
    shape: str | tuple[int | str, ...]
    dtype: str = "float32"
    initializer: Any = "glorot_uniform"
    trainable: bool = True


@dataclass(frozen=True)
class AssetSpec:
    name: str
    kind: str
    source: str  # "value", "param" or "file"
    value: Any = None
    param: str | None = None
    file: str | None = None
    dtype: str | None = None
    transform: tuple[tuple[str, Any], ...] = ()

    @property
    def filename(self) -> str:
        """Name of the file inside the layer's asset directory of an archive."""
        return f"{self.name}.{ {'text': 'txt', 'json': 'json', 'array': 'npy'}[self.kind] }"


@dataclass(frozen=True)
class LayerTypeSpec:
    name: str
    extends: str
    params: tuple[ParamSpec, ...] = ()
    build_args: tuple[ParamSpec, ...] = ()
    variables: tuple[VariableSpec, ...] = ()
    assets: tuple[AssetSpec, ...] = ()
    call: str = "base(inputs)"


@dataclass(frozen=True)
class NodeSpec:
    """One layer application: a new layer (``layer``) or a reuse of another node's (``shares``)."""

    name: str
    layer: str | None
    args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    inputs: tuple[str, ...] = ()
    inputs_as_list: bool = False
    shares: str | None = None
    path: JsonPath = ()
    args_path: JsonPath = ()
    """Where the layer's arguments are written: the value of its ``LayerName:`` key (graph or list)."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    args: tuple[str, ...]
    expr: str


@dataclass(frozen=True)
class Spec:
    """A validated model description. ``data`` is the normalized JSON form of the whole spec."""

    name: str
    seed: int
    inputs: tuple[InputSpec, ...]
    layer_types: dict[str, LayerTypeSpec] = field(hash=False, compare=False)
    nodes: tuple[NodeSpec, ...]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]
    sequential: bool
    functions: dict[str, FunctionSpec] = field(hash=False, compare=False)
    compile: dict[str, Any] | None = field(hash=False, compare=False)
    data: dict[str, Any] = field(hash=False, compare=False)
    description: str = ""
    dtype_policy: str | None = None
    source_text: str = field(default="", compare=False)
    source_file: str = field(default="<string>", compare=False)
    base_dir: str | None = field(default=None, compare=False)
    from_archive: bool = field(default=False, compare=False)
    """True for a spec embedded in an archive: asset files come from the archive, not the disk."""

    @property
    def sha256(self) -> str:
        """Hash of the normalized spec: equal for specs that say the same thing."""
        return spec_sha256(self.data)

    @classmethod
    def from_data(cls, data: dict[str, Any], *, source_text: str = "", source_file: str = "<string>",
                  base_dir: str | None = None, from_archive: bool = False) -> Spec:
        """Build the Spec from schema-valid data (the checks in `declar.spec.checks` come first)."""
        inputs = tuple(InputSpec(n, tuple(i["shape"]), i.get("dtype", "float32"))
                       for n, i in data["inputs"].items())
        layer_types = {n: layer_type_from_data(n, t) for n, t in (data.get("layers") or {}).items()}
        model = data["model"]
        if isinstance(model, list):
            nodes = _sequential_nodes(model, inputs[0].name)
            outputs, output_names, sequential = (nodes[-1].name,), (nodes[-1].name,), True
        else:
            nodes = tuple(_graph_node(n, d) for n, d in model["nodes"].items())
            outputs, output_names = _outputs(model["outputs"])
            sequential = False
        functions = {n: FunctionSpec(n, tuple(f["args"]), f["expr"]) for n, f in (data.get("functions") or {}).items()}
        seed = data.get("seed", 0)
        return cls(name=data["name"], seed=seed if isinstance(seed, int) else 0, inputs=inputs, layer_types=layer_types,
                   nodes=nodes, outputs=outputs, output_names=output_names, sequential=sequential,
                   functions=functions, compile=data.get("compile"), data=data,
                   description=data.get("description", ""), dtype_policy=data.get("dtype_policy"),
                   source_text=source_text,
                   source_file=source_file, base_dir=base_dir, from_archive=from_archive)

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)


def canonical_json(data: Any) -> str:
    """Key-sorted compact JSON, the form hashed and compared."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_sha256(data: Any) -> str:
    """The sha256 of normalized spec data (`Spec.sha256`; also of an archive's unchecked spec)."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _params(raw: dict[str, Any] | None) -> tuple[ParamSpec, ...]:
    return tuple(ParamSpec(n, p["type"], p.get("default"), "default" not in p) for n, p in (raw or {}).items())


def layer_type_from_data(name: str, raw: dict[str, Any]) -> LayerTypeSpec:
    """The typed definition of one custom layer type from its (checked) data."""
    variables = tuple(
        VariableSpec(n, v["shape"] if isinstance(v["shape"], str) else tuple(v["shape"]), v.get("dtype", "float32"),
                     v.get("initializer", "glorot_uniform"), v.get("trainable", True))
        for n, v in (raw.get("variables") or {}).items())
    assets = tuple(_asset(n, a) for n, a in (raw.get("assets") or {}).items())
    default_call = "inputs" if raw["extends"] == "Layer" else "base(inputs)"
    return LayerTypeSpec(name, raw["extends"], _params(raw.get("params")), _params(raw.get("build_args")),
                         variables, assets, raw.get("call", default_call))


def _asset(name: str, raw: dict[str, Any]) -> AssetSpec:
    source = next((s for s in ("value", "param", "file") if s in raw), "value")  # checks report a missing one
    transform = tuple((raw.get("transform") or {}).items())
    return AssetSpec(name, raw["kind"], source, raw.get("value"), raw.get("param"), raw.get("file"),
                     raw.get("dtype"), transform)


def _sequential_nodes(items: list[dict[str, Any]], input_name: str) -> tuple[NodeSpec, ...]:
    """Name unnamed layers as Keras does (dense, dense_1, ...), never reusing a given name."""
    given = {args["name"] for item in items for args in item.values() if isinstance(args, dict) and "name" in args}
    taken, counters = {input_name, *given}, {}
    nodes, previous = [], input_name
    for i, item in enumerate(items):
        (layer, args), = item.items()
        args = dict(args or {})
        name = args.get("name")
        if not name:
            base = snake_case(layer)
            while True:
                n = counters.get(base, 0)
                counters[base] = n + 1
                name = base if n == 0 else f"{base}_{n}"
                if name not in taken:
                    break
            taken.add(name)
        nodes.append(NodeSpec(name, layer, args, (previous,), False, None, ("model", i, layer), ("model", i, layer)))
        previous = name
    return tuple(nodes)


def _graph_node(name: str, raw: dict[str, Any]) -> NodeSpec:
    inputs = raw["inputs"]
    as_list = isinstance(inputs, list)
    refs = tuple(inputs) if as_list else (inputs,)
    layers = node_layers(raw)
    layer = layers[0] if layers else None  # the checks report a second one
    path = ("model", "nodes", name)
    return NodeSpec(name, layer, dict(raw[layer] or {}) if layer else {}, refs, as_list, raw.get("shares"), path,
                    (*path, layer) if layer else path)


def _outputs(raw: str | list[str] | dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(raw, str):
        return (raw,), (raw,)
    if isinstance(raw, list):
        return tuple(raw), tuple(raw)
    return tuple(raw.values()), tuple(raw)
