"""FAS in recipes (msann.methods.fas_recipe; seed 000, SPEC §4): the [fas] table, its checks, and runs end to end.

What is asserted: every bad [fas] value is one line naming the key, the rule
and the value; scaled = true is projection = 'scaled' and refuses another
projection; keys added later leave old runs' fingerprints (and so their
checkpoints) as they were; the recipes run with tiny overrides and write the
FAS summary (relative L2 beside the per-node MSE, MTNN's summed L2); the
MTNN options run on standardised data with errors in original units.
"""

from __future__ import annotations

import csv
import json
import math
import warnings

import pytest

from msann.cli import main
from msann.coarsening.network import CoarseningOptions, CoarseningWarning
from msann.config import ConfigError, parse_config
from msann.core.checkpoint import fingerprint
from msann.methods.fas_recipe import coarsening_options

pytestmark = pytest.mark.filterwarnings("ignore::msann.coarsening.network.CoarseningWarning")


_RECIPE = {
    "method": "fas",
    "data": {"name": "poisson", "n_samples": 64, "grid_size": 8},
    "train": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9},
}


@pytest.mark.parametrize("key, value, message", [
    ("threshold", 1.5, r"\[fas\] threshold must be a number in \[-1, 1\]; got 1.5"),
    ("threshold", -2, r"\[fas\] threshold must be a number in \[-1, 1\]; got -2"),
    ("tau_batches", 0, r"\[fas\] tau_batches must be an integer >= 1; got 0"),
    ("eta", 0.0, r"\[fas\] eta must be a positive finite number; got 0.0"),
    ("eta", -1.5, r"\[fas\] eta must be a positive finite number; got -1.5"),
    ("architecture", "rnn", r"\[fas\] architecture must be one of 'cnn', 'fc', 'resnet'; got 'rnn'"),
    ("projection", "mtnn", r"\[fas\] projection must be one of 'average', 'norm-weighted', 'scaled'; got 'mtnn'"),
    ("projection", True, r"\[fas\] projection must be one of .*; got bool True"),
    ("matching", "heavy-edge", r"\[fas\] matching must be one of 'greedy', 'mutual-best'; got 'heavy-edge'"),
])
def test_recipe_errors_name_the_fas_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**_RECIPE, "fas": {key: value}}, source_name="r.toml")


def test_scaled_true_is_projection_scaled_and_refuses_another_projection():
    runs = [parse_config({**_RECIPE, "fas": fas}).runs[0] for fas in ({"scaled": True}, {"scaled": True, "projection": "scaled"},
                                                                       {"projection": "scaled"})]
    assert {coarsening_options(run).projection for run in runs} == {"scaled"}
    assert coarsening_options(parse_config(_RECIPE).runs[0]) == CoarseningOptions()
    for projection in ("average", "norm-weighted"):
        with pytest.raises(ConfigError, match=rf"\[fas\] projection must be 'scaled' or left out with scaled = true \(its former "
                                              rf"spelling\); got projection = '{projection}'"):
            parse_config({**_RECIPE, "fas": {"scaled": True, "projection": projection}}, source_name="r.toml")


def test_new_keys_at_their_default_leave_the_run_fingerprint_as_before():
    """Checkpoints written before [fas] projection, matching and [data] standardize existed still resume."""
    run = parse_config(_RECIPE).runs[0]
    # the fingerprint of this recipe before these keys (msann at ba0c306): a checkpoint of it must still resume
    assert fingerprint(run.fingerprint_dict()) == "730dfb39529ca2d6c09c492109ad4f0d48e0f3da44b981585e2cd97f782903b6"
    assert run.to_dict()["fas"]["matching"] == "greedy" and run.to_dict()["data"]["standardize"] is False  # reports name them
    changed = parse_config({**_RECIPE, "data": {**_RECIPE["data"], "standardize": True},
                            "fas": {"matching": "mutual-best", "projection": "norm-weighted"}}).runs[0]
    assert changed.fingerprint_dict()["fas"]["matching"] == "mutual-best" and changed.fingerprint_dict()["data"]["standardize"]
    assert changed.fingerprint_dict()["fas"]["projection"] == "norm-weighted"


def test_recipe_cross_checks_name_both_tables():
    with pytest.raises(ConfigError, match=r"\[train\] optimizer must be 'sgd' for method 'fas'"):
        parse_config({**_RECIPE, "train": {"optimizer": "adam"}})
    with pytest.raises(ConfigError, match=r"\[fas\] hidden = 4 is too narrow for \[hierarchy\] levels = 3"):
        parse_config({**_RECIPE, "hierarchy": {"levels": 3}, "fas": {"hidden": 4}})
    with pytest.raises(ConfigError, match=r"\[fas\] hidden = 12 must be divisible by 2\^levels = 8"):
        parse_config({**_RECIPE, "hierarchy": {"levels": 3}, "fas": {"hidden": 12, "transfer": "graph"}})


def test_a_model_table_is_refused_since_fas_builds_its_own_network():
    with pytest.raises(ConfigError, match=r"table \[model\] is not used by method 'fas' \(it builds its own network"):
        parse_config({**_RECIPE, "model": {"widths": [256, 256]}}, source_name="r.toml")


def test_cli_reports_a_recipe_error_before_training(tmp_path, capsys):
    recipe = tmp_path / "bad.toml"
    recipe.write_text('method = "fas"\n[data]\nname = "poisson"\n[train]\noptimizer = "sgd"\n[fas]\ntau_batches = 0\n')
    assert main(["run", str(recipe), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "[fas] tau_batches must be an integer >= 1; got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the recipes


@pytest.mark.parametrize("recipe, architecture", [("recipes/fas_poisson_fc.toml", ["--set", "fas.hidden=8"]),
                                                  ("recipes/fas_poisson_cnn.toml", ["--set", "fas.hidden=8", "--set", "fas.channels=8",
                                                                                    "--set", "fas.kernel=3", "--set", "fas.stride=1"])])
def test_each_recipe_runs_with_tiny_overrides_and_writes_the_fas_summary(recipe, architecture, tmp_path, monkeypatch):
    monkeypatch.setenv("MSANN_CACHE", str(tmp_path / "cache"))
    plotted = []  # figures are msann.report's business (tested there); here they only cost seconds
    monkeypatch.setattr("msann.experiment.plot_error_vs_cost", lambda records, path, **options: plotted.append(path))
    monkeypatch.setattr("msann.experiment.plot_errors", lambda records, path, **options: plotted.append(path))
    out = tmp_path / "out"
    tiny = ["data.n_samples=40", "data.grid_size=8", "train.batch_size=4",
            "train.cost_budget=40", "train.eval_points=3", "fas.rematch_every=1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoarseningWarning)
        status = main(["run", recipe, "--device", "cpu", "--out", str(out), "--quiet",
                       *[part for item in tiny for part in ("--set", item)], *architecture])
    assert status == 0
    assert plotted[-2:] == [out / "error_vs_cost.png", out / "errors.png"]
    runs = json.loads((out / "summary.json").read_text())["runs"]
    assert [run["label"] for run in runs] == ["1-level SGD", "FAS 2 levels", "FAS 3 levels", "FAS 4 levels",
                                              "FAS 2 levels, graph P"]
    for run in runs:
        assert {"best_val_l2", "best_val_linf", "best_train_l2", "best_train_linf", "work_units", "wall_seconds"} <= set(run)
        assert math.isfinite(run["best_train_l2"]) and run["best_train_linf"] >= math.sqrt(run["best_train_l2"]) * 0.999
        assert math.isfinite(run["best_val_l2"]) and run["best_val_l2"] <= run["initial_val_mse"]
        assert run["work_units"] == pytest.approx(run["total_cost"] / 4)
        assert run["work_units"] >= 10
        assert {"best_val_rel_l2", "best_train_rel_l2"} <= set(run) and run["outputs"] == 64  # the 8 x 8 grid
        assert run["best_val_l2_summed"] == pytest.approx(64 * run["best_val_l2"], rel=1e-12)  # MTNN's "L2 loss"
    with (out / "errors.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert set(rows[0]) == {"label", "cost", "val_l2", "val_linf", "val_rel_l2", "train_l2", "train_linf", "train_rel_l2"}
    for run in runs:
        mine = [row for row in rows if row["label"] == run["label"]]
        assert float(mine[0]["cost"]) == 0.0 and float(mine[-1]["cost"]) == run["total_cost"]
        assert min(float(row["val_l2"]) for row in mine) == run["best_val_l2"]
        assert min(float(row["val_rel_l2"]) for row in mine) == run["best_val_rel_l2"]
        assert min(float(row["train_rel_l2"]) for row in mine) == run["best_train_rel_l2"]
        assert min(float(row["train_linf"]) for row in mine) == run["best_train_linf"]


def test_mtnn_options_run_on_standardised_data_and_report_errors_in_original_units(tmp_path, monkeypatch):
    """[fas] projection = 'norm-weighted', matching = 'mutual-best' and [data] standardize = true, end to end."""
    from msann.data import standardize as module

    monkeypatch.setenv("MSANN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("msann.experiment.plot_error_vs_cost", lambda records, path, **options: None)
    monkeypatch.setattr("msann.experiment.plot_errors", lambda records, path, **options: None)
    wrapped = []
    monkeypatch.setattr("msann.experiment.original_units",
                        lambda metric, dataset: wrapped.append(dataset.metadata) or module.original_units(metric, dataset))
    recipe = tmp_path / "r.toml"
    recipe.write_text('method = "fas"\n[data]\nname = "poisson"\nn_samples = 40\ngrid_size = 8\nstandardize = true\n'
                      '[hierarchy]\nlevels = 1\n[train]\noptimizer = "sgd"\nbatch_size = 4\ncost_budget = 40\neval_points = 3\n'
                      '[fas]\nhidden = 8\nprojection = "norm-weighted"\nmatching = "mutual-best"\nthreshold = -1.0\n')
    assert main(["run", str(recipe), "--device", "cpu", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert len(wrapped) == 1 and "standardize" in wrapped[0]
    run = json.loads((tmp_path / "out" / "summary.json").read_text())["runs"][0]
    assert run["params"]["fas"]["projection"] == "norm-weighted" and run["level_widths"][1] == [4, 4]
    assert math.isfinite(run["best_val_l2"]) and math.isfinite(run["best_val_rel_l2"])
