"""The `declar` command: a thin typed layer over the Python API.

Every command runs inside `_command`, the one place that turns an error into output and an exit
code, looked up by the error's class in `EXIT_CODES` (`exit_code`): a `declar.DeclarError`
prints its located problems (or one message) and exits 1 (`declar diff`: 3); anything else is a
bug in declar, printed as one line that asks for a report, exiting 70; a closed pipe ends quietly
with 141. A traceback appears only when ``--traceback`` asks for one.
Every string that comes from a spec or an archive is printed through `declar.text`, so it cannot
send control sequences to the terminal.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from declar._version import __version__
from declar.errors import DeclarError, Problem, SpecError
from declar.hints import did_you_mean
from declar.limits import DEFAULT_LIMITS, Limits, current_limits
from declar.sections.distribution.cluster import is_chief
from declar.spec.versions import FORMAT_VERSION
from declar.startup_noise import silence_framework_startup
from declar.summary import layer_rows
from declar.text import escape, first_line, json_text

EXIT_OK = 0
"""The command did what it was asked (validate: every file is valid; diff: the versions are equal)."""
EXIT_PROBLEMS = 1
"""A spec, archive or data file has problems, or declar refused it; the problems are printed.
`declar diff` also exits 1 when the versions differ."""
EXIT_USAGE = 2
"""A usage error: an unknown option, a missing argument, a bad ``--limit``."""
DIFF_INVALID = 3
"""`declar diff`'s exit code for an input it cannot read or check (1 means "different")."""
EXIT_INTERNAL = 70
"""A bug in declar (EX_SOFTWARE of sysexits.h): no input should ever cause it; please report it."""
EXIT_BROKEN_PIPE = 141
"""Standard output was closed early (``declar validate big.yaml | head``): the code a shell reports for
a process ended by SIGPIPE (128 + 13), as `yes | head` gives, so a pipeline under ``set -o pipefail``
sees what it would see from any Unix tool; nothing is printed."""

ExitCodes = Mapping[type[BaseException], int]

EXIT_CODES: ExitCodes = {
    DeclarError: EXIT_PROBLEMS,  # a spec, archive or data file declar refused: its problems are printed
    BrokenPipeError: EXIT_BROKEN_PIPE,
    Exception: EXIT_INTERNAL,  # anything else is a bug in declar
}
"""The exit code of each class of error a command can end in; the nearest class of an error decides."""


def exit_code(err: BaseException, overrides: ExitCodes | None = None) -> int:
    """The exit code of ``err``: the entry of its nearest class in ``overrides``, else in `EXIT_CODES`.

    Example:
        >>> from declar.errors import ArchiveError
        >>> exit_code(ArchiveError("m.keras: no such archive"))
        1
        >>> exit_code(ArchiveError("m.keras: no such archive"), {DeclarError: DIFF_INVALID})
        3
        >>> exit_code(KeyError("x"))
        70
    """
    table = {**EXIT_CODES, **(overrides or {})}
    return next(table[cls] for cls in type(err).__mro__ if cls in table)


EXIT_CODES_HELP = (
    f"Exit codes: {EXIT_OK} success; {EXIT_PROBLEMS} problems found or the input was refused (printed as "
    f"file:line:col or one error line; for diff: the versions differ); {EXIT_USAGE} usage error; "
    f"{DIFF_INVALID} diff only: an input is invalid; {EXIT_INTERNAL} internal error (a bug in declar: "
    f"run again with --traceback and report it); {EXIT_BROKEN_PIPE} the output was closed early (a pipe to head)."
)

app = typer.Typer(add_completion=True,  # --install-completion; costs 7 ms of imports
                  no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build Keras 3 models from YAML specs, with every saving hook synthesized.",
                  epilog=EXIT_CODES_HELP)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


_state: dict[str, Any] = {"traceback": False, "limits": DEFAULT_LIMITS}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"declar {__version__}")
        raise typer.Exit()


def parse_limits(values: list[str] | None) -> Limits:
    """`Limits` with each ``NAME=VALUE`` of ``--limit`` applied; a bad one is a usage error.

    Every field of `Limits` can be set, so a limit added there is settable here by itself.

    Example:
        >>> parse_limits(["max_layers=50_000"]).max_layers
        50000
    """
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    changes: dict[str, int] = {}
    for item in values or ():
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE (e.g. max_layers=50000)", param_hint="--limit")
        if name not in fields:
            hint = did_you_mean(name, fields) or f"limits: {', '.join(fields)}"
            raise typer.BadParameter(f"unknown limit {name!r} ({hint})", param_hint="--limit")
        try:
            value = int(raw.strip())
        except ValueError:
            raise typer.BadParameter(f"{name} must be a whole number, got {raw!r}", param_hint="--limit") from None
        if value < 1:
            raise typer.BadParameter(f"{name} must be at least 1, got {value}", param_hint="--limit")
        changes[name] = value
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


def _limits() -> Limits:
    return _state["limits"]


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    traceback: Annotated[bool, typer.Option("--traceback", help="Show Python tracebacks (for bug reports).")] = False,
    limit: Annotated[list[str] | None, typer.Option(
        "--limit", metavar="NAME=VALUE",
        help="Raise or lower one of declar's limits (repeatable), e.g. --limit max_layers=50000; the names "
             "are the fields of declar.Limits.")] = None,
) -> None:
    """declar: Keras models from YAML specs."""
    _state["traceback"] = traceback
    _state["limits"] = parse_limits(limit)
    # Code that reads the limits of the call in progress (deep inside Keras) sees these too.
    token = current_limits.set(_state["limits"])
    ctx.call_on_close(lambda: _reset_limits(token))
    silence_framework_startup()  # TensorFlow's start-up chatter, if a command imports it


def _reset_limits(token: contextvars.Token[Limits]) -> None:
    try:
        current_limits.reset(token)
    except ValueError:  # set in another context (a test runner's thread): nothing to undo here
        pass


def _print_problems(problems: list[Problem], err: bool = False) -> None:
    """``file:line:col: error: message (hint)`` lines; coloured by rich on a terminal, plain otherwise."""
    stream = sys.stderr if err else sys.stdout
    if problems and stream.isatty():
        from rich.console import Console
        from rich.markup import escape as markup

        console = Console(stderr=err, highlight=False)
        for p in problems:
            hint = f" [dim]({markup(escape(p.hint))})[/dim]" if p.hint else ""
            where = f"[bold]{markup(escape(p.file))}:{p.line}:{p.col}:[/bold]"
            console.print(f"{where} [red]error:[/red] {markup(escape(p.message))}{hint}", soft_wrap=True)
        return
    for p in problems:
        typer.echo(p.render(), err=err)


def _end(err: Exception, code: int) -> NoReturn:
    """Print ``err`` as its exit code says (located problems, one message, or a bug report) and exit."""
    if code == EXIT_BROKEN_PIPE:
        _broken_pipe()
    if _state["traceback"]:
        raise err
    if isinstance(err, DeclarError):
        _print_error(err)
    elif missing_framework(err):
        typer.echo(f"error: {missing_framework(err)}", err=True)
    else:
        message = first_line(str(err))
        typer.echo(f"error: internal error: {type(err).__name__}: {escape(message)} "
                   "(run with --traceback and report it)", err=True)
    raise typer.Exit(code=code)


FRAMEWORKS = ("keras", "tensorflow", "jax", "jaxlib", "torch")
INSTALL_A_BACKEND = "pip install 'declar[tensorflow]' (or 'declar[jax]', 'declar[torch]')"


def missing_framework(err: BaseException) -> str | None:
    """What to install, when ``err`` says Keras or its backend is absent (the core install has
    neither: validate, schema, init, inspect, diff --no-build and migrate need none).

    Example:
        >>> print(missing_framework(ModuleNotFoundError("No module named 'keras'", name="keras")))
        this command needs Keras and a backend, which are not installed: pip install 'declar[tensorflow]' (or ...)
    """
    if not isinstance(err, ModuleNotFoundError) or (err.name or "").split(".")[0] not in FRAMEWORKS:
        return None
    what = "Keras and a backend" if err.name == "keras" else f"the Keras backend '{err.name}'"
    return f"this command needs {what}, which {'are' if err.name == 'keras' else 'is'} not installed: " \
        f"{INSTALL_A_BACKEND}"


def _print_error(err: DeclarError) -> None:
    """Located problems as file:line:col lines, or the message, its first line after ``error:``."""
    if err.located:
        _print_problems(err.problems, err=True)
        return
    lines = str(err).splitlines() or [type(err).__name__]
    typer.echo("\n".join(f"error: {escape(lines[0])}" if i == 0 else escape(line)
                         for i, line in enumerate(lines)), err=True)


def _broken_pipe() -> NoReturn:
    """The reader of standard output went away: stop quietly, as the Python docs' "Note on SIGPIPE" says.

    Standard output is pointed at /dev/null so the interpreter's final flush cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test runner's stream): nothing left to flush
        pass
    raise typer.Exit(code=EXIT_BROKEN_PIPE)


F = TypeVar("F", bound=Callable[..., Any])

# The exceptions typer itself handles (exit codes, usage errors, Ctrl-C's abort). Reached through
# typer's own names: typer 0.25+ vendors click instead of depending on it, so `import click` fails.
CLICK_EXCEPTIONS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, typer.BadParameter.__mro__[2])


def _command(name: str | None = None, *, exit_codes: ExitCodes | None = None, **options: Any) -> Callable[[F], F]:
    """`app.command` with the error handling every command shares (see the module docstring);
    ``exit_codes`` overrides entries of `EXIT_CODES` for this command."""

    def register(function: F) -> F:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                result = function(*args, **kwargs)
                sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
                return result
            except (*CLICK_EXCEPTIONS, KeyboardInterrupt):
                raise
            except Exception as err:
                # Keras or a backend not installed is the user's set-up, not a bug: the extra is named
                _end(err, EXIT_PROBLEMS if missing_framework(err) else exit_code(err, exit_codes))

        app.command(name, **options)(run)
        return function

    return register


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


SPEC_SUFFIXES = (".yaml", ".yml")
"""The files `declar validate DIR` checks: every ``*.yaml`` and ``*.yml`` under it, as yamllint does."""


def spec_files(paths: list[Path]) -> list[Path]:
    """``paths`` with each directory replaced by the spec files under it (recursively, sorted; hidden
    directories and files skipped, like ``.git``; symbolic links not followed out of it)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(folder, f) for f in sorted(files)
                      if f.endswith(SPEC_SUFFIXES) and not f.startswith(".")]
    return found


@_command()
def validate(
    files: Annotated[list[Path], typer.Argument(
        help="Spec files to check; a directory means every *.yaml and *.yml file under it.")],
    format: Annotated[ValidateFormat, typer.Option(
        "--format", help="text for people and editors, json for tools, github for workflow annotations.")]
    = ValidateFormat.text,
) -> None:
    """Check specs without importing Keras; print every problem as file:line:col."""
    from declar.spec.load import validate as validate_spec

    checked = spec_files(files)
    if not checked:
        raise typer.BadParameter(f"no *.yaml or *.yml files under {', '.join(escape(f) for f in files)}",
                                 param_hint="FILES")
    results = {str(f): validate_spec(f, _limits()) for f in checked}
    problems = [p for ps in results.values() for p in ps]
    if format is ValidateFormat.json:
        typer.echo(json_text([p.as_dict() for p in problems]))
    elif format is ValidateFormat.github:
        for p in problems:
            typer.echo(p.render_github())
    else:
        _print_problems(problems)
    if format is not ValidateFormat.json:
        count, bad, total = len(problems), sum(1 for p in results.values() if p), len(checked)
        summary = (f"{count} problem{'s' * (count != 1)} in {bad} of {total} file{'s' * (total != 1)}"
                   if count else f"{total} spec{'s' * (total != 1)} valid")
        typer.echo(summary, err=True)
    if problems:
        raise typer.Exit(code=EXIT_PROBLEMS)


@_command()
def schema(
    bundle: Annotated[bool, typer.Option("--bundle", help="One self-contained file: the layer-argument schema "
                                         "inlined (what https://declar.dev/schemas/declar.schema.json serves).")
                      ] = False,
) -> None:
    """Print the spec format's JSON Schema."""
    from declar.spec.bundle import bundle as bundled
    from declar.spec.schema import schema as load_schema

    typer.echo(json.dumps(bundled() if bundle else load_schema(), indent=2))


@_command()
def ops(
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """List the functions of the expression language."""
    from declar.expr.ops import BASE, OPS, RANDOM_OPS

    entries = [BASE, *OPS.values(), *RANDOM_OPS.values()]
    if format is OutputFormat.json:
        typer.echo(json.dumps([{"name": s.name, "signature": s.render(), "summary": s.summary} for s in entries],
                              indent=1))
        return
    width = max(len(s.render()) for s in entries)
    for s in entries:
        typer.echo(f"{s.render():<{width}}  {s.summary}")


def _summary(model: Any) -> list[dict[str, Any]]:
    from declar.keras.layer import DeclarLayer

    rows = []
    for row in layer_rows(model):
        layer = row.layer
        custom = isinstance(layer, DeclarLayer)
        hooks = ""
        if custom:
            d = layer.definition
            hooks = ", ".join(h for h, used in (("variables", d.variables), ("assets", d.assets),
                                                ("build_args", d.build_args), ("call", True)) if used)
        kind = getattr(layer, "declar_kind", None) or type(layer).__name__  # a block use's block
        rows.append({"name": row.name, "type": layer.definition.name if custom else kind,
                     "output_shape": row.output_shape, "params": row.params, "hooks": hooks})
    return rows


def _print_table(rows: list[dict[str, Any]], title: str) -> None:
    if not rows:
        return
    cells = [{k: escape(v) for k, v in row.items()} for row in rows]
    title = escape(title)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title))
        for key in cells[0]:
            # fold, never crop: in a narrow terminal a long layer name wraps onto the next line
            table.add_column(key, justify="right" if key == "params" else "left", overflow="fold")
        for row in cells:
            table.add_row(*(Text(v) for v in row.values()))  # Text: never read as rich markup
        Console().print(table)
        return
    widths = {k: max(len(k), *(len(r[k]) for r in cells)) for k in cells[0]}
    typer.echo(title)
    typer.echo("  ".join(k.ljust(w) for k, w in widths.items()).rstrip())
    for row in cells:
        typer.echo("  ".join(row[k].ljust(w) for k, w in widths.items()).rstrip())


@_command()
def build(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """Validate and build a spec; print its layers, output shapes and parameter counts."""
    import declar

    model = declar.build(spec, limits=_limits())
    rows = _summary(model)
    total = model.count_params()
    if format is OutputFormat.json:
        typer.echo(json_text({"name": model.name, "output_shape": str(model.output_shape), "params": total,
                              "compiled": bool(model.compiled), "layers": rows}))
        return
    _print_table(rows, f"model {model.name}")
    typer.echo(escape(f"output shape {model.output_shape}, {total:,} parameters"
                      + (", compiled" if model.compiled else "")))


@_command(epilog="With --verify, the new archive is written to a temporary file next to OUT and checked "
                 "there: OUT is replaced only when a fresh process loads it with identical predictions, so "
                 "a failed verification leaves the previous OUT (or no file) in place, and exits 1.")
def save(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    out: Annotated[Path, typer.Argument(help="The .keras archive to write (replaced atomically).")],
    verify: Annotated[bool, typer.Option("--verify", help="Before replacing OUT, reload the new archive in a "
                                         "fresh process and compare its predictions.")] = False,
    weights_from: Annotated[Path | None, typer.Option(
        "--weights-from", help="Carry the fitting weights of an older version's archive (as `declar transfer`).")
    ] = None,
) -> None:
    """Build, compile (when the spec says how) and write a self-contained .keras archive."""
    import declar
    import declar.api
    from declar.archive import atomic_save

    if weights_from is not None and verify:
        raise typer.BadParameter("--verify compares with a fresh build, which carried weights are not",
                                 param_hint="--weights-from")
    if weights_from is not None:
        typer.echo(declar.api.transfer(spec, weights_from, out, limits=_limits()).render())
        typer.echo(f"wrote {escape(out)}")
        return
    model = declar.build(spec, limits=_limits())
    if not verify:
        atomic_save(model, out)
        typer.echo(f"wrote {escape(out)}")
        return
    from declar.verify import verify_archive

    atomic_save(model, out, check=lambda tmp: verify_archive(spec, tmp, out, _limits()))
    typer.echo(f"wrote {escape(out)}")
    typer.echo("verified: a fresh process loads it with identical predictions")


@_command(epilog="The module imports keras (and numpy), never declar: build_model() makes the same model "
                 "with the same initial weights (from the spec's seed), compiled when the spec compiles. A "
                 "construct it cannot write yet is refused at its place in the spec, and OUT is left as it was.")
def eject(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The Python module to write (replaced atomically).")],
) -> None:
    """Write the spec as a readable Python module (keras.layers, keras.ops) that builds the same model."""
    from declar.atomic import replace_atomically
    from declar.eject import eject as eject_module

    text = eject_module(spec, _limits())
    replace_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=0o644, suffix=".py")
    typer.echo(f"wrote {escape(out)}")


@_command()
def fit(
    source: Annotated[Path, typer.Argument(help="A spec (trained from its seed) or a .keras archive (resumed).")],
    out: Annotated[Path, typer.Option("--out", help="The .keras archive to write (replaced atomically); the "
                                      "history goes next to it (OUT.history.json).")],
    data: Annotated[Path | None, typer.Option(
        "--data", help="Training data named after the inputs and outputs: .npz, .csv, .tfrecord, or a directory "
                       "with one subdirectory of images per class (default: training.data of the spec).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1,
                                               help="Overrides training.epochs (default 1).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1,
                                                   help="Overrides training.batch_size (default 32).")] = None,
    validation_split: Annotated[float | None, typer.Option("--validation-split", min=0.0, max=0.99,
                                                           help="Overrides training.validation_split.")] = None,
    shuffle: Annotated[bool | None, typer.Option("--shuffle/--no-shuffle", help="Overrides training.shuffle "
                                                 "(the order comes from training.shuffle_seed).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Train a spec or resume an archive, as its training section says, on a data file or directory,
    then save the archive.

    On a terminal Keras's progress bar shows; piped, one plain line per epoch.
    """
    import declar

    declar.fit(source, data, out, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
               shuffle=shuffle, verbose=0 if quiet else "auto", limits=_limits())
    if not quiet:
        typer.echo(f"wrote {escape(out)}" if is_chief() else f"trained; the chief writes {escape(out)}")


@_command()
def adapt(
    source: Annotated[Path, typer.Argument(help="A spec with Normalization, TextVectorization, StringLookup, "
                                                "IntegerLookup or Discretization layers.")],
    data: Annotated[Path, typer.Argument(help="The data to adapt on: an .npz file or a directory of text.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The .keras archive to write (replaced atomically).")],
) -> None:
    """Build a spec, run adapt() of its preprocessing layers on the data, and save the archive."""
    from declar.adapt import adapt_spec

    for line in adapt_spec(source, data, out, limits=_limits()).lines():
        typer.echo(f"adapted {escape(line)}" if not line.endswith("the spec gives") else f"kept {escape(line)}")
    typer.echo(f"wrote {escape(out)}")


@_command()
def inspect(
    archive: Annotated[Path, typer.Argument(help="A .keras archive written by declar.")],
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """Show the spec embedded in an archive, its hash, versions, variables and assets."""
    from declar.archive import inspect_archive

    info = inspect_archive(archive)
    if format is OutputFormat.json:
        typer.echo(json_text(info))
        return
    fields = ("model", "name"), ("sha256", "sha256"), ("declar", "declar_version"), ("keras", "keras_version"), \
        ("saved", "saved"), ("compiled", "compiled")
    unverified = set(info.get("unverified", ()))
    for label, key in fields:
        # The mark comes before the value, so no value (padded, or claiming to be verified) can hide it.
        mark = "(unverified) " if key in unverified else ""
        typer.echo(f"{label + ':':<10}{mark}{escape(info.get(key))}")
    shown_format: Any = info.get("format_version")
    if not info.get("format_readable"):  # "1" and 1 look alike as text: show what the archive holds, as JSON
        recorded = info["spec"].get("declar")
        shown_format = "missing" if "declar" not in info["spec"] else json.dumps(recorded, default=str)[:40]
        upgraded = f" (not a format version this declar reads: 1 to {FORMAT_VERSION}; declar.load refuses this archive)"
    else:
        upgraded = f" (upgraded to format {info['upgraded_to']} when loaded)" if info.get("upgraded_to") else ""
    mark = "(unverified) " if "format_version" in unverified else ""
    typer.echo(f"{'format:':<10}{mark}{escape(shown_format)}{upgraded}")
    if isinstance(info["spec"].get("training"), dict):
        from declar.sections.training import describe
        from declar.spec.model import TrainingSpec

        typer.echo(f"{'training:':<10}{escape(describe(TrainingSpec.from_data(info['spec']['training'])))}")
    if unverified:
        typer.echo("(unverified) = as the archive records it: no hash covers it, anyone could have written it")
    typer.echo("variables:")
    for v in info["variables"]:
        typer.echo(f"  {escape(v['path'])}  {escape(tuple(v['shape']))}  {escape(v['dtype'])}")
    typer.echo("assets:" + ("" if info["assets"] else " none"))
    for a in info["assets"]:
        typer.echo(f"  {escape(a)}")
    typer.echo("spec as written:")
    source = info["source"].replace("\r\n", "\n") if isinstance(info["source"], str) else ""  # CRLF files
    typer.echo("  " + escape(source.rstrip(), keep_newlines=True).replace("\n", "\n  "))


# -- versions, pictures and new specs: diff, transfer, plot, init -----------------------------


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


@_command("diff", exit_codes={DeclarError: DIFF_INVALID})
def diff_command(
    old: Annotated[Path, typer.Argument(help="The old version: a spec file or a .keras archive.")],
    new: Annotated[Path, typer.Argument(help="The new version: a spec file or a .keras archive.")],
    format: Annotated[DiffFormat, typer.Option("--format", help="text, json, or markdown (for a pull request "
                                                "comment).")] = DiffFormat.text,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Build both (when Keras is installed) to "
                                        "compare parameter counts and output shapes; --no-build stays "
                                        "Keras-free.")] = True,
) -> None:
    """Show what changed between two versions of a model, for code review.

    Nodes added, removed, renamed or changed (each argument old -> new), custom layer types,
    functions, inputs, outputs, compile settings and other settings; with Keras, parameter counts
    and output shapes. Comments and formatting do not count.

    Exit codes, like diff(1): 0 when the versions are the same, 1 when they differ, 2 on a usage
    error, 3 when an input cannot be read or is not a valid spec (its problems are printed as
    file:line:col, as by `declar validate`).
    """
    from declar.api import diff as diff_versions
    from declar.compare import keras_available

    use_keras = build and keras_available()
    if build and not use_keras:
        typer.echo("note: Keras is not installed; parameter counts and shapes are not compared", err=True)
    result = diff_versions(old, new, build=use_keras, limits=_limits())
    if format is DiffFormat.json:
        typer.echo(json_text(result.as_dict()))
    elif format is DiffFormat.markdown:
        typer.echo(result.render_markdown(), nl=False)
    else:
        _print_diff(result.render_text())
    if not result.equal:
        raise typer.Exit(code=EXIT_PROBLEMS)


DIFF_STYLES = {"---": "bold red", "+++": "bold green", "+": "green", "-": "red", "~": "yellow", ">": "cyan"}
"""The colour of a `declar diff` line by its marker, as git colours its diffs."""


def _print_diff(text: str) -> None:
    """The diff's text, coloured by each line's marker on a terminal (rich honours NO_COLOR), plain
    when piped: the lines are the same either way."""
    if not sys.stdout.isatty():
        typer.echo(text)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for line in text.splitlines():
        marker = line.lstrip().split(" ", 1)[0]
        style = DIFF_STYLES.get(marker, "bold" if line.endswith(":") and not line.startswith(" ") else "")
        console.print(Text(line, style=style))  # Text: spec text is never read as rich markup


@_command("transfer")
def transfer_command(
    spec: Annotated[Path, typer.Argument(help="The new version's spec file.")],
    out: Annotated[Path, typer.Argument(help="The .keras archive to write (replaced atomically).")],
    weights_from: Annotated[Path, typer.Option("--weights-from", help="The old version's .keras archive.")],
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """Build a new version of a spec with the trained weights of an old version's archive.

    Every layer whose name, number of weights and weight shapes are the same in both gets the old
    weights; the others keep the initial weights of the new spec's seed. Prints what was carried,
    what is new and what did not fit (and why). The optimizer starts fresh.
    """
    import declar.api

    report = declar.api.transfer(spec, weights_from, out, limits=_limits())
    if format is OutputFormat.json:
        typer.echo(json_text({"out": str(out), **report.as_dict()}))
        return
    typer.echo(escape(report.render(), keep_newlines=True))
    typer.echo(f"wrote {escape(out)}")


@_command("plot")
def plot_command(
    source: Annotated[Path, typer.Argument(help="A spec file or a .keras archive.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="model.png, .svg or .pdf (needs Graphviz's dot), or "
                                      "model.dot (DOT text, needs nothing).")],
    shapes: Annotated[bool, typer.Option("--shapes/--no-shapes", help="Build the model (needs Keras) to show "
                                         "output shapes and parameter counts.")] = True,
) -> None:
    """Draw the model's graph: layer names and types, custom layer types in another colour."""
    from declar.archive import is_archive
    from declar.compare import keras_available, read_spec
    from declar.plot import check_can_write, to_dot, write

    check_can_write(out)
    loaded = read_spec(source, limits=_limits())
    model = None
    if shapes and keras_available():
        import declar

        model = (declar.load(source, compile=False, limits=_limits()) if is_archive(source)
                 else declar.build(loaded, compile=False, distribute=False, limits=_limits()))
    write(to_dot(loaded.spec, model), out)
    typer.echo(f"wrote {escape(out)}")


@_command("plot-history")
def plot_history_command(
    source: Annotated[Path, typer.Argument(help="A history (OUT.history.json) or the .keras archive it is next to.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="curves.svg (needs nothing) or curves.png (needs "
                                      "matplotlib: pip install 'declar[plot]').")],
) -> None:
    """Draw the loss and metric curves of a training run, training and validation, one panel each."""
    from declar.fitting.history import read_history
    from declar.history_plot import check_can_write, write

    check_can_write(out)
    write(read_history(source), out)
    typer.echo(f"wrote {escape(out)}")
class ExportFormatName(str, Enum):
    saved_model = "saved_model"
    onnx = "onnx"
    litert = "litert"


@_command("export", epilog="The artifact is written to a hidden temporary name next to OUT and renamed to OUT only "
                           "after it passed its check; OUT.export.json records the converter's and runtime's "
                           "versions. A format that cannot express part of the spec refuses it, located at "
                           "file:line:col, and exits 1 with no OUT written.")
def export_command(
    source: Annotated[Path, typer.Argument(help="A spec (built from its seed) or a .keras archive.")],
    out: Annotated[Path, typer.Argument(help="The artifact: a SavedModel directory, a .onnx or a .tflite file.")],
    format: Annotated[ExportFormatName, typer.Option("--format", help="saved_model, onnx (needs declar's onnx extra) "
                                                     "or litert (needs its litert extra).")],
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Run the artifact in its own runtime in a "
                                         "fresh process and compare with Keras's predictions.")] = True,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Fix the batch dimension (default: "
                                                   "dynamic); LiteRT lowers recurrent layers only with one.")] = None,
) -> None:
    """Export a model for serving (SavedModel, ONNX, LiteRT), checked in the format's own runtime."""
    from declar.api import export

    report = export(source, out, format=format.value, verify=verify, batch_size=batch_size, limits=_limits())
    typer.echo(escape(report.render(), keep_newlines=True))


@_command("init")
def init_command(
    name: Annotated[str, typer.Argument(help="The model's name (a Python identifier).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="The spec file to write (default NAME.declar.yaml"
                                             "); an existing file is never overwritten.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="URL or path for the editor's $schema modeline "
                                               "(default: the schema's published $id).")] = None,
) -> None:
    """Write a starter spec that validates and builds, with the editor's schema modeline."""
    from declar.starter import write_starter

    path = write_starter(name, out, schema=schema)
    typer.echo(f"wrote {escape(path)}")


@_command("migrate")
def migrate_command(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to upgrade to the current format version.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write the upgraded spec here instead of in "
                                             "place (one spec only).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if any spec would change "
                                        "(for pre-commit and CI).")] = False,
) -> None:
    """Rewrite specs of an older format version as the current one, keeping comments and layout."""
    from declar.migration import migrate

    if out is not None and len(specs) != 1:
        raise typer.BadParameter("-o/--out takes one spec", param_hint="-o")
    failed = would_change = False
    for spec in specs:
        try:
            result = migrate(spec, out, check=check, limits=_limits())
        except SpecError as err:  # the other files are still migrated
            _print_problems(err.problems, err=True)
            failed = True
            continue
        would_change |= check and result.changed
        typer.echo(escape(result.message))
    if failed or would_change:
        raise typer.Exit(code=EXIT_PROBLEMS)


@_command("import")
def import_command(
    model: Annotated[Path, typer.Argument(help="A .keras file of built-in Keras layers (read in safe mode).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The spec file to write.")],
    archive: Annotated[Path | None, typer.Option("--archive", help="The archive to write (default: the spec's "
                                                 "path with .keras).")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="URL or path for the editor's $schema modeline "
                                               "(default: the schema's published $id).")] = None,
) -> None:
    """Turn an existing Keras model into a spec, and an archive of that spec with the model's weights.

    Layers with custom Python code (Lambda, custom classes) are refused by name before anything is
    loaded. The archive is checked to predict bit-identically to the original, here and in a fresh process.
    """
    import declar.api

    typer.echo(escape(declar.api.import_model(model, out, archive=archive, schema=schema).render(), keep_newlines=True))


if __name__ == "__main__":  # pragma: no cover
    app()
