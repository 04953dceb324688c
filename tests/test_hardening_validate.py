"""Hardening decided at validate time or while parsing (issue 12): what a spec costs before Keras runs it.

Each test is named after the attack it stops: runaway constants and constant sizes in a call or a
loss, size-making operations whose real sizes are known only at build, layer types multiplied by
YAML aliases, spec paths that are not regular files, layout regexes that backtrack forever, and
the YAML readings that hid mistakes (an unclosed bracket reported at the end of the file, `1e-6`
read as a string). Validation tests run without Keras; the Keras ones are batched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar import Limits
from declar.cli import app
from declar.errors import Problem
from declar.hints import HintBudget, did_you_mean
from declar.spec.patterns import pattern_problem
from declar.spec.source import Document, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\n"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


runner = _runner()


def call_spec(call: str, shape: str = "4") -> str:
    """A spec whose layer T computes ``call``; the expression starts at line 8, column 12."""
    return (f"declar: 1\nname: m\ninputs:\n  x: {{shape: [{shape}]}}\nlayers:\n  T:\n    extends: Layer\n"
            f"    call: \"{call}\"\nmodel:\n  - T: {{}}\n")


CALL_AT = (8, 12)  # line and column of the call expression's first character in call_spec


def loss_spec(expr: str) -> str:
    """A spec whose loss is the function ``expr``; the expression starts at line 13, column 12."""
    return (HEAD + "model:\n  - Dense: {units: 1}\ncompile:\n  optimizer: adam\n  loss: l\nfunctions:\n  l:\n"
            f"    args: [y_true, y_pred]\n    expr: \"{expr}\"\n")


LOSS_AT = (13, 12)


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def cli_validate(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", str(path)])
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout


# --- 1. expression costs at validate -----------------------------------------------------------

# (expression over `inputs`, index in it of the character the problem points at, message fragment)
RUNAWAY = [
    ("inputs + 10**10**10", 9, "about 40,000,000,000 bits, over the limit of 4,096"),
    ("inputs * 2**99999999", 9, "about 199,999,998 bits, over the limit of 4,096"),
    ("inputs * " + "(" * 60 + "2**99999999" + ")" * 60, 69, "bits, over the limit of 4,096"),
    ("inputs - 3**2000 * 3**2000", 9, "about 6,340 bits, over the limit of 4,096"),
    ("inputs - 3**2000", 9, "does not fit in 64 bits"),
    ("inputs * (1 / 0)", 10, "ZeroDivisionError"),
    ("inputs * 2**70", 9, "does not fit in 64 bits"),
    ("maximum(inputs, 2**64)", 16, "does not fit in 64 bits"),
    ("full_like(inputs, 2**80)", 18, "does not fit in 64 bits"),
    ("reshape(inputs, [10**12, 10**12])", 16, "reshape() would make 1,000,000,000,000,000,000,000,000 elements"),
    ("tile(inputs, [1, 10**6, 10**6])", 13, "tile() would make 1,000,000,000,000 elements per example"),
    ("one_hot(inputs, 10**12)", 16, "one_hot() would make 1,000,000,000,000 elements"),
    ("one_hot(inputs, num_classes=10**12)", 28, "one_hot() would make"),
    ("broadcast_to(inputs, [-1, 10**5, 10**5])", 21, "broadcast_to() would make 10,000,000,000 elements"),
    ("repeat(inputs, 10**10, axis=1)", 15, "repeat() would make 10,000,000,000 elements"),
    ("inputs[0:10**12]", 9, "index 1,000,000,000,000 is beyond the largest size a tensor may have"),
    ("inputs[:, 10**12]", 10, "index 1,000,000,000,000 is beyond"),
    ("inputs[::-10**12]", 9, "index -1,000,000,000,000 is beyond"),
]


@pytest.mark.parametrize(("expr", "index", "fragment"), RUNAWAY, ids=[e for e, _, _ in RUNAWAY])
def test_runaway_constant_or_constant_size_in_a_call_is_refused_at_validate(expr, index, fragment):
    p = only(declar.validate(call_spec(expr)))
    assert (p.line, p.col) == (CALL_AT[0], CALL_AT[1] + index), p.render()
    assert fragment in p.message and p.code == "expression-limit"
    assert "\n" not in p.message


@pytest.mark.parametrize(("expr", "index", "fragment"), RUNAWAY, ids=[e for e, _, _ in RUNAWAY])
def test_runaway_constant_or_constant_size_in_a_loss_is_refused_at_validate(expr, index, fragment):
    p = only(declar.validate(loss_spec(expr.replace("inputs", "y_pred"))))
    shift = len("y_pred") - len("inputs")  # both six characters: same columns
    assert (p.line, p.col) == (LOSS_AT[0], LOSS_AT[1] + index + shift), p.render()
    assert fragment in p.message


def test_runaway_constants_are_refused_through_the_cli_with_their_columns(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(call_spec("inputs + 10**10**10").replace("model:", "model:", 1)
                    + "compile:\n  optimizer: adam\n  loss: l\nfunctions:\n  l:\n    args: [y_true, y_pred]\n"
                    "    expr: \"mean(y_pred) + reshape(y_pred, [10**12, 10**12])\"\n")
    code, out = cli_validate(spec)
    assert code == 1
    assert out.splitlines() == [
        f"{spec}:8:21: error: the result would have about 40,000,000,000 bits, over the limit of 4,096 "
        "(raise Limits.max_power_bits)",
        f"{spec}:17:43: error: reshape() would make 1,000,000,000,000,000,000,000,000 elements per example, "
        "over the limit of 500,000,000 (raise Limits.max_variable_elements if this is intended; inputs count "
        "as one element here, the build checks the real sizes)"]


def test_constant_folding_answers_in_milliseconds_even_for_a_power_tower():
    start = time.monotonic()
    for expr, _, _ in RUNAWAY:
        assert declar.validate(call_spec(expr))
    assert time.monotonic() - start < 30  # hang guard only: each guard trips before computing


@pytest.mark.parametrize("expr", [
    "inputs * 2**62", "inputs + (2**100 - 2**100 + 1)", "reshape(inputs, [-1, 2, 2])", "tile(inputs, [1, 3])",
    "one_hot(cast(inputs, 'int32'), 10)", "inputs[0:2]", "inputs[:, -1]", "repeat(inputs, 2, axis=1)",
    "broadcast_to(inputs, shape(inputs))", "(" * 60 + "inputs" + ")" * 60, "inputs * 1e30", "inputs / 3 ** 39",
])
def test_ordinary_constants_and_sizes_still_validate(expr):
    assert declar.validate(call_spec(expr)) == []


def test_raised_limits_let_large_constant_sizes_and_powers_through():
    assert declar.validate(call_spec("tile(inputs, [1, 10**6, 10**3])"))
    assert declar.validate(call_spec("tile(inputs, [1, 10**6, 10**3])"), Limits(max_variable_elements=10**9)) == []
    assert declar.validate(call_spec("inputs[0:10**9]"), Limits(max_variable_elements=10**9)) == []
    # 2**5000 // 2**4990 is 1024, but the intermediate 2**5000 has 5,001 bits
    assert declar.validate(call_spec("inputs * (2**5000 // 2**4990)"))
    assert declar.validate(call_spec("inputs * (2**5000 // 2**4990)"), Limits(max_power_bits=20_000)) == []


# --- 1b. the same costs at build, from the static shapes ---------------------------------------

# (call, input width): each passes validate (an input counts as one element there) and is refused at
# build before anything is allocated: 1e9 or 9e8 floats per example, 4 or 3.6 GB for ONE example.
AT_BUILD = [
    ("tile(inputs, [1, 1000])", "1000000", "tile() would make 1,000,000,000 elements per example"),
    ("outer(inputs, inputs)", "30000", "outer() would make 900,000,000 elements per example"),
    ("one_hot(cast(inputs, 'int32'), 1000)", "1000000", "one_hot() would make 1,000,000,000 elements"),
    ("repeat(inputs, 1000, axis=1)", "1000000", "repeat() would make 1,000,000,000 elements"),
    ("broadcast_to(expand_dims(inputs, 1), [shape(inputs)[0], 100000, shape(inputs)[1]])", "10000",
     "broadcast_to() would make 1,000,000,000 elements"),
    ("expand_dims(inputs, 2) * expand_dims(inputs, 1)", "30000", "operator * would make 900,000,000 elements"),
    ("matmul(expand_dims(inputs, 2), expand_dims(inputs, 1))", "30000", "matmul() would make 900,000,000"),
]


def test_size_making_operations_are_refused_at_build_from_static_shapes_before_allocating():
    import resource

    import numpy as np

    declar.build(call_spec("tile(inputs, [1, 3])"))  # warm the backend up before measuring memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for call, width, fragment in AT_BUILD:
        text = call_spec(call, width)
        assert declar.validate(text) == [], call
        with pytest.raises(declar.BuildError) as caught:
            declar.build(text)
        message = str(caught.value)
        p = only(caught.value.problems)
        assert (p.line, p.col) == (10, 5), message  # the use of the layer in the model
        assert "layer 't' (T): call " in message and call[:40] in message, message
        assert fragment in message and "over the limit of 500,000,000" in message, message
        assert "Limits.max_variable_elements" in message and "\n" not in message
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown < 300 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MB"
    # the caller's limit reaches the guards: a raised limit builds, a lowered one refuses
    wide = call_spec("tile(inputs, [1, 1000])", "1000")
    model = declar.build(wide)
    assert model.output_shape == (None, 1_000_000)
    with pytest.raises(declar.BuildError, match="tile\\(\\) would make 1,000,000 elements per example"):
        declar.build(wide, limits=Limits(max_variable_elements=999_999))
    small = declar.build(call_spec("concatenate([tile(inputs, [1, 3]), one_hot(cast(inputs, 'int32'), 3)[:, :, 0], "
                                   "repeat(inputs, 2, axis=1)], axis=1)"))
    assert small.predict(np.ones((2, 4), "float32"), verbose=0).shape == (2, 24)


# --- 2. layer types multiplied by aliases --------------------------------------------------------

def _aliased_types(count: int, definition: str) -> str:
    lines = [HEAD.rstrip("\n"), "layers:", f"  T0: &a {definition}"]
    lines += [f"  T{i}: *a" for i in range(1, count)]
    return "\n".join([*lines, "model:", "  - T0: {units: 2}", ""])


_VALIDATE_AND_TIME = ("import sys, time, declar; t = time.monotonic(); problems = declar.validate(sys.argv[1]); "
                      "print(len(problems), len({(p.line, p.col) for p in problems}), problems[0].message "
                      "if problems else '-', round(time.monotonic() - t, 2), sep='|')")


@pytest.mark.parametrize(("definition", "count", "message"), [
    ("{extends: Dens}", 60_000, "unknown layer type 'Dens' to extend"),  # took 119 s: quadratic hints
    ("{extends: Dense}", 60_000, "-"),
])
def test_60000_layer_types_made_by_aliases_validate_in_linear_time(tmp_path, definition, count, message):
    spec = tmp_path / "big.yaml"
    spec.write_text(_aliased_types(count, definition))
    assert 700_000 < spec.stat().st_size < 800_000  # the 771 KB
    proc = subprocess.run([sys.executable, "-c", _VALIDATE_AND_TIME, str(spec)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)  # hang guard; the measured time is in the output
    assert proc.returncode == 0, proc.stderr[-2000:]
    found, places, first, _seconds = proc.stdout.strip().split("|")
    if message == "-":
        assert (found, first) == ("0", "-")
    else:  # one problem per type, all at the anchored definition they share
        assert (int(found), places, first) == (count, "1", message)


def test_hints_stop_costing_once_their_budget_is_spent():
    choices = [f"name{i}" for i in range(50_000)]
    with HintBudget(10).active():
        start = time.monotonic()
        assert all(did_you_mean("nam1", choices) == "" for _ in range(20_000))
        assert time.monotonic() - start < 5  # a copy of 50,000 names each time took a minute


# --- 3. only regular files are read ----------------------------------------------------------------

def _validate_in_subprocess(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "declar.cli", "validate", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_spec_path_that_is_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    proc = _validate_in_subprocess(fifo)  # a regression blocks in open() and the timeout fails the test
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.splitlines() == [f"{fifo}:1:1: error: the spec is a FIFO (named pipe), not a regular file "
                                        "(declar reads specs from regular files only)"]
    result: list[list[Problem]] = []
    worker = threading.Thread(target=lambda: result.append(declar.validate(fifo)), daemon=True)
    worker.start()
    worker.join(30)
    assert result, "declar.validate blocked on a FIFO"
    assert [(p.line, p.col, p.code) for p in result[0]] == [(1, 1, "file")]
    with pytest.raises(declar.SpecError, match="FIFO"):
        declar.build(fifo)


def test_spec_path_that_links_to_dev_zero_is_refused_before_reading(tmp_path):
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    assert link.stat().st_size == 0  # what a size check of the path saw: 0 bytes, "under the limit"
    proc = _validate_in_subprocess(link)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"{link}:1:1: error: the spec is a character device, not a regular file")
    assert [p.message for p in declar.validate(link)] == ["the spec is a character device, not a regular file"]


def test_spec_path_that_is_a_directory_gets_a_clean_message(tmp_path):
    folder = tmp_path / "specs.yaml"
    folder.mkdir()
    # the command line reads a directory as the specs under it (none here: a usage error) ...
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "no *.yaml or *.yml files under" in result.output
    # ... the API, given a directory as one spec, says what it is
    assert [p.render() for p in declar.validate(Path(folder))] == [
        f"{folder}:1:1: error: the spec is a directory, not a regular file (give the path of a .yaml file)"]


def test_a_spec_that_grows_after_the_size_check_is_still_refused(tmp_path, monkeypatch):
    """Only max_file_bytes + 1 bytes are read from the opened file, whatever the size said before."""
    from declar.spec import load

    spec = tmp_path / "m.yaml"
    spec.write_text(HEAD + "model:\n  - Dense: {units: 1}\n")
    real_fstat = os.fstat

    def grow_after_fstat(fd: int) -> os.stat_result:
        status = real_fstat(fd)
        with open(spec, "a") as f:
            f.write("#" * 3_000)  # the file grows between the check and the read
        return status

    monkeypatch.setattr(load.os, "fstat", grow_after_fstat)
    problems = declar.validate(spec, Limits(max_file_bytes=1_000))
    assert [(p.line, p.col, p.code) for p in problems] == [(1, 1, "file-too-large")]
    assert "over the limit of 1,000" in problems[0].message


def test_regular_spec_files_and_symlinks_to_them_still_validate(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(HEAD + "model:\n  - Dense: {units: 1}\n")
    (tmp_path / "link.yaml").symlink_to(spec)
    assert declar.validate(spec) == [] and declar.validate(tmp_path / "link.yaml") == []
    big = tmp_path / "big.yaml"
    big.write_text(HEAD + "model:\n  - Dense: {units: 1}\n" + "#" * 2_000_000 + "\n")
    assert [p.code for p in declar.validate(big)] == ["file-too-large"]


# --- 4. layout regexes that backtrack ---------------------------------------------------------------

def layout_spec(pattern: str) -> str:
    """A model_parallel spec; the layout_map key (quoted) starts at line 11, column 5."""
    return (HEAD + "model:\n  - Dense: {units: 2}\ndistribution:\n  strategy: model_parallel\n"
            "  mesh: {shape: [1], axis_names: [model]}\n  layout_map:\n"
            f"    '{pattern}': [null, model]\n")


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("(a|aa)*c", "a quantified group holds an alternation"),
    ("(a+)+b", "a quantified group holds another quantifier"),
    ("(?:x|xy){2,}z", "a quantified group holds an alternation"),
    ("((ab)*)*", "a quantified group holds another quantifier"),
    ("(a)\\1", "backreferences are not allowed"),
    ("(?=dense).*kernel", "lookarounds"),
    ("(?<!x)kernel", "lookarounds"),
    (".*a.*a.*a.*a", "4 quantifiers that match a varying count"),
    ("a?" * 30 + "a" * 30, "30 quantifiers"),
    ("a{1000}", "a repeat count over 256"),
    ("d" * 300, "over the limit of 256"),
    ("dense[", "not a regular expression"),
])
def test_layout_regex_that_backtracks_is_refused_at_validate(pattern, fragment):
    problems = declar.validate(layout_spec(pattern))
    p = next(p for p in problems if p.code == "unsafe-pattern")
    assert (p.line, p.col) == (11, 5) and fragment in p.message, p.render()
    assert "safe regex subset" in p.hint


@pytest.mark.parametrize("pattern", ["dense.*kernel", ".*/bias", "dense_?[0-9]*/kernel", "encoder/layer_\\d+/.*kernel",
                                     "(dense|conv)/kernel", "[a-z_]+/(kernel|bias)", "(ab)*c"])
def test_layout_regexes_people_write_are_accepted(pattern):
    assert pattern_problem(pattern) is None
    assert not [p for p in declar.validate(layout_spec(pattern)) if p.code == "unsafe-pattern"]


def test_accepted_layout_patterns_match_fast_on_hostile_paths():
    """The subset's worst case: every accepted shape of pattern, 200-character paths, well under a second."""
    path = "a" * 200 + "b"
    start = time.monotonic()
    for pattern in [".*a.*a.*a", "a?a?a?" + "a" * 200, "(aa)*(a)*c", "[ab]*[ab]*[ab]*c", "(ab)*a*a*c"]:
        assert pattern_problem(pattern) is None, pattern
        re.fullmatch(pattern, path)
    assert time.monotonic() - start < 1


def test_layout_regex_that_backtracks_is_refused_in_an_archive_by_load_and_keras(tmp_path):
    import keras
    from test_hostile_archives import config_of, rewrite

    from declar.archive import ArchiveError
    from declar.spec.model import Spec

    saved = tmp_path / "m.keras"
    declar.save(call_spec("inputs * 2"), saved)
    config = config_of(saved)
    spec = config["config"]["spec"]
    cases = {
        "layout": ({"strategy": "model_parallel", "mesh": {"shape": [1], "axis_names": ["model"]},
                    "layout_map": {"(a|aa)*c": [None, "model"]}}, None, "a quantified group holds an alternation"),
        "power": (None, "inputs * 10**10**10", "over the limit of 4,096"),
        "size": (None, "tile(inputs, [1, 10**6, 10**6])", "tile() would make 1,000,000,000,000 elements"),
    }
    for name, (distribution, call, fragment) in cases.items():
        data = {**spec, "layers": {"T": {**spec["layers"]["T"]}}}
        if distribution:
            data["distribution"] = distribution
        if call:
            data["layers"]["T"]["call"] = call
        config["config"]["spec"] = data
        config["config"]["sha256"] = Spec.from_data(data).sha256  # passes the hash check: only validation refuses
        bad = rewrite(saved, tmp_path / f"{name}.keras", config)
        start = time.monotonic()
        with pytest.raises(ArchiveError) as caught:
            declar.load(bad)
        assert fragment in str(caught.value), str(caught.value)
        assert "hash" not in str(caught.value)
        with pytest.raises(Exception) as plain:  # Keras wraps the refusal in its own types
            keras.models.load_model(bad)
        assert fragment in str(plain.value), str(plain.value)
        assert time.monotonic() - start < 30  # hang guard: (a|aa)*c never reaches Keras's matcher
        assert zipfile.is_zipfile(bad)


# --- 5. YAML readings ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "where", "bracket"), [
    ("a: [1, 2\nb: 3\nc: 4\n", (1, 4), "["),
    ("a: {x: 1\nb: 3\n", (1, 4), "{"),
    (HEAD + "model: [\n  {Dense: {units: 1}},\n  {Dense: {units: 1}}\n", (5, 8), "["),
    ('a: ["x]", \'it\'\'s [ok\', # ] in a comment\n  3\nb: 1\n', (1, 4), "["),
])
def test_unclosed_bracket_is_reported_where_it_opened(text, where, bracket):
    problems = parse_yaml(text, "m.yaml")
    assert isinstance(problems, list)
    p = only(problems)
    assert (p.line, p.col) == where
    assert p.message.startswith(f"YAML syntax: '{bracket}' was never closed")
    assert p.hint == f"close it with '{ {'[': ']', '{': '}'}[bracket] }'"


@pytest.mark.parametrize(("text", "where", "fragment"), [
    ("a: [4}\n", (1, 6), "'}' does not close the '[' opened at line 1, column 4"),  # wrong closer: at it
    ("a: [\n  1\n  2: 3\n]\n", (3, 4), "did not find expected ',' or ']'"),  # closed: a missing comma
])
def test_a_closed_but_broken_bracket_is_reported_where_yaml_stopped(text, where, fragment):
    p = only(parse_yaml(text, "m.yaml"))  # type: ignore[arg-type]
    assert (p.line, p.col) == where and fragment in p.message, p.render()
    assert "never closed" not in p.message


def test_unclosed_bracket_through_the_cli(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(HEAD + "model: [\n  {Dense: {units: 1}},\n")
    code, out = cli_validate(spec)
    assert code == 1
    assert out == (f"{spec}:5:8: error: YAML syntax: '[' was never closed (did not find expected node content by "
                   "line 7) (close it with ']')\n")


@pytest.mark.parametrize(("written", "value"), [
    ("1e-6", 1e-6), ("1E6", 1e6), ("6.0e+3", 6000.0), ("-2.5e-3", -2.5e-3), (".5e1", 5.0), ("1.0e6", 1e6),
    ("+1e3", 1000.0), ("3", 3), ("0x1F", 31), ("1_000", 1000), (".inf", float("inf")), ("-.Inf", float("-inf")),
    ("1e", "1e"), ("e5", "e5"), ("1e-6x", "1e-6x"), ("'1e-6'", "1e-6"), ('"1E6"', "1E6"), ("1.5", 1.5),
])
def test_exponent_floats_are_read_as_yaml_1_2_reads_them(written, value):
    doc = parse_yaml(f"v: {written}\n")
    assert isinstance(doc, Document)
    assert doc.data["v"] == value and type(doc.data["v"]) is type(value)
    nan = parse_yaml("v: .nan\n")
    assert isinstance(nan, Document) and nan.data["v"] != nan.data["v"]


def test_epsilon_written_1e_minus_6_is_a_float_and_a_quoted_one_is_refused_at_validate():
    spec = HEAD + "model:\n  - LayerNormalization: {epsilon: 1e-6}\n  - Dense: {units: 1}\n"
    assert declar.validate(spec) == []
    from declar.spec.load import check_spec

    parsed, _ = check_spec(spec)
    assert parsed is not None and parsed.spec.to_data()["model"][0]["LayerNormalization"]["epsilon"] == 1e-6
    quoted = spec.replace("1e-6", "'1e-6'")
    p = only(declar.validate(quoted))
    assert (p.line, p.col) == (6, 35) and "expected number, got string" in p.message, p.render()


@pytest.mark.parametrize(("layer", "argument"), [
    ("Dropout", "rate"), ("LeakyReLU", "negative_slope"), ("BatchNormalization", "momentum"),
    ("GaussianNoise", "stddev"), ("LayerNormalization", "epsilon"),
])
def test_a_string_where_a_layer_argument_is_a_number_is_refused_at_validate(layer, argument):
    spec = HEAD + f"model:\n  - {layer}: {{{argument}: '0.5x'}}\n  - Dense: {{units: 1}}\n"
    p = only(declar.validate(spec))
    assert p.line == 6 and "expected number, got string" in p.message, p.render()
    assert declar.validate(spec.replace("'0.5x'", "0.25")) == []


def test_a_weight_first_in_an_expression_does_not_make_a_whole_batch_count_as_one_example():
    """The per-example count divides by the batch of the layer's inputs, never by an operand's
    leading axis: in `s * inputs` the first operand is a weight of shape [1]."""
    import numpy as np

    from declar.limits import current_limits

    limits = Limits(max_variable_elements=1_000)
    for call in ("s * inputs", "inputs * s"):
        text = ("declar: 1\nname: m\ninputs:\n  x: {shape: [100]}\nlayers:\n  T:\n    extends: Layer\n"
                "    variables:\n      s: {shape: [1], initializer: ones}\n"
                f"    call: \"{call}\"\nmodel:\n  - T: {{}}\n")
        model = declar.build(text, limits=limits)
        token = current_limits.set(limits)
        try:
            assert model(np.ones((64, 100), "float32")).shape == (64, 100)  # 100 per example: within 1,000
        finally:
            current_limits.reset(token)
    outer = ("declar: 1\nname: m\ninputs:\n  x: {shape: [100]}\nlayers:\n  T:\n    extends: Layer\n"
             "    call: \"sum(expand_dims(inputs, 2) * expand_dims(inputs, 1), axis=2)\"\nmodel:\n  - T: {}\n")
    with pytest.raises(declar.BuildError, match="operator \\* would make 10,000 elements per example, over the "
                                                "limit of 1,000"):
        declar.build(outer, limits=limits)
