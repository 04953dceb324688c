"""Weights carried from one version of a spec to the next (`declar transfer`, `transfer_weights`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import declar
from declar.api import transfer_weights
from declar.cli import app
from declar.transfer import TransferReport

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "specs" / "examples" / "versions"
V1, V2 = VERSIONS / "classifier_v1.yaml", VERSIONS / "classifier_v2.yaml"
runner = CliRunner()


def weights(model, name: str) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer(name).get_weights()]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def trained_v1(tmp_path_factory) -> Path:
    """v1 with weights that differ from its seeded initialization (as after training)."""
    model = declar.build(str(V1))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    out = tmp_path_factory.mktemp("transfer") / "v1.keras"
    declar.save(model, out)
    return out


def test_report_and_weights(trained_v1):
    old = declar.load(trained_v1, compile=False)
    new = declar.build(str(V2))
    fresh = declar.build(str(V2))
    report = transfer_weights(new, old)
    assert isinstance(report, TransferReport)
    assert report.carried == ["encoder"]  # a custom type: its own `gain` and its base Dense's kernel and bias
    assert report.new == ["bottleneck", "norm"]  # renamed from `hidden`: names decide, so it starts fresh
    assert report.mismatched == [("head", "kernel (8, 4) in old, (8, 6) in new")]
    assert report.dropped == ["hidden"]
    assert len(weights(new, "encoder")) == 3 and same(weights(new, "encoder"), weights(old, "encoder"))
    for name in ("bottleneck", "norm", "head"):  # the rest keep the seeded initialization
        assert same(weights(new, name), weights(fresh, name))


def test_count_and_dtype_reasons():
    def model(text: str):
        return declar.build("declar: 1\nname: m\ninputs: {x: {shape: [3]}}\nmodel:\n" + text)

    old = model("  - Dense: {units: 2, name: a}\n  - Dense: {units: 2, name: b}\n")
    new = model("  - Dense: {units: 2, name: a, use_bias: false}\n  - Dense: {units: 2, name: b, dtype: float64}\n")
    report = transfer_weights(new, old)
    assert report.mismatched == [("a", "2 weights in old (kernel, bias), 1 in new (kernel)"),
                                 ("b", "kernel is float32 in old, float64 in new")]


def test_cli_writes_the_archive_and_reports(trained_v1, tmp_path):
    out = tmp_path / "v2.keras"
    result = runner.invoke(app, ["transfer", str(V2), str(out), "--weights-from", str(trained_v1)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "carried: encoder", "new: bottleneck, norm", "did not fit:", "  head: kernel (8, 4) in old, (8, 6) in new",
        "not in the new model: hidden", f"wrote {out}"]
    loaded, old = declar.load(out), declar.load(trained_v1, compile=False)
    assert same(weights(loaded, "encoder"), weights(old, "encoder"))
    assert loaded.declar_spec.sha256 == declar.load_spec(str(V2)).spec.sha256
    assert loaded.compiled


def test_cli_json(trained_v1, tmp_path):
    out = tmp_path / "v2.keras"
    result = runner.invoke(app, ["transfer", str(V2), str(out), "--weights-from", str(trained_v1), "--format",
                                 "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["carried"] == ["encoder"]
    assert data["mismatched"] == [{"layer": "head", "reason": "kernel (8, 4) in old, (8, 6) in new"}]


def test_cli_errors_are_messages_not_tracebacks(tmp_path):
    result = runner.invoke(app, ["transfer", str(V2), str(tmp_path / "v2.keras"), "--weights-from",
                                 str(tmp_path / "missing.keras")])
    assert result.exit_code == 1
    assert "no such archive" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "v2.keras").exists()
    assert runner.invoke(app, ["transfer", str(V2), str(tmp_path / "v2.keras")]).exit_code == 2


def test_save_weights_from_is_the_same_transfer(trained_v1, tmp_path):
    out = tmp_path / "v2.keras"
    result = runner.invoke(app, ["save", str(V2), str(out), "--weights-from", str(trained_v1)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "carried: encoder" and result.output.splitlines()[-1] == f"wrote {out}"
    loaded, old = declar.load(out), declar.load(trained_v1, compile=False)
    assert same(weights(loaded, "encoder"), weights(old, "encoder"))


def test_save_refuses_verify_with_weights_from(trained_v1, tmp_path):
    result = runner.invoke(app, ["save", str(V2), str(tmp_path / "v2.keras"), "--weights-from", str(trained_v1),
                                 "--verify"])
    assert result.exit_code == 2 and not (tmp_path / "v2.keras").exists()
