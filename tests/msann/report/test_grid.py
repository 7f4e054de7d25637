"""Tests of msann.report.grid: the cost grid of evaluations."""

import json

import numpy as np
import pytest

from msann.report import CostGrid


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
