"""Tests of msann.report.sweep: sweep tables, their Markdown and files."""

import json
import math

import pytest

from msann.report import sweep_markdown, sweep_table, write_sweep

from .helpers import png_image, record, sweep_runs


def test_sweep_table_chooses_best_worst_and_default():
    table = sweep_table(sweep_runs())
    assert table["runs"] == 4
    assert table["best_final"]["label"] == "L=4 gamma=3 k=4" and table["best_final"]["final_val_mse"] == 0.02
    assert table["best_final"]["params"] == {"hierarchy.levels": 4, "hierarchy.gamma": 3, "hierarchy.k": 4}
    assert table["worst_final"]["label"] == "L=2 gamma=1 k=1" and table["worst_final"]["final_val_mse"] == 0.3
    assert table["default"]["final_val_mse"] == 0.09 and table["default"]["cost_to_tenth"] == 300.0
    assert table["best_cost_to_tenth"]["label"] == "L=4 gamma=3 k=4" and table["best_cost_to_tenth"]["cost_to_tenth"] == 100.0
    assert table["cost_ratio"] == 3.0
    assert table["equal_cost"]["cost"] == 300.0  # the smallest total cost; L=4 logged 0.02 only at 320
    assert table["equal_cost"]["best"]["label"] == "L=6 gamma=3 k=1" and table["equal_cost"]["best"]["val_mse"] == 0.025
    assert table["equal_cost"]["default_val_mse"] == 0.09
    json.dumps(table, allow_nan=False)  # plain data


def test_sweep_table_without_default_and_without_any_tenth():
    runs = [record("x", [1.0, 0.5]), record("y", [1.0, 0.8])]
    table = sweep_table(runs, default_label=None)
    assert table["default"] is None and table["best_cost_to_tenth"] is None and table["cost_ratio"] is None
    assert table["equal_cost"]["default_val_mse"] is None
    with pytest.raises(ValueError, match="valid default run labels are: x, y"):
        sweep_table(runs)
    assert "| default | — |" in sweep_markdown(table)


def test_sweep_table_ranks_a_diverged_run_worst():
    runs = [record("default", [1.0, 0.5]), record("nan", [1.0, math.nan]), record("good", [1.0, 0.05])]
    table = sweep_table(runs)
    assert table["worst_final"]["label"] == "nan" and table["worst_final"]["final_val_mse"] is None
    assert table["best_final"]["label"] == "good"


def test_write_sweep_files(tmp_path):
    runs = sweep_runs()
    table = write_sweep(tmp_path, runs, best=2)
    document = json.loads((tmp_path / "sweep.json").read_text())
    assert document["table"] == json.loads(json.dumps(table))
    assert [row["label"] for row in document["runs"]] == [run.label for run in runs]
    markdown = (tmp_path / "sweep.md").read_text()
    assert markdown == sweep_markdown(table, runs=runs)
    assert "| best final MSE | `L=4 gamma=3 k=4` | 0.02 | 100 |" in markdown
    assert "default / best: 3×" in markdown
    lines = markdown.splitlines()
    order = [line.split("`")[1] for line in lines[lines.index("## All runs (best final MSE first)") + 4:]]
    assert order == ["L=4 gamma=3 k=4", "L=6 gamma=3 k=1", "default", "L=2 gamma=1 k=1"]
    png_image(tmp_path / "sweep.png")
