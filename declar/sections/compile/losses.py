"""The compile section's losses and metrics: names, arguments, and the forms by output.

A loss or metric is a name (``mse``, a spec function), or a mapping with a string ``name`` and
arguments: those of the Keras class behind the name (``{name: sparse_categorical_crossentropy,
from_logits: true}``, checked against the catalog's signature of
``keras.losses.SparseCategoricalCrossentropy``), or a spec function's params (``{name: focal,
gamma: 3.0}``). Any other mapping gives one value per output name; so an output literally named
``name`` cannot sit beside a string ``name`` key, and is refused there with a hint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.sections.compile.arguments import check_argument
from declar.spec.catalog import KerasClass, catalog
from declar.spec.checks.values import check_value
from declar.spec.facts import DTYPE_POLICIES
from declar.spec.json_types import typed_repr
from declar.spec.model import FUNCTION_PARAM_TYPES as PARAM_TYPES
from declar.spec.model import FunctionSpec, Spec, is_compile_object
from declar.spec.source import Document

Kind = Literal["loss", "metric"]

_SETTINGS: dict[str, Kind] = {"loss": "loss", "metrics": "metric", "weighted_metrics": "metric"}
"""The compile keys holding losses or metrics, and which."""


def check_losses_and_metrics(spec: Spec, doc: Document, cfg: Mapping[str, Any], outputs: Sequence[str]
                             ) -> Iterator[Problem]:
    """Every problem of ``loss``, ``metrics`` and ``weighted_metrics`` of the compile mapping ``cfg``.

    Example:
        >>> import declar
        >>> text = ("declar: 2\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 2}}]\\ncompile:\\n"
        ...         "  optimizer: adam\\n  loss: {name: mse, redution: sum}\\n")
        >>> [p.render() for p in declar.validate(text)]
        ["<string>:7:21: error: loss 'mse' has no argument 'redution' (did you mean 'reduction'?)"]
    """
    checker = _Checker(spec, doc, outputs)
    for key, kind in _SETTINGS.items():
        if key in cfg:
            yield from checker.setting(("compile", key), cfg[key], kind)


class _Checker:
    """The checks of one compile section, sharing the spec, its document and the output names."""

    def __init__(self, spec: Spec, doc: Document, outputs: Sequence[str]):
        self.spec, self.doc, self.outputs = spec, doc, list(outputs)

    def setting(self, path: JsonPath, value: Any, kind: Kind) -> Iterator[Problem]:
        """One of loss / metrics / weighted_metrics: one value, a list, or a mapping by output."""
        doc, key = self.doc, path[-1]
        if is_compile_object(value):
            if "name" in self.outputs:
                yield doc.problem((*path, "name"), f"{key}: a mapping with a string 'name' is one {kind} "
                                  f"({value['name']!r}), but the model also has an output named 'name'",
                                  f"give the output 'name' its {kind} as a mapping (name: {{name: "
                                  f"{value['name']}}}), or give one {kind} per output as a list in output order",
                                  "ambiguous-name", at_key=True)
                return
            if kind == "metric":
                yield doc.problem(path, f"{key} is a list of metrics (or a mapping by output name), "
                                  "got one metric", f"write {key}: [{{name: {value['name']}, ...}}]", "per-output")
                return
            yield from self.item(path, value, kind)
        elif isinstance(value, dict) and "name" in value and "name" not in self.outputs:
            yield from self.item(path, value, kind)  # an object whose name is not a string
        elif isinstance(value, dict):
            for out, item in value.items():
                if out not in self.outputs:
                    yield doc.problem((*path, out), f"'{out}' is not an output of the model",
                                      did_you_mean(out, self.outputs) or f"outputs: {', '.join(self.outputs)}",
                                      "unknown-output", at_key=True)
                if kind == "metric" and isinstance(item, list):
                    for i, each in enumerate(item):
                        yield from self.item((*path, out, i), each, kind)
                else:
                    yield from self.item((*path, out), item, kind)
        elif isinstance(value, list):
            if kind == "loss" and len(value) != len(self.outputs):
                yield doc.problem(path, f"{key} lists {len(value)} entries for {len(self.outputs)} outputs",
                                  f"outputs: {', '.join(self.outputs)}", "per-output")
            for i, each in enumerate(value):
                yield from self.item((*path, i), each, kind)
        else:
            yield from self.item(path, value, kind)

    def item(self, path: JsonPath, value: Any, kind: Kind) -> Iterator[Problem]:
        """One loss or metric: a name or ``{name, ...arguments}``."""
        if isinstance(value, str):
            yield from self.by_name(path, value, kind)
        elif is_compile_object(value):
            yield from self.with_arguments(path, value["name"], {k: v for k, v in value.items() if k != "name"},
                                           kind)
        elif isinstance(value, dict) and "name" in value:
            yield self.doc.problem((*path, "name"), f"expected the name of a {kind}, got {typed_repr(value['name'])}",
                                   "", "schema-type")
        elif isinstance(value, dict):
            yield self.doc.problem(path, f"expected a {kind}: a name or {{name: ..., arguments}}, got a mapping "
                                   "without a name", "", "schema-type")
        else:
            yield self.doc.problem(path, f"expected a name, got {value!r}", "", "schema-type")

    def by_name(self, path: JsonPath, name: str, kind: Kind) -> Iterator[Problem]:
        function = self.spec.functions.get(name)
        if function is not None:
            yield from self.function_use(path, function, {})
            return
        cls = self.classes(kind).get(name)
        if name in self.names(kind):
            return
        if cls is not None:  # declar makes the class itself: without its required arguments it fails
            if cls.required:
                yield self.missing(path, kind, name, list(cls.required))
        else:
            hint = did_you_mean(name, [*self.names(kind), *self.classes(kind), *self.spec.functions]) \
                or "define it under functions:"
            yield self.doc.problem(path, f"unknown loss or metric '{name}'", hint, "unknown-function")

    def with_arguments(self, path: JsonPath, name: str, args: dict[str, Any], kind: Kind) -> Iterator[Problem]:
        function = self.spec.functions.get(name)
        if function is not None:
            yield from self.function_use(path, function, args)
            return
        cls = self.classes(kind).get(name)
        if cls is None:
            other: Kind = "metric" if kind == "loss" else "loss"
            hint = did_you_mean(name, [*self.classes(kind), *self.spec.functions]) or (
                f"'{name}' is a Keras {other}, not a {kind}" if name in self.classes(other)
                else "define it under functions:")
            yield self.doc.problem((*path, "name"), f"unknown {kind} '{name}'", hint, "unknown-function")
            return
        yield from self.arguments(path, kind, name, args, cls.args, lambda key, value: self.keras_argument(
            (*path, key), kind, cls, key, value))
        misspelt = {self.meant(key, cls.args) for key in args if key not in cls.args}
        missing = [a for a in cls.required if a not in args and a not in misspelt]
        if missing:
            yield self.missing(path, kind, name, missing)

    def function_use(self, path: JsonPath, function: FunctionSpec, args: dict[str, Any]) -> Iterator[Problem]:
        """A spec function used as a loss or metric: (y_true, y_pred), and its params given right."""
        if len(function.args) != 2:
            yield self.doc.problem(path, f"function '{function.name}' is used as a loss or metric, so it takes "
                                   f"(y_true, y_pred); it declares {len(function.args)} args", "", "function-args")
        params = {p.name: p for p in function.params}
        yield from self.arguments(path, "function", function.name, args, tuple(params), lambda key, value: (
            check_value(self.doc, (*path, key), params[key], value) if params[key].type in PARAM_TYPES else ()))
        misspelt = {self.meant(key, params) for key in args if key not in params}
        missing = [p.name for p in function.params if p.required and p.name not in args and p.name not in misspelt]
        if missing:
            yield self.doc.problem(path, f"function '{function.name}' needs param{'s' * (len(missing) > 1)} "
                                   f"{', '.join(repr(m) for m in missing)}",
                                   f"write {{name: {function.name}, {missing[0]}: ...}}", "missing-arg")

    def arguments(self, path: JsonPath, kind: str, name: str, args: dict[str, Any], allowed: Sequence[str],
                  check: Any) -> Iterator[Problem]:
        """Unknown arguments (with did-you-mean, or a hint when one is an output's name), then each
        known one through ``check(key, value)``."""
        for key, value in args.items():
            if key in allowed:
                yield from check(key, value)
                continue
            hint = did_you_mean(key, allowed)
            if not hint and key in self.outputs:
                hint = (f"'{key}' is an output: a mapping with a string 'name' is one {kind}; for one per "
                        "output, leave out 'name' and give each output its own")
            noun = "param" if kind == "function" else "argument"
            yield self.doc.problem((*path, key), f"{kind} '{name}' has no {noun} '{key}'", hint or
                                   (f"{noun}s: {', '.join(allowed)}" if allowed else f"it takes no {noun}s"),
                                   "unknown-arg", at_key=True)

    def keras_argument(self, path: JsonPath, kind: Kind, cls: KerasClass, key: str, value: Any
                       ) -> Iterator[Problem]:
        problems = list(check_argument(self.doc, path, f"{kind} argument '{key}'", cls.types.get(key), value))
        yield from problems
        if problems or not isinstance(value, str):
            return
        reductions = catalog().loss_reductions
        if key == "reduction" and kind == "loss" and value not in reductions:
            yield self.doc.problem(path, f"unknown reduction {value!r}",
                                   did_you_mean(value, reductions) or f"reductions: {', '.join(reductions)}, null",
                                   "param-type")
        elif key == "dtype" and value not in DTYPE_POLICIES:  # Keras reads it as a dtype policy
            yield self.doc.problem(path, f"unknown dtype policy {value!r}", did_you_mean(value, DTYPE_POLICIES),
                                   "unknown-dtype")

    def missing(self, path: JsonPath, kind: Kind, name: str, missing: list[str]) -> Problem:
        return self.doc.problem(path, f"{kind} '{name}' needs argument{'s' * (len(missing) > 1)} "
                                f"{', '.join(repr(m) for m in missing)}",
                                f"write {{name: {name}, {missing[0]}: ...}}", "missing-arg")

    @staticmethod
    def meant(key: str, allowed: Sequence[str] | Mapping[str, Any]) -> str:
        """The argument a misspelt ``key`` was meant to be, so a required one is not reported twice."""
        return did_you_mean(key, allowed).removeprefix("did you mean '").removesuffix("'?")

    @staticmethod
    def names(kind: Kind) -> frozenset[str]:
        return catalog().losses if kind == "loss" else catalog().metrics

    @staticmethod
    def classes(kind: Kind) -> dict[str, KerasClass]:
        return catalog().loss_classes if kind == "loss" else catalog().metric_classes
