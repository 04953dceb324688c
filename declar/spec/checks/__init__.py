"""Helpers the sections' semantic checks share: locating problems inside expressions, checking
plain values and Keras objects, and the safe subset of layout patterns.

The checks themselves belong to their sections (`declar.sections`), which run them in order.
"""

from __future__ import annotations

from declar.spec.checks.locate import expression_problem
from declar.spec.checks.values import check_keras_object

__all__ = ["check_keras_object", "expression_problem"]
