"""The hand-written function table against the installed Keras: same names, same parameters.

`declar.expr.ops.OPS` is written by hand so that validation never imports keras; these tests catch
drift when Keras renames or adds a parameter, and check the generated Markdown lists everything.
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from declar.expr.ops import BASE, COMPOSITES, OPS, SHAPE_FUNCTIONS, Signature
from devtools.docs import ops_table

keras = pytest.importorskip("keras")

MAPPED = sorted(name for name in OPS if name not in COMPOSITES)


def _keras_parameters(name: str) -> tuple[tuple[str, ...], int, str | None]:
    """(parameter names, number required, *varargs name) of keras.ops.<name>; **kwargs is not modelled."""
    parameters = inspect.signature(getattr(keras.ops, name)).parameters.values()
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    required = sum(p.default is inspect.Parameter.empty for p in named)
    varargs = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)
    return tuple(p.name for p in named), required, varargs


def test_table_is_not_empty() -> None:
    assert len(MAPPED) > 50


@pytest.mark.parametrize("name", MAPPED)
def test_entry_matches_keras_ops(name: str) -> None:
    assert hasattr(keras.ops, name), f"keras.ops has no {name}"
    params, required, varargs = _keras_parameters(name)
    entry = OPS[name]
    assert entry.params == params, f"{entry.render()} vs keras.ops.{name}{inspect.signature(getattr(keras.ops, name))}"
    assert entry.required == required, f"{entry.render()}: {entry.required} required, Keras has {required}"
    assert entry.varargs == varargs


@pytest.mark.parametrize("name", MAPPED)
def test_entry_arguments_can_all_be_passed_as_written(name: str) -> None:
    """Every parameter of the table is positional-or-keyword in Keras (check() lets both forms through)."""
    parameters = inspect.signature(getattr(keras.ops, name)).parameters
    for param in OPS[name].params:
        assert parameters[param].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (name, param)


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composites_are_not_in_keras_ops(name: str) -> None:
    """A composite that Keras gained should map 1:1 instead of being defined by declar."""
    assert not hasattr(keras.ops, name)


def test_every_table_entry_is_bound() -> None:
    from declar.keras.ops import keras_functions

    functions = keras_functions()
    assert set(functions) == set(OPS)
    for name in MAPPED:
        assert functions[name] is getattr(keras.ops, name)


def test_signatures_are_well_formed() -> None:
    for table in (OPS, SHAPE_FUNCTIONS):
        for name, sig in table.items():
            assert isinstance(sig, Signature) and sig.name == name
            assert 0 <= sig.required <= len(sig.params)
            assert len(set(sig.params)) == len(sig.params)
            assert sig.summary


def test_ops_table_lists_every_function() -> None:
    table = ops_table()
    lines = table.splitlines()
    assert lines[0].startswith("| function |")
    assert len(lines) == 2 + 1 + len(OPS)  # header, separator, base, one row per function
    rows = {line.split("`")[1].split("(")[0]: line for line in lines[2:]}
    assert set(rows) == {*OPS, "base"}
    for name, sig in OPS.items():
        assert f"`{sig.render()}`" in rows[name]
        assert sig.summary in rows[name]
    assert f"`{BASE.render()}`" in rows["base"]
