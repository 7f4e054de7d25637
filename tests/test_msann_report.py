"""Reporting: derived figures of a run, the summary files, sweep tables, the cost grid, plots."""

import csv
import json
import math

import matplotlib.image
import numpy as np
import pytest

from msann.report import (
    HISTORY_HEADER,
    SUMMARY_KEYS,
    CostGrid,
    RunRecord,
    plot_error_vs_cost,
    plot_errors,
    read_summary,
    sweep_markdown,
    sweep_table,
    write_errors,
    write_summary,
    write_sweep,
)


def record(label, values, *, costs=None, seconds=None, total_cost=None, params=None, extra=None):
    """A run whose history logs ``values`` at ``costs`` (default 0, 10, 20, ...)."""
    costs = [10.0 * i for i in range(len(values))] if costs is None else costs
    seconds = [0.5 * c for c in costs] if seconds is None else seconds
    history = list(zip(costs, values, seconds))
    total = costs[-1] if total_cost is None else total_cost
    return RunRecord(label, params or {"label": label}, history, total_cost=total, wall_seconds=seconds[-1] + 1.0, extra=extra or {})


# --------------------------------------------------------------------------- derived figures


def test_cost_to_tenth_reached_exactly_at_a_logged_point():
    run = record("a", [2.0, 1.0, 0.2, 0.1, 0.05])
    assert run.initial_val_mse == 2.0 and run.final_val_mse == 0.05
    assert run.cost_to_tenth == 20.0  # 0.2 == 2.0 / 10 counts as reached
    assert run.seconds_to_tenth == 10.0


def test_cost_to_tenth_never_reached_is_none():
    run = record("a", [1.0, 0.5, 0.2, 0.1000001])
    assert run.cost_to_tenth is None and run.seconds_to_tenth is None
    assert run.summary_entry()["cost_to_tenth"] is None


def test_cost_to_tenth_crossed_between_points_reports_the_next_logged_point():
    # The error crosses 0.1 somewhere in (30, 70); the rule reports the first logged point below.
    run = record("a", [1.0, 0.3, 0.05, 0.5], costs=[0.0, 30.0, 70.0, 90.0])
    assert run.cost_to_tenth == 70.0
    assert run.cost_to_fraction(0.5) == 30.0
    assert run.cost_to_fraction(1.0) == 0.0  # the initial point itself


def test_value_at_cost_is_the_last_logged_value_at_or_below():
    run = record("a", [1.0, 0.5, 0.25], costs=[0.0, 10.0, 40.0], total_cost=45.0)
    expected = {0.0: 1.0, 9.999: 1.0, 10.0: 0.5, 39.0: 0.5, 40.0: 0.25, 1e9: 0.25}
    assert {c: run.value_at_cost(c) for c in expected} == expected
    with pytest.raises(ValueError, match="cost must be >= 0"):
        run.value_at_cost(-1.0)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([], "at least the initial point"),
        ([(1.0, 1.0, 0.0)], "first history point must be at cost 0"),
        ([(0.0, 1.0, 0.0), (5.0, 0.5, 1.0), (4.0, 0.4, 2.0)], "cost must not decrease; point 2 has cost 4.0 after 5.0"),
        ([(0.0, 1.0, 3.0), (5.0, 0.5, 1.0)], "seconds must not decrease; point 1 has seconds 1.0 after 3.0"),
        ([(0.0, 1.0, 0.0), (math.nan, 0.5, 1.0)], "every history cost value must be finite and >= 0"),
        ([(0.0, 1.0)], r"must be \(cost, val_mse, seconds\)"),
    ],
)
def test_bad_history_is_refused_with_the_rule(history, message):
    with pytest.raises(ValueError, match=message):
        RunRecord("bad", {}, history, total_cost=10.0, wall_seconds=1.0)


def test_record_checks_totals_and_extra_names():
    with pytest.raises(ValueError, match="total_cost must be >= the last logged cost"):
        record("a", [1.0, 0.5], total_cost=5.0)
    with pytest.raises(ValueError, match="extra may not reuse the summary keys.*params"):
        record("a", [1.0, 0.5], extra={"params": 1})


# --------------------------------------------------------------------------- files


def runs_for_files():
    fas = record("fas, scaled", [0.5, 0.2, 0.06], total_cost=25.0, extra={"best_val_l2": 0.2, "work_units": 12.5})
    diverged = record("diverged", [0.5, math.inf, math.nan])
    return [record("default", [0.5, 0.3, 0.1, 0.05]), fas, diverged]


def test_summary_and_history_round_trip(tmp_path):
    runs = runs_for_files()
    recipe = {"data": {"kind": "one_object", "length": 1024}, "train": {"lr": 5e-4}}
    write_summary(tmp_path, recipe=recipe, runs=runs)
    recipe_back, runs_back = read_summary(tmp_path)
    assert recipe_back == recipe
    assert [r.label for r in runs_back] == [r.label for r in runs]
    for original, back in zip(runs, runs_back):
        np.testing.assert_array_equal(np.array(back.history), np.array(original.history))  # bit-exact, NaN included
        assert (back.params, back.extra, back.total_cost, back.wall_seconds) == (
            original.params, original.extra, original.total_cost, original.wall_seconds,
        )


def test_summary_schema_keys_and_null_fields(tmp_path):
    write_summary(tmp_path, recipe="recipes/one_object.toml", runs=runs_for_files())
    document = json.loads((tmp_path / "summary.json").read_text())
    assert list(document) == ["recipe", "runs"] and document["recipe"] == "recipes/one_object.toml"
    default, fas, diverged = document["runs"]
    assert list(default) == list(SUMMARY_KEYS)
    assert list(fas) == list(SUMMARY_KEYS) + ["best_val_l2", "work_units"]
    assert default["final_val_mse"] == 0.05 and default["cost_to_tenth"] == 30.0 and default["seconds_to_tenth"] == 15.0
    assert fas["cost_to_tenth"] is None  # 0.06 > 0.5 / 10
    assert diverged["final_val_mse"] is None and diverged["cost_to_tenth"] is None


def test_history_csv_header_and_rows(tmp_path):
    runs = runs_for_files()
    write_summary(tmp_path, recipe={}, runs=runs)
    with open(tmp_path / "history.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == HISTORY_HEADER == ("label", "cost", "val_mse", "seconds")
    assert len(rows) == 1 + sum(len(r.history) for r in runs)
    assert rows[1] == ["default", "0.0", "0.5", "0.0"]
    assert [row[0] for row in rows[1:]].count("fas, scaled") == 3  # a comma in a label is quoted


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    runs = runs_for_files()
    write_summary(tmp_path, recipe={}, runs=runs)
    write_summary(tmp_path, recipe={}, runs=runs)  # overwrite in place
    write_sweep(tmp_path, runs[:2], best=1)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["history.csv", "summary.json", "sweep.json", "sweep.md", "sweep.png"]


def test_write_summary_refuses_duplicates_and_non_json(tmp_path):
    with pytest.raises(ValueError, match="labels must be unique; repeated: 'a'"):
        write_summary(tmp_path, recipe={}, runs=[record("a", [1.0]), record("a", [2.0])])
    with pytest.raises(TypeError, match="plain JSON data"):
        write_summary(tmp_path, recipe={}, runs=[record("a", [1.0], params={"device": object()})])
    assert not list(tmp_path.iterdir())


def test_malformed_files_are_reported(tmp_path):
    write_summary(tmp_path, recipe={}, runs=runs_for_files())
    summary = tmp_path / "summary.json"
    good = summary.read_text()
    summary.write_text(good[:-20])
    with pytest.raises(ValueError, match="summary.json is not valid JSON"):
        read_summary(tmp_path)
    summary.write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="exactly the keys 'recipe' and 'runs'"):
        read_summary(tmp_path)
    document = json.loads(good)
    del document["runs"][0]["total_cost"]
    summary.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="run 0 lacks the keys total_cost"):
        read_summary(tmp_path)
    document = json.loads(good)
    document["runs"][0]["final_val_mse"] = 0.07
    summary.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="disagree on run 'default': final_val_mse = 0.07"):
        read_summary(tmp_path)
    document = json.loads(good)
    del document["runs"][1]
    summary.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="rows for runs missing from .*'fas, scaled'"):
        read_summary(tmp_path)
    summary.write_text(good)
    (tmp_path / "history.csv").write_text("label,cost,val_mse\n")
    with pytest.raises(ValueError, match="must start with the header label,cost,val_mse,seconds"):
        read_summary(tmp_path)


# --------------------------------------------------------------------------- sweeps


def sweep_runs():
    def run(label, values, total, last=300.0):
        levels, gamma, k = (int(part.split("=")[1]) for part in label.split()) if "=" in label else (0, 1, 1)
        params = {"hierarchy.levels": levels, "hierarchy.gamma": gamma, "hierarchy.k": k}
        return record(label, values, costs=[0.0, 100.0, 200.0, last], total_cost=total, params=params)

    return [
        run("default", [1.0, 0.5, 0.2, 0.09], 300.0),            # reaches 1/10 at 300
        run("L=4 gamma=3 k=4", [1.0, 0.08, 0.03, 0.02], 320.0, last=320.0),  # best final; 1/10 at 100
        run("L=2 gamma=1 k=1", [1.0, 0.6, 0.4, 0.3], 310.0),     # worst final; never reaches 1/10
        run("L=6 gamma=3 k=1", [1.0, 0.1, 0.05, 0.025], 305.0),  # ties on cost to 1/10; best at C = 300
    ]


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


# --------------------------------------------------------------------------- cost grid


def test_cost_grid_points_and_due_sequence():
    grid = CostGrid(1000.0, points=4, first=1.0)
    np.testing.assert_allclose(grid.grid, [1.0, 10.0, 100.0, 1000.0], rtol=1e-12)
    assert grid.grid[0] == 1.0 and grid.grid[-1] == 1000.0
    # Steps of cost 4: passes 1 at 4, 10 at 12, 100 at 100; then one step jumps to 2000 past 1000.
    costs = [4.0, 8.0, 12.0, 16.0, 96.0, 100.0, 104.0, 2000.0, 2004.0]
    assert [grid.due(c) for c in costs] == [True, False, True, False, False, True, False, True, False]
    assert grid.next_point is None


def test_cost_grid_jump_over_several_points_fires_once():
    grid = CostGrid(1e4, points=5, first=1.0)  # 1, 10, 100, 1000, 10000
    assert grid.due(500.0) and grid.next_point == pytest.approx(1000.0)
    assert not grid.due(999.0)


def test_cost_grid_default_first_and_spacing():
    grid = CostGrid(3e4)
    assert grid.points == 60 and grid.grid[0] == 30.0 and grid.grid[-1] == 3e4
    ratios = grid.grid[1:] / grid.grid[:-1]
    np.testing.assert_allclose(ratios, 1000.0 ** (1 / 59), rtol=1e-10)


def test_cost_grid_state_round_trip():
    costs = np.cumsum(np.full(300, 7.0))
    reference = CostGrid(2000.0, points=12, first=5.0)
    expected = [reference.due(c) for c in costs]
    first_half = CostGrid(2000.0, points=12, first=5.0)
    fired = [first_half.due(c) for c in costs[:100]]
    state = json.loads(json.dumps(first_half.state_dict()))  # survives a JSON checkpoint
    resumed = CostGrid(2000.0, points=12, first=5.0)
    resumed.load_state_dict(state)
    assert fired + [resumed.due(c) for c in costs[100:]] == expected
    assert sum(expected) == 12


def test_cost_grid_validation():
    with pytest.raises(ValueError, match="first must be <= budget; got first = 20.0 > budget = 10.0"):
        CostGrid(10.0, first=20.0)
    with pytest.raises(ValueError, match="budget must be > 0"):
        CostGrid(0.0)
    with pytest.raises(ValueError, match="saved CostGrid has budget = 5.0"):
        CostGrid(10.0).load_state_dict(CostGrid(5.0).state_dict())
    with pytest.raises(ValueError, match=r"index must be an integer in \[0, 60\]; got 61"):
        CostGrid(10.0).load_state_dict(dict(CostGrid(10.0).state_dict(), index=61))
    assert CostGrid(10.0, points=1).grid.tolist() == [10.0]


# --------------------------------------------------------------------------- plots


def png_image(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert np.ptp(image[..., :3]) > 0.5  # something is drawn
    return image


def test_plots_are_png_files_with_both_abscissae(tmp_path):
    runs = sweep_runs()
    both = png_image(plot_error_vs_cost(runs, tmp_path / "both.png", title="t", reference="default"))
    cost = png_image(plot_error_vs_cost(runs, tmp_path / "cost.png", x="cost"))
    seconds = png_image(plot_error_vs_cost(runs[:1], tmp_path / "seconds.png", x="seconds", metric="val L2"))
    assert both.shape[1] > 1.8 * cost.shape[1]  # two panels side by side
    assert cost.shape == seconds.shape
    assert (tmp_path / "both.png").stat().st_size > 20_000


def test_plot_validation(tmp_path):
    with pytest.raises(ValueError, match="valid xs are: both, cost, seconds"):
        plot_error_vs_cost(sweep_runs(), tmp_path / "a.png", x="time")
    with pytest.raises(ValueError, match="need at least one RunRecord"):
        plot_error_vs_cost([], tmp_path / "a.png")
    with pytest.raises(ValueError, match="unknown reference run label 'nope'"):
        plot_error_vs_cost(sweep_runs(), tmp_path / "a.png", reference="nope")
    assert not list(tmp_path.iterdir())


def test_plot_with_different_initial_errors_and_a_diverged_run(tmp_path):
    runs = [record("a", [1.0, 0.5, 0.05]), record("b", [2.0, math.inf, 0.1]), record("c", [3.0, math.nan])]
    png_image(plot_error_vs_cost(runs, tmp_path / "mixed.png"))


def test_plotting_leaves_no_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_error_vs_cost(sweep_runs(), tmp_path / "a.png")
    assert plt.get_fignums() == before


# --------------------------------------------------------------------------- every error of every evaluation


def evaluated(label, *, work_units=None, measures=("l2", "linf")):
    """A run with two evaluations of validation and training errors (training errors halve the validation ones)."""
    evaluations = [{"cost": cost, **{f"val_{m}": value * (i + 1) for i, m in enumerate(measures)},
                    **{f"train_{m}": value * (i + 1) / 2 for i, m in enumerate(measures)}}
                   for cost, value in ((0.0, 1.0), (100.0, 0.25))]
    extra = {} if work_units is None else {"work_units": work_units}
    return RunRecord(label, {}, [(0.0, 1.0, 0.0), (100.0, 0.25, 2.0)], total_cost=100.0, wall_seconds=2.5,
                     extra=extra, evaluations=evaluations)


def test_errors_csv_has_one_row_per_evaluation_and_a_column_per_error(tmp_path):
    runs = [evaluated("a"), evaluated("b", measures=("mse",))]
    with write_errors(tmp_path, runs).open() as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["label", "cost", "val_l2", "val_linf", "train_l2", "train_linf", "val_mse", "train_mse"]
    assert rows[1] == ["a", "0.0", "1.0", "2.0", "0.5", "1.0", "", ""]
    assert rows[4] == ["b", "100.0", "", "", "", "", "0.25", "0.125"]
    assert len(rows) == 5
    assert "evaluations" not in runs[0].summary_entry()  # summary.json keeps its schema


def test_evaluations_are_checked():
    with pytest.raises(ValueError, match=r"run 'a': evaluations\[0\] must be a dict with a 'cost' key"):
        RunRecord("a", {}, [(0.0, 1.0, 0.0)], total_cost=0.0, wall_seconds=0.0, evaluations=[{"val_l2": 1.0}])


def test_errors_plot_is_a_png_in_work_units_or_cost(tmp_path):
    image = png_image(plot_errors([evaluated("a", work_units=0.5), evaluated("b", work_units=0.5)], tmp_path / "wu.png",
                                  title="errors"))
    assert image.shape[1] > image.shape[0]  # two panels side by side
    png_image(plot_errors([evaluated("a"), evaluated("b", work_units=0.5)], tmp_path / "cost.png"))
    with pytest.raises(ValueError, match="plot_errors needs runs with evaluations"):
        plot_errors([record("a", [1.0, 0.5])], tmp_path / "none.png")
