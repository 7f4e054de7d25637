"""Runs repeated over seeds, and every run compared with its baseline: the seed loop, the figures, the report files."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from msann.config import ConfigError, check_seeds, expand_seeds, load_config, parse_seeds, seed_label
from msann.experiment import run_experiment
from msann.report import RunRecord, compare_to, read_summary, seed_table
from msann.report.records import untimed
from msann.report.seeds import band, spread

RECIPE = """
name = "s"
{seeds}
[data]
name = "one_object"
length = 32
n_train = 48
n_val = 16

[model]
widths = [32, 8, 32]

[hierarchy]
levels = 1
gamma = 2
k = 1
strategy = "path"

[train]
optimizer = "adam"
lr = 1e-2
batch_size = 8
eval_points = 6
cost_budget = 160.0

[[runs]]
label = "default"
hierarchy = {{ levels = 0 }}

[[runs]]
label = "two levels"
"""


def _config(tmp_path, seeds: str = ""):
    path = tmp_path / "s.toml"
    path.write_text(RECIPE.format(seeds=seeds))
    return load_config(path)


def _curve(record: RunRecord) -> list[tuple[float, float]]:
    return [(cost, error) for cost, error, _ in record.history]


def test_the_seed_loop_gives_the_numbers_of_separate_single_seed_runs(tmp_path):
    config = _config(tmp_path, "seeds = [3, 5]")
    looped = run_experiment(config, tmp_path / "loop", device="cpu", progress=False, plot_every_run=False)
    assert [record.label for record in looped] == ["default seed=3", "two levels seed=3", "default seed=5", "two levels seed=5"]
    assert [record.extra["group"] for record in looped] == ["default", "two levels"] * 2
    for position, seed in enumerate((3, 5)):
        single = load_config(tmp_path / "s.toml", overrides=[f"train.seed={seed}"])
        alone = run_experiment(single, tmp_path / f"alone{seed}", device="cpu", progress=False, seeds=(), plot_every_run=False)
        for mine, theirs in zip(looped[2 * position: 2 * position + 2], alone):
            assert _curve(mine) == _curve(theirs)  # the same data, initial weights and batches: bit for bit
            assert mine.params["train"]["seed"] == seed
            assert mine.extra["to_baseline"]["baseline"] == f"default seed={seed}"
            assert mine.extra["to_baseline"]["target"] == theirs.extra["to_baseline"]["target"]
    assert _curve(looped[0]) != _curve(looped[2])  # and the seeds do differ
    rows = json.loads((tmp_path / "loop" / "seeds.json").read_text())["rows"]
    assert [row["label"] for row in rows] == ["default", "two levels"] and rows[0]["seeds"] == [3, 5]
    finals = sorted(record.final_val_mse for record in looped[1::2])
    assert rows[1]["final_val_mse"] == {"median": sum(finals) / 2, "min": finals[0], "max": finals[1], "n": 2, "reached": 2}
    assert "| two levels | 2 |" in (tmp_path / "loop" / "seeds.md").read_text()
    assert (tmp_path / "loop" / "seeds.png").stat().st_size > 0
    _, records = read_summary(tmp_path / "loop")  # the comparison and the group survive the summary file
    assert seed_table(records) == rows


def test_the_baseline_reaches_its_own_final_error_at_its_end_and_seconds_leave_out_checkpoints(tmp_path, monkeypatch):
    import msann.core.driver as driver

    calls = []

    def slow_save(*args, **kwargs):
        calls.append(time.sleep(0.05))
        return saved(*args, **kwargs)

    saved = driver.save_checkpoint
    monkeypatch.setattr(driver, "save_checkpoint", slow_save)
    config = _config(tmp_path)
    records = run_experiment(config, tmp_path / "out", device="cpu", progress=False,
                             runs=[config.runs[0].replace(**{"train.checkpoint_every": 1e-9})])
    record = records[0]
    found = record.extra["to_baseline"]
    assert found["baseline"] == "default" and found["target"] == record.final_val_mse
    assert found["cost"] <= record.total_cost and found["error_at_baseline_seconds"] == record.final_val_mse
    assert found["work_units"] == found["cost"] / 8
    assert len(calls) > 10  # a save after every event, and one at the end
    assert record.extra["checkpoint_seconds"] >= 0.05 * len(calls)
    assert record.history[-1][2] < 0.05 * len(calls) / 2  # training seconds: neither the saves nor the evaluations
    assert record.wall_seconds >= record.extra["checkpoint_seconds"] + record.extra["evaluation_seconds"]


def _record(label: str, history, *, group: str | None = None, seed: int = 0, batch: int = 10) -> RunRecord:
    extra = {} if group is None else {"group": group}
    return RunRecord(label, {"train": {"batch_size": batch, "seed": seed}}, history, history[-1][0], history[-1][2] + 1.0, extra)


def test_the_crossing_is_interpolated_exactly_on_a_synthetic_history():
    baseline = _record("base", [(0.0, 1.0, 0.0), (100.0, 0.5, 4.0), (200.0, 0.25, 8.0)])
    run = _record("run", [(0.0, 1.0, 0.0), (50.0, 0.75, 1.0), (150.0, 0.125, 5.0)], batch=25)
    found = compare_to(run, baseline)
    weight = (0.75 - 0.25) / (0.75 - 0.125)  # the target 0.25 lies this far from the 2nd to the 3rd point
    assert found["cost"] == pytest.approx(50.0 + weight * 100.0, rel=1e-15)
    assert found["seconds"] == pytest.approx(1.0 + weight * 4.0, rel=1e-15)
    assert found["work_units"] == pytest.approx(found["cost"] / 25, rel=1e-15)
    assert found["baseline_seconds"] == 8.0 and found["error_at_baseline_seconds"] == 0.125
    assert "linear" in found["interpolation"]
    never = compare_to(_record("slow", [(0.0, 1.0, 0.0), (300.0, 0.3, 9.0)]), baseline)
    assert never["cost"] is never["seconds"] is never["work_units"] is None
    assert never["error_at_baseline_seconds"] == 1.0  # nothing logged after 0 s before the baseline's 8 s
    at_once = compare_to(_record("low", [(0.0, 0.1, 0.0), (10.0, 0.05, 1.0)]), baseline)
    assert (at_once["cost"], at_once["seconds"]) == (0.0, 0.0)


def test_spread_and_the_seed_table_give_median_min_max_and_how_many_got_there():
    assert spread([4.0, 1.0, 2.0, 3.0]) == {"median": 2.5, "min": 1.0, "max": 4.0, "n": 4, "reached": 4}
    assert spread([None, None]) == {"median": None, "min": None, "max": None, "n": 2, "reached": 0}
    assert spread([math.nan, 2.0])["reached"] == 1
    runs = []
    for seed, scale in enumerate((1.0, 2.0, 4.0)):
        base = _record(seed_label("base", seed), [(0.0, 1.0, 0.0), (100.0, 0.5 * scale / 4, 4.0)], group="base", seed=seed)
        fast = _record(seed_label("fast", seed), [(0.0, 1.0, 0.0), (50.0, 0.1 / scale, 1.0)], group="fast", seed=seed)
        for run in (base, fast):
            run.extra["to_baseline"] = compare_to(run, base)
        runs += [base, fast]
    rows = seed_table(runs)
    assert [row["label"] for row in rows] == ["base", "fast"] and rows[1]["seeds"] == [0, 1, 2]
    assert rows[0]["baseline"] == rows[1]["baseline"] == "base"
    assert rows[1]["final_val_mse"] == {"median": 0.05, "min": 0.025, "max": 0.1, "n": 3, "reached": 3}
    assert rows[1]["error_at_baseline_seconds"]["median"] == 0.05
    # seed 2's baseline ends at 0.5 > 0.1... every fast run crosses its own seed's target
    assert rows[1]["cost_to_baseline"]["reached"] == 3


def test_bands_hold_every_seed_as_a_step_function_and_a_finished_run_at_its_final_error():
    runs = [_record(f"r{seed}", [(0.0, 1.0, 0.0), (10.0, 0.5 - 0.1 * seed, 1.0), (20.0, 0.2, 2.0 + seed)]) for seed in range(3)]
    x, median, low, high = band(runs, 2, points=50)
    assert x[-1] == pytest.approx(4.0) and x[0] == pytest.approx(1.0)  # up to the longest run's end
    before = x < 2.0
    assert set(median[before]) == {0.4} and set(low[before]) == {0.3} and set(high[before]) == {0.5}
    at = np.flatnonzero(x >= 2.0)[0]  # from 2 s seed 0 has logged its last point, and holds it
    assert (low[at], median[at], high[at]) == (0.2, 0.3, 0.4)
    assert (low[-1], median[-1], high[-1]) == (0.2, 0.2, 0.2)  # at 4 s every seed has finished


def test_seed_lists_parse_and_bad_ones_are_refused_naming_the_rule_and_value(tmp_path):
    assert parse_seeds("4") == (0, 1, 2, 3) and parse_seeds("2,9") == (2, 9) and parse_seeds("7,") == (7,)
    assert parse_seeds("1..3") == (1, 2, 3) and parse_seeds("1,1") == (1,)  # a list names seeds: once each
    for text, says in (("0", "must be >= 1"), ("x", "'x'"), ("-2,3", ">= 0"), ("3..1", "empty")):
        with pytest.raises(ValueError, match=says):
            parse_seeds(text)
    for value, says in ((3, "list of integers"), ([], "at least one"), ([1.5], "integers >= 0"), ([True], "integers")):
        with pytest.raises(ValueError, match=says):
            check_seeds(value)
    with pytest.raises(ConfigError, match=r"s.toml: seeds must be a list of integers >= 0.*'0'"):
        _config(tmp_path, 'seeds = "0"')
    config = _config(tmp_path, "seeds = [1, 0]")
    assert config.seeds == (1, 0)
    runs = expand_seeds(config.runs, config.seeds)
    assert [(run.label, run.train.seed) for run in runs] == [("default seed=1", 1), ("two levels seed=1", 1),
                                                             ("default seed=0", 0), ("two levels seed=0", 0)]
    overridden = load_config(tmp_path / "s.toml", overrides=["seeds=[4, 5, 6]"])
    assert overridden.seeds == (4, 5, 6)


def test_a_sweep_over_seeds_tables_every_configuration_by_median_and_spread(tmp_path, capsys):
    from msann.cli import main

    _config(tmp_path)
    status = main(["sweep", str(tmp_path / "s.toml"), "--levels", "0,1", "--gamma", "1", "--k", "1,2", "--seeds", "2",
                   "--device", "cpu", "--threads", "1", "--out", str(tmp_path / "out")])
    assert status == 0
    rows = json.loads((tmp_path / "out" / "seeds.json").read_text())["rows"]
    assert [row["label"] for row in rows] == ["default", "L=1 gamma=1 k=1", "L=1 gamma=1 k=2"]
    assert all(row["seeds"] == [0, 1] and row["baseline"] == "default" for row in rows)
    assert "| L=1 gamma=1 k=2 | 2 |" in capsys.readouterr().out
    assert not (tmp_path / "out" / "sweep.md").exists()  # the seeds table is the sweep's table


def test_a_seed_loop_resumed_after_it_finished_retrains_nothing_and_reports_the_same(tmp_path):
    config = _config(tmp_path, "seeds = [0, 1]")
    first = run_experiment(config, tmp_path / "out", device="cpu", progress=False, plot_every_run=False)
    again = run_experiment(config, tmp_path / "out", device="cpu", progress=False, plot_every_run=False, resume=True)
    assert [untimed(run.summary_entry()) for run in again] == [untimed(run.summary_entry()) for run in first]
    assert [run.history for run in again] == [run.history for run in first]  # seconds too: read from the checkpoints


def test_runs_of_a_method_without_a_model_table_repeat_over_seeds_too():
    from msann.config import parse_config

    tree = {"method": "fas", "data": {"name": "poisson", "n_samples": 40, "grid_size": 8},
            "fas": {"hidden": 8, "hidden_layers": 1}, "hierarchy": {"levels": 1},
            "train": {"optimizer": "sgd", "batch_size": 4}}
    config = parse_config(tree)
    runs = expand_seeds(config.runs, (0, 2))
    assert [run.train.seed for run in runs] == [0, 2] and all(run.method == "fas" for run in runs)
    assert runs[1].replace(**{"train.lr": 0.5}).train.lr == 0.5
