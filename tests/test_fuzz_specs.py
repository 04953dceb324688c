"""Property-based fuzzing of `declar.validate` (and, on a few clean specs, `declar.build`).

Whatever the input (a mutated example spec, a generated spec, binary junk), validation must answer
with a list of located `Problem`s and never raise. The number of examples per test is small by
default (the whole module runs in well under a minute) and raised for long local runs with
``DECLAR_FUZZ_EXAMPLES=3000``. Counts of inputs tried and of exceptions seen are written to
``fuzz_summary.json`` in pytest's base temporary directory (or to ``$DECLAR_FUZZ_SUMMARY``) and
printed at the end of the module (visible with ``-s``).
"""

from __future__ import annotations

import copy
import json
import keyword
import math
import os
import re
import string
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import declar
from declar.errors import Problem
from declar.spec.catalog import catalog

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(ROOT.glob("specs/**/*.yaml"))
EXAMPLE_TEXT = {p.name: p.read_text("utf-8") for p in EXAMPLES}
EXAMPLE_DATA = {name: yaml.safe_load(text) for name, text in EXAMPLE_TEXT.items()}

FUZZ_EXAMPLES = int(os.environ.get("DECLAR_FUZZ_EXAMPLES", "0") or 0)


def examples(default: int) -> int:
    """Examples per test: the default, or DECLAR_FUZZ_EXAMPLES for long runs."""
    return FUZZ_EXAMPLES or default


def fuzz(default: int) -> settings:
    """Settings of a fuzz test: no deadline, no example database, ``examples(default)`` examples."""
    return settings(max_examples=examples(default), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

# -- bookkeeping -------------------------------------------------------------------------------

TRIED: Counter[str] = Counter()
EXCEPTIONS: Counter[str] = Counter()
BUILT: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(tmp_path_factory):
    yield
    summary = {"inputs_tried": dict(TRIED), "total_inputs": sum(TRIED.values()),
               "exceptions": dict(EXCEPTIONS), "total_exceptions": sum(EXCEPTIONS.values()),
               "build_outcomes": dict(BUILT), "examples_setting": FUZZ_EXAMPLES or "default"}
    out = Path(os.environ.get("DECLAR_FUZZ_SUMMARY") or tmp_path_factory.getbasetemp() / "fuzz_summary.json")
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nfuzz summary: {summary['total_inputs']} inputs tried, {summary['total_exceptions']} exceptions "
          f"({json.dumps(summary['inputs_tried'])}; build {json.dumps(summary['build_outcomes'])}) -> {out}")


def checked_validate(kind: str, source: Any) -> list[Problem]:
    """validate(source), counted; the outcome must be a list of well-formed, located Problems."""
    TRIED[kind] += 1
    try:
        problems = declar.validate(source)
    except BaseException:
        EXCEPTIONS[kind] += 1
        raise
    assert isinstance(problems, list)
    for p in problems:
        assert isinstance(p, Problem), p
        assert isinstance(p.line, int) and p.line >= 1, p
        assert isinstance(p.col, int) and p.col >= 1, p
        assert isinstance(p.message, str) and p.message.strip(), p
        p.render()  # rendering never fails either
        json.dumps(p.as_dict())  # --format json can always print it
    return problems


def as_yaml_text(text: str) -> str:
    """validate() treats a str containing a newline as YAML text; make sure it has one."""
    return text if "\n" in text else text + "\n"


# -- 1a. mutations of the example specs ----------------------------------------------------------

IDENT = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")
CAMEL = st.from_regex(r"\A[A-Z][A-Za-z0-9_]{0,12}\Z")

HUGE_INTS = st.sampled_from([2**31, 2**63, 2**64 + 1, -(2**63) - 1, 10**100, -(10**300), 10**4000])
WEIRD_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.text(max_size=30), IDENT, st.sampled_from(["", " ", "null", "yes", "on", "1e999", "0x1F", "1:30", "~", "<<",
                                                  "*a", "&a", "!!python/object", "---", "%YAML"]),
)
WEIRD_VALUES = st.recursive(
    WEIRD_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(IDENT, st.text(max_size=8)), inner, max_size=4)),
    max_leaves=12,
)

EXPRESSION_JUNK = st.one_of(
    st.text(alphabet=string.printable, max_size=12),
    st.text(max_size=6),
    st.sampled_from(["(", ")", "[", "]", ",", ".T", ".__class__", "__import__('os')", "**", "** 10 ** 10 ** 10",
                     "lambda x: x", "[x for x in y]", "f'{x}'", "(y := 1)", "*inputs", "input_shape[", "base(",
                     "base()", "inputs @", " if ", " else ", "not", "and", "2 ** 100000", "1000000 * 1000000",
                     "input_shape[-1]", "prod(input_shape[1:])", "max(1, 2)", "'str'", '"', "'", "#", "\\", "\n",
                     "\t", "\x00", "\u2028", "é", "1e999", "0x10", "1_000", "10" * 40, "....", "::", "{}", "{", "}",
                     "-", "~", "%", "//", "@", "==", "<", ">="]),
)

LAYER_NAMES = st.one_of(
    st.sampled_from(sorted(catalog().layers)), CAMEL, IDENT, st.text(max_size=10),
    st.sampled_from(["Dens", "dense", "DENSE", "Layer", "DeclarLayer", "Model", "Sequential", "__class__", "",
                     "InputLayer", "Lambda", "TFSMLayer"]),
)


def paths_of(data: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths_of(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths_of(v, (*path, i))
    return out


def get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def typo(word: str, draw) -> str:
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "swap", "double", "case", "replace", "suffix"]))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "swap" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "case":
        return word.swapcase()
    if kind == "replace":
        return word[:i] + draw(st.sampled_from(string.ascii_letters + "_0")) + word[i + 1:]
    return word + draw(st.sampled_from(["s", "_", "1", "x"]))


def rename_key(d: dict, old: str, new: Any) -> dict:
    """A copy of d with key old renamed to new, in the same position."""
    return {(new if k == old else k): v for k, v in d.items() if k == old or k != new}


def mutate_data(data: Any, draw) -> Any:
    """One random structural mutation of parsed spec data."""
    data = copy.deepcopy(data)
    paths = paths_of(data)
    kind = draw(st.sampled_from(["drop", "retype", "rename", "expression", "layer_name", "retype_root_child"]))
    note(f"data mutation: {kind}")
    if kind == "drop":
        holders = [p for p in paths if isinstance(get(data, p), (dict, list)) and get(data, p)]
        if not holders:
            return data
        holder = get(data, draw(st.sampled_from(holders)))
        if isinstance(holder, dict):
            del holder[draw(st.sampled_from(sorted(holder)))]
        else:
            del holder[draw(st.integers(0, len(holder) - 1))]
    elif kind in ("retype", "retype_root_child"):
        choices = [p for p in paths if p and (kind == "retype" or len(p) == 1)]
        path = draw(st.sampled_from(choices))
        get(data, path[:-1])[path[-1]] = draw(WEIRD_VALUES)
    elif kind == "rename":
        holders = [p for p in paths if isinstance(get(data, p), dict) and get(data, p)]
        path = draw(st.sampled_from(holders))
        holder = get(data, path)
        old = draw(st.sampled_from(sorted(holder)))
        new = draw(st.one_of(IDENT, st.just(typo(old, draw)), st.text(max_size=10)))
        replaced = rename_key(holder, old, new)
        if path:
            get(data, path[:-1])[path[-1]] = replaced
        else:
            data = replaced
    elif kind == "expression":
        targets = [p for p in paths if p and isinstance(get(data, p), str)
                   and any(part in ("call", "expr", "shape") for part in p if isinstance(part, str))]
        if not targets:
            targets = [p for p in paths if p and isinstance(get(data, p), str)]
        if not targets:
            return data
        path = draw(st.sampled_from(targets))
        text = get(data, path)
        at = draw(st.integers(0, len(text)))
        get(data, path[:-1])[path[-1]] = text[:at] + draw(EXPRESSION_JUNK) + text[at:]
    elif kind == "layer_name":
        model = data.get("model") if isinstance(data, dict) else None
        if isinstance(model, list) and model:
            i = draw(st.integers(0, len(model) - 1))
            item = model[i]
            if isinstance(item, dict) and item:
                old = next(iter(item))
                model[i] = rename_key(item, old, draw(LAYER_NAMES))
        elif isinstance(model, dict) and isinstance(model.get("nodes"), dict) and model["nodes"]:
            node = model["nodes"][draw(st.sampled_from(sorted(model["nodes"])))]
            if isinstance(node, dict):
                node[draw(st.sampled_from(["layer", "shares", "inputs"]))] = draw(LAYER_NAMES)
    return data


KEY_LINE = re.compile(r"^(\s*)(- )?([A-Za-z_][A-Za-z0-9_]*):(.*)$")
FLOW_PAIR = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*):\s*([^,{}\[\]]+)")


def mutate_text(text: str, draw) -> str:
    """One random text-level mutation (duplicate keys, damage, truncation)."""
    kind = draw(st.sampled_from(["duplicate_block_key", "duplicate_flow_key", "insert", "delete", "truncate",
                                 "indent", "huge_int"]))
    note(f"text mutation: {kind}")
    lines = text.split("\n")
    if kind == "duplicate_block_key":
        candidates = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
        if candidates:
            i = draw(st.sampled_from(candidates))
            m = KEY_LINE.match(lines[i])
            assert m is not None
            indent = m.group(1) + ("  " if m.group(2) else "")
            value = draw(st.one_of(st.just(m.group(4)), st.sampled_from([" 1", " x", " [1]", " {}", ""])))
            lines.insert(i + 1, f"{indent}{m.group(3)}:{value}")
            return "\n".join(lines)
    if kind == "duplicate_flow_key":
        matches = list(FLOW_PAIR.finditer(text))
        if matches:
            m = draw(st.sampled_from(matches))
            return text[: m.start() + 1] + f"{m.group(1)}: {m.group(2).strip()}, " + text[m.start() + 1:]
    if kind == "huge_int":
        # Integers up to 4,300 digits (Python's str->int limit; beyond is a known bug, see
        # test_integer_literal_over_python_digit_limit).
        digits = draw(st.sampled_from([20, 400, 4000]))
        at = draw(st.integers(0, len(text)))
        return text[:at] + "9" * digits + text[at:]
    if kind == "insert":
        at = draw(st.integers(0, len(text)))
        junk = draw(st.one_of(st.text(max_size=8), st.sampled_from(["&a ", "*a", "*missing ", "!!binary ", "<<: ",
                                                                   "- ", ": ", "? ", "|\n", ">-\n", "{", "[", "'",
                                                                   '"', "\t", "---\n", "...\n", "%TAG ! x\n", "#"])))
        return text[:at] + junk + text[at:]
    if kind == "delete" and text:
        at = draw(st.integers(0, len(text) - 1))
        return text[:at] + text[at + draw(st.integers(1, 10)):]
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "indent" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.sampled_from(["", " ", "  ", "\t"])) + lines[i].lstrip(" ")
        return "\n".join(lines)
    return text


def dump(data: Any, unicode: bool) -> str:
    # ints up to 10**4000 only: yaml.safe_dump writes ints with repr (4,300-digit limit)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=unicode, width=10_000)


@pytest.mark.parametrize("name", sorted(EXAMPLE_TEXT))
def test_examples_are_valid(name):
    """The fuzzer starts from valid specs (a relative asset file needs the path, not the text)."""
    path = next(p for p in EXAMPLES if p.name == name)
    assert checked_validate("example", str(path)) == []


@fuzz(60)
@given(name=st.sampled_from(sorted(EXAMPLE_TEXT)), data=st.data())
def test_mutated_examples_give_only_problems(name, data):
    spec = EXAMPLE_DATA[name]
    for _ in range(data.draw(st.integers(1, 4), label="data mutations")):
        spec = mutate_data(spec, data.draw)
    text = dump(spec, data.draw(st.booleans())) if spec != EXAMPLE_DATA[name] else EXAMPLE_TEXT[name]
    for _ in range(data.draw(st.integers(0, 2), label="text mutations")):
        text = mutate_text(text, data.draw)
    note(text)
    checked_validate("mutated_example", as_yaml_text(text))


@fuzz(40)
@given(name=st.sampled_from(sorted(EXAMPLE_TEXT)), data=st.data())
def test_text_mutations_of_examples_give_only_problems(name, data):
    text = EXAMPLE_TEXT[name]
    for _ in range(data.draw(st.integers(1, 3), label="text mutations")):
        text = mutate_text(text, data.draw)
    note(text)
    checked_validate("text_mutated_example", as_yaml_text(text))


def test_duplicate_key_mutation_is_reported():
    """The text-level duplicate really reaches YAML as a duplicate (the mutation is not a no-op)."""
    text = EXAMPLE_TEXT["custom_build.yaml"].replace("seed: 1337\n", "seed: 1337\nseed: 1\n")
    problems = checked_validate("targeted", text)
    assert [p.code for p in problems] == ["duplicate-key"]
    flow = EXAMPLE_TEXT["custom_build.yaml"].replace("{units: 16,", "{units: 16, units: 16,")
    assert "duplicate-key" in [p.code for p in checked_validate("targeted", flow)]


# -- 1b. generated, structurally valid specs -----------------------------------------------------

# hypothesis-jsonschema (0.23.1) was tried: it installs, but cannot generate from the spec's schema
# (it does not follow the sibling keras-layers.schema.json reference, and with references inlined
# it fails inside hypothesis 6.170 internals: "'many' object has no attribute 'more'"). The spec
# strategy below is hand-written instead.

BUILTIN_LAYERS = sorted(catalog().layers)
INITIALIZERS = sorted(catalog().initializers)
ACTIVATIONS = sorted(catalog().activations)

SIMPLE_LAYERS = st.one_of(
    st.builds(lambda u, a: {"Dense": {"units": u, "activation": a}}, st.integers(1, 8),
              st.sampled_from(["relu", "linear", "sigmoid", "tanh", "softmax"])),
    st.builds(lambda u: {"Dense": {"units": u}}, st.integers(1, 8)),
    st.builds(lambda r: {"Dropout": {"rate": r}}, st.floats(0, 0.9)),
    st.just({"LayerNormalization": {}}),
    st.just({"ReLU": {}}),
    st.just({"Flatten": {}}),
    st.builds(lambda a: {"Activation": {"activation": a}}, st.sampled_from(["relu", "gelu", "swish", "elu"])),
)

ARG_VALUES = st.one_of(st.integers(-3, 64), st.floats(allow_nan=False, allow_infinity=False, width=32),
                       st.booleans(), st.none(), st.sampled_from(ACTIVATIONS + INITIALIZERS + ["same", "valid"]),
                       st.lists(st.integers(1, 4), min_size=1, max_size=3), st.text(max_size=6))


@st.composite
def random_builtin_layer(draw) -> dict:
    """Any catalog layer with a random subset of its own argument names and random values."""
    layer = draw(st.sampled_from(BUILTIN_LAYERS))
    names = catalog().layers[layer]
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True)) if names else []
    return {layer: {n: draw(ARG_VALUES) for n in chosen}}


# Shape expressions and call expressions drawn from a small grammar over the names in scope.
def expression(names: list[str], functions: list[str], depth: int = 3) -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(names), st.integers(0, 9).map(str), st.sampled_from(["1.0", "0.5", "2"]))
    if depth == 0:
        return leaves
    sub = expression(names, functions, depth - 1)
    return st.one_of(
        leaves,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "@"]),
                  sub),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(functions), sub),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(functions), sub, sub),
        st.builds(lambda a: f"-{a}", sub),
        st.builds(lambda a, i: f"{a}[{i}]", sub, st.integers(-2, 2)),
        st.builds(lambda a, b, c: f"{a} if {b} else {c}", sub, sub, sub),
    )


CALL_FUNCTIONS = ["relu", "sigmoid", "tanh", "square", "sqrt", "abs", "exp", "matmul", "add", "multiply", "sum",
                  "mean", "transpose", "softmax", "base", "maximum", "reshape", "cast", "unknown_fn"]


@st.composite
def custom_layer_type(draw) -> tuple[str, dict]:
    name = draw(CAMEL.filter(lambda n: n not in catalog().layers))
    extends = draw(st.sampled_from(["Layer", "Layer", "Dense"]))
    units = draw(st.integers(1, 6))
    params = {"units": {"type": "integer", "default": units}}
    if draw(st.booleans()):
        params["scale"] = {"type": "number", "default": draw(st.floats(-2, 2))}
    definition: dict[str, Any] = {"extends": extends}
    if extends == "Dense":
        params.pop("units")  # Dense's own units is passed at use
    if params:
        definition["params"] = params
    shape_names = [*params, "input_shape[-1]", *(["output_shape[-1]"] if extends == "Dense" else [])]
    variables: dict[str, Any] = {}
    for var in draw(st.lists(st.sampled_from(["w", "b", "k"]), max_size=3, unique=True)):
        shape = draw(st.one_of(
            st.sampled_from(["[input_shape[-1], units]", "[units]", "[input_shape[-1]]", "[1]"]
                            + (["[output_shape[-1]]"] if extends == "Dense" else [])),
            st.lists(st.integers(1, 4), min_size=1, max_size=2),
            expression(shape_names, ["max", "min"], 1).map(lambda e: f"[{e}]"),
        ))
        variables[var] = {"shape": shape, "initializer": draw(st.sampled_from(["zeros", "ones", "glorot_uniform",
                                                                                "random_normal"]))}
        if draw(st.booleans()):
            variables[var]["trainable"] = draw(st.booleans())
    if variables:
        definition["variables"] = variables
    if variables or extends != "Layer" or draw(st.booleans()):
        in_scope = ["inputs", *variables, *params]
        simple = [f"matmul(inputs, {v})" for v in variables] + [f"inputs * {v}" for v in variables]
        if extends == "Dense":
            simple += ["base(inputs)", "relu(base(inputs))"] + [f"base(inputs) * {v}" for v in variables]
        definition["call"] = draw(st.one_of(st.sampled_from(simple or ["inputs"]),
                                            expression(in_scope, CALL_FUNCTIONS, 2)))
    return name, definition


@st.composite
def generated_spec(draw, clean_leaning: bool = False) -> dict:
    spec: dict[str, Any] = {"declar": 1, "name": draw(IDENT.filter(lambda n: not keyword.iskeyword(n)))}
    if draw(st.booleans()):
        spec["seed"] = draw(st.integers(0, 2**32 - 1))
    spec["inputs"] = {"x": {"shape": draw(st.lists(st.integers(1, 6), min_size=1, max_size=1 if clean_leaning
                                                   else 3))}}
    types = dict(draw(st.lists(custom_layer_type(), max_size=2, unique_by=lambda t: t[0])))
    if types:
        spec["layers"] = types
    uses = [st.builds(lambda t, u: {t: {"units": u}} if types[t]["extends"] == "Dense" else {t: {}},
                      st.sampled_from(sorted(types)), st.integers(1, 6))] if types else []
    items = st.one_of(SIMPLE_LAYERS, *uses) if clean_leaning else st.one_of(SIMPLE_LAYERS, random_builtin_layer(),
                                                                             *uses)
    spec["model"] = draw(st.lists(items, min_size=1, max_size=4))
    if draw(st.booleans()):
        spec["compile"] = {"optimizer": draw(st.sampled_from(["adam", "sgd", "rmsprop"])),
                           "loss": draw(st.sampled_from(["mse", "mean_squared_error", "mae", "my_loss"]))}
        if spec["compile"]["loss"] == "my_loss":
            spec["functions"] = {"my_loss": {"args": ["y_true", "y_pred"],
                                             "expr": draw(st.sampled_from(["mean(square(y_pred - y_true))",
                                                                           "sum(abs(y_pred - y_true), axis=-1)"]))}}
    return spec


@fuzz(60)
@given(spec=generated_spec())
def test_generated_specs_give_only_problems(spec):
    text = yaml.safe_dump(spec, sort_keys=False)
    note(text)
    checked_validate("generated", text)


@fuzz(30)
@given(spec=generated_spec(), data=st.data())
def test_mutated_generated_specs_give_only_problems(spec, data):
    for _ in range(data.draw(st.integers(1, 3))):
        spec = mutate_data(spec, data.draw)
    text = yaml.safe_dump(spec, sort_keys=False)
    note(text)
    checked_validate("generated_mutated", as_yaml_text(text))


@pytest.fixture(scope="module")
def keras_ready():
    """Import keras once, outside the timed examples."""
    import keras  # noqa: F401

    from declar._keras_hook import register
    register()


@settings(max_examples=min(FUZZ_EXAMPLES, 60) if FUZZ_EXAMPLES else 10, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(spec=generated_spec(clean_leaning=True))
def test_clean_generated_specs_build_or_raise_build_error(keras_ready, spec):
    import keras

    text = yaml.safe_dump(spec, sort_keys=False)
    note(text)
    assume(checked_validate("generated_for_build", text) == [])
    TRIED["built"] += 1
    try:
        model = declar.build(text)
    except declar.BuildError as err:
        BUILT["BuildError"] += 1
        assert err.problems and all(p.line >= 1 and p.col >= 1 and p.message for p in err.problems)
        return
    except BaseException as err:
        BUILT[type(err).__name__] += 1
        EXCEPTIONS["build"] += 1
        raise
    BUILT["model"] += 1
    assert isinstance(model, keras.Model)


# -- 1c. raw bytes and random text ---------------------------------------------------------------

_BYTES_DIR = Path(tempfile.mkdtemp(prefix="declar_fuzz_bytes_"))


@fuzz(100)
@given(raw=st.one_of(st.binary(max_size=400),
                     st.builds(lambda head, junk: head + junk,
                               st.sampled_from([b"", b"\xef\xbb\xbf", b"declar: 1\n", b"\xff\xfe", b"\x89PNG\r\n"]),
                               st.binary(max_size=200))))
def test_random_bytes_file_gives_only_problems(raw):
    path = _BYTES_DIR / "junk.yaml"
    path.write_bytes(raw)
    checked_validate("bytes_file", str(path))
    checked_validate("bytes_pathlike", path)


@fuzz(100)
@given(text=st.one_of(st.text(max_size=300),
                      st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
                      st.text(alphabet=string.printable, max_size=300),
                      st.text(alphabet=":-[]{},&*!|>'\"%@`#? \n\t\r\x85\u2028abc01", max_size=200)))
def test_random_text_gives_only_problems(text):
    checked_validate("text", as_yaml_text(text))
    checked_validate("text_with_header", "declar: 1\n" + text)


# -- known bugs, found by this fuzzer ------------------------------------------------------------

@pytest.mark.parametrize("literal", ["9" * 5000, "0x" + "f" * 5000, "1" + ":59" * 3000])
def test_integer_literal_over_python_digit_limit(literal):
    text = f"declar: 1\nname: m\nseed: {literal}\ninputs: {{x: {{shape: [3]}}}}\nmodel: [{{Dense: {{units: 1}}}}]\n"
    problems = declar.validate(text)
    assert problems and problems[0].line == 3


def test_lone_surrogate_in_text():
    problems = declar.validate("declar: 1\nname: m\ud800\n")
    assert problems and (problems[0].line, problems[0].col) == (2, 8)
