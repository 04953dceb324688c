"""The real yaml-language-server, driven over LSP as an editor drives it, reading a spec's
``$schema`` modeline: it flags what `declar validate` flags about layers and their arguments, in
the list form and the graph form, accepts every example spec, and completes layer names without
the layers declar refuses.

The server comes from npm (``yaml-language-server@1``, installed once into a cache outside the
repository); the tests skip, saying why, where node or npm is missing or the install fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import declar
from declar.spec.facts import UNSAFE_LAYERS, UNUSABLE_LAYERS
from tests.lsp_client import YamlLanguageServer, node_tool

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "editor_corpus"
EXPECT = re.compile(r"# expect: (.*?)(?= # expect: |$)")


@pytest.fixture(scope="module")
def server():
    package = node_tool("yaml-language-server")
    if isinstance(package, str):
        pytest.skip(f"yaml-language-server unavailable: {package}")
    with YamlLanguageServer(package) as running:
        yield running


def _open(server: YamlLanguageServer, path: Path, text: str | None = None) -> str:
    uri = path.resolve().as_uri()
    server.open(uri, path.read_text() if text is None else text)
    return uri


def _expected(path: Path) -> list[tuple[int, str]]:
    """(1-based line, message) of every `# expect:` comment, in order."""
    return [(number, message.strip()) for number, line in enumerate(path.read_text().splitlines(), 1)
            for message in EXPECT.findall(line)]


@pytest.mark.parametrize("name", ["list_form.yaml", "graph_form.yaml", "block_form.yaml", "nested_layers.yaml",
                                  "refused_layers.yaml"])
def test_the_editor_flags_each_broken_line_as_validate_does(server, name):
    path = CORPUS / name
    expected = _expected(path)
    assert expected, "a corpus file without expectations tests nothing"
    diagnostics = server.diagnostics(_open(server, path))
    got = sorted((d["range"]["start"]["line"] + 1, d["message"]) for d in diagnostics)
    assert got == sorted(expected)
    assert {d["severity"] for d in diagnostics} == {1}  # errors, not warnings
    # and `declar validate` reports a problem on each of those lines (and on no other)
    assert {p.line for p in declar.validate(path)} == {line for line, _ in expected}


def test_a_misspelled_argument_is_flagged_at_the_argument(server):
    path = CORPUS / "list_form.yaml"
    diagnostics = server.diagnostics(_open(server, path))
    flagged = next(d for d in diagnostics if "filterz" in d["message"])
    line = path.read_text().splitlines()[flagged["range"]["start"]["line"]]
    assert line[flagged["range"]["start"]["character"]:].startswith("filterz")


def test_custom_types_blocks_and_every_example_spec_are_accepted(server):
    specs = [CORPUS / "custom_types.yaml", *sorted(ROOT.glob("specs/**/*.yaml"))]
    assert len(specs) > 10
    for spec in specs:
        assert declar.validate(spec) == [], spec
        uri = _open(server, spec)
        assert server.diagnostics(uri) == [], spec


def _completion_at_end(server: YamlLanguageServer, path: Path, text: str) -> list[dict]:
    uri = _open(server, path, text)
    lines = text.split("\n")
    return server.completion(uri, len(lines) - 1, len(lines[-1]))


HEADER = "# yaml-language-server: $schema=../../schemas/declar.schema.json\ndeclar: 2\nname: m\n" \
         "inputs: {x: {shape: [4]}}\n"


@pytest.mark.parametrize("form", ["list", "graph"])
def test_completion_offers_the_usable_layers_with_their_required_arguments(server, form):
    tail = "model:\n  - " if form == "list" else "model:\n  outputs: n\n  nodes:\n    n:\n      inputs: x\n      "
    items = _completion_at_end(server, CORPUS / f"completing_{form}.yaml", HEADER + tail)
    labels = {item["label"] for item in items}
    assert {"Conv2D", "Dense", "LSTM", "Bidirectional"} <= labels
    refused = set(UNSAFE_LAYERS) | set(UNUSABLE_LAYERS) | {"property"}
    assert not labels & refused, labels & refused
    conv = next(item for item in items if item["label"] == "Conv2D")
    # the required arguments, and not every argument that has a default (use_bias, trainable...)
    assert conv["insertText"].split("\n")[1:] == ["  filters: ${1}", "  kernel_size: ${2}"]


def test_hover_explains_a_layer_argument(server):
    text = HEADER + "model:\n  - Dense: {units: 4}\n"
    uri = _open(server, CORPUS / "hover.yaml", text)
    line = len(text.split("\n")) - 2
    hover = server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": line, "character": 15}})
    assert "dimensionality of the output space" in str(hover["contents"])
