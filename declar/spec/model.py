"""The Spec: what a model IS, as frozen plain data, with no Keras in sight.

A `Spec` is made from schema-valid data by `Spec.from_data`; it is what `build` reads, what an
archive embeds (`Spec.to_data()`, the one serializer) and what `declar inspect` prints. Every
section is typed (header, inputs, layers, model, compile, functions, distribution) and the Spec is
immutable: two Specs are equal, and hash equal, exactly when their `sha256` is. Sequential specs
are normalized into the same node list as graphs, so the builder has one way through. Where the
spec came from (its text, file and parsed document) is kept beside it, in a `LoadedSpec`.

Example:
    >>> spec = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
    ...                        "model": [{"Dense": {"units": 2}}]})
    >>> [(n.name, n.layer, n.inputs) for n in spec.nodes]
    [('dense', 'Dense', ('x',))]
    >>> spec == Spec.from_data({"model": [{"Dense": {"units": 2}}], "declar": 2, "name": "m",
    ...                         "inputs": {"x": {"shape": [3]}}})
    True
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NoReturn

from declar.errors import JsonPath
from declar.spec.facts import snake_case

# Where the layer's own arguments stop and declar's start: these keys of a use-site argument
# mapping are never forwarded to the extended Keras layer.
BUILD_KEY = "build"

# The keys of a graph node that are not its layer: the one other key names the layer (`Dense: {...}`).
NODE_KEYS = frozenset({"inputs", "shares", "description", "call", "op", "repeat"})


def node_layers(raw: dict[str, Any]) -> list[str]:
    """The keys of a graph node's data that name a layer (one in a valid spec; CamelCase, as the schema says)."""
    return [key for key in raw if key not in NODE_KEYS and key[:1].isupper()]


class JsonMap(Mapping[str, Any]):
    """A read-only mapping of JSON values, equal and hashed by its canonical JSON.

    Example:
        >>> JsonMap({"a": 1, "b": [2]}) == JsonMap({"b": [2], "a": 1}), len({JsonMap({"a": 1}), JsonMap({"a": 1})})
        (True, 1)
    """

    __slots__ = ("_canonical", "_items")

    def __init__(self, items: Mapping[str, Any] | None = None):
        self._items = dict(items or {})
        self._canonical: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def canonical(self) -> str:
        if self._canonical is None:
            self._canonical = canonical_json(self._items)
        return self._canonical

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonMap):
            return self.canonical == other.canonical
        return isinstance(other, Mapping) and self._items == dict(other)

    def __hash__(self) -> int:
        return hash(self.canonical)

    def __repr__(self) -> str:
        return f"JsonMap({self._items!r})"

    def to_data(self) -> dict[str, Any]:
        """A fresh JSON copy (nothing shared with this mapping)."""
        return _json_copy(self._items)


# -- header ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderSpec:
    """The top-level settings: format version, name, description, seed and dtype policy."""

    format_version: int
    name: str
    description: str = ""
    seed: int = 0
    dtype_policy: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> HeaderSpec:
        seed = data.get("seed", 0)
        version = data.get("declar", 1)
        return cls(version if isinstance(version, int) else 1, data["name"], data.get("description", ""),
                   seed if isinstance(seed, int) else 0, data.get("dtype_policy"))


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


def inputs_from_data(data: Mapping[str, Any]) -> tuple[InputSpec, ...]:
    return tuple(InputSpec(n, tuple(i["shape"]), i.get("dtype", "float32")) for n, i in data["inputs"].items())


# -- layers (custom layer types) -------------------------------------------------------------


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
class LossSpec:
    """An auxiliary loss of a custom type or a block: ``weight * value`` is added with Keras's
    ``add_loss`` during the call, and reported in ``fit`` as a metric named ``name``."""

    name: str
    value: str
    weight: float = 1.0


UPDATE_FORMS = ("assign", "assign_add", "assign_sub")
"""How a custom type's call may change a declared non-trainable variable: the Keras Variable methods."""


@dataclass(frozen=True)
class UpdateSpec:
    """An update of a custom type's non-trainable ``variable`` after the call: ``variable.<form>(value)``
    (a form of `UPDATE_FORMS`), in every call or only in training (``training_only``)."""

    variable: str
    form: str
    value: str
    training_only: bool = False


def losses_from_data(raw: Any) -> tuple[LossSpec, ...]:
    """The typed losses of a ``losses:`` mapping (a value is an expression, or ``{value, weight}``).

    Example:
        >>> losses_from_data({"kl": {"value": "mean(z)", "weight": 0.5}, "l1": "sum(abs(z))"})
        (LossSpec(name='kl', value='mean(z)', weight=0.5), LossSpec(name='l1', value='sum(abs(z))', weight=1.0))
    """
    if not isinstance(raw, Mapping):
        return ()
    return tuple(LossSpec(str(n), v, 1.0) if isinstance(v, str) else
                 LossSpec(str(n), v.get("value", ""), _number(v.get("weight", 1.0)))
                 for n, v in raw.items() if isinstance(v, (str, Mapping)))


def _number(value: Any) -> float:
    # a weight the schema refused (a string...) is typed as 1.0: the schema's message is the one shown
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1.0


def updates_from_data(raw: Any) -> tuple[UpdateSpec, ...]:
    """The typed updates of an ``updates:`` mapping (variable -> ``{assign_add: expr}``...); the first
    form given is the update (the checks refuse a value with none or several).

    Example:
        >>> updates_from_data({"count": {"assign_add": "1.0", "training_only": True}})
        (UpdateSpec(variable='count', form='assign_add', value='1.0', training_only=True),)
    """
    if not isinstance(raw, Mapping):
        return ()
    found = []
    for name, value in raw.items():
        forms = [f for f in UPDATE_FORMS if isinstance(value, Mapping) and f in value]
        if forms:
            found.append(UpdateSpec(str(name), forms[0], value[forms[0]], bool(value.get("training_only", False))))
    return tuple(found)


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
    call: str | Mapping[str, Any] = "base(inputs)"
    """An expression, or a program ``{let: {...}, return: ...}`` (see `declar.expr.program`)."""
    definition: JsonMap = field(default_factory=JsonMap)
    """The definition as the spec writes it: what a DeclarLayer's config carries."""
    mask: str | None = None
    """The output mask (an expression over ``inputs``, ``mask`` and the params); None: as the base."""
    losses: tuple[LossSpec, ...] = ()
    """Auxiliary losses added during the call (expressions over what the call reads and ``outputs``)."""
    updates: tuple[UpdateSpec, ...] = ()
    """Updates of non-trainable variables after the call."""


def layer_types_from_data(data: Mapping[str, Any]) -> Mapping[str, LayerTypeSpec]:
    return MappingProxyType({n: layer_type_from_data(n, t) for n, t in (data.get("layers") or {}).items()})


# -- model (nodes and outputs) ---------------------------------------------------------------


@dataclass(frozen=True)
class NodeSpec:
    """One layer application: a new layer (``layer``) or a reuse of another node's (``shares``).

    ``path`` locates the node in the spec and ``args_path`` its layer arguments (the two coincide
    in a sequential list, where the arguments are the node's value).
    """

    name: str
    layer: str | None
    args: JsonMap = field(default_factory=JsonMap)
    inputs: tuple[str, ...] = ()
    inputs_as_list: bool = False
    shares: str | None = None
    path: JsonPath = ()
    args_path: JsonPath = ()
    """Where the layer's arguments are written: the value of its ``LayerName:`` key (graph or list)."""
    description: str | None = None
    call: JsonMap = field(default_factory=JsonMap)
    """Further call arguments by name (``call: {value: x, use_causal_mask: true}``)."""
    op: str | None = None
    """A tensor operation instead of a layer: an expression over the graph's names."""
    repeat: int | str | None = None
    """How many chained copies of the layer (or block) the node applies, each with its own weights."""


OutputForm = Literal["single", "list", "mapping"]


@dataclass(frozen=True)
class GraphSpec:
    """A graph of nodes with named inputs and outputs: the model's own, or a block's.

    ``path`` is where the graph is written (``("model",)``, or ``("blocks", name)`` for a block);
    its nodes' paths start there.
    """

    inputs: tuple[str, ...]
    nodes: tuple[NodeSpec, ...]
    outputs: OutputsSpec
    sequential: bool = False
    path: JsonPath = ("model",)

    @property
    def nodes_path(self) -> JsonPath:
        """Where the nodes are written: a list (Sequential) is the path itself."""
        return self.path if self.sequential else (*self.path, "nodes")

    @property
    def outputs_path(self) -> JsonPath:
        return (*self.path, "outputs")

    def node(self, name: str) -> NodeSpec:
        return self.nodes_by_name[name]

    @functools.cached_property
    def nodes_by_name(self) -> Mapping[str, NodeSpec]:
        """The nodes by name (a graph's checks look nodes up per node: a scan each was quadratic)."""
        return MappingProxyType({n.name: n for n in self.nodes})


@dataclass(frozen=True)
class OutputsSpec:
    """The model's outputs: the nodes they come from, their names, and how the spec lists them
    (one node, a list, or a mapping from output name to node), which is how Keras returns them."""

    refs: tuple[str, ...]
    names: tuple[str, ...]
    form: OutputForm = "single"

    @classmethod
    def from_data(cls, raw: str | list[str] | dict[str, str]) -> OutputsSpec:
        if isinstance(raw, str):
            return cls((raw,), (raw,), "single")
        if isinstance(raw, list):
            return cls(tuple(raw), tuple(raw), "list")
        return cls(tuple(raw.values()), tuple(raw), "mapping")

    def to_data(self) -> str | list[str] | dict[str, str]:
        if self.form == "single":
            return self.refs[0]
        if self.form == "list":
            return list(self.refs)
        return dict(zip(self.names, self.refs, strict=True))


# -- blocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSpec:
    """A block: a graph with parameters, used as a node (a nested Keras model at build).

    ``graph`` is written at ``("blocks", name)``; ``definition`` is the block as the spec writes it.
    """

    name: str
    graph: GraphSpec
    params: tuple[ParamSpec, ...] = ()
    description: str = ""
    definition: JsonMap = field(default_factory=JsonMap)
    losses: tuple[LossSpec, ...] = ()
    """Auxiliary losses over the block's inputs and node names, added where the block is used."""

    @property
    def path(self) -> JsonPath:
        return self.graph.path


DEFAULT_BLOCK_INPUTS = ("inputs",)


def block_from_data(name: str, raw: Mapping[str, Any]) -> BlockSpec:
    """The typed block ``name`` from its (schema-valid) data.

    Example:
        >>> block = block_from_data("Head", {"params": {"units": {"type": "integer"}},
        ...                                  "nodes": {"out": {"Dense": {"units": "units"}, "inputs": "inputs"}},
        ...                                  "outputs": "out"})
        >>> block.graph.inputs, block.graph.nodes[0].path, [p.name for p in block.params]
        (('inputs',), ('blocks', 'Head', 'nodes', 'out'), ['units'])
    """
    path = ("blocks", name)
    graph = GraphSpec(tuple(raw.get("inputs") or DEFAULT_BLOCK_INPUTS), graph_nodes_from_data(raw["nodes"],
                      (*path, "nodes")), OutputsSpec.from_data(raw["outputs"]), False, path)
    return BlockSpec(name, graph, _params(raw.get("params")), raw.get("description", ""), JsonMap(raw),
                     losses_from_data(raw.get("losses")))


def blocks_from_data(data: Mapping[str, Any]) -> Mapping[str, BlockSpec]:
    return MappingProxyType({n: block_from_data(n, b) for n, b in (data.get("blocks") or {}).items()})


# -- functions -------------------------------------------------------------------------------


FUNCTION_PARAM_TYPES = ("integer", "number", "boolean")
"""What a spec function's param may be (the schema's ``functionParam``); another type is the
schema's to report, and no other check reads it."""


@dataclass(frozen=True)
class FunctionSpec:
    """A loss or metric in the expression language; ``params`` are named values the expression
    reads besides its args, given where it is used (``loss: {name: focal, gamma: 3.0}``)."""

    name: str
    args: tuple[str, ...]
    expr: str
    description: str = ""
    params: tuple[ParamSpec, ...] = ()

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"args": list(self.args), "expr": self.expr}
        if self.params:
            data["params"] = {p.name: {"type": p.type, **({} if p.required else {"default": p.default})}
                              for p in self.params}
        if self.description:
            data["description"] = self.description
        return data

    def param_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every param's value: the one ``given`` where the spec gives it, else its default."""
        return {p.name: given.get(p.name, p.default) for p in self.params}


def functions_from_data(data: Mapping[str, Any]) -> Mapping[str, FunctionSpec]:
    return MappingProxyType({n: FunctionSpec(n, tuple(f["args"]), f["expr"], f.get("description", ""),
                                             _params(f.get("params")))
                             for n, f in (data.get("functions") or {}).items()})


# -- compile ---------------------------------------------------------------------------------


def _named(raw: Any) -> tuple[str, JsonMap]:
    """``"adam"`` or ``{name: adam, ...arguments}`` as (name, arguments)."""
    if isinstance(raw, Mapping):
        return str(raw.get("name")), JsonMap({k: v for k, v in raw.items() if k != "name"})
    return str(raw), JsonMap()


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule: a Keras schedule by its snake_case name, with its arguments."""

    name: str
    args: JsonMap = field(default_factory=JsonMap)


CLIPPING_ARGS = ("clipnorm", "clipvalue", "global_clipnorm")


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by name, its arguments (without a schedule), and its learning-rate schedule."""

    name: str
    args: JsonMap = field(default_factory=JsonMap)
    schedule: ScheduleSpec | None = None
    by_name_only: bool = True
    """Written as a bare name (``adam``) rather than a mapping."""

    @classmethod
    def from_data(cls, raw: Any) -> OptimizerSpec:
        name, args = _named(raw)
        rate = args.get("learning_rate")
        if isinstance(rate, Mapping):
            schedule = ScheduleSpec(*_named(rate))
            args = JsonMap({k: v for k, v in args.items() if k != "learning_rate"})
            return cls(name, args, schedule, False)
        return cls(name, args, None, not isinstance(raw, Mapping))

    @property
    def clipping(self) -> JsonMap:
        """The gradient clipping arguments given (clipnorm, clipvalue, global_clipnorm)."""
        return JsonMap({k: self.args[k] for k in CLIPPING_ARGS if k in self.args})


def is_compile_object(raw: Any) -> bool:
    """Whether a compile value is one loss or metric with arguments rather than a mapping by output.

    A mapping with a string ``name`` is one object (``{name: huber, delta: 2.0}``); any other
    mapping gives one value per output name (``{digit: mse, box: {name: huber}}``).

    Example:
        >>> is_compile_object({"name": "huber", "delta": 2.0}), is_compile_object({"name": {"name": "mse"}})
        (True, False)
    """
    return isinstance(raw, Mapping) and isinstance(raw.get("name"), str)


@dataclass(frozen=True)
class CompileObject:
    """A loss or metric written with arguments: a Keras class by its snake_case name, or a spec
    function with its params (``{name: sparse_categorical_crossentropy, from_logits: true}``)."""

    name: str
    args: JsonMap = field(default_factory=JsonMap)


def _compile_value(value: Any) -> Any:
    """A name, a number, a `CompileObject`, or a tuple of these (a metric list of one output)."""
    if isinstance(value, list):
        return tuple(_compile_value(v) for v in value)
    if is_compile_object(value):
        return CompileObject(*_named(value))
    return value


@dataclass(frozen=True)
class PerOutput:
    """A compile setting given once for every output, as a list, or as a mapping by output name.

    ``items`` pairs an output name (None outside a mapping) with a value: a name, a number, a
    `CompileObject`, or a tuple of names and objects (a metric list of one output).
    """

    form: Literal["single", "list", "mapping"]
    items: tuple[tuple[str | None, Any], ...]

    @classmethod
    def from_data(cls, raw: Any) -> PerOutput:
        if isinstance(raw, Mapping) and not is_compile_object(raw):
            return cls("mapping", tuple((k, _compile_value(v)) for k, v in raw.items()))
        if isinstance(raw, list):
            return cls("list", tuple((None, _compile_value(v)) for v in raw))
        return cls("single", ((None, _compile_value(raw)),))

    def map(self, make: Callable[[Any], Any]) -> Any:
        """The Keras form (one value, a list or a dict) with ``make`` applied to every value."""
        return self.map_located(lambda value, where: make(value))

    def map_located(self, make: Callable[[Any, tuple[str | int, ...]], Any]) -> Any:
        """`map`, with ``make`` also given where each value is below the setting (``("digit", 0)``).

        Example:
            >>> PerOutput.from_data({"digit": ["a", "b"], "box": "c"}).map_located(lambda v, where: where)
            {'digit': [('digit', 0), ('digit', 1)], 'box': ('box',)}
        """

        def each(value: Any, where: tuple[str | int, ...]) -> Any:
            return [make(v, (*where, i)) for i, v in enumerate(value)] if isinstance(value, tuple) \
                else make(value, where)

        if self.form == "mapping":
            return {k: each(v, (str(k),)) for k, v in self.items}
        if self.form == "list":
            return [make(v, (i,)) for i, (_, v) in enumerate(self.items)]
        return make(self.items[0][1], ())

    def names(self) -> Iterator[Any]:
        """The name of every value, flattened (the names of every loss or metric given)."""
        for _, value in self.items:
            for v in value if isinstance(value, tuple) else (value,):
                yield v.name if isinstance(v, CompileObject) else v


@dataclass(frozen=True)
class CompileSpec:
    """The compile section; a setting left out is None, so Keras's own default applies."""

    optimizer: OptimizerSpec
    loss: PerOutput
    loss_weights: PerOutput | None = None
    metrics: PerOutput | None = None
    weighted_metrics: PerOutput | None = None
    run_eagerly: bool | None = None
    jit_compile: bool | str | None = None
    steps_per_execution: int | None = None

    @classmethod
    def from_data(cls, raw: Any) -> CompileSpec | None:
        if not isinstance(raw, Mapping) or "optimizer" not in raw or "loss" not in raw:
            return None  # no compile section (a broken one is reported by the schema and the checks)

        def per_output(key: str) -> PerOutput | None:
            return PerOutput.from_data(raw[key]) if key in raw else None

        return cls(OptimizerSpec.from_data(raw["optimizer"]), PerOutput.from_data(raw["loss"]),
                   per_output("loss_weights"), per_output("metrics"), per_output("weighted_metrics"),
                   raw.get("run_eagerly"), raw.get("jit_compile"), raw.get("steps_per_execution"))


# -- distribution ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeshSpec:
    shape: tuple[int, ...]
    axis_names: tuple[str, ...]


@dataclass(frozen=True)
class DistributionSpec:
    """How to train on several devices (see `declar.sections.distribution.build`)."""

    strategy: str
    devices: int | None = None
    mesh: MeshSpec | None = None
    layout_map: tuple[tuple[str, tuple[str | None, ...]], ...] = ()
    """Variable path pattern -> one mesh axis (or None) per dimension, in the spec's order."""
    batch_dim_name: str | None = None

    @classmethod
    def from_data(cls, raw: Any) -> DistributionSpec | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("strategy"), str):
            return None
        mesh = raw.get("mesh")
        mesh_spec = (MeshSpec(tuple(mesh.get("shape") or ()), tuple(mesh.get("axis_names") or ()))
                     if isinstance(mesh, Mapping) else None)
        layout = raw.get("layout_map")
        layout_map = tuple((k, tuple(v) if isinstance(v, list) else ()) for k, v in layout.items()) \
            if isinstance(layout, Mapping) else ()
        return cls(raw["strategy"], raw.get("devices"), mesh_spec, layout_map, raw.get("batch_dim_name"))


# -- training --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackSpec:
    """One Keras callback of the training section's allow-list, with its arguments."""

    name: str
    args: JsonMap

    @classmethod
    def from_data(cls, raw: str | Mapping[str, Any]) -> CallbackSpec:
        """``TerminateOnNaN`` or ``{EarlyStopping: {patience: 3}}`` (the form of a layer in a list)."""
        if isinstance(raw, str):
            return cls(raw, JsonMap())
        (name, args), = raw.items()
        return cls(str(name), JsonMap(args if isinstance(args, Mapping) else {}))


@dataclass(frozen=True)
class TrainingSpec:
    """How `declar fit` trains: a setting left out is None (the command line or Keras decides).

    See `declar.sections.training` for the settings and their checks.
    """

    epochs: int | None = None
    batch_size: int | None = None
    validation_split: float | None = None
    validation_data: str | None = None
    shuffle: bool | None = None
    shuffle_seed: int | None = None
    class_weight: JsonMap | None = None
    """Class index (as written, a string key) -> weight."""
    callbacks: tuple[CallbackSpec, ...] = ()
    data: str | None = None

    def order_seed(self, spec_seed: int) -> int:
        """The seed of the shuffling order: ``shuffle_seed``, else the spec's seed.

        Example:
            >>> TrainingSpec(shuffle_seed=7).order_seed(1), TrainingSpec().order_seed(1)
            (7, 1)
        """
        return self.shuffle_seed if self.shuffle_seed is not None else spec_seed

    @classmethod
    def from_data(cls, raw: Any) -> TrainingSpec | None:
        if not isinstance(raw, Mapping):
            return None
        listed = raw.get("callbacks")
        callbacks = tuple(CallbackSpec.from_data(item) for item in (listed if isinstance(listed, list) else ())
                          if isinstance(item, str) or (isinstance(item, Mapping) and len(item) == 1))
        weights = raw.get("class_weight")
        if isinstance(weights, list):  # class i gets item i
            weights = dict(enumerate(weights))
        class_weight = JsonMap({str(k): v for k, v in weights.items()}) if isinstance(weights, Mapping) else None
        return cls(raw.get("epochs"), raw.get("batch_size"), raw.get("validation_split"),
                   raw.get("validation_data"), raw.get("shuffle"), raw.get("shuffle_seed"), class_weight, callbacks,
                   raw.get("data"))


# -- the spec --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Spec:
    """A validated model description, one typed field per section; compared by what it says.

    Example:
        >>> a = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
        ...                     "model": [{"Dense": {"units": 2}}]})
        >>> b = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [3]}},
        ...                     "model": [{"Dense": {"units": 3}}]})
        >>> a == b, a.nodes[0] == b.nodes[0]
        (False, False)
    """

    header: HeaderSpec
    inputs: tuple[InputSpec, ...]
    layer_types: Mapping[str, LayerTypeSpec]
    nodes: tuple[NodeSpec, ...]
    outputs: OutputsSpec
    sequential: bool
    functions: Mapping[str, FunctionSpec]
    compile: CompileSpec | None
    distribution: DistributionSpec | None
    training: TrainingSpec | None
    _data: Mapping[str, Any] = field(repr=False)
    blocks: Mapping[str, BlockSpec] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Spec:
        """Build the Spec from schema-valid data (the semantic checks come after).

        The data is copied first, into mappings and lists that refuse every change, and every typed
        part refers to the copy: changing ``data`` afterwards changes nothing of the Spec, and
        nothing read from the Spec can change it.
        """
        data = _frozen_copy(data)
        inputs = inputs_from_data(data)
        nodes, outputs, sequential = model_from_data(data["model"], inputs[0].name)
        return cls(header=HeaderSpec.from_data(data), inputs=inputs, layer_types=layer_types_from_data(data),
                   nodes=nodes, outputs=outputs, sequential=sequential, functions=functions_from_data(data),
                   compile=CompileSpec.from_data(data.get("compile")),
                   distribution=DistributionSpec.from_data(data.get("distribution")),
                   training=TrainingSpec.from_data(data.get("training")),
                   _data=MappingProxyType(data), blocks=blocks_from_data(data))

    # The header's settings, read often enough to deserve a short name.
    @property
    def name(self) -> str:
        return self.header.name

    @property
    def seed(self) -> int:
        return self.header.seed

    @property
    def description(self) -> str:
        return self.header.description

    @property
    def dtype_policy(self) -> str | None:
        return self.header.dtype_policy

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.outputs.names

    @functools.cached_property
    def sha256(self) -> str:
        """Hash of the normalized spec: equal exactly for specs that say the same thing."""
        return spec_sha256(dict(self._data))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and (self is other or self.sha256 == other.sha256)

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy: the same Spec, typed again from its data
        return Spec.from_data, (self.to_data(),)

    def to_data(self) -> dict[str, Any]:
        """The spec's normalized JSON data: what an archive embeds and `sha256` hashes (a fresh copy)."""
        return _json_copy(self._data)

    def section_data(self, key: str, default: Any = None) -> Any:
        """The JSON of the top-level key ``key`` as the spec says it (``default`` when absent).

        For the sections' own modules (their diff rules compare what is written); it is not a
        copy, but it cannot be changed; everything else reads the typed fields.
        """
        return self._data.get(key, default)

    @property
    def written_keys(self) -> tuple[str, ...]:
        """The top-level keys the spec writes, in its order."""
        return tuple(self._data)

    def layer_type_definitions(self, layer_type: str) -> dict[str, Any]:
        """The definitions a layer of ``layer_type`` needs, its own and those it extends, as JSON."""
        types, current = {}, layer_type
        while current in self.layer_types and current not in types:
            types[current] = self.layer_types[current].definition.to_data()
            current = self.layer_types[current].extends
        return types

    def node(self, name: str) -> NodeSpec:
        return self.graph.node(name)

    @functools.cached_property
    def graph(self) -> GraphSpec:
        """The model's graph (a Sequential list is a chain of nodes from the one input)."""
        return GraphSpec(tuple(i.name for i in self.inputs), self.nodes, self.outputs, self.sequential, ("model",))


class FrozenDict(dict):  # type: ignore[type-arg]
    """A JSON object of a Spec: a dict (what Keras and JSON expect) that refuses every change.

    A Spec's parts are read by Keras and by the checks as plain JSON; were they mutable, a change
    made through one of them would change the Spec under its cached sha256, so `==` would lie.

    Example:
        >>> FrozenDict({"units": 8})["units"] = 9
        Traceback (most recent call last):
        TypeError: a Spec is immutable: make a new one with Spec.from_data (its to_data() is a mutable copy)
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a Spec is immutable: make a new one with Spec.from_data (its to_data() is a mutable copy)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it whole, never item by item
        return FrozenDict, (dict(self),)


class FrozenList(list):  # type: ignore[type-arg]
    """A JSON array of a Spec: a list that refuses every change (see `FrozenDict`)."""

    __slots__ = ()
    _refuse = FrozenDict._refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = clear = extend = insert = pop = remove = \
        reverse = sort = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return FrozenList, (list(self),)


def _frozen_copy(value: Any) -> Any:
    """A copy of JSON-like data in which no mapping or list can change (`FrozenDict`, `FrozenList`)."""
    if isinstance(value, Mapping):
        return FrozenDict({k: _frozen_copy(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList([_frozen_copy(v) for v in value])
    return value


def _json_copy(value: Any) -> Any:
    """A copy of JSON-like data (mappings and lists copied, scalars shared): faster than deepcopy."""
    if isinstance(value, Mapping):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


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
                         variables, assets, raw.get("call", default_call), JsonMap(raw), raw.get("mask"),
                         losses_from_data(raw.get("losses")), updates_from_data(raw.get("updates")))


def _asset(name: str, raw: dict[str, Any]) -> AssetSpec:
    source = next((s for s in ("value", "param", "file") if s in raw), "value")  # checks report a missing one
    transform = tuple((raw.get("transform") or {}).items())
    return AssetSpec(name, raw["kind"], source, raw.get("value"), raw.get("param"), raw.get("file"),
                     raw.get("dtype"), transform)


def _sequential_nodes(items: list[dict[str, Any]], input_name: str) -> tuple[NodeSpec, ...]:
    """Name unnamed layers as Keras does (dense, dense_1, ...), never reusing a given name."""
    given = {args["name"] for item in items for args in item.values() if isinstance(args, Mapping) and "name" in args}
    taken, counters = {input_name, *given}, {}
    nodes, previous = [], input_name
    for i, item in enumerate(items):
        layers = [k for k in item if k != "repeat"]  # one layer (the checks report none or two), perhaps repeated
        layer = layers[0] if layers else "Layer"
        args = dict(item.get(layer) or {})
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
        path = ("model", i, layer)
        nodes.append(NodeSpec(name, layer, JsonMap(args), (previous,), False, None, path, path,
                              repeat=item.get("repeat")))
        previous = name
    return tuple(nodes)


def model_from_data(model: Any, input_name: str) -> tuple[tuple[NodeSpec, ...], OutputsSpec, bool]:
    """(nodes, outputs, sequential) of the model section: a list of layers or a graph."""
    if isinstance(model, list):
        nodes = _sequential_nodes(model, input_name)
        return nodes, OutputsSpec((nodes[-1].name,), (nodes[-1].name,), "single"), True
    nodes = graph_nodes_from_data(model["nodes"], ("model", "nodes"))
    return nodes, OutputsSpec.from_data(model["outputs"]), False


def graph_nodes_from_data(raw: Mapping[str, Any], path: JsonPath) -> tuple[NodeSpec, ...]:
    """The typed nodes of a graph written at ``path`` (``model.nodes``, or a block's ``nodes``)."""
    return tuple(_graph_node(n, d, (*path, n)) for n, d in raw.items())


def _graph_node(name: str, raw: Mapping[str, Any], path: JsonPath) -> NodeSpec:
    inputs = raw.get("inputs", ())
    as_list = isinstance(inputs, list)
    refs = tuple(inputs) if as_list else (inputs,) if isinstance(inputs, str) else ()
    layers = node_layers(dict(raw))
    layer = layers[0] if layers else None  # the checks report a second one
    return NodeSpec(name, layer, JsonMap(raw[layer] or {}) if layer else JsonMap(), refs, as_list, raw.get("shares"),
                    path, (*path, layer) if layer else path, raw.get("description"), JsonMap(raw.get("call") or {}),
                    raw.get("op"), raw.get("repeat"))
