"""Safe YAML loading with a source map: every value keeps the line and column it came from.

PyYAML's safe loader still accepts things a spec must not contain: it keeps the last of two
duplicate keys, expands aliases without bound, and resolves explicit tags. We therefore only let
PyYAML *compose* the document (the C composer when available) and build the plain data ourselves,
refusing every tag, duplicate key, non-string key and oversized or too deep document, each with
its position.

Example:
    >>> doc = parse_yaml("a:\\n  b: 1\\n", "x.yaml")
    >>> doc.data, doc.source_map.position(("a", "b"))
    ({'a': {'b': 1}}, (2, 6))
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from declar.errors import JsonPath, Problem
from declar.limits import DEFAULT_LIMITS, Limits

try:  # the C composer is an order of magnitude faster on large specs
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_MAX_INT_CHARS = 100  # far above any real size or seed; Python refuses str->int past 4,300 digits

# A pure-Python resolver tells us which tag a scalar would get *implicitly*; anything else on a
# node was written explicitly (`!!python/object`, `!foo`, `!!binary`) and is refused.
_resolver = yaml.resolver.Resolver()

# Values are typed as YAML 1.2 types them where 1.1 differs in a way that bites: 1.1 reads `1e-6`
# and `1E6` (an exponent without a dot, or without a sign) as strings, which pass validation and
# fail at predict. Everything else (ints, .inf, .nan, booleans) keeps its 1.1 reading.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")


@dataclass
class SourceMap:
    """Positions (1-based line, column) of values and mapping keys by JSON path."""

    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: JsonPath) -> tuple[int, int]:
        """Position of the value at ``path``, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.values.get(tuple(path[:end]))
            if found:
                return found
        return (1, 1)

    def key_position(self, path: JsonPath) -> tuple[int, int]:
        """Position of the key that introduces ``path`` (falls back to the value)."""
        return self.keys.get(tuple(path)) or self.position(path)


@dataclass
class Document:
    """Plain JSON-like data of a YAML file plus where each piece came from."""

    file: str
    text: str
    data: Any
    source_map: SourceMap

    @functools.cached_property
    def line_starts(self) -> list[int]:
        """Offset in ``text`` where each line starts (computed once, for locating inside strings)."""
        return [0, *(i + 1 for i, ch in enumerate(self.text) if ch == "\n")]

    def problem(self, path: JsonPath, message: str, hint: str = "", code: str = "invalid",
                at_key: bool = False, col_offset: int = 0) -> Problem:
        """A `Problem` located at ``path`` of this document."""
        line, col = self.source_map.key_position(path) if at_key else self.source_map.position(path)
        return Problem(self.file, line, col + col_offset, tuple(path), message, hint, code)


class _Refused(Exception):
    def __init__(self, node: yaml.Node, path: JsonPath, message: str, hint: str, code: str, alias_index: int = 0):
        super().__init__(message)
        self.problem_args = (node, path, message, hint, code)
        self.alias_index = alias_index  # the alias being expanded when the limit was crossed, if any


def parse_yaml(source: str | bytes, file: str = "<string>", limits: Limits = DEFAULT_LIMITS
               ) -> Document | list[Problem]:
    """Parse one YAML document safely; returns the `Document` or the problems found.

    Args:
        source: the file's bytes or text.
        file: the name used in problem locations.
        limits: size, node and depth bounds.
    """
    if isinstance(source, str):
        try:
            source.encode("utf-8")
        except UnicodeEncodeError as err:
            line = source[: err.start].count("\n") + 1
            col = err.start - (source.rfind("\n", 0, err.start) + 1) + 1
            return [Problem(file, line, col, (), "text holds a lone surrogate, which is not a character",
                            "save the spec as UTF-8", "encoding")]
    size = len(source.encode("utf-8") if isinstance(source, str) else source)
    if size > limits.max_file_bytes:
        return [Problem(file, 1, 1, (), f"file is {size:,} bytes, over the limit of {limits.max_file_bytes:,}",
                        "split the spec, or raise Limits.max_file_bytes", "file-too-large")]
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as err:
            line = source[: err.start].count(b"\n") + 1
            line_start = source.rfind(b"\n", 0, err.start) + 1
            col = len(source[line_start: err.start].decode("utf-8", "replace")) + 1  # characters, not bytes
            return [Problem(file, line, col, (), f"file is not valid UTF-8 (byte 0x{source[err.start]:02x})",
                            "save the spec as UTF-8", "encoding")]
    else:
        text = source
    text = text.removeprefix("\ufeff")
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as err:
        # An unclosed quote or bracket is reported where it opened, not at the end of the file.
        opened = err.context_mark if err.context and str(err.context).startswith("while scanning") else None
        mark = opened or err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = f"{err.problem} ({err.context})" if opened else (err.problem or err.context)
        if str(err.context).startswith("while parsing a flow") and err.context_mark and err.problem_mark:
            # "a flow node" (the file ended after a comma) points at the end: find the bracket still open
            opened = _innermost_open_flow(text) if err.context == "while parsing a flow node" else err.context_mark
            if opened is not None:
                line, col, what = _unclosed_flow(text, opened, err.problem_mark, line, col, what)
        hint = (f"close it with '{_CLOSERS[what[1]]}'" if what.endswith(")") and "was never closed" in what
                else "check indentation, colons and quotes around this place")
        return [Problem(file, line, col, (), f"YAML syntax: {what}", hint, "yaml-syntax")]
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        col = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        char = err.character if isinstance(err.character, int) else ord(err.character)
        return [Problem(file, line, col, (), f"character #x{char:04x} is not allowed in YAML",
                        "remove control characters; a spec is text", "yaml-character")]
    except yaml.YAMLError as err:
        return [Problem(file, 1, 1, (), f"YAML: {str(err).splitlines()[0]}", "", "yaml-syntax")]
    if len(nodes) != 1:
        at = _second_document_mark(text) if len(nodes) > 1 else None
        return [Problem(file, at.line + 1 if at else 1, at.column + 1 if at else 1, (),
                        f"expected one YAML document, found {len(nodes)}",
                        "remove the `---` separators" if nodes else "the file is empty", "yaml-documents")]
    source_map = SourceMap()
    builder = _Builder(source_map, limits)
    try:
        data = builder.build(nodes[0], (), 0)
    except _Refused as refused:
        node, path, message, hint, code = refused.problem_args
        mark = _alias_mark(text, refused.alias_index) if refused.alias_index else node.start_mark
        return [Problem(file, mark.line + 1, mark.column + 1, path, message, hint, code)]
    if builder.problems:
        return builder.problems_for(file)
    return Document(file, text, data, source_map)


class _Builder:
    """Turns composed nodes into plain data, counting nodes (aliases included) and depth."""

    def __init__(self, source_map: SourceMap, limits: Limits):
        self.source_map = source_map
        self.limits = limits
        self.count = 0
        # Aliases: composed nodes are shared, so a node seen again is an alias being expanded.
        self.seen: set[int] = set()
        self.expanding = 0
        self.alias_index = 0  # how many aliases of the document (outside expansions) were met
        self.pending: list[tuple[yaml.Node, JsonPath, str, str, str]] = []
        self.problems = False

    def problems_for(self, file: str) -> list[Problem]:
        return [Problem(file, n.start_mark.line + 1, n.start_mark.column + 1, p, m, h, c)
                for n, p, m, h, c in self.pending]

    def note(self, node: yaml.Node, path: JsonPath, message: str, hint: str, code: str) -> None:
        self.pending.append((node, path, message, hint, code))
        self.problems = True

    def build(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > self.limits.max_yaml_nodes:
            raise _Refused(node, path, f"document expands to more than {self.limits.max_yaml_nodes:,} nodes",
                           "aliases (*name) multiply content; write the values out, or raise "
                           "Limits.max_yaml_nodes", "yaml-too-large", self.alias_index if self.expanding else 0)
        if depth > self.limits.max_yaml_depth:
            raise _Refused(node, path, f"document nests deeper than {self.limits.max_yaml_depth} levels",
                           "flatten the structure", "yaml-too-deep", self.alias_index if self.expanding else 0)
        self.source_map.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if id(node) in self.seen and not isinstance(node, yaml.ScalarNode):
            if not self.expanding:
                self.alias_index += 1
            self.expanding += 1
            try:
                return self.build_new(node, path, depth)
            finally:
                self.expanding -= 1
        self.seen.add(id(node))
        return self.build_new(node, path, depth)

    def build_new(self, node: yaml.Node, path: JsonPath, depth: int) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                return self.refuse_tag(node, path)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        if node.tag != _MAP:
            return self.refuse_tag(node, path)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            child = (*path, key)
            if key in out:
                first = self.source_map.keys[child]
                self.note(key_node, child, f"duplicate key '{key}' (first at line {first[0]})",
                          "YAML would silently keep only the last one; remove one of them", "duplicate-key")
                continue
            self.source_map.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child, depth + 1)
        return out

    def key(self, node: yaml.Node, path: JsonPath) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _MERGE:
            self.note(node, path, "merge keys (<<) are not supported", "write the keys out", "yaml-merge")
            return None
        if not isinstance(node, yaml.ScalarNode) or self.implicit_tag(node) != _STR or node.tag != _STR:
            shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
            self.note(node, path, f"mapping key {shown!r} is not a string",
                      "quote it, e.g. \"1\": or \"on\":", "non-string-key")
            return None
        return node.value

    @staticmethod
    def implicit_tag(node: yaml.ScalarNode) -> str:
        plain = not node.style  # the C composer marks plain scalars with "", PyYAML with None
        return _resolver.resolve(yaml.ScalarNode, node.value, (plain, not plain))

    def refuse_tag(self, node: yaml.Node, path: JsonPath) -> None:
        self.note(node, path, f"explicit YAML tag {node.tag!r} is not allowed",
                       "declar reads plain data only; remove the tag (quote the value if it must stay a string)",
                       "yaml-tag")

    def scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        tag = self.implicit_tag(node)
        if node.tag != tag:
            return self.refuse_tag(node, path)
        value = node.value
        if tag == _STR and not node.style and _FLOAT_12.match(value):
            return float(value)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return value.lower() in ("true", "yes", "on", "y")
        if tag == _INT:
            if len(value) > _MAX_INT_CHARS:
                self.note(node, path, f"integer literal has {len(value):,} characters", "no spec needs such a number",
                          "yaml-number")
                return None
            return _yaml_int(value)
        if tag == _FLOAT:
            return _yaml_float(value)
        return value  # strings, and timestamps kept as the text the user wrote


_CLOSERS = {"[": "]", "{": "}"}


def _unclosed_flow(text: str, opened: yaml.Mark, stopped: yaml.Mark, line: int, col: int, what: str
                   ) -> tuple[int, int, str]:
    """Where to report a flow collection that YAML could not finish: at its bracket if it is never closed.

    YAML only notices at the end of the file (or where the next block key starts); Python, for the
    same mistake, says "'[' was never closed" at the bracket, which is where the fix goes. Inside
    flow collections plain scalars cannot hold brackets, so counting them (outside quotes and
    comments) finds the matching one.
    """
    start = _offset(text, opened)
    if text[start:start + 1] not in _CLOSERS:
        return line, col, what
    stack, i, previous = [text[start]], start + 1, text[start]
    while i < len(text):
        char = text[i]
        if char in "'\"" and previous in " \t\n[{,:":
            i = _after_quoted(text, i)
            previous = char
            continue
        if char == "#" and previous in " \t\n":
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if char in _CLOSERS:
            stack.append(char)
        elif char in "]}":
            if char != _CLOSERS[stack[-1]]:
                if len(stack) == 1:  # `[4}`: the wrong closer, where YAML already points
                    return line, col, f"{what} ('{char}' does not close the '{text[start]}' opened at " \
                        f"line {opened.line + 1}, column {opened.column + 1})"
                return line, col, what
            stack.pop()
            if not stack:
                return line, col, what  # closed: the mistake is where YAML stopped (a missing comma...)
        previous = char
        i += 1
    return (opened.line + 1, opened.column + 1,
            f"'{text[start]}' was never closed ({what} by line {stopped.line + 1})")


def _innermost_open_flow(text: str) -> yaml.Mark | None:
    """The start of the innermost `[` or `{` still open where YAML's scanner stopped, if any."""
    stack: list[yaml.Mark] = []
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if isinstance(token, (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)):
                stack.append(token.start_mark)
            elif isinstance(token, (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)) and stack:
                stack.pop()
    except yaml.YAMLError:
        pass
    return stack[-1] if stack else None


def _offset(text: str, mark: yaml.Mark) -> int:
    """The offset in ``text`` of a mark's line and column (marks of the C parser count characters)."""
    line_start = 0
    for _ in range(mark.line):
        line_start = text.find("\n", line_start) + 1
    return line_start + mark.column


def _after_quoted(text: str, i: int) -> int:
    """The offset just past the quoted scalar starting at ``i`` (or the end of the text)."""
    quote, i = text[i], i + 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            if quote == "'" and text[i + 1:i + 2] == "'":  # '' is a quote inside single quotes
                i += 2
                continue
            return i + 1
        i += 1
    return i


def _second_document_mark(text: str) -> yaml.Mark | None:
    """Where the second document starts (its `---`), to point at the extra document."""
    starts = [e.start_mark for e in yaml.parse(text, Loader=_Loader) if isinstance(e, yaml.DocumentStartEvent)]
    return starts[1] if len(starts) > 1 else None


def _alias_mark(text: str, index: int) -> yaml.Mark:
    """Where the index-th alias (``*name``) of the document is; only needed to report a bomb."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count == index:
                return event.start_mark
    raise AssertionError("alias not found")  # pragma: no cover - the builder counted it


def _yaml_int(text: str) -> int:
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    if body.startswith("0o"):
        return sign * int(body[2:], 8)
    if body.startswith("0b"):
        return sign * int(body[2:], 2)
    if ":" in body:  # YAML 1.1 sexagesimal, e.g. 1:30
        total = 0
        for part in body.split(":"):
            total = total * 60 + int(part)
        return sign * total
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body, 8)
    return sign * int(body)


def _yaml_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered in (".inf", "+.inf"):
        return math.inf
    if lowered == "-.inf":
        return -math.inf
    if lowered == ".nan":
        return math.nan
    return float(lowered)


def walk(data: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every (path, value) of plain data, parents first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from walk(value, (*path, i))
