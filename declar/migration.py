"""`declar migrate`: rewrite a spec of an older format version as the current one, comments kept.

The upgrade steps are those of `declar.spec.versions`, applied here to ruamel.yaml's round-trip
tree instead of plain data, so the file keeps its comments, key order, quoting and layout. The
file is read and checked by declar's own loader first (size limit, no aliases or tags, a valid
spec), so ruamel.yaml only ever sees text declar already accepts; the rewritten text must read
back as exactly the spec the in-memory upgrade gives (same sha256), or nothing is written.

Example:
    >>> import pathlib, tempfile
    >>> spec = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
    >>> _ = spec.write_text("declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel:\\n  nodes:\\n"
    ...                     "    out: {layer: Dense, args: {units: 1}, inputs: x}  # the output\\n  outputs: out\\n")
    >>> migrate(spec).message
    'migrated ... from format 1 to 2 (1 graph node)'
    >>> print(spec.read_text().splitlines()[5])  # a comment keeps its column, so aligned ones stay aligned
        out: {Dense: {units: 1}, inputs: x}               # the output
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, TaggedScalar
from ruamel.yaml.tokens import CommentToken

from declar.archive import is_archive
from declar.atomic import replace_atomically
from declar.errors import JsonPath, Problem, SpecError
from declar.limits import DEFAULT_LIMITS, Limits
from declar.spec.load import read_regular_file
from declar.spec.model import canonical_json
from declar.spec.source import Document, parse_yaml
from declar.spec.versions import FORMAT_VERSION, upgrade, upgrade_tree, version_problem


@dataclass(frozen=True)
class MigrationResult:
    """What `migrate` did (or, with ``check``, would do) to one spec."""

    path: Path
    out: Path
    from_version: int
    to_version: int
    changes: tuple[str, ...] = ()
    """What each upgrade step changed, e.g. ``"3 graph nodes"``."""
    written: bool = False

    @property
    def changed(self) -> bool:
        """True when the spec was (or would be) rewritten: it was of an older format."""
        return self.from_version != self.to_version

    @property
    def message(self) -> str:
        """One line for the terminal: ``migrated spec.yaml from format 1 to 2 (3 graph nodes)``."""
        if not self.changed:
            return f"{self.path} is already format {self.to_version}"
        verb = "migrated" if self.written else "would migrate"
        target = f" to {self.out}" if self.out != self.path else ""
        detail = f" ({', '.join(self.changes)})" if self.changes else ""
        return f"{verb} {self.path}{target} from format {self.from_version} to {self.to_version}{detail}"


def migrate(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *, check: bool = False,
            limits: Limits = DEFAULT_LIMITS) -> MigrationResult:
    """Rewrite the spec at ``path`` in the current format version, in place or to ``out``.

    The write is atomic (a temporary file renamed over the target). A spec already at the current
    version is left byte-identical (copied unchanged to ``out``, if given). With ``check``, nothing
    is written: the result says whether the spec would change. The meaning is kept, not checked: a
    valid spec stays valid, and an invalid one keeps its problems (`declar validate` shows them).
    Raises `SpecError` when the spec cannot be read, has an unknown version, or says something the
    current format cannot (a graph node with ``args`` but no ``layer``).
    """
    source, target = Path(path), Path(out) if out is not None else Path(path)
    if is_archive(source):
        raise SpecError([Problem(str(source), 1, 1, (), "a .keras archive, not a spec file: declar migrate rewrites "
                                 "YAML specs", "an archive of an older format loads as it is with declar.load or "
                                 "keras.models.load_model, and is saved anew in the current format",
                                 "file")])
    content = _read(source, limits)
    if not check:
        _refuse_unwritable(target, source)
    doc = parse_yaml(content, str(source), limits)  # refuses what declar refuses, before ruamel sees it
    if not isinstance(doc, Document):
        raise SpecError(doc)
    unreadable = version_problem(doc) or _no_version(doc)
    if unreadable:
        raise SpecError([unreadable])
    upgraded = upgrade(doc)
    if upgraded.problems:  # what the old format said that the new one cannot: the user decides
        raise SpecError(upgraded.problems)
    if upgraded.from_version == FORMAT_VERSION:
        if not check and target != source:
            _write(target, content, source)
        return MigrationResult(source, target, FORMAT_VERSION, FORMAT_VERSION, written=not check and target != source)
    try:
        text, changes = rewrite(doc.text, str(source))
    except YAMLError as err:  # declar's loader accepted the text, so this is unexpected: refuse, write nothing
        raise SpecError([Problem(str(source), 1, 1, (), f"cannot rewrite the spec: {str(err).splitlines()[0]}",
                                 "the file is unchanged; please report this file to declar", "migrate-failed")]
                        ) from None
    _same_spec_or_refuse(text, upgraded.document.data, source, limits)
    if not check:
        bom = b"\xef\xbb\xbf" if content.startswith(b"\xef\xbb\xbf") else b""  # kept, as every other byte
        _write(target, bom + text.encode("utf-8"), source)
    return MigrationResult(source, target, upgraded.from_version, FORMAT_VERSION, tuple(changes), written=not check)


def rewrite(text: str, file: str = "<text>") -> tuple[str, list[str]]:
    """The YAML text of a spec (of a known older version) upgraded to the current version, layout kept.

    Example:
        >>> print(rewrite("declar: 1  # format\\nmodel:\\n  nodes:\\n    a:\\n      layer: Flatten\\n"
        ...               "      inputs: x\\n")[0], end="")
        declar: 2  # format
        model:
          nodes:
            a:
              Flatten: {}
              inputs: x
    """
    mapping, offset = _indentation(text)
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line the file did not fold
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)  # ruamel re-indents the whole file
    tree = RoundTripTree(file, _untag_strings(yaml.load(text.replace("\r\n", "\n"))))  # ruamel keeps \r in comments
    changes = upgrade_tree(tree)
    buffer = io.StringIO()
    yaml.dump(tree.root, buffer)
    written = buffer.getvalue()
    return (written.replace("\n", "\r\n") if "\r\n" in text else written), changes  # keep Windows line ends


_OPENS_BLOCK = re.compile(r":\s*(#.*)?$")


def _indentation(text: str) -> tuple[int, int]:
    """(the indentation of a nested mapping, that of a list's ``-`` under its key) the file uses.

    Example:
        >>> _indentation("a:\\n    b: 1\\nc:\\n  - d\\n")
        (4, 2)
    """
    mapping = offset = None
    previous, opens = 0, False
    for line in text.splitlines():
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        indent = len(line) - len(content)
        if opens and indent >= previous:
            if content.startswith("- ") and offset is None:
                offset = indent - previous
            elif not content.startswith("- ") and indent > previous and mapping is None:
                mapping = indent - previous
        previous, opens = indent, not content.startswith("- ") and bool(_OPENS_BLOCK.search(content))
    return mapping or 2, offset if offset is not None else 0


class RoundTripTree:
    """ruamel.yaml's round-trip tree as a `SpecTree`: edits keep comments and the place of keys."""

    def __init__(self, file: str, root: Any):
        self.file, self.root = file, root

    def _mapping(self, path: JsonPath) -> CommentedMap:
        node = self.root
        for part in path:
            node = node[part]
        return node

    def set_value(self, path: JsonPath, key: str, value: Any) -> None:
        self._mapping(path)[key] = value  # ruamel keeps the key's comment and place

    def replace_key(self, path: JsonPath, old: str, new: str, value_from: str) -> None:
        mapping = self._mapping(path)
        if value_from in mapping:
            value = mapping[value_from]
        else:
            value = CommentedMap()
            value.fa.set_flow_style()  # `Flatten: {}`
        order = list(mapping)
        value_comment = mapping.ca.items.pop(value_from, None)
        if value_from in mapping and order.index(value_from) != order.index(old) + 1:
            value_comment = self._keep_lines_after(mapping, value_from, value_comment)
        merged = _merge_comments(mapping.ca.items.pop(old, None), value_comment)
        position = [k for k in order if k != value_from].index(old)
        del mapping[old]
        mapping.pop(value_from, None)
        mapping.insert(position, new, value)
        if merged is not None:
            mapping.ca.items[new] = merged
        if isinstance(value, CommentedMap) and value_comment is not None and value.ca.comment:
            value.ca.comment[0] = None  # ruamel's copy of the `args:` line's comment, now the new key's

    def remove_key(self, path: JsonPath, key: str) -> None:
        mapping = self._mapping(path)
        self._keep_lines_after(mapping, key, mapping.ca.items.pop(key, None))
        del mapping[key]

    @staticmethod
    def _keep_lines_after(mapping: CommentedMap, key: str, comment: list[Any] | None) -> list[Any] | None:
        """Move the full-line comments and blank lines after ``key``'s line to the key before it.

        Returns the slot with only ``key``'s end-of-line comment, to be kept elsewhere.
        """
        eol, rest = _comment_lines(comment)
        keys = list(mapping)
        before = keys[keys.index(key) - 1] if keys.index(key) > 0 else None
        if rest and before is not None:
            slot = mapping.ca.items.setdefault(before, [None, None, None, None])
            before_eol, before_rest = _comment_lines(slot)
            slot[2] = _token(before_eol + "\n" + before_rest + rest, comment[2])
        if not eol or comment is None:
            return None
        return [*comment[:2], _token(eol + "\n", comment[2]), *comment[3:]]

    def report(self, path: JsonPath, message: str, hint: str, code: str) -> None:
        # `migrate` upgrades the plain data first and stops at its problems, so the round-trip tree
        # only disagrees if ruamel.yaml read the text differently: refuse, write nothing.
        raise SpecError([Problem(self.file, 1, 1, tuple(path), f"cannot rewrite the spec: {message}",
                                 "the file is unchanged; please report this file to declar", "migrate-failed")])


def _comment_lines(comment: list[Any] | None) -> tuple[str, str]:
    """(the end-of-line comment of a key's line, the full-line comments and blank lines after it)."""
    token = comment[2] if comment else None
    if token is None:
        return "", ""
    eol, _, rest = token.value.partition("\n")  # a blank line after the key's line is "\n\n"
    return eol, rest


def _merge_comments(first: list[Any] | None, second: list[Any] | None) -> list[Any] | None:
    """One key's comment slot from two keys' (``layer:`` and ``args:``): both comments kept, in order."""
    if first is None or second is None:
        return first or second
    eol_1, rest_1 = _comment_lines(first)
    eol_2, rest_2 = _comment_lines(second)
    eol = "  ".join(c for c in (eol_1, eol_2) if c)
    slot = list(first)
    slot[2] = _token(eol + "\n" + rest_1 + rest_2 if eol or rest_1 or rest_2 else "", first[2] or second[2])
    return slot


def _token(text: str, like: CommentToken | None) -> CommentToken | None:
    """A comment token holding ``text``, placed where ``like`` was (its column keeps the layout)."""
    return CommentToken(text, like.start_mark if like else None, None) if text else None


def _untag_strings(node: Any) -> Any:
    """``node`` with every ``!!str``-tagged scalar as the plain string it is (the upgraders test for str).

    Example:
        >>> _untag_strings(YAML().load("layer: !!str Dense"))["layer"]
        'Dense'
    """
    if isinstance(node, TaggedScalar) and node.tag.value == "tag:yaml.org,2002:str":
        return str(node.value)
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _untag_strings(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            node[index] = _untag_strings(value)
    return node


def _no_version(doc: Document) -> Problem | None:
    """A problem when the document says no format version (`migrate` cannot know what to upgrade)."""
    if isinstance(doc.data, dict) and "declar" in doc.data:
        return None
    return doc.problem((), "the spec says no format version (`declar: N` at its top)" if isinstance(doc.data, dict)
                       else "the spec is not a mapping, so it has no format version",
                       f"a spec starts with `declar: {FORMAT_VERSION}`, or the older version it was written in",
                       "format-version")


def _read(path: Path, limits: Limits) -> bytes:
    try:
        return read_regular_file(path, limits.max_file_bytes)
    except OSError as err:
        hint, code = getattr(err, "hint", ""), getattr(err, "code", "file")
        message = str(err) if hint else f"cannot read the spec: {err.strerror or err}"
        raise SpecError([Problem(str(path), 1, 1, (), message, hint, code)]) from None


def _same_spec_or_refuse(text: str, expected: Any, path: Path, limits: Limits) -> None:
    """The rewritten text must say exactly what the in-memory upgrade says (a guard against ruamel's output)."""
    doc = parse_yaml(text, str(path), limits)
    if not isinstance(doc, Document) or canonical_json(doc.data) != canonical_json(expected):
        raise SpecError([Problem(str(path), 1, 1, (), "the rewritten spec would not say the same as the original",
                                 "the file is unchanged; please report this file to declar", "migrate-mismatch")])


def _refuse_unwritable(target: Path, source: Path) -> None:
    """Refuse, before any work, a target that is a directory, read-only, or in a missing directory."""
    resolved = Path(os.path.realpath(target))
    problem = None
    if resolved.is_dir():
        problem = ("the output is a directory", "give a file name: -o DIR/spec.yaml")
    elif resolved.exists() and not resolved.stat().st_mode & stat.S_IWUSR:
        problem = ("the file is read-only, so it is not rewritten",
                   "make it writable with chmod u+w, or write elsewhere with -o")
    elif not resolved.parent.is_dir():
        problem = (f"the output's directory {resolved.parent} does not exist", "create it first")
    if problem:
        raise SpecError([Problem(str(target), 1, 1, (), *problem, "file")])


def _write(target: Path, content: bytes, like: Path) -> None:
    """Write atomically to the file ``target`` names (through a symbolic link), as a located refusal on failure."""
    try:
        replace_atomically(Path(os.path.realpath(target)), lambda tmp: tmp.write_bytes(content),
                           mode=like.stat().st_mode & 0o7777)
    except OSError as err:
        raise SpecError([Problem(str(target), 1, 1, (), f"cannot write the spec: {err.strerror or err}",
                                 "the file is unchanged", "file")]) from None
