"""Tests of msann.report.files: summary.json, history.csv and errors.csv written and read."""

import csv
import json
import math

import numpy as np
import pytest

from msann.report import HISTORY_HEADER, SUMMARY_KEYS, read_summary, write_errors, write_summary, write_sweep

from .helpers import evaluated, record


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
    summary.write_text(json.dumps([{"recipe": {}, "runs": []}]))  # a JSON list where an object is expected
    with pytest.raises(ValueError, match="must be an object with exactly the keys 'recipe' and 'runs' .*; got list"):
        read_summary(tmp_path)
    document = json.loads(good)
    document["runs"][0] = ["default"]
    summary.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="run 0 lacks the keys label"):
        read_summary(tmp_path)
    document = json.loads(good)
    del document["runs"][0]["cost_to_tenth_note"]  # written before issue 11: read without it
    summary.write_text(json.dumps(document))
    assert [run.label for run in read_summary(tmp_path)[1]] == ["default", "fas, scaled", "diverged"]
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



def test_errors_csv_has_one_row_per_evaluation_and_a_column_per_error(tmp_path):
    runs = [evaluated("a"), evaluated("b", measures=("mse",))]
    with write_errors(tmp_path, runs).open() as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["label", "cost", "val_l2", "val_linf", "train_l2", "train_linf", "val_mse", "train_mse"]
    assert rows[1] == ["a", "0.0", "1.0", "2.0", "0.5", "1.0", "", ""]
    assert rows[4] == ["b", "100.0", "", "", "", "", "0.25", "0.125"]
    assert len(rows) == 5
    assert "evaluations" not in runs[0].summary_entry()  # summary.json keeps its schema
