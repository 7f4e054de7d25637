"""bench/wallclock.py: the aggregation on synthetic histories, the recipes it writes, and one tiny end-to-end run."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from msann.config.recipe import parse_config

from .scripts import load_script

wallclock = load_script("wallclock")

# (cost, val_mse, seconds)
BASELINE = [(0, 1.0, 0.0), (10, 0.5, 5.0), (20, 0.2, 10.0)]
FAST = [(0, 1.0, 0.0), (10, 0.3, 2.0), (20, 0.1, 4.0)]      # reaches 0.2 at 3 s: speed-up 10 / 3
SLOW = [(0, 1.0, 0.0), (10, 0.6, 8.0), (20, 0.4, 16.0)]     # never reaches 0.2


def test_seed_numbers_interpolates_the_crossing_and_the_speedup():
    row = wallclock.seed_numbers(FAST, BASELINE)
    assert row["target"] == 0.2 and row["baseline_seconds"] == 10.0
    assert row["seconds_to_target"] == pytest.approx(3.0) and row["cost_to_target"] == pytest.approx(15.0)
    assert row["speedup"] == pytest.approx(10.0 / 3.0)
    assert row["error_at_baseline_seconds"] == 0.1 and row["final_error"] == 0.1 and row["total_seconds"] == 4.0
    never = wallclock.seed_numbers(SLOW, BASELINE)
    assert never["seconds_to_target"] is None and never["speedup"] is None
    assert never["error_at_baseline_seconds"] == 0.6


def test_aggregate_takes_medians_over_reached_seeds_and_counts_them():
    rows = [wallclock.seed_numbers(FAST, BASELINE),
            wallclock.seed_numbers([(0, 1.0, 0.0), (10, 0.2, 5.0), (20, 0.1, 6.0)], BASELINE),  # reached at 5 s
            wallclock.seed_numbers(SLOW, BASELINE),
            {"error": "exit status 2: boom"}]
    summary = wallclock.aggregate(rows)
    assert summary["reached_text"] == "2/4" and summary["ran"] == 3
    assert summary["seconds_to_target"] == {"median": pytest.approx(4.0), "min": pytest.approx(3.0), "max": 5.0}
    assert summary["speedup"]["median"] == pytest.approx((10 / 3 + 2.0) / 2)
    assert summary["speedup"]["min"] == pytest.approx(2.0) and summary["speedup"]["max"] == pytest.approx(10 / 3)
    assert summary["final_error"] == 0.1 and summary["total_seconds"] == 6.0
    assert summary["errors"] == ["exit status 2: boom"]
    assert wallclock.aggregate([wallclock.seed_numbers(SLOW, BASELINE)])["speedup"] is None


def test_compare_uses_each_variants_own_baseline_and_passes_failures_on():
    variants = [wallclock.Variant("plain", "plain"), wallclock.Variant("fast", "plain"), wallclock.Variant("broken", "plain"),
                wallclock.Variant("other base", "other base"), wallclock.Variant("orphan", "other base")]
    seed = {"plain": {"history": BASELINE}, "fast": {"history": FAST}, "broken": {"error": "exit status 1: nope"},
            "other base": {"error": "exit status 3: diverged"}, "orphan": {"history": FAST}}
    table = wallclock.compare([seed, seed], variants)
    assert table["plain"]["summary"]["speedup"]["median"] == pytest.approx(1.0)
    assert table["fast"]["summary"]["reached_text"] == "2/2"
    assert table["broken"]["summary"]["errors"] == ["exit status 1: nope"]
    assert "baseline 'other base' failed" in table["orphan"]["summary"]["errors"][0]
    text = wallclock.markdown("synthetic", table, seeds=2)
    assert all(f"| {name} |" in text for name in seed) and "exit status 1: nope" in text


@pytest.mark.parametrize("name", sorted(wallclock.DATASETS))
def test_every_generated_recipe_is_valid_with_all_and_with_single_variants(name):
    dataset = wallclock.DATASETS[name]
    for variants in [dataset.variants, *([variant] for variant in dataset.variants)]:
        text = wallclock.recipe_text(dataset, variants, seed=2, budget_scale=0.5)
        config = parse_config(tomllib.loads(text), source_name=name)
        assert [run.label for run in config.runs] == [variant.name for variant in variants]
        base_budget = dataset.tables["train"]["cost_budget"]
        assert all(run.train.seed == 2 and run.train.cost_budget == base_budget * 0.5 for run in config.runs)


def test_end_to_end_tiny_one_object(tmp_path, capsys):
    out = tmp_path / "wallclock"
    wallclock.main(["--datasets", "one_object", "--seeds", "1", "--budget-scale", "0.01",
                    "--variants", "msann", "mgopt", "--out", str(out)])
    names = ["plain", "msann", "plain (fas network)", "mgopt"]
    for file in ("wallclock.json", "wallclock.md", "wallclock.png"):
        assert (out / file).stat().st_size > 0
    document = json.loads((out / "wallclock.json").read_text())
    assert {"platform", "cpu_count", "torch", "threads", "device"} <= set(document["machine"])
    variants = document["datasets"]["one_object"]["variants"]
    assert list(variants) == names
    assert all("error" not in row for entry in variants.values() for row in entry["seeds"])
    assert variants["mgopt"]["baseline"] == "plain (fas network)"
    table = (out / "wallclock.md").read_text()
    assert all(f"| {name} |" in table for name in names)
    assert "| plain |" in capsys.readouterr().out
    msann_seconds = variants["msann"]["seeds"][0]["event_seconds"]  # L = 4: steps at every level, transfers between them
    assert {f"step L{level}" for level in range(5)} | {"down L0", "up L3"} <= set(msann_seconds)
    assert table.count("| msann | L0 ") == 1


def test_seconds_split_groups_steps_per_level_and_sums_data_and_transfers():
    split = wallclock.seconds_split({"data L0": 0.5, "step L0": 2.0, "data L1": 0.25, "step L1": 1.0, "down L0": 0.125,
                                     "up L0": 0.0625, "descend L1": 0.03125})
    assert split == {"data": 0.75, "step L0": 2.0, "step L1": 1.0, "transfers": 0.21875}


def test_seconds_split_and_the_breakdown_order_levels_as_numbers_beyond_level_nine():
    events = {"step L10": 1.0, "data L10": 0.5, "step L2": 2.0, "up L9": 0.25, "step L9": 3.0, "data L2": 0.5}
    split = wallclock.seconds_split(events)
    assert list(split) == ["step L2", "step L9", "step L10", "data", "transfers"]  # as strings, L10 sorts before L2
    table = {"msann": {"seeds": [{"event_seconds": events}, {"event_seconds": {**events, "step L10": 3.0}}]}}
    assert "| msann | L2 2.00, L9 3.00, L10 2.00 | 1.00 | 0.25 |" in wallclock.breakdown_markdown(table)


def test_a_recipe_error_before_training_runs_each_variant_alone(tmp_path, monkeypatch):
    calls = []

    def refuse(recipe, out, *, device, threads):
        calls.append(recipe.name)
        return 2, f"{recipe.name}: bad key"

    monkeypatch.setattr(wallclock, "run_recipe", refuse)
    options = wallclock.parse_arguments(["--out", str(tmp_path)])
    dataset = wallclock.DATASETS["one_object"]
    results = wallclock.run_variants(dataset, dataset.variants[:2], seed=0, folder=tmp_path, options=options)
    assert calls == ["one_object_seed0.toml", "one_object_seed0_alone0.toml", "one_object_seed0_alone1.toml"]
    assert results == {"plain": {"error": "exit status 2: one_object_seed0_alone0.toml: bad key"},
                       "msann": {"error": "exit status 2: one_object_seed0_alone1.toml: bad key"}}
