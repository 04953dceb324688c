"""Weights the spec alone sizes are refused by `declar validate`, located at the argument that makes them.

The weight budget (tests/test_hardening_memory.py) refuses every oversized variable at build,
before Keras allocates it; these tests show that the common attacks and typos, whose size the
spec states outright (an Embedding's rows, a Dense after an input or layer of known width), are
caught earlier, by validate and a pre-commit hook, without importing Keras.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar import Limits
from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [40000]}\n"


def problems(text: str, limits: Limits = Limits()) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in declar.validate(text, limits=limits)]


def test_dense_of_40000_squared_after_a_known_input_is_refused_at_its_units():
    text = HEAD + "model:\n  - Dense: {units: 40000}\n"
    assert problems(text) == [(6, 20, "layer 'dense' (Dense): variable 'kernel': shape [40000, 40000] has "
                                      "1,600,000,000 elements, over the limit of 500,000,000")]


def test_embedding_of_two_billion_rows_is_refused_at_its_input_dim():
    text = ("declar: 1\nname: m\ninputs:\n  ids: {shape: [4], dtype: int32}\nmodel:\n"
            "  nodes:\n    lookup: {layer: Embedding, args: {input_dim: 2000000000, output_dim: 8}, inputs: ids}\n"
            "  outputs: lookup\n")
    assert problems(text) == [(7, 50, "layer 'lookup' (Embedding): variable 'embeddings': shape [2000000000, 8] "
                                      "has 16,000,000,000 elements, over the limit of 500,000,000")]


def test_widths_are_followed_through_layers_that_keep_them_and_through_graph_nodes():
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [30000]}\nmodel:\n  nodes:\n"
            "    drop: {layer: Dropout, args: {rate: 0.1}, inputs: x}\n"
            "    norm: {layer: LayerNormalization, inputs: drop}\n"
            "    wide: {layer: Dense, args: {units: 20000}, inputs: norm}\n"
            "  outputs: wide\n")
    assert [(line, col) for line, col, _ in problems(text)] == [(9, 40)]


def test_several_large_weights_cannot_add_up_past_the_model_limit_at_validate():
    limits = Limits(max_variable_elements=50_000, max_model_elements=100_000)
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [200]}\nmodel:\n"
            + "  - Dense: {units: 200}\n" * 3)
    assert problems(text, limits) == [(8, 20, "the model's weights reach 120,400 elements at layer 'dense_2', over "
                                              "the limit of 100,000")]
    assert problems(text, Limits(max_variable_elements=50_000, max_model_elements=120_600)) == []


def test_a_shared_layer_is_counted_once():
    limits = Limits(max_model_elements=2 * (100 * 100 + 100))
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [100]}\nmodel:\n  nodes:\n"
            "    a: {layer: Dense, args: {units: 100}, inputs: x}\n"
            "    b: {shares: a, inputs: a}\n"
            "    c: {layer: Dense, args: {units: 100}, inputs: b}\n"
            "  outputs: c\n")
    assert problems(text, limits) == []
    assert problems(text, Limits(max_model_elements=2 * (100 * 100 + 100) - 1))[0][:2] == (9, 37)


@pytest.mark.parametrize("layer", ["Dense: {units: 40000}", "Embedding: {input_dim: 2000000000, output_dim: 8}"])
def test_cli_validate_refuses_huge_weights_without_importing_keras(tmp_path, layer):
    path = tmp_path / "huge.yaml"
    path.write_text(HEAD + f"model:\n  - {layer}\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and f"{path}:6:" in result.output and "raise Limits.max_variable_elements" in \
        result.output and "Traceback" not in result.output
    assert CliRunner().invoke(app, ["--limit", "max_variable_elements=16000000000", "--limit",
                                    "max_model_elements=16000000000", "validate", str(path)]).exit_code == 0
    probe = ("import sys, declar; declar.validate(sys.argv[1]); "
             "print(any(m.split('.')[0] in ('keras', 'tensorflow') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr
