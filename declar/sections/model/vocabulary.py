"""A lookup layer's vocabulary given as a file next to the spec: ``vocabulary: {file: vocab.txt}``.

Keras opens a string ``vocabulary`` itself (with tf.io.gfile, anywhere), so declar refuses that
form; this one names a file relative to the spec, which declar reads with its bounded readers
(inside the spec's directory, a regular file, within `Limits.max_asset_bytes`), one token per line
as Keras writes a vocabulary (``get_vocabulary()``, its asset ``vocabulary.txt``), and hands Keras
the list. The layer is then saved as an adapted one: its vocabulary is an asset of the archive,
restored by Keras at load (the file is not needed any more).

Example:
    >>> tokens_of("the\\ncat\\nsat\\n", "StringLookup")
    ['the', 'cat', 'sat']
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from declar.bounded import read_file
from declar.errors import FileLimitError, JsonPath, LayerBuildError, Problem
from declar.limits import Limits
from declar.sections.layers.checks import _check_asset_file as check_asset_file
from declar.spec.loaded import LoadedSpec

VOCABULARY_LAYERS = ("TextVectorization", "StringLookup", "IntegerLookup")
FORM_HINT = "write the tokens as a list, or name a file next to the spec: vocabulary: {file: vocab.txt}"


def vocabulary_file(layer: str | None, args: Any) -> str | None:
    """The file a lookup layer's ``vocabulary`` names, or None when it gives no file.

    Example:
        >>> vocabulary_file("StringLookup", {"vocabulary": {"file": "v.txt"}}), vocabulary_file("Dense", {})
        ('v.txt', None)
    """
    value = args.get("vocabulary") if layer in VOCABULARY_LAYERS and hasattr(args, "get") else None
    return value.get("file") if isinstance(value, dict) and isinstance(value.get("file"), str) else None


def tokens_of(text: str, layer: str) -> list[Any]:
    """The tokens of a vocabulary file's text, as Keras reads its own vocabulary asset: one per line,
    trailing empty lines dropped; integers for an IntegerLookup. Raises ValueError for a line that
    is not an integer there, and for a token given twice (Keras refuses both)."""
    lines = text.splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    tokens: list[Any] = lines
    if layer == "IntegerLookup":
        tokens = []
        for number, line in enumerate(lines, 1):
            try:
                tokens.append(int(line))
            except ValueError:
                raise ValueError(f"line {number}: {line[:40]!r} is not an integer (an IntegerLookup's "
                                 "vocabulary holds integers)") from None
    seen: dict[Any, int] = {}
    for number, token in enumerate(tokens, 1):
        if token in seen:
            raise ValueError(f"line {number}: token {str(token)[:40]!r} repeats line {seen[token]}")
        seen[token] = number
    return tokens


def read_vocabulary(root: str, name: str, layer: str, limits: Limits) -> list[Any]:
    """The tokens of the vocabulary file ``name`` in ``root`` (the spec's directory), read within
    the limits; raises `FileLimitError` (or `LayerBuildError` for bad content)."""
    what = f"vocabulary file '{name}'"
    data = read_file(name, limit=limits.max_asset_bytes, limit_name="max_asset_bytes", what=what, root=root)
    try:
        tokens = tokens_of(data.decode("utf-8"), layer)
    except UnicodeDecodeError as err:
        raise LayerBuildError(f"{what} is not UTF-8 text (byte {err.start})") from None
    except ValueError as err:
        raise LayerBuildError(f"{what}: {err}") from None
    if not tokens:
        raise LayerBuildError(f"{what} holds no tokens")
    if len(tokens) > limits.max_vocabulary_tokens:
        raise FileLimitError(f"{what} holds {len(tokens):,} tokens, over Limits.max_vocabulary_tokens = "
                             f"{limits.max_vocabulary_tokens:,}; raise it if this is intended")
    return tokens


def vocabulary_problems(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    """Problems of every ``vocabulary: {file: ...}`` of the spec's lookup layers: the form, the path
    (inside the spec's directory), and the file's content (read as the build reads it)."""
    spec, doc = loaded.spec, loaded.document
    for graph in (spec.graph, *(b.graph for b in spec.blocks.values())):
        for node in graph.nodes:
            value = node.args.get("vocabulary") if node.layer in VOCABULARY_LAYERS else None
            if node.layer in VOCABULARY_LAYERS and value is None:
                yield from _width_problems(loaded, node.layer or "", node.args, node.args_path)
            if not isinstance(value, dict):
                continue
            path: JsonPath = (*node.args_path, "vocabulary")
            if set(value) != {"file"} or not isinstance(value["file"], str):
                yield doc.problem(path, f"a {node.layer} vocabulary given as a mapping names its file: "
                                  "{file: NAME}", FORM_HINT, "vocabulary-file")
                continue
            yield from _file_problems(loaded, (*path, "file"), value["file"], node.layer or "", limits)


def _width_problems(loaded: LoadedSpec, layer: str, args: Any, args_path: JsonPath) -> Iterator[Problem]:
    """An adapted lookup layer whose output is as wide as its vocabulary (one_hot, multi_hot,
    count, tf_idf) must have that width fixed: the graph is built before `adapt()` runs (and, from
    an archive, before the vocabulary is restored), so the layers after it are built for that width."""
    mode = args.get("output_mode", "int")
    if mode == "int" or (args.get("max_tokens") and args.get("pad_to_max_tokens") is True):
        return
    where = (*args_path, "output_mode")
    yield loaded.document.problem(
        where, f"a {layer} adapted on data with output_mode '{mode}' needs max_tokens and pad_to_max_tokens: "
        "true: its output is as wide as the vocabulary, which is learned after the model's graph is built",
        "add max_tokens: N and pad_to_max_tokens: true, or give the vocabulary", "adapt-width")


def _file_problems(loaded: LoadedSpec, path: JsonPath, name: str, layer: str, limits: Limits
                   ) -> Iterator[Problem]:
    found = list(check_asset_file(loaded.origin, loaded.document, path, name,
                                  (limits.max_asset_bytes, "max_asset_bytes")))
    yield from found
    if found or loaded.origin.archive or loaded.origin.base_dir is None:
        return  # an archive's vocabulary is its asset, restored by Keras
    try:
        read_vocabulary(os.fspath(loaded.origin.base_dir), name, layer, limits)
    except (FileLimitError, LayerBuildError) as err:
        yield loaded.document.problem(path, str(err), "one token per line, UTF-8, each token once",
                                      "vocabulary-file")


__all__ = ["VOCABULARY_LAYERS", "read_vocabulary", "tokens_of", "vocabulary_file", "vocabulary_problems"]
