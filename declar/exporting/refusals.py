"""What a format cannot express, as problems located in the spec.

Two kinds, found at two moments:

- Before converting: a custom layer type whose ``call`` draws random numbers
  (``random_normal``, ``random_uniform``) draws at inference too, so no artifact can compute
  what Keras computes for the same inputs; every format refuses it, at the draw in the spec.
- While converting: an operation the converter has no counterpart for (tf2onnx leaves a
  TensorFlow op in the ONNX graph that no ONNX runtime knows; the LiteRT converter cannot
  lower an op to LiteRT's builtin operators). The converter names the op and its TensorFlow
  name scope, ``model_1/block_1/layer_1/Op``; the scope is walked down the spec's graph (a block
  use leads into the block's nodes) to the deepest node it names, where the problem is placed.

Example:
    >>> from declar.spec.load import load_spec
    >>> loaded = load_spec("specs/architectures/vit_classifier.yaml")
    >>> scope_problem(loaded, "vit_classifier_1/transformer_1/block_1_1/mlp_dense_1_1/Gelu/Erfc",
    ...               "no ONNX operator for Erfc").render()
    'specs/architectures/vit_classifier.yaml:53:20: error: layer mlp_dense_1 (Dense): no ONNX operator for Erfc'
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from declar.errors import Problem
from declar.expr.ops import RANDOM_OPS
from declar.expr.program import program_texts
from declar.spec.checks.locate import expression_problem
from declar.spec.loaded import LoadedSpec
from declar.spec.model import NodeSpec

RANDOM_HINT = "an exported model must compute what Keras computes for the same inputs; a draw at inference cannot"
CONVERTER_CODE = "export-unsupported"
_SCOPE = re.compile(r"[A-Za-z_][\w.\-]*(?:/[\w.\-]+)+")


def random_draw_problems(loaded: LoadedSpec, model: Any, title: str) -> list[Problem]:
    """One problem per random draw in the ``call`` of a custom layer type the model uses."""
    used = sorted({layer._layer_type for layer in model._flatten_layers()
                   if getattr(layer, "seed_generator", None) is not None and hasattr(layer, "_layer_type")})
    problems = []
    for name in used:
        definition = loaded.spec.layer_types[name]
        for where, text in program_texts(definition.call):
            path = ("layers", name, "call", *where)
            for col, function in _draws(text):
                message = (f"layer type {name} draws random numbers at inference ({function}): the exported {title} "
                           f"artifact cannot reproduce the model's predictions")
                problems.append(expression_problem(loaded.document, path, col, message, RANDOM_HINT, "export-random")
                                if loaded.source_text else loaded.problem(path, message, RANDOM_HINT, "export-random"))
    return problems


NOT_ADAPTED_HINT = ("adapt it on data first (declar adapt SPEC DATA -o OUT.keras, or declar fit) and export the "
                    "archive, or give its state in the spec")


def unadapted_problems(loaded: LoadedSpec, model: Any) -> list[Problem]:
    """One problem per lookup layer with no vocabulary: it cannot compute anything (Keras raises
    "Table not initialized" at its first call), so there is nothing to export or to compare."""
    from declar.keras.adapted_state import unadapted_lookups

    problems = [scope_problem(loaded, f"{model.name}/{name}", "has no vocabulary (it was never adapted), so it "
                              "computes nothing to export", NOT_ADAPTED_HINT) for name in unadapted_lookups(model)]
    # A TextVectorization's own inner lookup is not a node of the spec: its node is reported instead.
    located = [p for p in problems if p.path != ("model",)]
    return located or problems[:1]


def _draws(text: Any) -> Iterator[tuple[int, str]]:
    """(1-based column, name) of each call of a random draw in an expression (parsed, never run)."""
    if not isinstance(text, str):
        return
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:  # validation accepted it, so this does not happen; nothing to point at if it does
        return
    offset = len(text) - len(text.lstrip())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RANDOM_OPS:
            yield node.col_offset + offset + 1, node.func.id


def _layer_name(node: NodeSpec) -> str:
    return str(node.args.get("name") or node.name)


def scope_node(loaded: LoadedSpec, scope: str) -> NodeSpec | None:
    """The deepest node of the spec that a TensorFlow name scope passes through, or None.

    TensorFlow makes each scope unique by appending ``_1``; a component is a node's layer name
    as it is, or without that suffix.
    """
    spec = loaded.spec
    graph = {_layer_name(n): n for n in spec.nodes}
    found = None
    for part in scope.split("@")[0].split("/")[1:]:
        node = graph.get(part) or graph.get(re.sub(r"_\d+$", "", part))
        if node is None:
            continue
        found = node
        if node.layer in spec.blocks:
            graph = {_layer_name(n): n for n in spec.blocks[node.layer].graph.nodes}
    return found


def scope_problem(loaded: LoadedSpec, scope: str, message: str, hint: str = "") -> Problem:
    """``message`` at the node ``scope`` leads to (at the model when it leads nowhere)."""
    node = scope_node(loaded, scope)
    if node is None:
        return loaded.problem(("model",), message, hint, CONVERTER_CODE)
    kind = node.layer or (f"shares {node.shares}" if node.shares else "op")
    return loaded.problem(node.path, f"layer {_layer_name(node)} ({kind}): {message}", hint, CONVERTER_CODE)


def first_scope(text: str) -> str:
    """The first TensorFlow name scope (``a/b/c``) in a converter's message, or ``""``."""
    found = _SCOPE.search(text)
    return found.group(0) if found else ""


def output_node_path(loaded: LoadedSpec, output: str) -> tuple[Any, ...]:
    """Where the node of the model output named ``output`` is written (the outputs when unknown)."""
    spec = loaded.spec
    refs = dict(zip(spec.outputs.names, spec.outputs.refs, strict=True))
    target = refs.get(output, output).split(":")[0].split("[")[0]
    for node in spec.nodes:
        if node.name == target or _layer_name(node) == target:
            return node.path
    return ("model",)


__all__ = ["first_scope", "output_node_path", "random_draw_problems", "scope_node", "scope_problem"]
