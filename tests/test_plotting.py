"""Figures: files are written, have the expected size, and bad input is reported."""

import matplotlib.image
import numpy as np
import pytest

from graphprolong import cycle_graph, path_graph
from graphprolong.cli import main
from graphprolong.plotting import plot_heatmaps, plot_s_sweep, plot_spectra_matching, s_sweep


def _image(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert np.ptp(image[..., :3]) > 0.5  # not a blank canvas
    return image


def test_heatmaps_and_spectra(tmp_path):
    _image(plot_heatmaps([("identity", np.eye(6, 3)), ("other", np.eye(6, 3)[::-1])], tmp_path / "h.png"))
    _image(plot_spectra_matching(cycle_graph(4), cycle_graph(8), tmp_path / "s.png"))
    with pytest.raises(ValueError, match="at least one"):
        plot_heatmaps([], tmp_path / "none.png")


def test_sweep_runs_each_weight_and_draws_a_panel_per_weight(tmp_path):
    results = s_sweep(path_graph(3), path_graph(6), s_values=(0.0, 1.0), max_iterations=20)
    assert [s for s, _ in results] == [0.0, 1.0]
    assert all(np.allclose(r.P.T @ r.P, np.eye(3)) for _, r in results)
    wide = _image(plot_s_sweep(results, tmp_path / "sweep.png"))
    assert wide.shape[1] > wide.shape[0]


def test_plot_command(tmp_path, capsys):
    assert main(["plot", "spectra", "--small", "path:3", "--large", "path:6", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["solve", "--small", "path:3", "--large", "path:6", "--s", "0", "-o", str(tmp_path / "p.npz")]) == 0
    assert main(["plot", "heatmap", "--input", str(tmp_path / "p.npz"), "-o", str(tmp_path / "b.png")]) == 0
    _image(tmp_path / "b.png")
    assert main(["plot", "heatmap", "-o", str(tmp_path / "c.png")]) == 2
    assert "needs --input" in capsys.readouterr().err
