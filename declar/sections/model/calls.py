"""How a graph node calls its layer: references to tensors, and the arguments under ``call:``.

A node's ``inputs`` give the call's first argument; ``call:`` gives the others by name, checked
against the layer's call signature from the catalog (``layer_calls``, generated from Keras), and
every reference (``x``, ``lstm[1]``) must name an input or a node and, with an index, one that may
return several tensors. An ``op:`` node has no layer; its expression is checked here too.

Example:
    >>> call_parameters("MultiHeadAttention", custom=False)[:3]
    ('query', 'value', 'key')
    >>> may_return_several("Dense", {}, {}), may_return_several("LSTM", {"return_state": True}, {})
    (False, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from typing import Any

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.spec.catalog import catalog
from declar.spec.checks.locate import checked_expression
from declar.spec.model import GraphSpec, NodeSpec
from declar.spec.refs import call_refs, node_dependencies, op_check, op_context, parse_ref
from declar.spec.source import Document

# Node keys an `op:` node cannot have: it applies no layer, and reads its tensors by name.
_NOT_WITH_OP = ("inputs", "call", "shares", "repeat")


def call_parameters(layer: str, custom: bool) -> tuple[str, ...]:
    """The named call parameters of a built-in layer, or of a custom type (declar's generic layer)."""
    return catalog().custom_layer_call if custom else catalog().layer_calls.get(layer, ("inputs",))


def may_return_several(root: str, args: Mapping[str, Any], call: Mapping[str, Any]) -> bool:
    """Whether a node of built-in ``root`` may return more than one tensor (so ``node[i]`` can mean
    something): an RNN with ``return_state``, attention with ``return_attention_scores``, a wrapper
    (its inner layer decides), or a layer the catalog does not know."""
    known = catalog().layers
    if root not in known or "layer" in known[root]:
        return True
    if "return_state" in known[root]:
        return args.get("return_state") is True
    if "return_attention_scores" in catalog().layer_calls.get(root, ()):
        return call.get("return_attention_scores") is True
    return False


def call_problems(doc: Document, node: NodeSpec, layer: str, root: str, custom: bool) -> Iterator[Problem]:
    """The node's ``call:`` keys and its ``inputs`` against the call signature of ``layer``."""
    params = call_parameters(root, custom)
    first = params[0] if params else "inputs"
    open_call = not custom and root in catalog().layer_calls_with_kwargs
    call_path = (*node.path, "call")
    for key in node.call:
        if key not in params and not open_call:
            hint = did_you_mean(key, params) or (f"'{layer}' is called with {', '.join(params)}" if params else "")
            yield doc.problem((*call_path, key), f"'{layer}' has no call argument '{key}'", hint, "unknown-call-arg",
                              at_key=True)
        elif key == first and node.inputs:
            yield doc.problem((*call_path, key), f"'{key}' is given twice: by inputs and under call",
                              "remove one of them", "duplicate-call-arg", at_key=True)
    if node.inputs_as_list and first != "inputs" and not custom:
        yield doc.problem((*node.path, "inputs"), f"'{layer}' takes separate tensors ({', '.join(params[:3])}...), "
                          "not one list", f"give the first one as inputs and the others under call: (e.g. "
                          f"`call: {{{params[1] if len(params) > 1 else first}: ...}}`)", "list-inputs")
    if not custom:
        for missing in catalog().layer_calls_required.get(root, ())[1:]:
            if missing not in node.call:
                yield doc.problem(node.path, f"'{layer}' needs call argument '{missing}'",
                                  f"add `call: {{{missing}: <a tensor>}}`", "missing-call-arg", at_key=True)


def ref_problems(doc: Document, graph: GraphSpec, path: JsonPath, ref: str, user: str | None,
                 several: Mapping[str, bool]) -> Iterator[Problem]:
    """A reference ``ref`` written at ``path`` (by node ``user``, or an output for None): it names an
    input or a node, not its user itself, and an index only on a node that may return several."""
    parsed = parse_ref(ref)
    name = parsed.name
    if name not in graph.inputs and name not in several:
        yield doc.problem(path, f"'{name}' is neither an input nor a node",
                          did_you_mean(name, [*graph.inputs, *several]), "unknown-ref")
    elif name == user and name not in graph.inputs:
        yield doc.problem(path, f"node '{name}' takes itself as input", "", "cycle")
    elif parsed.index is not None and (name in graph.inputs or not several[name]):
        what = "input" if name in graph.inputs else "node"
        yield doc.problem(path, f"{what} '{name}' is one tensor: [{parsed.index}] picks nothing",
                          f"write '{name}' without the index", "bad-output-index")


def node_ref_problems(doc: Document, graph: GraphSpec, node: NodeSpec, several: Mapping[str, bool]
                      ) -> Iterator[Problem]:
    """Every reference of a layer node: its inputs and the tensor values of its call."""
    for i, ref in enumerate(node.inputs):
        ref_path = (*node.path, "inputs", i) if node.inputs_as_list else (*node.path, "inputs")
        yield from ref_problems(doc, graph, ref_path, ref, node.name, several)
    for where, ref in call_refs(node.call):
        yield from ref_problems(doc, graph, (*node.path, "call", *where), ref, node.name, several)


def op_problems(doc: Document, graph: GraphSpec, node: NodeSpec, written: Mapping[str, Any], limits: Limits,
                names: set[str]) -> Iterator[Problem]:
    """An ``op:`` node: no layer and none of inputs/call/shares/repeat; its expression checked over
    ``names`` (the graph's inputs and nodes), located at the character."""
    for key in (*_NOT_WITH_OP, *(k for k in written if node.layer and k == node.layer)):
        if key in written:
            yield doc.problem((*node.path, key), f"node '{node.name}' has op: and {key}",
                              "an op node computes its expression over the names it uses: "
                              "it has no layer, inputs, call, shares or repeat", "op-node", at_key=True)
    if isinstance(node.op, str):
        yield from checked_expression(doc, (*node.path, "op"), node.op, op_context(names, node.name), limits,
                                      costs=True)[1]


def constant_ops(graph: GraphSpec, deps: Mapping[str, list[str]], input_names: Set[str]) -> set[str]:
    """The nodes that depend on no input of the graph (``arange(0, 12)``, a position `Embedding` of
    it): constants without a batch axis. A layer may take them (the build keeps them in the graph,
    see `declar.keras.constant`), but a model output cannot be one. ``deps`` maps each node to the
    nodes it reads. Linear in the graph's size.

    Example:
        >>> from declar.spec.model import Spec
        >>> graph = Spec.from_data({"declar": 2, "name": "m", "inputs": {"x": {"shape": [2]}}, "model": {
        ...     "nodes": {"p": {"op": "arange(0, 2)"}, "e": {"Embedding": {"input_dim": 2, "output_dim": 3},
        ...     "inputs": "p"}, "s": {"op": "x + p"}}, "outputs": "s"}}).graph
        >>> sorted(constant_ops(graph, {"p": [], "e": ["p"], "s": ["p"]}, {"x"}))
        ['e', 'p']
    """
    readers: dict[str, list[str]] = {}
    for name, used in deps.items():
        for dep in used:
            readers.setdefault(dep, []).append(name)
    names = {*input_names, *deps}
    # An op that reads no input and no constant-free node is a constant (R's rule: tensors flow
    # from the inputs and the layers); then a layer or op all of whose reads are constants is one
    # too. A node with an unknown or missing reference is never one (its own problem is reported).
    by_name = {n.name: n for n in graph.nodes}
    tensors = {n.name for n in graph.nodes if n.op is None or op_reads_input(n, input_names, names)}
    frontier = list(tensors)
    while frontier:
        for reader in readers.get(frontier.pop(), ()):
            if reader not in tensors and by_name[reader].op is not None:
                tensors.add(reader)
                frontier.append(reader)
    constants = {n.name for n in graph.nodes if n.name not in tensors}
    frontier = list(constants)
    while frontier:
        for reader in readers.get(frontier.pop(), ()):
            node = by_name[reader]
            if reader not in constants and deps[reader] and all(d in constants for d in deps[reader]) \
                    and not node_dependencies(node, input_names) and not node.shares:
                constants.add(reader)
                frontier.append(reader)
    return constants


def op_reads_input(node: NodeSpec, input_names: Set[str], names: Set[str]) -> bool:
    """Whether the ``op:`` of ``node`` (over ``names``) names one of the graph's inputs (a refused
    expression counts as one: its own problem is reported already)."""
    checked = op_check(node.op or "", names, node.name)
    return checked.tree is None or bool(checked.names & input_names)


def constant_problem(doc: Document, path: JsonPath, name: str, user: str) -> Problem:
    """The problem of ``user`` (an output) being the constant node ``name`` (one that reads no input)."""
    message = (f"'{name}' depends on no input of the graph: a constant without a batch axis, so {user} "
               "cannot be it")
    return doc.problem(path, message, f"combine '{name}' with an input or a node (in an op, or a layer that reads one)",
                       "constant-op")
