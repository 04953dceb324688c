"""One error root: every failure of the Python API is a `declar.DeclarError` carrying its problems as
data with stable codes, the CLI turns each class into its documented exit code, and "did you mean"
hints never run out across validations."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import declar
import declar.api
import declar.errors
import declar.starter
from declar.cli import EXIT_BROKEN_PIPE, EXIT_CODES, EXIT_INTERNAL, EXIT_PROBLEMS, app, exit_code
from declar.errors import DeclarError, Problem
from declar.expr.evaluate import ExpressionError
from declar.plot import check_can_write
from declar.spec.load import spec_from_data

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "specs" / "keras_guide"
runner = CliRunner()

TYPO_LAYER = "declar: 1\nname: m\ninputs: {x: {shape: [3]}}\nmodel: [{Dens: {units: 1}}]\n"
KERAS_REFUSES = "declar: 1\nname: m\ninputs: {x: {shape: [8]}}\nmodel:\n  - Reshape: {target_shape: [3]}\n"

ERROR_CLASSES = [*(cls for cls in vars(declar.errors).values() if isinstance(cls, type) and issubclass(cls, Exception)),
                 ExpressionError]


def bad_nodes(count: int) -> str:
    """A spec of ``count`` nodes of the unknown type 'Dens': each hint compares it with every layer type."""
    nodes = "".join(f"  - Dens: {{units: 1, name: d{i}}}\n" for i in range(count))
    return f"declar: 1\nname: m\ninputs: {{x: {{shape: [3]}}}}\nmodel:\n{nodes}"


class TestTree:
    def test_every_error_class_is_a_declar_error_and_a_value_error(self):
        assert len(ERROR_CLASSES) == 18
        for cls in ERROR_CLASSES:
            assert issubclass(cls, DeclarError) and issubclass(cls, ValueError), cls
            assert getattr(declar, cls.__name__) is cls  # exported from the package

    def test_every_class_has_a_code_of_its_own_kind(self):
        for cls in ERROR_CLASSES:
            assert cls.code and cls.code == cls.code.lower() and " " not in cls.code, cls

    def test_the_tree_in_the_docstring_names_every_class(self):
        drawn = declar.errors.__doc__ or ""
        for cls in ERROR_CLASSES:
            assert f" {cls.__name__} " in drawn.replace("\n", " "), cls

    def test_the_modules_that_raise_them_import_the_same_classes(self):
        from declar.archive import ArchiveError
        from declar.keras.budget import WeightBudgetError
        from declar.training_data import DataError

        assert (ArchiveError, WeightBudgetError, DataError) == (
            declar.ArchiveError, declar.WeightBudgetError, declar.DataError)

    def test_an_error_raised_with_a_message_has_one_problem_of_its_code(self):
        err = declar.DataError("d.npz: no rows", file="d.npz")
        assert not err.located
        assert err.problems == [Problem("d.npz", 0, 0, (), "d.npz: no rows", "", "data")]
        assert err.problems[0].render() == "d.npz: error: d.npz: no rows"
        assert declar.ArchiveError("x", code="foreign-archive").problems[0].code == "foreign-archive"


class TestPythonApi:
    def test_load_spec_of_a_bad_spec(self):
        with pytest.raises(declar.SpecError) as err:
            declar.load_spec(TYPO_LAYER)
        assert err.value.code == "invalid-spec" and err.value.located
        assert [(p.line, p.col, p.code) for p in err.value.problems] == [(4, 10, "unknown-layer")]
        assert declar.validate(TYPO_LAYER) == err.value.problems

    def test_every_problem_of_the_readme_typo_has_its_code(self):
        with pytest.raises(DeclarError) as err:
            declar.load_spec(ROOT / "tests" / "data" / "typo.yaml")
        assert [p.code for p in err.value.problems] == [
            "unknown-key", "expression-refused", "unknown-layer", "missing-arg", "unknown-arg", "unknown-arg"]

    def test_build_of_an_invalid_spec(self):
        with pytest.raises(declar.SpecError) as err:
            declar.build(TYPO_LAYER)
        assert [p.code for p in err.value.problems] == ["unknown-layer"]

    def test_build_of_a_spec_keras_refuses(self):
        with pytest.raises(declar.BuildError) as err:
            declar.build(KERAS_REFUSES)
        assert err.value.code == "keras-build" and err.value.located
        (problem,) = err.value.problems
        assert (problem.line, problem.col, problem.path, problem.code) == (5, 5, ("model", 0, "Reshape"),
                                                                            "keras-build")

    def test_load_of_a_plain_keras_archive(self, tmp_path):
        path = tmp_path / "plain.keras"
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
        with pytest.raises(declar.ArchiveError) as err:
            declar.load(path)
        assert err.value.code == "foreign-archive"
        assert [(p.file, p.code) for p in err.value.problems] == [(str(path), "foreign-archive")]
        with pytest.raises(declar.ArchiveError) as err:
            declar.inspect(path)
        assert err.value.code == "foreign-archive"

    def test_load_of_a_file_that_is_no_archive(self, tmp_path):
        path = tmp_path / "junk.keras"
        path.write_text("not a zip")
        with pytest.raises(declar.ArchiveError) as err:
            declar.load(path)
        assert [(p.file, p.code) for p in err.value.problems] == [(str(path), "archive")]

    def test_fit_with_data_that_does_not_fit(self, tmp_path):
        data = tmp_path / "bad.npz"
        np.savez(data, inputs=np.ones((4, 8)))
        with pytest.raises(declar.DataError) as err:
            declar.fit(GUIDE / "custom_compile.yaml", data, tmp_path / "m.keras", verbose=0)
        assert err.value.code == "data"
        (problem,) = err.value.problems
        assert (problem.file, problem.code) == (str(data), "data")
        assert "missing arrays ['x', 'dense_1']" in problem.message

    def test_plot_to_a_format_it_cannot_tell(self, tmp_path):
        out = tmp_path / "model.bmpx"
        with pytest.raises(declar.PlotError) as err:
            check_can_write(out)
        assert [(p.file, p.code) for p in err.value.problems] == [(str(out), "plot")]

    def test_a_declar_1_caller_catching_value_error_still_catches_them(self, tmp_path):
        with pytest.raises(ValueError, match="unknown layer type 'Dens'"):
            declar.build(TYPO_LAYER)


class TestArchiveOfAnInvalidSpec:
    @pytest.fixture(scope="class")
    def tampered(self, tmp_path_factory) -> tuple[Path, dict]:
        """An archive whose embedded spec has two problems, with its hash cleared."""
        out = tmp_path_factory.mktemp("archives")
        good = out / "good.keras"
        declar.save(GUIDE / "custom_build.yaml", good)
        with zipfile.ZipFile(good) as z:
            config = json.loads(z.read("config.json"))
        spec = config["config"]["spec"]
        spec["model"][0] = {"Dens": {"units": 3}}
        spec["model"][1]["Dense"]["unit"] = spec["model"][1]["Dense"].pop("units")
        config["config"]["sha256"] = None
        bad = out / "bad.keras"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.infolist():
                data = json.dumps(config).encode() if item.filename == "config.json" else zin.read(item.filename)
                zout.writestr(item, data)
        return bad, spec

    def test_strict_load_keeps_every_problem_with_its_location(self, tampered):
        path, spec = tampered
        with pytest.raises(declar.SpecError) as checked:
            spec_from_data(spec)
        with pytest.raises(declar.ArchiveError) as err:
            declar.load(path)
        assert err.value.problems == checked.value.problems
        assert {p.code for p in err.value.problems} >= {"unknown-layer", "unknown-arg"}
        assert all(p.file == "<archive spec>" and p.path[:1] == ("model",) for p in err.value.problems)
        assert err.value.code == "invalid-spec"
        assert isinstance(err.value.__cause__, declar.SpecError)
        assert "cannot load: SpecError: " in str(err.value)  # the message is as it was


def run(*args: str):
    return runner.invoke(app, list(args))


def raising(err: Exception):
    def fail(*args, **kwargs):
        raise err

    return fail


EXAMPLES = {
    declar.SpecError: lambda: declar.SpecError([Problem("m.yaml", 3, 5, ("model",), "bad", "", "unknown-layer")]),
    declar.SpecFileRefused: lambda: declar.SpecFileRefused("the spec is a FIFO", "regular files only", "file"),
    declar.BuildError: lambda: declar.BuildError([Problem("m.yaml", 3, 5, ("model",), "bad", "", "keras-build")]),
    declar.ModelBuildError: lambda: declar.ModelBuildError(declar.load_spec(TYPO_LAYER.replace("Dens", "Dense"))
                                                            .spec.nodes[0], "refused"),
    declar.CompileBuildError: lambda: declar.CompileBuildError(("compile", "metrics", 0), "refused"),
    declar.FunctionCallError: lambda: declar.FunctionCallError("f", ValueError("shapes")),
    declar.ExpressionError: lambda: declar.ExpressionError("too large", col=3),
    declar.ImportRefused: lambda: declar.ImportRefused(
        ["layer 'f' (class Lambda) is custom Python code and cannot become a spec"], ["d"], "m.keras"),
}


def example(cls: type[DeclarError]) -> DeclarError:
    return EXAMPLES[cls]() if cls in EXAMPLES else cls(f"{cls.__name__.lower()}: refused")


class TestExitCodes:
    @pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
    def test_every_declar_error_exits_1_and_diff_exits_3(self, cls, monkeypatch):
        err = example(cls)
        assert err.located or [p.code for p in err.problems] == [err.code]
        assert exit_code(err) == EXIT_PROBLEMS
        monkeypatch.setattr(declar.starter, "write_starter", raising(err))
        result = run("init", "m")
        assert result.exit_code == EXIT_PROBLEMS, result.output
        assert "Traceback" not in result.output and "internal error" not in result.output
        shown = [p.render() for p in err.problems] if err.located else [f"error: {str(err).splitlines()[0]}"]
        assert result.output.splitlines()[: len(shown)] == shown
        monkeypatch.setattr(declar.api, "diff", raising(err))
        assert run("diff", "a.yaml", "b.yaml", "--no-build").exit_code == 3

    def test_other_exceptions_are_internal_errors(self, monkeypatch):
        monkeypatch.setattr(declar.starter, "write_starter", raising(KeyError("x")))
        result = run("init", "m")
        assert result.exit_code == EXIT_INTERNAL
        assert result.output.startswith("error: internal error: KeyError: 'x' (run with --traceback")
        monkeypatch.setattr(declar.api, "diff", raising(KeyError("x")))
        assert run("diff", "a.yaml", "b.yaml", "--no-build").exit_code == EXIT_INTERNAL  # a bug, not "invalid"

    def test_a_closed_pipe_ends_quietly(self, monkeypatch):
        monkeypatch.setattr(declar.starter, "write_starter", raising(BrokenPipeError()))
        result = run("init", "m")
        assert (result.exit_code, result.output) == (EXIT_BROKEN_PIPE, "")

    def test_the_table_is_the_documented_one(self):
        documented = (ROOT / "docs" / "commands.md").read_text()
        assert {cls.__name__: code for cls, code in EXIT_CODES.items()} == {
            "DeclarError": 1, "BrokenPipeError": 141, "Exception": 70}
        for code in EXIT_CODES.values():
            assert f"| **{code}** |" in documented

    def test_a_located_error_prints_file_line_col(self, tmp_path):
        spec = tmp_path / "m.yaml"
        spec.write_text(KERAS_REFUSES)
        result = run("build", str(spec))
        assert result.exit_code == 1
        assert result.output.startswith(f"{spec}:5:5: error: ValueError: ")


class TestHintBudget:
    def test_many_validations_in_one_process_all_get_their_hints(self):
        text = bad_nodes(60)  # thousands of comparisons each: 40 of them are far beyond one budget
        for _ in range(40):
            problems = [p for p in declar.validate(text) if p.code == "unknown-layer"]
        assert len(problems) == 60 and problems[-1].hint == "did you mean 'Dense'?"

    def test_many_archive_specs_in_one_process_all_get_their_hints(self):
        data = declar.load_spec(bad_nodes(60).replace("Dens:", "Dense:")).spec.to_data()
        data = {**data, "model": [{"Dens": {"units": 1}} for _ in range(60)]}
        for _ in range(40):
            with pytest.raises(declar.SpecError) as err:
                spec_from_data(data)
        problems = [p for p in err.value.problems if p.code == "unknown-layer"]
        assert len(problems) == 60 and problems[-1].hint == "did you mean 'Dense'?"

    def test_one_huge_spec_still_stops_hinting_once_its_budget_is_spent(self):
        problems = [p for p in declar.validate(bad_nodes(1_000)) if p.code == "unknown-layer"]
        assert len(problems) == 1_000
        assert problems[0].hint == "did you mean 'Dense'?"
        assert problems[-1].hint == ""  # later hints were not computed: the time stays bounded
        assert declar.validate(bad_nodes(1))[0].hint == "did you mean 'Dense'?"  # and the next spec has its own
