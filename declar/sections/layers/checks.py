"""Custom layer types: extends, members, variables and their shapes, assets, the call expression."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from declar.bounded import FileLimitError, transform_text
from declar.errors import JsonPath, Problem
from declar.expr.evaluate import ExpressionError
from declar.expr.parse import Checked
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.sections.layers.state_checks import check_type_state
from declar.spec.catalog import catalog
from declar.spec.checks.locate import checked_expression, checked_program, expression_problem
from declar.spec.checks.values import check_value, object_problems
from declar.spec.expressions import call_context, compute_shape, mask_context, shape_context
from declar.spec.facts import UNSAFE_LAYERS
from declar.spec.loaded import LoadedSpec, SpecOrigin
from declar.spec.model import BUILD_KEY, AssetSpec, LayerTypeSpec, Spec
from declar.spec.shapes import shape_errors
from declar.spec.source import Document


def check_layer_types(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    known = catalog().layers
    extendable: list[str] = []  # the hint's candidates, built once: per type it made validation quadratic
    yield from _check_extends_cycles(spec, doc)
    yield from _check_extends_depth(spec, doc, limits.max_extends_depth)
    for name, lt in spec.layer_types.items():
        base = ("layers", name)
        if name in known:
            yield doc.problem(base, f"custom layer type '{name}' has the name of a built-in Keras layer",
                              "choose another name", "shadowed-layer", at_key=True)
        if lt.extends in UNSAFE_LAYERS:
            yield doc.problem((*base, "extends"), f"layer '{lt.extends}' {UNSAFE_LAYERS[lt.extends]}; declar refuses "
                              "it", "extend Layer and write the computation in call", "unsafe-layer")
        elif lt.extends not in known and lt.extends not in spec.layer_types and lt.extends != "Layer":
            extendable = extendable or [*known, *spec.layer_types]
            hint = did_you_mean(lt.extends, extendable)
            yield doc.problem((*base, "extends"), f"unknown layer type '{lt.extends}' to extend", hint, "unknown-layer")
        first_group: dict[str, str] = {}
        for group in ("params", "build_args", "variables"):
            for member in (doc.data["layers"][name].get(group) or {}):
                if member in first_group:
                    yield doc.problem((*base, group, member), f"'{member}' is declared twice (also in "
                                      f"{first_group[member]})", "give each its own name", "duplicate-name",
                                      at_key=True)
                else:
                    first_group[member] = group
        reserved = {"inputs", "training", "input_shape", "base", BUILD_KEY, "name", "trainable", "dtype"}
        for group in ("params", "build_args", "variables", "assets"):
            for item in (doc.data["layers"][name].get(group) or {}):
                if item in reserved:
                    yield doc.problem((*base, group, item), f"'{item}' is a reserved name", "choose another name",
                                      "reserved-name", at_key=True)
        for group, params in (("params", lt.params), ("build_args", lt.build_args)):
            for p in params:
                if not p.required:
                    yield from check_value(doc, (*base, group, p.name, "default"), p, p.default)
        yield from _check_variables(spec, doc, lt, limits)
        yield from _check_assets(loaded.origin, doc, lt, limits)
        yield from _check_call(doc, lt, limits)
        yield from _check_mask(doc, lt, limits)
        yield from check_type_state(doc, lt, limits)


def _check_extends_depth(spec: Spec, doc: Document, max_depth: int) -> Iterator[Problem]:
    """The type where a chain of custom types first passes ``max_depth``, once per chain: Keras
    nests each type's layer in the next, and a chain of a few hundred exhausts its recursion."""
    depths: dict[str, int] = {}
    for start in spec.layer_types:
        chain: list[str] = []
        current = start
        while current in spec.layer_types and current not in depths and current not in chain:
            chain.append(current)
            current = spec.layer_types[current].extends
        depth = depths.get(current, 0)  # a cycle's members count from 0; the cycle is reported elsewhere
        for member in reversed(chain):
            depth += 1
            depths[member] = depth
            if depth == max_depth + 1:
                yield doc.problem(("layers", member, "extends"), f"layer type '{member}' is {depth} custom types "
                                  f"deep in its extends chain, over the limit of {max_depth:,}",
                                  "extend a shallower type, or raise Limits.max_extends_depth", "extends-depth")


def _check_extends_cycles(spec: Spec, doc: Document) -> Iterator[Problem]:
    """Cycles of `extends`, at each of their types; every type is walked once (linear time)."""
    done: set[str] = set()
    for start in spec.layer_types:
        chain: list[str] = []
        on_chain: set[str] = set()
        current = start
        while current in spec.layer_types and current not in done and current not in on_chain:
            chain.append(current)
            on_chain.add(current)
            current = spec.layer_types[current].extends
        if current in on_chain:
            cycle = chain[chain.index(current):]
            for i, member in enumerate(cycle):  # every `extends` of the cycle is a place to break it
                loop = [*cycle[i:], *cycle[:i], member]
                shown = " -> ".join(loop if len(loop) <= 12 else [*loop[:10], "...", member])
                yield doc.problem(("layers", member, "extends"), f"layer type '{member}' extends itself through "
                                  f"{shown}", "break the cycle", "cycle")
        done.update(chain)


def _check_variables(spec: Spec, doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    names = {p.name for p in (*lt.params, *lt.build_args)} | {"input_shape"}
    if lt.extends != "Layer":
        names.add("output_shape")  # the extended layer's output shape
    context = shape_context(names)
    init_params = {p.name for p in (*lt.params, *lt.build_args) if p.type in ("initializer", "any")}
    untyped_defaults = {p.name: (group, p.default) for group, params in (("params", lt.params),
                                                                         ("build_args", lt.build_args))
                        for p in params if p.type == "any" and not p.required}
    for v in lt.variables:
        path = ("layers", lt.name, "variables", v.name)
        parts = [((*path, "shape"), v.shape)] if isinstance(v.shape, str) else [
            ((*path, "shape", i), s) for i, s in enumerate(v.shape) if isinstance(s, str)]
        for part_path, text in parts:
            checked, problems = checked_expression(doc, part_path, text, context, limits)
            yield from problems
            if checked.tree is not None and "input_shape" not in checked.names:
                yield from _check_constant_shape(doc, part_path, checked, lt, limits)
        if isinstance(v.shape, tuple):
            yield from _check_literal_shape(doc, (*path, "shape"), v.shape, lt, limits)
        init = v.initializer
        if isinstance(init, str) and init not in init_params and init not in catalog().initializers:
            hint = did_you_mean(init, [*init_params, *catalog().initializers])
            yield doc.problem((*path, "initializer"), f"unknown initializer '{init}'", hint, "unknown-initializer")
        elif isinstance(init, dict) and "class_name" in init:  # without it, the schema has said so
            yield from object_problems(doc, (*path, "initializer"), "initializer", init)
        elif isinstance(init, str) and init in untyped_defaults and untyped_defaults[init][1] is not None:
            group, default = untyped_defaults[init]  # an `any` default reaches keras.initializers.get too
            yield from object_problems(doc, ("layers", lt.name, group, init, "default"), "initializer", default)


def _check_literal_shape(doc: Document, path: JsonPath, shape: tuple[Any, ...], lt: LayerTypeSpec,
                         limits: Limits) -> Iterator[Problem]:
    """A list shape: each literal size is checked, and the whole when every item can be computed."""
    env = {p.name: p.default for p in (*lt.params, *lt.build_args) if not p.required}
    sizes: list[Any] = []
    for i, item in enumerate(shape):
        if isinstance(item, str):
            try:
                sizes.append(compute_shape(item, env, limits))
            except ExpressionError:
                sizes.append(None)  # reported at the item by the check of its expression
            continue
        problems = list(shape_errors([item], limits))
        for message, hint in problems:
            yield doc.problem((*path, i), message, hint, "bad-shape")
        sizes.append(item if not problems else None)
    if None not in sizes and all(isinstance(x, int) for x in sizes):
        for message, hint in shape_errors(sizes, limits):
            if "elements" in message:
                yield doc.problem(path, message, hint, "bad-shape")


def _check_constant_shape(doc: Document, path: JsonPath, checked: Checked, lt: LayerTypeSpec,
                          limits: Limits) -> Iterator[Problem]:
    """A shape that does not depend on the input is computed now, with the parameter defaults."""
    env = {p.name: p.default for p in (*lt.params, *lt.build_args) if not p.required}
    if not checked.names <= set(env):
        return
    try:
        value = compute_shape(checked, env, limits)
    except ExpressionError as err:
        yield expression_problem(doc, path, err.col, str(err), "", "bad-shape")
        return
    sizes = value if isinstance(value, (list, tuple)) else [value]
    yield from (doc.problem(path, m, h, "bad-shape") for m, h in shape_errors(sizes, limits))


def _check_assets(origin: SpecOrigin, doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    params = {p.name: p for p in lt.params}
    for asset in lt.assets:
        path = ("layers", lt.name, "assets", asset.name)
        raw = doc.data["layers"][lt.name]["assets"][asset.name]
        sources = [s for s in ("value", "param", "file") if s in raw]
        if len(sources) != 1:
            yield doc.problem(path, f"asset '{asset.name}' needs exactly one of value, param or file"
                              + (f", got {', '.join(sources)}" if sources else ""), "", "asset-source")
            continue
        if asset.dtype and asset.kind != "array":
            yield doc.problem((*path, "dtype"), "dtype applies only to array assets", "", "asset-kind")
        if asset.transform and asset.kind != "text":
            yield doc.problem((*path, "transform"), "transform applies only to text assets", "", "asset-kind")
        if asset.source == "value":
            yield from _check_asset_value(doc, (*path, "value"), asset.kind, asset.value)
            yield from _check_transform_size(doc, (*path, "transform"), asset, limits)
        elif asset.source == "param" and asset.param not in params:
            hint = did_you_mean(asset.param or "", params) or "declare it under params"
            yield doc.problem((*path, "param"), f"unknown parameter '{asset.param}'", hint, "unknown-param")
        elif asset.source == "file":
            # JSON (a json asset, an array not in .npy) is parsed into Python objects: a tighter bound.
            json_text = asset.kind == "json" or (asset.kind == "array" and not (asset.file or "").endswith(".npy"))
            yield from _check_asset_file(origin, doc, (*path, "file"), asset.file or "", limits.asset_limit(json_text))


def _check_asset_value(doc: Document, path: JsonPath, kind: str, value: Any) -> Iterator[Problem]:
    if kind == "text" and not isinstance(value, str):
        yield doc.problem(path, "a text asset's value must be a string", "", "asset-value")
    if kind == "array" and not _is_numeric_array(value):
        yield doc.problem(path, "an array asset's value must be a (nested) list of numbers", "", "asset-value")


def _is_numeric_array(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_numeric_array(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_transform_size(doc: Document, path: JsonPath, asset: AssetSpec, limits: Limits) -> Iterator[Problem]:
    """A value's transform runs at load; refuse now what load would refuse (the same computation)."""
    if asset.kind != "text" or not asset.transform or not isinstance(asset.value, str):
        return
    try:
        transform_text(asset.value, len(asset.value.encode("utf-8")), asset.transform, limits.max_asset_bytes,
                       f"asset '{asset.name}'")
    except FileLimitError as err:
        yield doc.problem(path, str(err).split("; ")[0], "raise Limits.max_asset_bytes if this is intended",
                          "asset-size")
    except (AttributeError, TypeError):
        return  # a malformed transform is the schema's to report


def _check_asset_file(origin: SpecOrigin, doc: Document, path: JsonPath, name: str, limit: tuple[int, str]
                      ) -> Iterator[Problem]:
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
        yield doc.problem(path, f"asset path '{name}' leaves the spec's directory",
                          "give a path relative to the spec, without ..", "asset-path")
        return
    if origin.archive:
        return  # the content is in the archive's assets
    if origin.base_dir is None:
        yield doc.problem(path, "a spec given as text cannot name asset files", "load the spec from its file",
                          "asset-path")
        return
    root = os.path.realpath(origin.base_dir)
    full = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, full]) != root:
        yield doc.problem(path, f"asset path '{name}' resolves outside the spec's directory (symbolic link?)",
                          "", "asset-path")
    elif not os.path.exists(full):
        yield doc.problem(path, f"asset file '{name}' does not exist", f"looked in {root}", "asset-file")
    elif not os.path.isfile(full):  # a directory, a FIFO (reading would hang) or a device (never ends)
        yield doc.problem(path, f"asset file '{name}' is not a regular file", "", "asset-file")
    elif os.path.getsize(full) > limit[0]:
        yield doc.problem(path, f"asset file '{name}' is {os.path.getsize(full):,} bytes, over the limit of "
                          f"{limit[0]:,}", f"raise Limits.{limit[1]} if this is intended", "asset-size")


def _check_call(doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    context = call_context(lt)
    path = ("layers", lt.name, "call")
    if "call" in doc.data["layers"][lt.name]:
        yield from checked_program(doc, path, lt.call, context, limits, costs=True)[1]
    elif lt.extends == "Layer" and not lt.variables:
        pass  # an identity layer is allowed, if odd


def _check_mask(doc: Document, lt: LayerTypeSpec, limits: Limits) -> Iterator[Problem]:
    """The declared output mask: an expression over the inputs, their mask and the parameters."""
    if lt.mask is not None:
        yield from checked_expression(doc, ("layers", lt.name, "mask"), lt.mask, mask_context(lt), limits)[1]
