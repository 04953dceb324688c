"""Sizes that escaped the limits: lookup tables padded to max_tokens, huge outputs, convolution kernels.

- F2: `StringLookup`/`IntegerLookup`/`TextVectorization` with ``pad_to_max_tokens`` build their
  ``idf_weights`` with numpy and `tf.Variable` when constructed, not through ``add_weight``, so the
  build-time budget never saw them: validate sizes them from ``max_tokens`` (archives are validated
  by the same checks, so load is covered too).
- F6: outputs (`RepeatVector`, `CategoryEncoding`, a padded lookup) and arrays computed at each call
  (MelSpectrogram's mel matrix) the spec alone sizes are refused at validate; every other layer's
  output is checked per example from its static shape at build, before anything runs.
- S1: convolution kernels (``prod(kernel_size) x in_channels x filters``) are sized at validate,
  as build's budget sizes them, and widths are followed through convolutions and pooling.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from test_hardening_memory import resealed
from test_hostile_archives import config_of, rewrite
from typer.testing import CliRunner

import declar
from declar import Limits
from declar.archive import ArchiveError
from declar.cli import app
from declar.keras.budget import WeightBudgetError, weight_budget

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20
runner = CliRunner()

IDF = ("declar: 1\nname: idf\ninputs:\n  x: {shape: [1], dtype: string}\nmodel:\n"
       "  - StringLookup: {vocabulary: [a, b], idf_weights: [1.0, 1.0], output_mode: tf_idf, "
       "pad_to_max_tokens: true, max_tokens: 1500000000}\n")
REPEAT = "declar: 1\nname: r1\ninputs:\n  x: {shape: [4]}\nmodel:\n  - RepeatVector: {n: 300000000}\n"
ONE_HOT = ("declar: 1\nname: r2\ninputs:\n  x: {shape: [1], dtype: int32}\nmodel:\n"
           "  - CategoryEncoding: {num_tokens: 1000000000, output_mode: one_hot}\n")
MEL = ("declar: 1\nname: mel\ninputs:\n  x: {shape: [1024]}\nmodel:\n"
       "  - MelSpectrogram: {fft_length: 2048, sequence_length: 1024, sequence_stride: 512, num_mel_bins: 1000000}\n")
CONV = ("declar: 1\nname: cv\ninputs:\n  x: {shape: [8, 8, 3]}\nmodel:\n"
        "  - Conv2D: {filters: 1000000, kernel_size: [40, 40], padding: same}\n")
# Sized only by Keras (validate cannot know Flatten's width, nor what Resizing makes): build refuses these.
REPEAT_AFTER_FLATTEN = ("declar: 1\nname: up\ninputs:\n  x: {shape: [4, 4]}\nmodel:\n"
                        "  - Flatten: {}\n  - RepeatVector: {n: 300000000}\n")
RESIZING = ("declar: 1\nname: rs\ninputs:\n  x: {shape: [8, 8, 3]}\nmodel:\n  nodes:\n"
            "    big: {layer: Resizing, args: {height: 40000, width: 40000}, inputs: x}\n  outputs: big\n")


def problems(text: str, limits: Limits = Limits()) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in declar.validate(text, limits=limits)]


def one_layer(inputs: str, layer: str) -> str:
    return f"declar: 1\nname: m\ninputs:\n  x: {inputs}\nmodel:\n  - {layer}\n"


def value_col(layer: str, argument: str) -> int:
    """The column of an argument's value in the line ``  - {layer}``, where a problem points."""
    return len("  - ") + layer.index(f"{argument}: ") + len(f"{argument}: ") + 1


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cli(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


# -- F2: idf_weights padded to max_tokens ---------------------------------------------------------

def test_idf_weights_padded_to_a_billion_and_a_half_tokens_are_refused_at_validate():
    assert problems(IDF) == [(6, 123, "layer 'string_lookup' (StringLookup): variable 'idf_weights': shape "
                                      "[1500000000] has 1,500,000,000 elements, over the limit of 500,000,000")]
    assert problems(IDF.replace("1500000000", "10")) == []
    assert problems(IDF, Limits(max_variable_elements=1_500_000_000, max_model_elements=1_500_000_000)) == []


@pytest.mark.parametrize(("dtype", "layer"), [
    ("int32", "IntegerLookup: {vocabulary: [1, 2], idf_weights: [1.0, 1.0], output_mode: tf_idf, "
              "pad_to_max_tokens: true, max_tokens: 1500000000}"),
    ("string", "TextVectorization: {vocabulary: [a, b], idf_weights: [1.0, 1.0], output_mode: tf-idf, "
               "pad_to_max_tokens: true, max_tokens: 1500000000}"),
])
def test_idf_weights_of_integer_lookup_and_text_vectorization_are_refused_at_validate(dtype, layer):
    found = problems(one_layer(f"{{shape: [1], dtype: {dtype}}}", layer))
    assert [(line, c) for line, c, _ in found] == [(6, value_col(layer, " max_tokens"))]
    assert "variable 'idf_weights': shape [1500000000]" in found[0][2]


def test_padded_multi_hot_output_of_max_tokens_is_refused_at_validate():
    layer = "StringLookup: {vocabulary: [a], output_mode: multi_hot, pad_to_max_tokens: true, max_tokens: 600000000}"
    text = one_layer("{shape: [3], dtype: string}", layer)
    assert value_col(layer, " max_tokens") == 98
    assert problems(text) == [(6, 98, "layer 'string_lookup' (StringLookup): output per example: shape [600000000] "
                                      "has 600,000,000 elements, over the limit of 500,000,000")]
    # Without padding (or in 'int' mode) the output has the vocabulary's size: nothing to refuse.
    assert problems(text.replace("pad_to_max_tokens: true", "pad_to_max_tokens: false")) == []
    assert problems(text.replace("multi_hot", "int")) == []


def test_lookup_arrays_made_at_construction_are_refused_at_validate():
    layer = "StringLookup: {vocabulary: [a], num_oov_indices: 900000000}"
    oov = one_layer("{shape: [1], dtype: string}", layer)
    assert problems(oov) == [(6, value_col(layer, "num_oov_indices"),
                              "layer 'string_lookup' (StringLookup): out-of-vocabulary tokens (a list made at "
                              "construction): shape [900000000] has 900,000,000 elements, over the limit of "
                              "500,000,000")]
    layer = "TextVectorization: {ngrams: 900000000}"
    ngrams = one_layer("{shape: [1], dtype: string}", layer)
    assert [(line, col) for line, col, _ in problems(ngrams)] == [(6, value_col(layer, "ngrams"))]


def test_archive_of_padded_idf_weights_is_refused_at_load_by_declar_and_keras(tmp_path):
    small = tmp_path / "small.keras"
    declar.save(IDF.replace("1500000000", "10"), small)
    config = config_of(small)
    config["config"]["spec"]["model"][0]["StringLookup"]["max_tokens"] = 1_500_000_000
    hostile = rewrite(small, tmp_path / "idf.keras", resealed(config))
    assert hostile.stat().st_size < 20_000
    before = peak_rss_bytes()
    with pytest.raises(ArchiveError, match=r"variable 'idf_weights': shape \[1500000000\].*max_variable_elements"):
        declar.load(hostile)
    with pytest.raises(ValueError, match=r"idf_weights.*max_variable_elements"):
        keras.models.load_model(hostile)
    result = cli("inspect", str(hostile))  # read without building: shown, not allocated
    assert result.exit_code in (0, 1)
    assert peak_rss_bytes() - before < 300 * MB  # 6 GB if allocated


# -- F6: outputs and computed arrays --------------------------------------------------------------

def test_repeat_vector_of_three_hundred_million_is_refused_at_validate():
    assert problems(REPEAT) == [(6, 23, "layer 'repeat_vector' (RepeatVector): output per example: shape "
                                        "[300000000, 4] has 1,200,000,000 elements, over the limit of 500,000,000")]


def test_category_encoding_of_a_billion_tokens_is_refused_at_validate():
    assert problems(ONE_HOT) == [(6, 36, "layer 'category_encoding' (CategoryEncoding): output per example: shape "
                                         "[1000000000] has 1,000,000,000 elements, over the limit of 500,000,000")]


def test_mel_spectrogram_of_a_million_bins_is_refused_at_validate():
    assert problems(MEL) == [(6, 99, "layer 'mel_spectrogram' (MelSpectrogram): mel weight matrix (computed at each "
                                     "call): shape [1025, 1000000] has 1,025,000,000 elements, over the limit of "
                                     "500,000,000")]
    assert problems(MEL.replace("1000000}", "128}")) == []


@pytest.mark.parametrize("name,text", [("repeat", REPEAT), ("one_hot", ONE_HOT), ("mel", MEL), ("conv", CONV),
                                       ("idf", IDF)])
def test_cli_validate_refuses_huge_outputs_and_kernels_without_importing_keras(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.exit_code == 1 and f"{path}:6:" in result.output and "raise Limits.max_variable_elements" in \
        result.output, result.output
    raised = cli("--limit", "max_variable_elements=50000000000", "--limit", "max_model_elements=50000000000",
                 "validate", str(path))
    assert raised.exit_code == 0, raised.output
    probe = ("import sys, declar; declar.validate(sys.argv[1]); "
             "print(any(m.split('.')[0] in ('keras', 'tensorflow') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_outputs_only_keras_can_size_are_refused_at_build_before_anything_runs(tmp_path):
    """Flatten hides RepeatVector's width from validate, and Resizing is not in its table: both
    pass validate and are refused by the build-time output check, located, through API and CLI."""
    before = peak_rss_bytes()
    for text, where, fragment in [
            (REPEAT_AFTER_FLATTEN, (7, 5), "layer 'repeat_vector' (RepeatVector): output of shape [300000000, 16] "
                                           "has 4,800,000,000 elements per example, over the limit of 500,000,000"),
            (RESIZING, (7, 10), "layer 'big' (Resizing): output of shape [40000, 40000, 3] has 4,800,000,000 "
                                "elements per example")]:
        assert problems(text) == []
        with pytest.raises(declar.BuildError) as err:
            declar.build(text)
        (problem,) = err.value.problems
        assert (problem.line, problem.col) == where and fragment in problem.message, problem.render()
        assert "declar's limits refused this layer" in problem.hint
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        result = cli("build", str(path))
        assert result.exit_code == 1 and f"{path}:{where[0]}:{where[1]}" in result.output and \
            "raise Limits.max_variable_elements" in result.output, result.output
    assert peak_rss_bytes() - before < 300 * MB  # 19 GB per example if run
    # Raising the limit lets the same spec build (nothing runs, so nothing large is allocated).
    assert declar.build(REPEAT_AFTER_FLATTEN, limits=Limits(max_variable_elements=5_000_000_000)).output_shape == \
        (None, 300_000_000, 16)


def test_archives_of_huge_outputs_are_refused_at_load_by_declar_and_keras(tmp_path):
    small = tmp_path / "small.keras"
    declar.save(REPEAT.replace("300000000", "3"), small)
    before = peak_rss_bytes()
    for name, inputs, layers, fragment in [
            ("at_validate", {"x": {"shape": [4]}}, [{"RepeatVector": {"n": 300_000_000}}],
             "output per example: shape [300000000, 4]"),
            ("at_build", {"x": {"shape": [4, 4]}}, [{"Flatten": {}}, {"RepeatVector": {"n": 300_000_000}}],
             "output of shape [300000000, 16] has 4,800,000,000 elements per example"),
            ("one_hot", {"x": {"shape": [1], "dtype": "int32"}},
             [{"CategoryEncoding": {"num_tokens": 1_000_000_000, "output_mode": "one_hot"}}],
             "output per example: shape [1000000000]")]:
        config = config_of(small)
        config["config"]["spec"]["inputs"] = inputs
        config["config"]["spec"]["model"] = layers
        hostile = rewrite(small, tmp_path / f"{name}.keras", resealed(config))
        with pytest.raises(ArchiveError) as err:
            declar.load(hostile)
        assert fragment in str(err.value) and "max_variable_elements" in str(err.value), str(err.value)
        with pytest.raises(ValueError, match="max_variable_elements"):
            keras.models.load_model(hostile)
    assert peak_rss_bytes() - before < 300 * MB


# -- S1: convolution kernels ------------------------------------------------------------------------

def test_conv2d_of_a_million_filters_is_refused_at_validate_as_build_refuses_it():
    assert problems(CONV) == [(6, 23, "layer 'conv2d' (Conv2D): variable 'kernel': shape [40, 40, 3, 1000000] has "
                                      "4,800,000,000 elements, over the limit of 500,000,000")]
    with pytest.raises(declar.SpecError, match=r":6:23: error: layer 'conv2d' \(Conv2D\): variable 'kernel'"):
        declar.build(CONV)  # build validates first: refused before Keras is asked
    # The kernel the budget refuses at build, had validate not sized it, has the same shape.
    with weight_budget(Limits()), pytest.raises(WeightBudgetError, match=r"'kernel': shape \[40, 40, 3, 1000000\]"):
        keras.layers.Conv2D(1_000_000, [40, 40], padding="same").build((None, 8, 8, 3))


@pytest.mark.parametrize(("inputs", "layer", "variable"), [
    ("[100, 3]", "Conv1D: {filters: 1000000, kernel_size: 200}", "'kernel': shape [200, 3, 1000000]"),
    ("[4, 4, 4, 3]", "Conv3D: {filters: 1000000, kernel_size: 6}", "'kernel': shape [6, 6, 6, 3, 1000000]"),
    ("[8, 8, 3]", "Conv2DTranspose: {filters: 1000000, kernel_size: 40}", "'kernel': shape [40, 40, 1000000, 3]"),
    ("[8, 8, 3]", "SeparableConv2D: {filters: 200000000, kernel_size: 3}",
     "'pointwise_kernel': shape [1, 1, 3, 200000000]"),
    ("[8, 8, 3]", "DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 100000000}",
     "'kernel': shape [3, 3, 3, 100000000]"),
])
def test_every_convolution_kernel_is_sized_at_validate(inputs, layer, variable):
    (found,) = problems(one_layer(f"{{shape: {inputs}}}", layer))
    blamed = "depth_multiplier" if "Depthwise" in layer else "filters"  # the argument that makes it large
    assert found[:2] == (6, value_col(layer, blamed)), found
    assert f"variable {variable}" in found[2], found


def test_widths_are_followed_through_convolutions_and_pooling_but_not_channels_first():
    text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [8, 8, 3]}\nmodel:\n"
            "  - Conv2D: {filters: 40000, kernel_size: 1}\n  - MaxPooling2D: {pool_size: 2}\n"
            "  - GlobalAveragePooling2D: {}\n  - Dense: {units: 40000}\n")
    assert problems(text) == [(9, 20, "layer 'dense' (Dense): variable 'kernel': shape [40000, 40000] has "
                                      "1,600,000,000 elements, over the limit of 500,000,000")]
    # channels_first: the last axis is not the channels, so nothing is assumed (build's budget decides).
    first = CONV.replace("padding: same", "padding: same, data_format: channels_first")
    assert problems(first) == []
    assert problems(text.replace("pool_size: 2", "pool_size: 2, data_format: channels_first")) == []


def test_mel_spectrogram_of_a_stride_of_one_is_refused_at_validate():
    """A million frames of 2,048 samples (8 GB per example at each call) for an output of 128 x 1e6."""
    layer = "MelSpectrogram: {sequence_stride: 1}"
    found = problems(one_layer("{shape: [1000000]}", layer))
    assert found == [(6, value_col(layer, "sequence_stride"),
                      "layer 'mel_spectrogram' (MelSpectrogram): STFT frames per example (computed at each call): "
                      "shape [1000001, 2048] has 2,048,002,048 elements, over the limit of 500,000,000")]
    assert problems(one_layer("{shape: [1000000]}", "MelSpectrogram: {sequence_stride: 512}")) == []


def test_hashing_to_a_billion_one_hot_bins_is_refused_at_validate():
    layer = "Hashing: {num_bins: 1000000000, output_mode: one_hot}"
    assert [(line, col) for line, col, _ in problems(one_layer("{shape: [1], dtype: string}", layer))] == \
        [(6, value_col(layer, "num_bins"))]
    assert problems(one_layer("{shape: [1], dtype: string}", "Hashing: {num_bins: 1000000000}")) == []
