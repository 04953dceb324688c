"""From a file or text to a checked `Spec`, or to the list of everything wrong with it.

Example:
    >>> text = "declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dens: {units: 1}}]\\n"
    >>> [p.render() for p in validate(text)]
    ["<string>:4:10: error: unknown layer type 'Dens' (did you mean 'Dense'?)"]
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from declar.errors import Problem, SpecError, SpecFileRefused, sort_problems
from declar.hints import with_hint_budget
from declar.limits import DEFAULT_LIMITS, Limits
from declar.sections import semantic_problems
from declar.spec.loaded import LoadedSpec, SpecOrigin, data_document
from declar.spec.model import Spec, spec_sha256
from declar.spec.schema import schema_problems
from declar.spec.source import Document, parse_yaml
from declar.spec.versions import FORMAT_VERSION, upgrade, version_problem

SpecSource = str | os.PathLike[str]


def _read(source: SpecSource, limits: Limits) -> tuple[str | bytes, str, str | None] | Problem:
    """(content, name for messages, directory for relative asset paths).

    A str is a path when it ends in .yaml / .yml or names something that exists (one line, so no
    spec text can be mistaken for it); otherwise it is YAML text.
    """
    if not isinstance(source, (str, os.PathLike)):  # a programming mistake, not a spec mistake
        raise TypeError(f"a spec is a path, YAML text, a Spec or a LoadedSpec, not {type(source).__name__}")
    if isinstance(source, os.PathLike) or ("\n" not in source and (source.endswith((".yaml", ".yml"))
                                                                    or os.path.lexists(source))):
        path = Path(source)
        try:
            content = read_regular_file(path, limits.max_file_bytes)
        except SpecFileRefused as refused:
            return Problem(str(source), 1, 1, (), str(refused), refused.hint, refused.code)
        except OSError as err:
            return Problem(str(source), 1, 1, (), f"cannot read the spec: {err.strerror or err}", "", "file")
        return content, str(source), str(path.parent.resolve())
    return source, "<string>", None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else raises before it is read.

    The file is opened first and the *opened* descriptor is examined (a check of the path could be
    raced, and a symbolic link to /dev/zero reports the size 0); the open does not block on a FIFO,
    and at most ``max_bytes + 1`` bytes are read, so a file that grows meanwhile is still refused.

    Example:
        >>> try:
        ...     read_regular_file("/dev/zero", 100)
        ... except SpecFileRefused as refused:
        ...     print(refused)
        the spec is a character device, not a regular file
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        status = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    mode = status.st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        hint = "give the path of a .yaml file" if stat.S_ISDIR(mode) else "declar reads specs from regular files only"
        raise SpecFileRefused(f"the spec is {kind}, not a regular file", hint, "file", os.fspath(path))
    with os.fdopen(fd, "rb") as f:
        size = status.st_size
        content = f.read(max_bytes + 1)
    if len(content) > max_bytes:
        size = max(size, len(content))
        raise SpecFileRefused(f"file is {size:,} bytes, over the limit of {max_bytes:,}",
                              "split the spec, or raise Limits.max_file_bytes", "file-too-large", os.fspath(path))
    return content


@with_hint_budget
def check_spec(source: SpecSource, limits: Limits = DEFAULT_LIMITS) -> tuple[LoadedSpec | None, list[Problem]]:
    """Load and check a spec: (the LoadedSpec, []) when valid, else (None, every problem, sorted)."""
    read = _read(source, limits)
    if isinstance(read, Problem):
        return None, [read]
    content, name, base_dir = read
    parsed = parse_yaml(content, name, limits)
    if not isinstance(parsed, Document):
        return None, sort_problems(parsed)
    unreadable = version_problem(parsed)
    if unreadable:
        return None, [unreadable]
    upgraded = upgrade(parsed)
    doc, problems = upgraded.document, upgraded.problems + schema_problems(upgraded.document)
    origin = SpecOrigin(name, base_dir)
    if problems:
        return None, sort_problems(problems + _semantic_despite_schema(doc, problems, origin, limits))
    loaded = LoadedSpec(Spec.from_data(doc.data), doc, origin)
    problems = semantic_problems(loaded, limits)
    if problems:
        return None, sort_problems(problems)
    return loaded, []


def _semantic_despite_schema(doc: Document, schema_found: list[Problem], origin: SpecOrigin, limits: Limits
                             ) -> list[Problem]:
    """Semantic problems of a spec that also breaks the schema, so one run shows everything.

    The checks assume schema-valid data; where the data is too broken for them they are skipped,
    and problems inside a region the schema already reported are left out (one mistake, one message).
    """
    try:
        found = semantic_problems(LoadedSpec(Spec.from_data(doc.data), doc, origin), limits)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, StopIteration):
        return []
    broken = [p.path for p in schema_found]
    return [p for p in found if not any(p.path[: len(b)] == b or b[: len(p.path)] == p.path for b in broken)]


def validate(source: SpecSource, limits: Limits = DEFAULT_LIMITS) -> list[Problem]:
    """Every problem of a spec (a path, or YAML text), sorted by position; empty when valid.

    Example:
        >>> validate("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\n")
        []
    """
    return check_spec(source, limits)[1]


def load_spec(source: SpecSource | Spec | LoadedSpec, limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
    """The checked spec of a path or YAML text, with its document and origin; raises `SpecError`
    listing every problem. A `LoadedSpec` is returned as it is; a bare `Spec` (made in Python) is
    wrapped, with no text to point at.

    Example:
        >>> loaded = load_spec("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\n")
        >>> loaded.spec.name
        'm'
    """
    if isinstance(source, LoadedSpec):
        return source
    if isinstance(source, Spec):
        return LoadedSpec.bare(source)
    loaded, problems = check_spec(source, limits)
    if loaded is None:
        raise SpecError(problems)
    return loaded


@with_hint_budget
def spec_from_data(data: object, *, sha256: str | None = None, name: str = "<archive spec>",
                   limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
    """Check spec data from an untrusted place (an archive) exactly as a file, and build the spec.

    Data of an older format version is upgraded first (archives embed the format they were saved
    in); ``sha256`` is checked against the data as recorded. Raises `SpecError` with every problem,
    or when ``sha256`` does not match the data.
    """
    recorded = data_document(data, name)
    unreadable = version_problem(recorded)
    if unreadable:
        raise SpecError([unreadable])
    upgraded = upgrade(recorded)
    doc, problems = upgraded.document, upgraded.problems + schema_problems(upgraded.document)
    if not problems:
        assert isinstance(doc.data, dict)
        loaded = LoadedSpec(Spec.from_data(doc.data), doc, SpecOrigin(name, archive=True))
        problems = semantic_problems(loaded, limits)
        if not problems and sha256 is not None and sha256 != spec_sha256(data):
            problems = [Problem(name, 1, 1, (), "the embedded spec does not match its sha256",
                                "the archive was modified after it was saved", "hash-mismatch")]
        if not problems:
            return loaded
    raise SpecError(problems)


def check_fragment(types: object, layer_type: object, args: object, build_args: object) -> None:
    """Check a lone layer's definition (a DeclarLayer config) by embedding it in a minimal spec."""
    if not isinstance(types, dict) or not isinstance(layer_type, str) or layer_type not in types:
        raise SpecError([Problem("<layer config>", 1, 1, (), "layer config has no definition of its type",
                                 "", "bad-config")])
    use = dict(args or {}) if isinstance(args, dict) else {}
    if build_args:
        use["build"] = build_args
    data = {"declar": FORMAT_VERSION, "name": "layer_check", "inputs": {"x": {"shape": [None]}}, "layers": types,
            "model": [{layer_type: use}]}
    spec_from_data(data, name="<layer config>")
