"""Tests of msann.experiment: run folders, stale temporaries, the npz path rule, targets that fit the output, the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from msann.config import ConfigError, load_config
from msann.experiment import check_output_folder, check_run_folders, remove_stale_temporaries, run_experiment

REPO = Path(__file__).resolve().parents[2]

RECIPE = """
[data]
{data}

[model]
widths = [32, 8, 32]
output_activation = "{output}"

[hierarchy]
levels = 1
gamma = 1
k = 1

[train]
batch_size = 8
eval_points = 4
cost_budget = 100.0
{runs}
"""
OBJECTS = 'name = "one_object"\nlength = 32\nn_train = 32\nn_val = 8'


def write(folder: Path, *, data: str = OBJECTS, output: str = "sigmoid", runs: str = "", name: str = "r") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(RECIPE.format(data=data, output=output, runs=runs))
    return path


def test_labels_whose_folders_collide_are_refused_naming_both(tmp_path):
    runs = '[[runs]]\nlabel = "L=0"\n[[runs]]\nlabel = "L0"\n[[runs]]\nlabel = "other"\n'
    config = load_config(write(tmp_path, runs=runs))
    with pytest.raises(ConfigError, match=r"run labels 'L=0' and 'L0' both give the run folder runs/L0"):
        run_experiment(config, tmp_path / "out", device="cpu", progress=False)
    assert not (tmp_path / "out").exists()
    case = load_config(write(tmp_path, runs='[[runs]]\nlabel = "Run"\n[[runs]]\nlabel = "run"\n'))
    with pytest.raises(ConfigError, match="'Run' and 'run'.*ignore case"):
        check_run_folders(case.runs, source="x")
    assert check_run_folders(config.runs[2:], source="x") == ["other"]


def test_output_folder_checks_touch_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]
    with pytest.raises(ConfigError, match="must be a folder"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(ConfigError, match=f"cannot be created: {tmp_path / 'file'} is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "sub")


def test_stale_temporaries_of_atomic_writes_are_removed_and_nothing_else(tmp_path):
    stale = [tmp_path / ".checkpoint.pt.k2j_9x1a.tmp", tmp_path / ".summary.json.abcdefgh.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / ".hidden", tmp_path / "checkpoint.pt"]
    for path in stale + kept:
        path.write_text("x")
    (tmp_path / ".folder.abcdefgh.tmp").mkdir()
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([".folder.abcdefgh.tmp", *(p.name for p in kept)])


def test_a_run_removes_the_temporaries_a_kill_left_in_its_folders(tmp_path):
    config = load_config(write(tmp_path))
    out = tmp_path / "out"
    (out / "runs" / "r").mkdir(parents=True)
    left = [out / ".summary.json.x1y2z3w4.tmp", out / "runs" / "r" / ".checkpoint.pt.a1b2c3d4.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    run_experiment(config, out, device="cpu", progress=False)
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]
    assert (out / "summary.json").is_file()


def test_the_summary_names_the_device_used_and_why_a_tenth_was_not_reached(tmp_path):
    config = load_config(write(tmp_path))
    assert config.runs[0].train.device == "auto"
    run_experiment(config, tmp_path / "out", device="cpu", progress=False)
    run = json.loads((tmp_path / "out" / "summary.json").read_text())["runs"][0]
    assert run["params"]["train"]["device"] == "cpu" and run["device"] == "cpu"
    assert run["cost_to_tenth"] is None
    assert run["cost_to_tenth_note"].startswith("never reached: the lowest logged error")
    assert "cost budget" in run["cost_to_tenth_note"]


def test_a_relative_npz_path_is_read_from_the_recipe_folder(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    clean = (np.random.default_rng(0).random((40, 32)) < 0.2).astype(np.uint8) * 255
    np.savez(folder / "mine.npz", X=clean)
    data = 'name = "npz"\npath = "mine.npz"\nscaling = "min-max"\nnoise = 0.05'
    recipe = write(folder, data=data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    records = run_experiment(load_config(os.path.relpath(recipe)), tmp_path / "out", device="cpu", progress=False)
    assert records[0].params["data"]["path"] == "mine.npz"  # the recipe's value; read from its folder
    assert records[0].total_cost >= 100.0


@pytest.mark.parametrize("output, scaling, refused", [("sigmoid", "none", True), ("sigmoid", "min-max", False),
                                                      ("identity", "none", False), ("tanh", "standard", True)])
def test_targets_must_fit_the_output_activation(tmp_path, output, scaling, refused):
    np.savez(tmp_path / "bytes.npz", X=np.random.default_rng(1).integers(0, 256, (40, 32)))
    recipe = write(tmp_path, data=f'name = "npz"\npath = "bytes.npz"\nscaling = "{scaling}"', output=output)
    config = load_config(recipe)
    if refused:
        with pytest.raises(ConfigError, match=rf"the targets lie in \[.*\], but \[model\] output_activation = '{output}'"):
            run_experiment(config, tmp_path / "out", device="cpu", progress=False)
        assert not (tmp_path / "out").exists()
    else:
        run_experiment(config, tmp_path / "out", device="cpu", progress=False)


def test_the_npz_example_runs_as_the_readme_says_from_another_folder(tmp_path, monkeypatch):
    import runpy

    folder = tmp_path / "recipes"
    folder.mkdir()
    recipe = folder / "npz_example.toml"
    recipe.write_text((REPO / "recipes" / "npz_example.toml").read_text())
    script = runpy.run_path(str(REPO / "recipes" / "npz_example.py"))
    script["write_example"](folder / "npz_example.npz", n_train=64, n_val=16)
    monkeypatch.chdir(tmp_path)
    config = load_config(recipe, overrides=["train.cost_budget=300"])
    assert [run.data["path"] for run in config.runs] == ["npz_example.npz"] * 2
    records = run_experiment(config, tmp_path / "out", device="cpu", progress=False)
    assert [record.label for record in records] == ["default", "MsANN L=2 gamma=3 k=4"]
