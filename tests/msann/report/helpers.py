"""Runs and checks shared by the tests of msann.report."""

import matplotlib.image
import numpy as np

from msann.report import RunRecord


def record(label, values, *, costs=None, seconds=None, total_cost=None, params=None, extra=None):
    """A run whose history logs ``values`` at ``costs`` (default 0, 10, 20, ...)."""
    costs = [10.0 * i for i in range(len(values))] if costs is None else costs
    seconds = [0.5 * c for c in costs] if seconds is None else seconds
    history = list(zip(costs, values, seconds))
    total = costs[-1] if total_cost is None else total_cost
    return RunRecord(label, params or {"label": label}, history, total_cost=total, wall_seconds=seconds[-1] + 1.0, extra=extra or {})



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



def png_image(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert np.ptp(image[..., :3]) > 0.5  # something is drawn
    return image



def evaluated(label, *, work_units=None, measures=("l2", "linf")):
    """A run with two evaluations of validation and training errors (training errors halve the validation ones)."""
    evaluations = [{"cost": cost, **{f"val_{m}": value * (i + 1) for i, m in enumerate(measures)},
                    **{f"train_{m}": value * (i + 1) / 2 for i, m in enumerate(measures)}}
                   for cost, value in ((0.0, 1.0), (100.0, 0.25))]
    extra = {} if work_units is None else {"work_units": work_units}
    return RunRecord(label, {}, [(0.0, 1.0, 0.0), (100.0, 0.25, 2.0)], total_cost=100.0, wall_seconds=2.5,
                     extra=extra, evaluations=evaluations)
