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

from declar.expr.ops import BASE, COMPOSITES, OPS, RANDOM_OPS, SHAPE_FUNCTIONS, Signature
from devtools.docs import ops_table

keras = pytest.importorskip("keras")

MAPPED = sorted(name for name in OPS if name not in COMPOSITES)


def _keras(signature: Signature):
    """The Keras function a table entry names (keras.ops.<name>, keras.ops.image.<name>, keras.random.<name>)."""
    found = keras
    for part in signature.keras_path.split("."):
        found = getattr(found, part)
    return found


def _keras_parameters(name: str, skip: tuple[str, ...] = ()) -> tuple[tuple[str, ...], int, str | None]:
    """(parameter names, number required, *varargs name) of the entry's Keras function; **kwargs is not
    modelled, nor the parameters in ``skip`` (the seed a layer passes to a random draw)."""
    parameters = inspect.signature(_keras({**OPS, **RANDOM_OPS}[name])).parameters.values()
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in skip]
    required = sum(p.default is inspect.Parameter.empty for p in named)
    varargs = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)
    return tuple(p.name for p in named), required, varargs


def test_table_is_not_empty() -> None:
    assert len(MAPPED) > 50


@pytest.mark.parametrize("name", MAPPED)
def test_entry_matches_keras_ops(name: str) -> None:
    params, required, varargs = _keras_parameters(name)
    entry = OPS[name]
    assert entry.params == params, f"{entry.render()} vs keras.{entry.keras_path}{inspect.signature(_keras(entry))}"
    assert entry.required == required, f"{entry.render()}: {entry.required} required, Keras has {required}"
    assert entry.varargs == varargs


@pytest.mark.parametrize("name", MAPPED)
def test_entry_arguments_can_all_be_passed_as_written(name: str) -> None:
    """Every parameter of the table is positional-or-keyword in Keras (check() lets both forms through)."""
    parameters = inspect.signature(_keras(OPS[name])).parameters
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
        assert functions[name] is _keras(OPS[name])


@pytest.mark.parametrize("name", sorted(set(RANDOM_OPS) - COMPOSITES))
def test_random_entry_matches_keras_random_without_its_seed(name: str) -> None:
    params, required, varargs = _keras_parameters(name, skip=("seed",))
    entry = RANDOM_OPS[name]
    assert (entry.params, entry.required, entry.varargs) == (params, required, varargs), entry.render()
    assert "seed" in inspect.signature(_keras(entry)).parameters  # what the layer's seed generator fills


def test_signatures_are_well_formed() -> None:
    for table in (OPS, RANDOM_OPS, SHAPE_FUNCTIONS):
        for name, sig in table.items():
            assert isinstance(sig, Signature) and sig.name == name
            assert 0 <= sig.required <= len(sig.params)
            assert len(set(sig.params)) == len(sig.params)
            assert sig.summary


def test_ops_table_lists_every_function() -> None:
    table = ops_table()
    lines = table.splitlines()
    assert lines[0].startswith("| function |")
    assert len(lines) == 2 + 1 + len(OPS) + len(RANDOM_OPS)  # header, separator, base, one row per function
    rows = {line.split("`")[1].split("(")[0]: line for line in lines[2:]}
    assert set(rows) == {*OPS, *RANDOM_OPS, "base"}
    for name, sig in {**OPS, **RANDOM_OPS}.items():
        assert f"`{sig.render()}`" in rows[name]
        assert sig.summary in rows[name]
    assert f"`{BASE.render()}`" in rows["base"]
