"""A checked `Spec` with where it came from: its parsed document and its origin.

The Spec says what a model is; a `LoadedSpec` adds what the later stages need to point at the
spec's text: the `Document` (text, data and source map, parsed once) and the `SpecOrigin` (the
file's name, its directory for relative asset paths, whether it came out of an archive). A problem
found at build or training time is located from the kept document, never by parsing again.

Example:
    >>> from declar.spec.load import load_spec
    >>> text = "declar: 1\\nname: m\\ninputs: {x: {shape: [3]}}\\nmodel: [{Dense: {units: 1}}]\\n"
    >>> loaded = load_spec(text)
    >>> loaded.spec.name, loaded.origin.file
    ('m', '<string>')
    >>> loaded.problem(("model", 0, "Dense"), "Keras refused it").render()
    '<string>:4:10: error: Keras refused it'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from declar.errors import JsonPath, Problem
from declar.spec.model import Spec, canonical_json
from declar.spec.source import Document, SourceMap


@dataclass(frozen=True)
class SpecOrigin:
    """Where a spec's text came from."""

    file: str = "<string>"
    """The name used in messages: a path, ``<string>``, or an archive's ``path (embedded spec)``."""
    base_dir: str | None = None
    """The directory relative asset files are read from; None for text and archives."""
    archive: bool = False
    """True for a spec embedded in an archive: asset files come from the archive, not the disk."""


@dataclass(frozen=True)
class LoadedSpec:
    """A checked Spec, its parsed document and its origin, travelling together into build.

    Compared and hashed by its spec and origin: the same spec loaded from the same place is equal
    however it is written (its document, the text's layout, is left out).
    """

    spec: Spec
    document: Document = field(compare=False)
    origin: SpecOrigin

    @classmethod
    def bare(cls, spec: Spec, name: str = "<string>", archive: bool = False) -> LoadedSpec:
        """A Spec without its text (made in Python, or embedded in the archive ``name``): its
        document has no positions, so its problems are placed at 1:1 of ``name``."""
        return cls(spec, data_document(spec.to_data(), name), SpecOrigin(name, archive=archive))

    @property
    def source_text(self) -> str:
        """The spec as written (empty when it did not come from text)."""
        return "" if not self.document.source_map.values else self.document.text

    def problem(self, path: JsonPath, message: str, hint: str = "", code: str = "keras-build") -> Problem:
        """A problem at ``path`` of the spec, located in its document (at 1:1 without positions).

        In a sequential list the node's path ends at the layer's key, which is where it is shown.
        """
        if not self.source_text:
            return Problem(self.origin.file, 1, 1, tuple(path), message, hint, code)
        return self.document.problem(path, message, hint, code,
                                     at_key=self.spec.sequential and tuple(path[:1]) == ("model",))


def data_document(data: Any, name: str) -> Document:
    """A Document for data that did not come from YAML (no positions to point at)."""
    return Document(name, canonical_json(data), data, SourceMap())
