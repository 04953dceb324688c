"""The `declar` command: a thin typed layer over the Python API.

One place (`_fail`) turns a declar error into output and an exit code; a bad spec never shows
a traceback unless ``--traceback`` asks for one (for bug reports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from declar._version import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build Keras 3 models from YAML specs, with every saving hook synthesized.")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


_state = {"traceback": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"declar {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    traceback: Annotated[bool, typer.Option("--traceback", help="Show Python tracebacks (for bug reports).")] = False,
) -> None:
    """declar: Keras models from YAML specs."""
    _state["traceback"] = traceback
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter out


def _print_problems(problems: list[Any], err: bool = False) -> None:
    """``file:line:col: error: message (hint)`` lines; coloured by rich on a terminal, plain otherwise."""
    stream = sys.stderr if err else sys.stdout
    if problems and stream.isatty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(stderr=err, highlight=False)
        for p in problems:
            hint = f" [dim]({escape(p.hint)})[/dim]" if p.hint else ""
            where = f"[bold]{escape(p.file)}:{p.line}:{p.col}:[/bold]"
            console.print(f"{where} [red]error:[/red] {escape(p.message)}{hint}", soft_wrap=True)
        return
    for p in problems:
        typer.echo(p.render(), err=err)


def _fail(err: Exception) -> NoReturn:
    """Print a declar error (located problems, or one message) and exit 1."""
    if _state["traceback"]:
        raise err
    problems = getattr(err, "problems", None)
    if problems:
        _print_problems(problems, err=True)
    else:
        typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code=1)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Spec files to check.")],
    format: Annotated[OutputFormat, typer.Option("--format", help="text for people and editors, json for tools.")]
    = OutputFormat.text,
) -> None:
    """Check specs without importing Keras; print every problem as file:line:col."""
    from declar.spec.load import validate as validate_spec

    results = {str(f): validate_spec(f) for f in files}
    if format is OutputFormat.json:
        typer.echo(json.dumps([p.as_dict() for ps in results.values() for p in ps], indent=1))
    else:
        _print_problems([p for problems in results.values() for p in problems])
        count = sum(len(p) for p in results.values())
        bad = sum(1 for p in results.values() if p)
        summary = (f"{count} problem{'s' * (count != 1)} in {bad} of {len(files)} file{'s' * (len(files) != 1)}"
                   if count else f"{len(files)} spec{'s' * (len(files) != 1)} valid")
        typer.echo(summary, err=True)
    if any(results.values()):
        raise typer.Exit(code=1)


@app.command()
def schema() -> None:
    """Print the spec format's JSON Schema."""
    from declar.spec.schema import schema as load_schema

    typer.echo(json.dumps(load_schema(), indent=2))


@app.command()
def ops(
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """List the functions of the expression language."""
    from declar.expr.ops import BASE, OPS

    entries = [BASE, *OPS.values()]
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
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        custom = isinstance(layer, DeclarLayer)
        hooks = ""
        if custom:
            d = layer.definition
            hooks = ", ".join(h for h, used in (("variables", d.variables), ("assets", d.assets),
                                                ("build_args", d.build_args), ("call", True)) if used)
        shape = layer.output.shape if hasattr(layer, "output") else ""
        rows.append({"name": layer.name, "type": layer.definition.name if custom else type(layer).__name__,
                     "output_shape": str(tuple(shape)), "params": layer.count_params(), "hooks": hooks})
    return rows


def _print_table(rows: list[dict[str, Any]], title: str) -> None:
    if not rows:
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for key in rows[0]:
            table.add_column(key, justify="right" if key == "params" else "left")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        Console().print(table)
        return
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in rows[0]}
    typer.echo(title)
    typer.echo("  ".join(k.ljust(w) for k, w in widths.items()).rstrip())
    for row in rows:
        typer.echo("  ".join(str(row[k]).ljust(w) for k, w in widths.items()).rstrip())


@app.command()
def build(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """Validate and build a spec; print its layers, output shapes and parameter counts."""
    import declar

    try:
        model = declar.build(spec)
    except (declar.SpecError, declar.BuildError) as err:
        _fail(err)
    rows = _summary(model)
    total = model.count_params()
    if format is OutputFormat.json:
        typer.echo(json.dumps({"name": model.name, "output_shape": str(model.output_shape), "params": total,
                               "compiled": bool(model.compiled), "layers": rows}, indent=1))
        return
    _print_table(rows, f"model {model.name}")
    typer.echo(f"output shape {model.output_shape}, {total:,} parameters"
               + (", compiled" if model.compiled else ""))


_VERIFY_PROBE = r"""
import sys, numpy as np
import declar, keras
spec_path, archive = sys.argv[1:3]
built = declar.build(spec_path)
loaded = declar.load(archive)
rng = np.random.default_rng(0)
xs = [rng.random([2] + [d or 3 for d in t.shape[1:]]).astype(str(t.dtype)) for t in built.inputs]
a = built.predict(xs if len(xs) > 1 else xs[0], verbose=0)
b = loaded.predict(xs if len(xs) > 1 else xs[0], verbose=0)
flat = lambda y: [y[k] for k in sorted(y)] if isinstance(y, dict) else (y if isinstance(y, list) else [y])
same = all(np.array_equal(u, v) for u, v in zip(flat(a), flat(b)))
same_w = len(built.weights) == len(loaded.weights)
print("ok" if same and same_w else "mismatch")
"""


@app.command()
def save(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    out: Annotated[Path, typer.Argument(help="The .keras archive to write (replaced atomically).")],
    verify: Annotated[bool, typer.Option("--verify", help="Reload in a fresh process and compare.")] = False,
    weights_from: Annotated[Path | None, typer.Option(
        "--weights-from", help="Carry the fitting weights of an older version's archive (as `declar transfer`).")
    ] = None,
) -> None:
    """Build, compile (when the spec says how) and write a self-contained .keras archive."""
    import declar
    import declar.api
    from declar.archive import ArchiveError

    if weights_from is not None and verify:
        raise typer.BadParameter("--verify compares with a fresh build, which carried weights are not",
                                 param_hint="--weights-from")
    try:
        if weights_from is not None:
            typer.echo(declar.api.transfer(spec, weights_from, out).render())
        else:
            declar.save(spec, out)
    except (declar.SpecError, declar.BuildError, ArchiveError) as err:
        _fail(err)
    typer.echo(f"wrote {out}")
    if verify:
        probe = subprocess.run([sys.executable, "-c", _VERIFY_PROBE, str(spec), str(out)], capture_output=True,
                               text=True)
        if probe.returncode != 0 or probe.stdout.strip() != "ok":
            typer.echo(f"error: verification failed: {(probe.stdout + probe.stderr).strip()[-500:]}", err=True)
            raise typer.Exit(code=1)
        typer.echo("verified: a fresh process loads it with identical predictions")


@app.command()
def fit(
    source: Annotated[Path, typer.Argument(help="A spec (trained from its seed) or a .keras archive (resumed).")],
    data: Annotated[Path, typer.Option("--data", help=".npz file with arrays named after inputs and outputs.")],
    out: Annotated[Path, typer.Option("--out", help="The .keras archive to write (replaced atomically).")],
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    validation_split: Annotated[float, typer.Option("--validation-split", min=0.0, max=0.99)] = 0.0,
) -> None:
    """Train a spec or resume an archive on an .npz file, then save the archive."""
    import declar
    from declar.archive import ArchiveError

    try:
        declar.fit(source, data, out, epochs=epochs, batch_size=batch_size, validation_split=validation_split)
    except (declar.SpecError, declar.BuildError, declar.DataError, ArchiveError) as err:
        _fail(err)
    typer.echo(f"wrote {out}")


@app.command()
def inspect(
    archive: Annotated[Path, typer.Argument(help="A .keras archive written by declar.")],
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.text,
) -> None:
    """Show the spec embedded in an archive, its hash, versions, variables and assets."""
    from declar.archive import ArchiveError, inspect_archive

    try:
        info = inspect_archive(archive)
    except (ArchiveError, ValueError, KeyError) as err:
        _fail(err)
    if format is OutputFormat.json:
        typer.echo(json.dumps(info, indent=1))
        return
    typer.echo(f"model:    {info['name']}\nsha256:   {info['sha256']}\ndeclar:   {info['declar_version']}\n"
               f"keras:    {info['keras_version']}\nsaved:    {info['saved']}\ncompiled: {info['compiled']}")
    typer.echo("variables:")
    for v in info["variables"]:
        typer.echo(f"  {v['path']}  {tuple(v['shape'])}  {v['dtype']}")
    typer.echo("assets:" + ("" if info["assets"] else " none"))
    for a in info["assets"]:
        typer.echo(f"  {a}")
    typer.echo("spec as written:")
    typer.echo("  " + info["source"].rstrip().replace("\n", "\n  "))



# -- versions, pictures and new specs: diff, transfer, plot, init -----------------------------


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


DIFF_INVALID = 3
"""`declar diff`'s exit code for an input it cannot read or check (1 means "different")."""


def _fail_with(err: Exception, code: int) -> NoReturn:
    """Print a declar error the way `_fail` does, with another exit code."""
    try:
        _fail(err)
    except typer.Exit:
        raise typer.Exit(code=code) from None


@app.command("diff")
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
    from declar.api import BuildError
    from declar.archive import ArchiveError
    from declar.compare import diff as diff_versions
    from declar.compare import keras_available
    from declar.problems import SpecError

    use_keras = build and keras_available()
    if build and not use_keras:
        typer.echo("note: Keras is not installed; parameter counts and shapes are not compared", err=True)
    try:
        result = diff_versions(old, new, build=use_keras)
    except (SpecError, BuildError, ArchiveError) as err:
        _fail_with(err, DIFF_INVALID)
    if format is DiffFormat.json:
        typer.echo(json.dumps(result.as_dict(), indent=1, ensure_ascii=False))
    elif format is DiffFormat.markdown:
        typer.echo(result.render_markdown(), nl=False)
    else:
        typer.echo(result.render_text())
    if not result.equal:
        raise typer.Exit(code=1)


@app.command("transfer")
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
    from declar.archive import ArchiveError

    try:
        report = declar.api.transfer(spec, weights_from, out)
    except (declar.api.SpecError, declar.api.BuildError, ArchiveError) as err:
        _fail(err)
    if format is OutputFormat.json:
        typer.echo(json.dumps({"out": str(out), **report.as_dict()}, indent=1))
        return
    typer.echo(report.render())
    typer.echo(f"wrote {out}")


@app.command("plot")
def plot_command(
    source: Annotated[Path, typer.Argument(help="A spec file or a .keras archive.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="model.png, .svg or .pdf (needs Graphviz's dot), or "
                                      "model.dot (DOT text, needs nothing).")],
    shapes: Annotated[bool, typer.Option("--shapes/--no-shapes", help="Build the model (needs Keras) to show "
                                         "output shapes and parameter counts.")] = True,
) -> None:
    """Draw the model's graph: layer names and types, custom layer types in another colour."""
    from declar.api import BuildError
    from declar.archive import ArchiveError
    from declar.compare import is_archive, keras_available, read_spec
    from declar.plot import PlotError, check_can_write, to_dot, write
    from declar.problems import SpecError

    try:
        check_can_write(out)
        spec = read_spec(source)
        model = None
        if shapes and keras_available():
            import declar

            model = (declar.load(source, compile=False) if is_archive(source)
                     else declar.build(spec, compile=False, distribute=False))
        write(to_dot(spec, model), out)
    except (SpecError, BuildError, ArchiveError, PlotError) as err:
        _fail(err)
    typer.echo(f"wrote {out}")


@app.command("init")
def init_command(
    name: Annotated[str, typer.Argument(help="The model's name (a Python identifier).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="The spec file to write (default NAME.declar.yaml"
                                             "); an existing file is never overwritten.")] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="URL or path for the editor's $schema modeline "
                                               "(default: the schema's published $id).")] = None,
) -> None:
    """Write a starter spec that validates and builds, with the editor's schema modeline."""
    from declar.starter import StarterError, write_starter

    try:
        path = write_starter(name, out, schema=schema)
    except StarterError as err:
        _fail(err)
    typer.echo(f"wrote {path}")

if __name__ == "__main__":  # pragma: no cover
    app()
