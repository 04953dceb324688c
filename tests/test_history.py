"""The history `declar fit` writes next to the archive, and `declar plot-history` drawing it."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from typer.testing import CliRunner

import declar
from declar.cli import app
from declar.fitting.history import history_path, read_history, save_history
from tests.training_helpers import tiny_spec

runner = CliRunner()
MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A spec trained 3 epochs with validation: (directory, the History declar.fit returned)."""
    directory = tmp_path_factory.mktemp("history")
    spec = tiny_spec(directory, "  data: d.npz\n  epochs: 3\n  batch_size: 5\n  validation_split: 0.25\n")
    return directory, declar.fit(spec, None, directory / "m.keras", verbose=0)


def test_the_history_is_written_next_to_the_archive_as_fit_returned_it(trained):
    directory, history = trained
    content = json.loads((directory / "m.history.json").read_text())
    assert content["declar_history"] == 1 and content["epoch"] == [1, 2, 3]
    assert content["metrics"] == {k: [float(v) for v in values] for k, values in history.history.items()}
    assert sorted(content["metrics"]) == ["loss", "mae", "val_loss", "val_mae"]
    assert sorted(p.name for p in directory.iterdir()) == ["d.npz", "m.history.json", "m.keras", "spec.yaml"]


def test_a_resumed_run_keeps_the_epochs_before_it_and_a_fresh_run_replaces_them(tmp_path):
    out = tmp_path / "m.keras"
    save_history({"loss": [4.0, 3.0, 2.0], "val_loss": [5.0, 4.0, 3.0]}, [0, 1, 2], out)
    save_history({"loss": [2.5, 1.5], "val_loss": [3.5, float("nan")]}, [2, 3], out)  # resumed at epoch 3
    assert read_history(out) == {"epoch": [1, 2, 3, 4], "loss": [4.0, 3.0, 2.5, 1.5], "val_loss": [5.0, 4.0, 3.5, None]}
    save_history({"loss": [9.0]}, [0], out)
    assert read_history(history_path(out)) == {"epoch": [1], "loss": [9.0]}


def test_plot_history_draws_training_and_validation_curves_as_svg(trained, tmp_path):
    directory, _ = trained
    for source in (directory / "m.keras", directory / "m.history.json"):
        result = runner.invoke(app, ["plot-history", str(source), "-o", str(tmp_path / "curves.svg")])
        assert result.exit_code == 0, result.output
        svg = (tmp_path / "curves.svg").read_text()
        assert re.findall(r'font-weight="bold">([^<]+)<', svg) == ["loss", "mae"]  # a panel per metric, the loss first
        assert svg.count("<polyline") == 4  # training and validation in each
        assert all(len(points.split()) == 3 for points in re.findall(r'points="([^"]+)"', svg))  # 3 epochs


def test_plot_history_png_needs_matplotlib_and_says_which_extra(trained, tmp_path):
    directory, _ = trained
    result = runner.invoke(app, ["plot-history", str(directory / "m.keras"), "-o", str(tmp_path / "curves.png")])
    if MATPLOTLIB:
        assert result.exit_code == 0, result.output
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert result.exit_code == 1
        assert result.output == (f"error: {tmp_path / 'curves.png'}: drawing a .png needs matplotlib, which is not "
                                 "installed: pip install 'declar[plot]' (matplotlib); or write an .svg, which needs "
                                 "nothing\n")
        assert not (tmp_path / "curves.png").exists()


def test_plot_history_refuses_what_is_not_a_history(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"")
    (tmp_path / "other.json").write_text(json.dumps({"epoch": [1], "metrics": {"loss": ["x"]}}))
    cases = {
        ("m.keras", "c.svg"): f"error: {tmp_path / 'm.keras'}: no history next to it (m.history.json); declar fit "
                              "writes one when it trains\n",
        ("other.json", "c.svg"): f"error: {tmp_path / 'other.json'}: not a declar training history (written by "
                                 "declar fit as *.history.json)\n",
        ("other.json", "c.gif"): f"error: {tmp_path / 'c.gif'}: cannot tell the format from the name; use .svg (needs "
                                 "nothing) or .png (needs matplotlib: pip install 'declar[plot]' (matplotlib))\n",
    }
    for (source, out), message in cases.items():
        result = runner.invoke(app, ["plot-history", str(tmp_path / source), "-o", str(tmp_path / out)])
        assert (result.exit_code, result.output) == (1, message)
