"""Tests of msann.report.records: the figures a RunRecord derives from its history, and its checks."""

import math

import pytest

from msann.report import RunRecord

from .helpers import record


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
    assert run.summary_entry()["cost_to_tenth_note"] == run.cost_to_tenth_note
    assert run.cost_to_tenth_note.startswith("never reached: the lowest logged error 0.1 is 0.1 of the initial 1 ")
    assert record("b", [math.nan, 0.5]).cost_to_tenth_note == "the initial error is nan, so 1/10 of it is undefined"
    assert record("c", [1.0, 0.05]).cost_to_tenth_note is None


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



def test_evaluations_are_checked():
    with pytest.raises(ValueError, match=r"run 'a': evaluations\[0\] must be a dict with a 'cost' key"):
        RunRecord("a", {}, [(0.0, 1.0, 0.0)], total_cost=0.0, wall_seconds=0.0, evaluations=[{"val_l2": 1.0}])


# --------------------------------------------------------------------------- the name of the logged error


def test_error_label_names_the_first_error_of_the_task_metrics():
    from msann.report import error_label, sweep_markdown, sweep_table

    from .helpers import evaluated

    assert error_label([record("plain", [1.0, 0.5])]) == "MSE"  # no evaluations: the autoencoders' MSE
    assert error_label([evaluated("field", measures=("l2", "linf"))]) == "MSE"  # the per-node MSE
    classifier = evaluated("classifier", measures=("error", "cross_entropy"))
    assert error_label([classifier]) == "error rate"
    assert error_label([evaluated("other", measures=("linf", "l2"))]) == "linf"
    assert error_label([classifier, evaluated("mse", measures=("mse",))]) == "error rate / MSE"
    markdown = sweep_markdown(sweep_table([classifier], default_label=None), runs=[classifier], error=error_label([classifier]))
    assert "| | run | final val error rate | cost to 1/10 error rate |" in markdown and "MSE" not in markdown
