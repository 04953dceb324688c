"""Semantic checks: what the JSON Schema cannot say, each located in the spec.

Every check is a small generator over the (schema-valid) `Spec` and its `Document`, yielding
`Problem`s; `semantic_problems` runs them all, so a user sees every mistake in one run:
references that do not resolve (layer types, node inputs, shared nodes, functions, parameters),
cycles, unused nodes, argument names and types, expressions, shapes, assets and compile settings.
One module per part of the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from declar.limits import Limits
from declar.problems import Problem
from declar.spec.checks.compile import check_compile, check_functions
from declar.spec.checks.distribution import STRATEGIES, check_distribution, configured_backend
from declar.spec.checks.layer_types import check_layer_types
from declar.spec.checks.locate import expression_problem
from declar.spec.checks.nodes import check_nodes
from declar.spec.checks.values import DTYPE_POLICIES, check_keras_object, shape_errors
from declar.spec.checks.weights import check_weights
from declar.spec.loaded import LoadedSpec

Check = Callable[[LoadedSpec, Limits], Iterator[Problem]]

CHECKS: tuple[Check, ...] = (check_layer_types, check_nodes, check_weights, check_functions, check_compile,
                             check_distribution)


def semantic_problems(loaded: LoadedSpec, limits: Limits) -> list[Problem]:
    """Run every check; all problems are returned, none stops the others."""
    return [p for check_fn in CHECKS for p in check_fn(loaded, limits)]


__all__ = ["CHECKS", "DTYPE_POLICIES", "STRATEGIES", "Check", "check_keras_object", "configured_backend",
           "expression_problem", "semantic_problems", "shape_errors"]
