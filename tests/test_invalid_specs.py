"""The corpus of invalid specs in tests/invalid/: every problem found, each at the right place.

Each corpus file starts with comment lines: what it tests, then one ``# expect: LINE:COL: fragment``
per problem that `declar.validate` must report (1-based line and column of the offending key or
value, and a fragment of the message). A file that cannot hold comments (binary junk, another
encoding, an empty file) has them in a sidecar ``NAME.expect``. A ``# xfail: reason`` line marks a
known declar bug (the expectation stays the correct one; the mark is strict, so delete the line once
the bug is fixed); ``# cli-xfail: reason`` marks a bug that also breaks the command's output for that file.

Validation never imports keras, so neither does this module.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "invalid"
VALID_SPECS = sorted((ROOT / "specs").glob("**/*.yaml"))

_EXPECT = re.compile(r"^#\s*expect:\s*(\d+):(\d+):\s*(.+?)\s*$")
_XFAIL = re.compile(r"^#\s*xfail:\s*(.+?)\s*$")
_CLI_XFAIL = re.compile(r"^#\s*cli-xfail:\s*(.+?)\s*$")
_LINE = r"{path}:\d+:\d+: error: \S.*"


def _runner() -> CliRunner:
    """A runner that keeps stderr apart from stdout (click < 8.2 mixes them unless told not to)."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2: always separate
        return CliRunner()


runner = _runner()


@dataclass(frozen=True)
class Case:
    path: Path
    description: str
    expected: tuple[tuple[int, int, str], ...]
    xfail: str | None
    cli_xfail: str | None


def _header(path: Path) -> list[str]:
    """The leading comment lines of a corpus file, or the lines of its sidecar."""
    sidecar = path.with_suffix(".expect")
    if sidecar.exists():
        return sidecar.read_text("utf-8").splitlines()
    lines = []
    for line in path.read_bytes().decode("utf-8-sig", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def load_case(path: Path) -> Case:
    header = _header(path)
    expected = tuple((int(m[1]), int(m[2]), m[3]) for m in map(_EXPECT.match, header) if m)
    xfail = next((m[1] for m in map(_XFAIL.match, header) if m), None)
    cli_xfail = next((m[1] for m in map(_CLI_XFAIL.match, header) if m), None)
    description = header[0].lstrip("# ").strip() if header else ""
    assert description and not _EXPECT.match(header[0]), f"{path.name}: the first line must say what it tests"
    assert expected, f"{path.name}: no '# expect: LINE:COL: fragment' line"
    return Case(path, description, expected, xfail, cli_xfail)


CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.suffix != ".expect")
CASES = [load_case(p) for p in CORPUS_FILES]


def _params(cli: bool = False) -> list:
    out = []
    for case in CASES:
        reason = case.cli_xfail if cli else case.xfail
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(case, id=case.path.name, marks=marks))
    return out


def _describe(problems) -> str:
    return "\n".join(f"  {p.line}:{p.col}: {p.message}" for p in problems) or "  (none)"


# --- the corpus through the Python API --------------------------------------------------------

def test_corpus_is_large_and_every_sidecar_has_its_file():
    assert len(CORPUS_FILES) >= 100
    for sidecar in CORPUS.glob("*.expect"):
        assert any(p.stem == sidecar.stem for p in CORPUS_FILES), f"{sidecar.name} has no spec file"


@pytest.mark.parametrize("case", _params())
def test_invalid_spec_reports_every_problem_where_it_is(case: Case):
    problems = declar.validate(case.path)
    want = {(line, col) for line, col, _ in case.expected}
    got = {(p.line, p.col) for p in problems}
    assert got == want, (f"{case.path.name} ({case.description})\nexpected at {sorted(want)}\n"
                         f"declar reported:\n{_describe(problems)}")
    for line, col, fragment in case.expected:
        here = [p.message for p in problems if (p.line, p.col) == (line, col)]
        assert any(fragment in m for m in here), f"{line}:{col}: no message contains {fragment!r}: {here}"
    for p in problems:
        assert p.file == str(case.path)
        assert "\n" not in p.message, f"a message spans several lines: {p.message!r}"


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    filler = "# " + "x" * 97 + "\n"  # 100 bytes a line
    big.write_text("declar: 1\n" + filler * 20_000)  # 2,000,010 bytes, over 2,000,000
    assert big.stat().st_size > 2_000_000
    problems = declar.validate(big)
    assert [(p.line, p.col) for p in problems] == [(1, 1)]
    assert "over the limit of 2,000,000" in problems[0].message


def test_asset_symlink_escaping_the_spec_directory(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "vocab.txt").symlink_to(outside)
    spec = spec_dir / "m.yaml"
    spec.write_text(textwrap.dedent("""\
        declar: 1
        name: m
        inputs:
          x: {shape: [4]}
        layers:
          T:
            extends: Layer
            assets:
              vocab: {kind: text, file: vocab.txt}
        model:
          - T: {}
        """))
    problems = declar.validate(spec)
    # line 9 is "      vocab: {kind: text, file: vocab.txt}"; the path starts at column 33
    assert [(p.line, p.col) for p in problems] == [(9, 33)], _describe(problems)
    assert "resolves outside the spec's directory" in problems[0].message


# --- hostile sizes: small specs that must not take minutes ------------------------------------

# CPU seconds for one `validate` process (start-up and imports included) of a spec of at most 270 KB.
# Validation is linear: the largest case (6,000 layer types with 6,000 expression problems) needs
# about 1.5 s; the quadratic paths these cases guard against took 7 to 21 s.
CPU_BUDGET = 3
_HEAD = "declar: 1\nname: m\ninputs:\n  x: {shape: [4]}\n"


def _extends_chain(types: int, uses: int) -> str:
    chain = ["layers:", "  T0: {extends: Dense}"] + [f"  T{i}: {{extends: T{i - 1}}}" for i in range(1, types)]
    return _HEAD + "\n".join(chain) + "\nmodel:\n" + f"  - T{types - 1}: {{units: 4}}\n" * uses


def _graph(nodes: list[str], outputs: str) -> str:
    return _HEAD + "model:\n  nodes:\n" + "".join(f"    {n}\n" for n in nodes) + f"  outputs: {outputs}\n"


# name: (spec text, number of problems, xfail reason or None)
HOSTILE = {
    # Refused once, at the type that passes Limits.max_extends_depth, in linear time.
    "extends_chain_1000_types": (_extends_chain(1000, 1), 1, None),
    "unresolved_refs_300": (
        _graph([f"n{i}: {{layer: Dense, args: {{units: 1}}, inputs: q{i}}}" for i in range(300)],
               "[" + ", ".join(f"n{i}" for i in range(300)) + "]"), 300, None),
    # Each of these took 7 to 21 s before: chains walked per use, the source split per problem,
    # "did you mean" run over every name for every mistake.
    "extends_chain_2500_types_used_2500_times": (_extends_chain(2500, 2500), 1, None),
    "expression_problems_6000": (
        _HEAD + "layers:\n" + "".join(f"  T{i}: {{extends: Layer, call: inputs * zz}}\n" for i in range(6000))
        + "model:\n  - T0: {}\n", 6000, None),
    "unknown_layer_types_1200": (
        _HEAD + "layers:\n" + "".join(f"  Type{i}: {{extends: Layer}}\n" for i in range(1200))
        + "model:\n" + "".join(f"  - Typo{i}: {{}}\n" for i in range(1200)), 1200, None),
    "unknown_extends_1200": (
        _HEAD + "layers:\n" + "".join(f"  Type{i}: {{extends: Typo{i}}}\n" for i in range(1200))
        + "model:\n  - Dense: {units: 1}\n", 1200, None),
    "unknown_outputs_1500": (
        _graph([f"n{i}: {{layer: Dense, args: {{units: 1}}, inputs: x}}" for i in range(1500)],
               "[" + ", ".join(f"m{i}" for i in range(1500)) + "]"), 1500, None),
}
_COUNT_PROBLEMS = "import sys, declar; print(len(declar.validate(sys.argv[1])))"


def _limit_cpu() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_BUDGET, CPU_BUDGET + 1))


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """Validate every hostile spec at once, each in a process killed after CPU_BUDGET seconds of CPU."""
    out = tmp_path_factory.mktemp("hostile")
    procs = {}
    for name, (text, _, _) in HOSTILE.items():
        spec = out / f"{name}.yaml"
        spec.write_text(text)
        assert len(text) <= 270_000
        procs[name] = subprocess.Popen([sys.executable, "-c", _COUNT_PROBLEMS, str(spec)], cwd=ROOT, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit_cpu)
    results = {}
    for name, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # pragma: no cover - the CPU limit ends it first
            proc.kill()
            stdout, stderr = proc.communicate()
        results[name] = (proc.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else [])
    for name, (_, _, reason) in HOSTILE.items()])
def test_hostile_spec_validates_within_the_cpu_budget(hostile_runs, name):
    returncode, stdout, stderr = hostile_runs[name]
    assert returncode == 0, (f"killed after {CPU_BUDGET} s of CPU" if returncode < 0 else stderr[-2000:])
    assert stdout.split() == [str(HOSTILE[name][1])]


def test_validating_the_corpus_never_imports_keras():
    code = textwrap.dedent("""\
        import sys, pathlib, declar
        for p in sorted(pathlib.Path(sys.argv[1]).iterdir()):
            if p.suffix != ".expect":
                try:
                    declar.validate(p)
                except Exception:
                    pass  # crashes are reported by the corpus test
        heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
        print(",".join(heavy) or "none")
        """)
    proc = subprocess.run([sys.executable, "-c", code, str(CORPUS)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "none"


# --- valid specs ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", VALID_SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_spec_has_no_problems(spec: Path):
    assert declar.validate(spec) == []


def test_cli_accepts_the_valid_specs():
    assert VALID_SPECS
    result = runner.invoke(app, ["validate", *map(str, VALID_SPECS)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert result.stdout == ""
    assert f"{len(VALID_SPECS)} specs valid" in result.stderr


# --- the command line -------------------------------------------------------------------------

CLI_SAMPLE = ["yaml_crlf_unknown_key.yaml", "mixed_schema_and_semantic.yaml", "call_several_problems.yaml",
              "binary_latin1.yaml", "graph_cycle.yaml", "yaml_tag_python_object_apply.yaml", "empty.yaml"]


def test_cli_reports_every_problem_of_several_files_as_file_line_col():
    cases = [load_case(CORPUS / name) for name in CLI_SAMPLE]
    assert not any(c.xfail or c.cli_xfail for c in cases)
    result = runner.invoke(app, ["validate", *(str(c.path) for c in cases)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    printed = result.stdout.splitlines()
    assert len(printed) == sum(len({(ln, col) for ln, col, _ in c.expected}) for c in cases), result.stdout
    for case in cases:
        mine = [line for line in printed if line.startswith(f"{case.path}:")]
        assert mine, f"nothing printed for {case.path.name}"
        for line in mine:
            assert re.fullmatch(_LINE.format(path=re.escape(str(case.path))), line), line
        where = {tuple(int(n) for n in line[len(str(case.path)) + 1:].split(":")[:2]) for line in mine}
        assert where == {(ln, col) for ln, col, _ in case.expected}
    total = len(printed)
    assert f"{total} problems in {len(cases)} of {len(cases)} files" in result.stderr


@pytest.mark.parametrize("case", _params(cli=True))
def test_cli_output_for_each_corpus_file(case: Case):
    """The command prints what the API returns, one well-formed line per problem, and never a traceback."""
    result = runner.invoke(app, ["validate", str(case.path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    printed = result.stdout.splitlines()
    for line in printed:
        assert re.fullmatch(_LINE.format(path=re.escape(str(case.path))), line), f"malformed line: {line!r}"
    api = declar.validate(case.path)
    assert printed == [p.render() for p in api]
    assert result.exit_code == (1 if api else 0)


def test_cli_json_output_carries_location_path_message_and_hint():
    cases = [load_case(CORPUS / name) for name in ("mixed_schema_and_semantic.yaml", "call_unknown_name.yaml")]
    result = runner.invoke(app, ["validate", "--format", "json", *(str(c.path) for c in cases)])
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    entries = json.loads(result.stdout)
    assert len(entries) == sum(len(c.expected) for c in cases)
    for entry in entries:
        assert {"file", "line", "col", "path", "message", "hint"} <= set(entry)
        assert isinstance(entry["line"], int) and isinstance(entry["col"], int)
        assert entry["path"].startswith("$")
        assert entry["message"] and isinstance(entry["hint"], str)
    for case in cases:
        mine = [e for e in entries if e["file"] == str(case.path)]
        assert {(e["line"], e["col"]) for e in mine} == {(ln, col) for ln, col, _ in case.expected}
    hints = {e["message"]: e["hint"] for e in entries}
    assert hints["unknown layer type 'Dens'"] == "did you mean 'Dense'?"
    assert any(e["path"] == "$.model[0].Dens" for e in entries)


def test_cli_json_output_of_valid_specs_is_an_empty_list():
    result = runner.invoke(app, ["validate", "--format", "json", *map(str, VALID_SPECS)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
