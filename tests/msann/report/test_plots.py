"""Tests of msann.report.plots: PNG figures of the error against cost, and of every error."""

import math

import pytest

from msann.report import plot_error_vs_cost, plot_errors

from .helpers import evaluated, png_image, record, sweep_runs


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



def test_errors_plot_is_a_png_in_work_units_or_cost(tmp_path):
    image = png_image(plot_errors([evaluated("a", work_units=0.5), evaluated("b", work_units=0.5)], tmp_path / "wu.png",
                                  title="errors"))
    assert image.shape[1] > image.shape[0]  # two panels side by side
    png_image(plot_errors([evaluated("a"), evaluated("b", work_units=0.5)], tmp_path / "cost.png"))
    with pytest.raises(ValueError, match="plot_errors needs runs with evaluations"):
        plot_errors([record("a", [1.0, 0.5])], tmp_path / "none.png")
