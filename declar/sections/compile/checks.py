"""The compile section's checks: optimizer, schedules, loss weights; losses and metrics are in `losses`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from declar.errors import JsonPath, Problem
from declar.hints import did_you_mean
from declar.limits import Limits
from declar.sections.compile.arguments import check_argument
from declar.sections.compile.losses import check_losses_and_metrics
from declar.spec.catalog import catalog
from declar.spec.loaded import LoadedSpec
from declar.spec.source import Document


def check_compile(loaded: LoadedSpec, limits: Limits) -> Iterator[Problem]:
    spec, doc = loaded.spec, loaded.document
    cfg, base = doc.data.get("compile"), ("compile",)
    if not cfg:
        return
    yield from _check_optimizer(doc, cfg["optimizer"])
    outputs = list(spec.output_names)
    yield from check_losses_and_metrics(spec, doc, cfg, outputs)
    value = cfg.get("loss_weights")
    if isinstance(value, dict):
        for out in value:
            if out not in outputs:
                yield doc.problem((*base, "loss_weights", out), f"'{out}' is not an output of the model",
                                  did_you_mean(out, outputs) or f"outputs: {', '.join(outputs)}", "unknown-output",
                                  at_key=True)
    elif isinstance(value, list) and len(value) != len(outputs):
        yield doc.problem((*base, "loss_weights"), f"loss_weights lists {len(value)} entries for {len(outputs)} "
                          "outputs", f"outputs: {', '.join(outputs)}", "per-output")


def _check_optimizer(doc: Document, raw: Any) -> Iterator[Problem]:
    path = ("compile", "optimizer")
    optimizers = catalog().optimizers
    name = raw if isinstance(raw, str) else raw.get("name")
    if not isinstance(name, str) or name.lower() not in optimizers:
        yield doc.problem(path if isinstance(raw, str) else (*path, "name"), f"unknown optimizer {name!r}",
                          did_you_mean(str(name).lower(), optimizers), "unknown-optimizer")
        return
    if isinstance(raw, dict):
        allowed = set(optimizers[name.lower()])
        for key, value in raw.items():
            if key == "name":
                continue
            if key not in allowed:
                yield doc.problem((*path, key), f"optimizer '{name}' has no argument '{key}'",
                                  did_you_mean(key, allowed), "unknown-arg", at_key=True)
            elif key == "learning_rate" and isinstance(value, dict):
                yield from _check_schedule(doc, (*path, key), value)
            else:
                expected = catalog().optimizer_arg_types.get(name.lower(), {}).get(key)
                yield from check_argument(doc, (*path, key), f"optimizer argument '{key}'", expected, value)


def _check_schedule(doc: Document, path: JsonPath, raw: dict[str, Any]) -> Iterator[Problem]:
    schedules = catalog().schedules
    name = raw.get("name")
    if name is None:
        yield doc.problem(path, "a learning-rate schedule needs a name", f"schedules: {', '.join(schedules)}",
                          "unknown-schedule")
        return
    if name not in schedules:
        yield doc.problem((*path, "name") if "name" in raw else path, f"unknown learning-rate schedule {name!r}",
                          did_you_mean(str(name), schedules) or f"schedules: {', '.join(schedules)}",
                          "unknown-schedule")
        return
    types = catalog().schedule_arg_types.get(name, {})
    misspelt = set()  # a required argument written with a typo is one mistake, reported once
    for key, value in raw.items():
        if key == "name":
            continue
        if key not in schedules[name]:
            hint = did_you_mean(key, schedules[name])
            misspelt.add(hint.removeprefix("did you mean '").removesuffix("'?"))
            yield doc.problem((*path, key), f"schedule '{name}' has no argument '{key}'", hint, "unknown-arg",
                              at_key=True)
        else:
            yield from check_argument(doc, (*path, key), f"schedule argument '{key}'", types.get(key), value)
    missing = [a for a in catalog().schedules_required.get(name, ()) if a not in raw and a not in misspelt]
    if missing:
        yield doc.problem(path, f"schedule '{name}' needs argument{'s' * (len(missing) > 1)} "
                          f"{', '.join(repr(m) for m in missing)}", "", "missing-arg")

