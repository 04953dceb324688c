"""declar's errors: one root, every failure carrying its problems as data with stable codes.

The tree::

    DeclarError                 the root; a ValueError
    ├── SpecError               a spec has problems (each located at file:line:col)
    │   └── SpecFileRefused     a spec path is not a regular file of an allowed size
    ├── BuildError              Keras refused part of a valid spec, or it did not train (located)
    │   ├── ModelBuildError     a node of the graph could not be built (``node`` names it)
    │   ├── CompileBuildError   a loss or metric could not be made (``where`` is its spec path)
    │   ├── LayerBuildError     a declared layer could not be built or loaded
    │   ├── WeightBudgetError   a variable, or all of them, over Limits.max_*_elements
    │   ├── FunctionCallError   a spec function failed when Keras called it
    │   └── ExpressionError     an expression failed while it was evaluated (in declar.expr.evaluate)
    ├── ArchiveError            an archive could not be written, read or trusted
    │   └── VerifyError         a fresh process did not reproduce the model
    ├── DataError               training data does not fit the model, or cannot be read safely
    ├── ImportRefused           a Keras model holds custom Python code (each such layer named)
    ├── FileLimitError          an untrusted file is not a regular file, or too large
    ├── PlotError               the graph could not be drawn
    ├── ExportError             a serving format cannot express the model, or its runtime disagrees
    └── StarterError            the starter spec cannot be written

`DeclarError` subclasses `ValueError` so that code written against declar 1, which raised
plain ``ValueError`` subclasses, keeps working: ``except ValueError`` still catches everything
here. New code catches `DeclarError` (or one of its children) and reads:

- ``err.code``: a stable kind (each class has a default; a raise site may name a finer one);
- ``err.problems``: a list of `Problem`. A spec or build error lists every located problem; any
  other error has one problem with its code and, when known, the file and spec path it concerns
  (``line`` and ``col`` 0: no position).

Example:
    >>> import declar
    >>> try:
    ...     declar.load_spec("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dens: {units: 1}}]\\n")
    ... except declar.DeclarError as err:
    ...     print(err.code, [(p.line, p.col, p.code) for p in err.problems])
    invalid-spec [(4, 10, 'unknown-layer')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from declar.text import escape, first_line

if TYPE_CHECKING:
    from declar.spec.model import NodeSpec

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One located mistake in a spec (or the one problem of another error).

    ``line`` and ``col`` are 1-based, as editors count them (0: the problem has no position, like
    a data file's); ``path`` is the JSON path of the offending value; ``code`` is a stable kind
    (tests and tools match on it, not on wording).

    Example:
        >>> p = Problem(file="m.yaml", line=3, col=5, path=("model", 0), message="unknown layer 'Dens'",
        ...             hint="did you mean 'Dense'?", code="unknown-layer")
        >>> p.render()
        "m.yaml:3:5: error: unknown layer 'Dens' (did you mean 'Dense'?)"
    """

    file: str
    line: int
    col: int
    path: JsonPath
    message: str
    hint: str = ""
    code: str = "invalid"

    def render(self) -> str:
        """``file:line:col: error: message (hint)``, the form editors and CI annotate.

        Messages quote spec text, so control characters are shown escaped (`declar.text.escape`):
        a spec cannot send escape sequences to a terminal or forge another line of output.
        """
        hint = f" ({escape(self.hint)})" if self.hint else ""
        where = f"{escape(self.file)}:{self.line}:{self.col}: " if self.line else \
            (f"{escape(self.file)}: " if self.file else "")
        return f"{where}error: {escape(self.message)}{hint}"

    def render_github(self) -> str:
        """The problem as a GitHub Actions workflow command, which the run's page shows as an
        annotation on the spec's line (``::error file=m.yaml,line=3,col=5,title=...::message``).

        The message and properties are escaped as the runner's toolkit does (``%``, CR, LF; and
        ``:``/``,`` in properties), so spec text cannot end the command or start another one.

        Example:
            >>> Problem(file="m.yaml", line=3, col=5, path=(), message="unknown layer 'Dens'",
            ...         hint="did you mean 'Dense'?", code="unknown-layer").render_github()
            "::error file=m.yaml,line=3,col=5,title=declar unknown-layer::unknown layer 'Dens' (did you mean 'Dense'?)"
        """
        def data(text: str) -> str:
            text = escape(text)  # control characters shown, as in every other output
            return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

        def prop(text: str) -> str:
            return data(text).replace(":", "%3A").replace(",", "%2C")

        where = [f"file={prop(self.file)}"] if self.file else []
        if self.line:
            where += [f"line={self.line}", f"col={self.col}"]
        where.append("title=" + prop(f"declar {self.code}"))
        hint = f" ({self.hint})" if self.hint else ""
        return f"::error {','.join(where)}::{data(self.message + hint)}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = format_path(self.path)
        return out


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicate and order by position, so output does not depend on discovery order."""
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


def format_path(path: JsonPath) -> str:
    """``("model", 0, "Dense")`` -> ``$.model[0].Dense``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


SHOWN_PROBLEMS = 20
"""How many problems the message of an error lists (all of them are in ``problems``)."""


def render_problems(problems: Sequence[Problem]) -> str:
    """The problems one per line, at most `SHOWN_PROBLEMS` of them, then how many more there are."""
    shown = "\n".join(p.render() for p in problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return shown + (f"\n... and {more} more" if more > 0 else "")


class DeclarError(ValueError):
    """The root of declar's errors (see the module docstring for the tree).

    Raised with a message, the error carries one `Problem` made from it (``file`` and ``path``
    say what it concerns, when known); raised with ``problems`` and no message, its message is
    their rendering and ``located`` is true: the problems are what a user reads.

    Example:
        >>> err = DeclarError("data.npz: missing arrays ['y']", code="data", file="data.npz")
        >>> err.code, err.problems[0].render()
        ('data', "data.npz: error: data.npz: missing arrays ['y']")
    """

    code: str = "error"
    """The error's stable kind; each class has its default."""
    located: bool = False
    """The problems have positions in a spec: they say everything the message says."""
    _about: tuple[str, JsonPath, str] = ("", (), "")  # file, path and hint of the one problem
    _problems: list[Problem] | None = None

    def __init__(self, message: str | None = None, *, problems: Iterable[Problem] = (), code: str | None = None,
                 file: str = "", path: JsonPath = (), hint: str = ""):
        if code is not None:
            self.code = code
        if message is None:
            self.located = True
            self._problems = sort_problems(problems)
            message = render_problems(self._problems)
        elif problems:
            self._problems = list(problems)
        self._about = (file, path, hint)
        super().__init__(message)

    @property
    def problems(self) -> list[Problem]:
        """Every problem of the error, as data (made from the message when it has no others)."""
        if self._problems is None:
            file, path, hint = self._about
            self._problems = [Problem(file, 0, 0, path, first_line(str(self)), hint, self.code)]
        return self._problems


class SpecError(DeclarError):
    """A spec (or the spec inside an archive) has problems; ``problems`` lists them all, sorted."""

    code = "invalid-spec"

    def __init__(self, problems: Iterable[Problem]):
        super().__init__(problems=problems)


class SpecFileRefused(SpecError):
    """A spec path that is not a regular file of an allowed size (refused before reading it)."""

    def __init__(self, message: str, hint: str, code: str, file: str = ""):
        DeclarError.__init__(self, message, code=code, file=file, hint=hint)
        self.hint = hint


class BuildError(DeclarError):
    """Keras refused part of a valid spec (or it did not train); ``problems`` locate it in the spec."""

    code = "keras-build"

    def __init__(self, problems: Iterable[Problem]):
        super().__init__(problems=problems)


class ModelBuildError(BuildError):
    """Keras refused a layer of the spec; ``node`` names it so that `declar.build` can locate it."""

    def __init__(self, node: NodeSpec, message: str, code: str | None = None):
        DeclarError.__init__(self, message, code=code, path=node.path)
        self.node = node


class CompileBuildError(BuildError):
    """Keras refused a loss or metric of the compile section; ``where`` is its path in the spec,
    so that `declar.build` locates it (``compile.metrics[1]``)."""

    def __init__(self, where: JsonPath, message: str):
        DeclarError.__init__(self, message, path=where)
        self.where = where


class LayerBuildError(BuildError):
    """A declared layer could not be built (shape expression, initializer, base layer) or loaded."""

    code = "layer-build"

    def __init__(self, message: str):
        DeclarError.__init__(self, message)


class WeightBudgetError(BuildError):
    """A variable would exceed Limits.max_variable_elements, or the model Limits.max_model_elements."""

    code = "weight-budget"

    def __init__(self, message: str):
        DeclarError.__init__(self, message)


class FunctionCallError(BuildError):
    """A spec function failed when Keras called it (while tracing a training step, say).

    ``function`` names it, so the error can be located at its ``expr`` in the spec.
    """

    code = "function-call"

    def __init__(self, function: str, err: Exception):
        DeclarError.__init__(self, f"function '{function}' failed on the model's outputs: {type(err).__name__}: "
                             f"{first_line(str(err), 240)}", path=("functions", function, "expr"))
        self.function = function


class ArchiveError(DeclarError):
    """An archive could not be written or read, or is not one declar trusts; the message says why."""

    code = "archive"


class VerifyError(ArchiveError):
    """The fresh process did not reproduce the model; the message says what differed."""

    code = "verify-failed"


class DataError(DeclarError):
    """Training data does not match the model's inputs and outputs, or cannot be read safely."""

    code = "data"


class ImportRefused(DeclarError):
    """`declar import` refused a model: ``refused`` says why for each layer that is custom Python
    code (or that a spec cannot say), ``importable`` lists the layers that would import."""

    code = "import-refused"

    def __init__(self, refused: list[str], importable: list[str], source: str):
        lines = [f"{source} cannot become a spec:", *(f"  {r}" for r in refused)]
        lines.append(f"would import: {', '.join(importable)}" if importable else "would import: nothing")
        DeclarError.__init__(self, "\n".join(lines), file=source, problems=[
            Problem(source, 0, 0, (), r, "a spec holds built-in layers only", self.code) for r in refused])
        self.refused, self.importable = refused, importable


class FileLimitError(DeclarError):
    """A file is not a regular file, lies outside its root, or is larger than a limit allows."""

    code = "file-limit"


class PlotError(DeclarError):
    """The graph could not be written (unknown format, Graphviz missing or failing)."""

    code = "plot"


class ExportError(DeclarError):
    """A model could not be exported: the format cannot express a construct of the spec (located
    there), its runtime computed something else, or the format's packages are not installed
    (code ``missing-extra``, the message names the extra)."""

    code = "export"


class StarterError(DeclarError):
    """The starter spec cannot be written (bad name, file exists)."""

    code = "starter"


__all__ = ["ArchiveError", "BuildError", "DataError", "DeclarError", "ExportError", "FileLimitError",
           "FunctionCallError", "ImportRefused", "JsonPath", "LayerBuildError", "ModelBuildError", "PlotError",
           "Problem",
           "SpecError", "SpecFileRefused", "StarterError", "VerifyError", "WeightBudgetError", "format_path",
           "render_problems", "sort_problems"]
