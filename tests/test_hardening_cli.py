"""The CLI against hostile and unlucky input: no traceback, documented exit codes, escaped output.

Issue 12, classes 5 (tracebacks reaching a user), 6 (output injection) and parts of 7 (`--limit`,
`save --verify`, archive file mode, NaN in `diff`). The Keras-free tests come first; the Keras
ones share one module-scoped set of built archives and are kept few.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar import cli
from declar.cli import EXIT_INTERNAL, app
from declar.text import escape, json_text, md_code

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [8]}\n"
TRAIN = HEAD + "model:\n  - Dense: {units: 8, activation: relu}\n  - Dense: {units: 4, activation: softmax}\n"
# Written as YAML escapes, so the files are valid YAML that decodes to the raw characters.
ESC_TITLE = "\\e]0;pwned\\a"          # OSC: retitle the terminal window
ESC_CLEAR = "\\e[2J\\e[H"             # clear the screen, cursor home
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\x00")


def run(*args: str):
    return runner.invoke(app, list(args))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def no_raw_controls(text: str) -> None:
    for ch in RAW_CONTROLS:
        assert ch not in text, f"raw {ch!r} reached the output: {text!r}"
    assert "Traceback" not in text


# -- class 6: output injection -------------------------------------------------------------------


def test_escape_shows_every_control_c1_and_bidi_character_as_an_escape():
    assert escape("a\x1b[31mb\x07\x00\x7f\x9b\u202e\u2066\rc\nd\te") == \
        "a\\x1b[31mb\\x07\\x00\\x7f\\x9b\\u202e\\u2066\\rc\\nd\te"
    assert escape("line 1\nline 2\r", keep_newlines=True) == "line 1\nline 2\\r"
    assert escape("Dense → ünits 漢字") == "Dense → ünits 漢字"  # printable Unicode stays as it is
    assert escape(escape("\x1b")) == escape("\x1b")  # idempotent: renderers may apply it twice


def test_json_output_stays_json_with_c1_and_bidi_escaped():
    value = {"d": "\x1b\x9b\u202e\x7f ok →"}
    text = json_text(value)
    no_raw_controls(text)
    assert json.loads(text) == value and "→" in text


def test_markdown_code_span_cannot_be_closed_or_split_by_a_value():
    assert md_code("a`b") == "``a`b``" and md_code("``") == "``` `` ```"
    assert md_code("x|y\r<!--") == "`x\\|y\\r<!--`"


def test_validate_escapes_terminal_sequences_quoted_from_the_spec(tmp_path):
    spec = write(tmp_path, "evil.yaml", HEAD + f'"se{ESC_TITLE}ed": 1\n"\\u202edescr": x\nmodel:\n'
                 f'  - "Den{ESC_CLEAR}se": {{units: 1}}\n  - "Dense\\r\\x9b": {{units: 1}}\n')
    result = run("validate", str(spec))
    assert result.exit_code == 1
    no_raw_controls(result.output)
    assert f"{spec}:5:1: error: unknown key 'se\\x1b]0;pwned\\x07ed'" in result.output
    assert "'\\u202edescr'" in result.output
    assert f"{spec}:8:5: error: unknown key 'Den\\x1b[2J\\x1b[Hse' (a layer is a CamelCase key" in result.output
    assert f"{spec}:9:5: error: unknown key 'Dense\\r\\x9b' (a layer is a CamelCase key" in result.output
    # JSON keeps the value itself (as JSON escapes)
    data = json.loads(run("validate", "--format", "json", str(spec)).output.split("\n4 problems")[0])
    assert any("se\x1b]0;pwned\x07ed" in p["message"] for p in data)
    # and the API's rendered form is escaped too (it is what SpecError prints)
    with pytest.raises(declar.SpecError) as err:
        declar.load_spec(spec)
    no_raw_controls(str(err.value))


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` to give declar a terminal")
def test_validate_on_a_terminal_escapes_through_rich_too(tmp_path):
    spec = write(tmp_path, "evil.yaml", HEAD + f'"se{ESC_TITLE}ed": 1\nmodel:\n  - "Den\\u202ese": {{units: 1}}\n')
    command = f"{sys.executable} -m declar.cli validate {spec}"
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "TERM": "xterm"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "\x1b[" in out  # rich did colour it: this is the terminal path
    # the only ESC bytes left are rich's own SGR colour codes, never the spec's OSC or bidi
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", out), repr(out)
    assert "\u202e" not in out and "\x07" not in out
    assert "se\\x1b]0;pwned\\x07ed" in out and "Den\\u202ese" in out


def test_markdown_diff_cannot_be_made_to_say_no_differences_by_a_carriage_return(tmp_path):
    old = write(tmp_path, "old.yaml", TRAIN)
    hidden = "ok\\r\\n\\r\\nNo semantic differences.\\r\\n<!-- | ` \\u202e"
    new = write(tmp_path, "new.yaml", TRAIN.replace("name: m\n", f'name: m\ndescription: "{hidden}"\n')
                .replace("units: 8", "units: 9"))
    for fmt in ("markdown", "text"):
        result = run("diff", "--no-build", "--format", fmt, str(old), str(new))
        assert result.exit_code == 1, result.output
        no_raw_controls(result.output)
        assert "No semantic differences" not in [line.strip(" .") for line in result.output.splitlines()]
        assert "units" in result.output and "8" in result.output and "9" in result.output
    markdown = run("diff", "--no-build", "--format", "markdown", str(old), str(new)).output
    row = next(line for line in markdown.splitlines() if "description" in line)
    assert row.startswith("| `description` |") and row.endswith("|") and "\\r\\n" in row
    assert "<!--" not in markdown.replace(row, "")  # the comment opener stays inside the code span
    data = json.loads(run("diff", "--no-build", "--format", "json", str(old), str(new)).output)
    assert data["settings"][0]["new"].startswith("ok\r\n")


def test_diff_of_a_spec_holding_nan_with_itself_is_equal(tmp_path):
    spec = write(tmp_path, "nan.yaml", TRAIN + "  - Dropout: {rate: .nan}\n")
    assert declar.diff(spec, spec, build=False).equal
    result = run("diff", "--no-build", str(spec), str(spec))
    assert result.exit_code == 0 and "no semantic differences" in result.output
    other = write(tmp_path, "half.yaml", TRAIN + "  - Dropout: {rate: 0.5}\n")
    result = run("diff", "--no-build", str(spec), str(other))
    assert result.exit_code == 1 and "rate: NaN -> 0.5" in result.output
    nested = write(tmp_path, "nested.yaml", TRAIN.replace("name: m\n", "name: m\nseed: 1\n")
                   + "compile: {optimizer: {name: sgd, momentum: .nan}, loss: mse}\n")
    assert run("diff", "--no-build", str(nested), str(nested)).exit_code == 0


# -- class 5: one error path, documented exit codes ------------------------------------------


def test_an_unexpected_exception_is_one_line_with_its_own_exit_code(monkeypatch, tmp_path):
    import declar.spec.load

    def broken(*args, **kwargs):
        raise RuntimeError("boom \x1b[2J\nsecond line")

    monkeypatch.setattr(declar.spec.load, "validate", broken)
    spec = write(tmp_path, "m.yaml", TRAIN)
    result = run("validate", str(spec))
    assert result.exit_code == EXIT_INTERNAL == 70
    assert result.output.strip() == ("error: internal error: RuntimeError: boom \\x1b[2J "
                                     "(run with --traceback and report it)")
    result = run("--traceback", "validate", str(spec))
    assert isinstance(result.exception, RuntimeError)  # --traceback lets it through for a report


def test_a_declar_error_from_any_module_is_a_message_not_an_internal_error(monkeypatch, tmp_path):
    import declar.spec.load
    from declar.expr.evaluate import ExpressionError

    def refuses(*args, **kwargs):
        raise ExpressionError("the result would have about 8,000 bits")

    monkeypatch.setattr(declar.spec.load, "validate", refuses)
    result = run("validate", str(write(tmp_path, "m.yaml", TRAIN)))
    assert result.exit_code == 1
    assert result.output.strip() == "error: the result would have about 8,000 bits"


def test_exit_codes_are_documented_in_help_and_docs():
    text = run("--help").output
    for code, words in ((0, "success"), (1, "problems"), (2, "usage"), (3, "diff"), (70, "internal error")):
        assert re.search(rf"\b{code} [^;]*{words}", " ".join(text.split())), (code, text)
    docs = (ROOT / "docs" / "commands.md").read_text()
    section = docs[docs.index("## Exit codes (every command)"):]
    for code in (cli.EXIT_OK, cli.EXIT_PROBLEMS, cli.EXIT_USAGE, cli.DIFF_INVALID, cli.EXIT_INTERNAL):
        assert f"| **{code}** |" in section


def test_dict_valued_optimizer_and_schedule_arguments_are_refused_at_validate(tmp_path):
    cases = {
        "{name: sgd, clipnorm: {a: 1}}": (9, 36, "optimizer argument 'clipnorm' expects number or null, got dict"),
        "{name: sgd, gradient_accumulation_steps: {a: 1}}": (9, 55, "'gradient_accumulation_steps' expects "
                                                             "integer or null"),
        "{name: adam, beta_1: [0.9]}": (9, 35, "optimizer argument 'beta_1' expects number, got list"),
        "{name: sgd, learning_rate: {name: exponential_decay, initial_learning_rate: {a: 1}, decay_steps: 10, "
        "decay_rate: 0.9}}": (9, 90, "schedule argument 'initial_learning_rate' expects number, got dict"),
        "{name: sgd, learning_rate: {name: piecewise_constant_decay, boundaries: {a: 1}, values: [0.1, 0.2]}}":
            (9, 86, "'boundaries' expects a list of numbers"),
        "{name: sgd, learning_rate: {name: exponential_decay}}": (9, 41, "schedule 'exponential_decay' needs "
                                                                  "arguments 'initial_learning_rate', "
                                                                  "'decay_steps', 'decay_rate'"),
    }
    for i, (optimizer, (line, col, fragment)) in enumerate(cases.items()):
        spec = write(tmp_path, f"o{i}.yaml", TRAIN + f"compile:\n  optimizer: {optimizer}\n  loss: mse\n")
        result = run("validate", str(spec))
        assert result.exit_code == 1, optimizer
        assert f"{spec}:{line}:{col}: error: " in result.output and fragment in result.output, result.output
    fine = write(tmp_path, "fine.yaml", TRAIN + "compile:\n  optimizer: {name: sgd, clipnorm: null, "
                 "learning_rate: {name: cosine_decay, initial_learning_rate: 0.1, decay_steps: 10}}\n  loss: mse\n")
    assert run("validate", str(fine)).exit_code == 0


# -- class 7: --limit ----------------------------------------------------------------------------


def test_limit_option_raises_a_limit_a_spec_is_over(tmp_path):
    big = write(tmp_path, "big.yaml", TRAIN + "# " + "x" * 2_100_000 + "\n")
    refused = run("validate", str(big))
    assert refused.exit_code == 1 and "over the limit of 2,000,000" in refused.output
    assert "raise Limits.max_file_bytes" in refused.output
    passed = run("--limit", "max_file_bytes=3_000_000", "validate", str(big))
    assert passed.exit_code == 0, passed.output
    # lowering works the same way, several at once
    three = write(tmp_path, "three.yaml", TRAIN + "  - Dense: {units: 2}\n")
    lowered = run("--limit", "max_layers=2", "--limit", "max_expression_depth=5", "validate", str(three))
    assert lowered.exit_code == 1 and f"{three}:6:3: error: model has 3 layers, over the limit of 2" in lowered.output


def test_limit_option_refuses_unknown_names_and_bad_values_as_usage_errors(tmp_path):
    spec = str(write(tmp_path, "m.yaml", TRAIN))
    for option, fragment in (("max_layer=5", "unknown limit 'max_layer' (did you mean 'max_layers'?)"),
                             ("max_layers", "is not NAME=VALUE"),
                             ("max_layers=lots", "max_layers must be a whole number, got 'lots'"),
                             ("max_layers=0", "max_layers must be at least 1"),
                             ("nope=1", "unknown limit 'nope'")):
        result = run("--limit", option, "validate", spec)
        assert result.exit_code == 2, option
        assert fragment in " ".join(result.output.replace("│", " ").split()), result.output
        assert "Traceback" not in result.output


def test_every_field_of_limits_can_be_set_from_the_command_line():
    for field in dataclasses.fields(declar.Limits):
        assert getattr(cli.parse_limits([f"{field.name}=12345"]), field.name) == 12345


# -- Keras: build, fit, save --verify, inspect, file mode ----------------------------------------

keras = pytest.importorskip("keras")


def test_build_of_a_layer_returning_a_list_prints_every_output_shape(tmp_path):
    spec = write(tmp_path, "lstm.yaml", "declar: 1\nname: m\ninputs:\n  x: {shape: [5, 3]}\nmodel:\n  nodes:\n"
                 "    l: {layer: LSTM, args: {units: 4, return_state: true}, inputs: x}\n  outputs: [l]\n")
    result = run("build", str(spec))
    assert result.exit_code == 0, result.output
    assert re.search(r"^l +LSTM +\[\(None, 4\), \(None, 4\), \(None, 4\)\] +128$", result.output, re.M)
    data = json.loads(run("build", "--format", "json", str(spec)).output)
    assert data["layers"][0]["output_shape"] == "[(None, 4), (None, 4), (None, 4)]"
    other = write(tmp_path, "lstm2.yaml", spec.read_text().replace("units: 4", "units: 5"))
    diffed = run("diff", str(spec), str(other))
    assert diffed.exit_code == 1 and "[(None, 4), (None, 4), (None, 4)] -> [(None, 5)" in diffed.output


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    import numpy as np

    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, x=np.ones((8, 8), "float32"), dense_1=np.full((8, 4), 0.25, "float32"))
    return path


def _fit(tmp_path, spec: Path, data: Path, *extra: str):
    return run(*extra, "fit", str(spec), "--data", str(data), "--out", str(tmp_path / "out.keras"))


def test_specs_that_validate_but_fail_in_training_are_located(tmp_path, data_file):
    def with_loss(name: str, expr: str) -> Path:
        return write(tmp_path, f"{name}.yaml", TRAIN + "compile:\n  optimizer: sgd\n  loss: l\nfunctions:\n  l:\n"
                     f"    args: [y_true, y_pred]\n    expr: \"{expr}\"\n")

    cases = [
        (with_loss("axis", "sum(y_pred, axis=5)"), "14:11", "function 'l' failed on the model's outputs: ValueError"),
        (with_loss("nograd", "mean(y_true)"), "9:3", "training failed: ValueError: No gradients provided"),
    ]
    for spec, where, fragment in cases:
        assert run("validate", str(spec)).exit_code == 0  # nothing validation can see
        result = _fit(tmp_path, spec, data_file)
        assert result.exit_code == 1, result.output
        assert f"{spec}:{where}: error: " in result.output and fragment in result.output, result.output
        assert "Traceback" not in result.output and not (tmp_path / "out.keras").exists()


def test_fit_with_a_distribution_the_machine_cannot_provide_is_located(tmp_path, data_file, monkeypatch):
    many = write(tmp_path, "many.yaml", TRAIN + "compile: {optimizer: sgd, loss: mse}\n"
                 "distribution: {strategy: mirrored, devices: 64}\n")
    result = _fit(tmp_path, many, data_file)
    assert result.exit_code == 1 and f"{many}:9:15: error: the spec asks for 64 devices" in result.output
    assert "cannot provide the distribution" in result.output
    # an archive of it (saved without its distribution) resumed on this machine
    archive = tmp_path / "many.keras"
    declar.save(declar.build(many, distribute=False), archive)
    result = _fit(tmp_path, archive, data_file)
    assert result.exit_code == 1, result.output
    assert f"{archive} (embedded spec):1:1: error: the spec asks for 64 devices" in result.output
    with pytest.raises(declar.BuildError):
        declar.load(archive, distribute=True)
    # a cluster configuration the engine refuses
    # (an environment the engine refuses is the machine's problem, not the spec's: one line, unlocated)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    worker = write(tmp_path, "worker.yaml", TRAIN + "compile: {optimizer: sgd, loss: mse}\n"
                   "distribution: {strategy: multi_worker_mirrored}\n")
    if keras.backend.backend() == "tensorflow":
        result = _fit(tmp_path, worker, data_file)
        assert result.exit_code == 1 and result.output.startswith("error: TF_CONFIG is not JSON: "), result.output
    assert "Traceback" not in result.output


def test_limits_from_the_command_line_reach_build_fit_save_and_diff(tmp_path, data_file):
    spec = write(tmp_path, "m.yaml", TRAIN + "compile: {optimizer: sgd, loss: mse}\n")
    limit = ("--limit", "max_variable_elements=4")  # the input has 8 elements per example
    for args in (("build", str(spec)), ("save", str(spec), str(tmp_path / "s.keras")),
                 ("fit", str(spec), "--data", str(data_file), "--out", str(tmp_path / "f.keras")),
                 ("transfer", str(spec), str(tmp_path / "t.keras"), "--weights-from", str(tmp_path / "x.keras"))):
        result = run(*limit, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "over the limit of 4" in result.output and "Traceback" not in result.output, result.output
    result = run(*limit, "diff", str(spec), str(spec))
    assert result.exit_code == 3 and "over the limit of 4" in result.output
    # The largest variable is the first kernel, 8 x 8: at 64 every variable fits.
    assert run("--limit", "max_variable_elements=64", "build", str(spec)).exit_code == 0


CONV = ("declar: 1\nname: conv\ninputs:\n  x: {shape: [null, null, 1]}\nmodel:\n"
        "  - Conv2D: {filters: 2, kernel_size: 3, strides: 2}\n  - Conv2D: {filters: 2, kernel_size: 3, strides: 2}\n"
        "  - GlobalAveragePooling2D: {}\n")
EMBED = ("declar: 1\nname: ids\ninputs:\n  t: {shape: [6], dtype: int32}\nmodel:\n"
         "  - Embedding: {input_dim: 50, output_dim: 3}\n  - GlobalAveragePooling1D: {}\n")


def test_verify_feeds_inputs_the_model_accepts(tmp_path):
    from declar.verify import probe_inputs

    conv = write(tmp_path, "conv.yaml", CONV)
    embed = write(tmp_path, "ids.yaml", EMBED)
    (x,) = probe_inputs(declar.build(conv))
    assert x.shape == (2, 32, 32, 1)  # unknown dimensions long enough for two stride-2 convolutions
    (ids,) = probe_inputs(declar.build(embed))
    assert ids.dtype == "int32" and ids.min() >= 0 and ids.max() < 50 and len(set(ids.ravel())) > 3
    for spec in (conv, embed):  # both used to fail (3x3 input too short) or check row 0 only
        result = run("save", str(spec), str(tmp_path / f"{spec.stem}.keras"), "--verify")
        assert result.exit_code == 0, result.output
        assert "verified: a fresh process loads it with identical predictions" in result.output


def test_failed_verification_leaves_the_previous_archive_untouched(tmp_path, monkeypatch):
    import declar.verify

    spec = write(tmp_path, "ids.yaml", EMBED)
    out = tmp_path / "ids.keras"
    assert run("save", str(spec), str(out)).exit_code == 0
    before = out.read_bytes()
    liar = tmp_path / "liar.sh"
    liar.write_text("#!/bin/sh\necho 'predictions of the loaded archive differ from a fresh build'\n")
    liar.chmod(0o755)
    for executable, reason in ((str(liar), "predictions of the loaded archive differ"), ("/bin/false", "exit code 1")):
        monkeypatch.setattr(declar.verify.sys, "executable", executable)
        result = run("save", str(spec), str(out), "--verify")
        assert result.exit_code == 1, result.output
        assert f"error: verification failed: {reason}" in result.output
        assert f"{out} was not written (the previous file, if any, is unchanged)" in result.output
        assert out.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.keras", "ids.yaml", "liar.sh"]  # no temp left
    fresh = tmp_path / "fresh.keras"
    assert run("save", str(spec), str(fresh), "--verify").exit_code == 1 and not fresh.exists()


def test_archives_get_the_mode_model_save_gives_under_the_umask(tmp_path):
    model = declar.build(write(tmp_path, "ids.yaml", EMBED))
    old = os.umask(0o027)
    try:
        declar.save(model, tmp_path / "a.keras")
        model.save(tmp_path / "plain.keras")
        os.umask(0o022)
        declar.save(model, tmp_path / "b.keras")
    finally:
        os.umask(old)
    mode = {p: stat.S_IMODE((tmp_path / p).stat().st_mode) for p in ("a.keras", "plain.keras", "b.keras")}
    assert mode == {"a.keras": 0o640, "plain.keras": 0o640, "b.keras": 0o644}


def test_inspect_escapes_names_source_variables_and_assets_from_the_archive(tmp_path):
    from tests.test_hostile_archives import config_of, rewrite

    spec = write(tmp_path, "m.yaml", "# \u202e evil comment \u2066\n" + TRAIN.replace(
        "name: m\n", f'name: m\ndescription: "{ESC_TITLE}"\n'))
    archive = tmp_path / "m.keras"
    assert run("save", str(spec), str(archive)).exit_code == 0
    result = run("inspect", str(archive))
    assert result.exit_code == 0, result.output
    no_raw_controls(result.output)
    assert "# \\u202e evil comment \\u2066" in result.output
    info = json.loads(run("inspect", "--format", "json", str(archive)).output)
    assert info["spec"]["description"] == "\x1b]0;pwned\x07"  # JSON keeps the value
    # a tampered archive: terminal sequences in the fields inspect prints
    config = config_of(archive)
    config["config"]["spec"]["name"] = "m\x1b[2J"
    config["config"]["source"] = "declar: 1\r\x1b]0;pwned\x07\x9b2J"
    hostile = rewrite(archive, tmp_path / "hostile.keras", config=config, extra={"assets/\x1b[2Jx.txt": b"x"})
    result = run("inspect", str(hostile))
    no_raw_controls(result.output)
    assert result.exit_code in (0, 1)  # listed escaped, or refused as tampered: never raw, never a traceback
