"""Tests of levels and the hierarchy (msann.core.level)."""

from __future__ import annotations

import pytest
import torch

from msann.core.level import Hierarchy, Level
from msann.core.smoothing import make_smoother

# ---------------------------------------------------------------------------
# Hierarchy


def _hierarchy(sizes=(100, 30, 9)):
    levels = []
    for index, size in enumerate(sizes):
        parameters = [torch.nn.Parameter(torch.zeros(size, dtype=torch.float64))]
        levels.append(Level(index, None, parameters, make_smoother("adam", parameters, lr=1e-2), size / sizes[0], size))
    return Hierarchy(levels)


def test_hierarchy_repr_has_one_row_per_level():
    hierarchy = _hierarchy()
    lines = repr(hierarchy).splitlines()
    assert lines[0] == "Hierarchy of 3 level(s)"
    rows = lines[2:]
    assert len(rows) == len(hierarchy) == 3
    for level, row in zip(hierarchy.levels, rows):
        fields = row.split()
        assert int(fields[0]) == level.index
        assert int(fields[1]) == level.size
        assert float(fields[2]) == pytest.approx(level.relative_cost, rel=1e-3)
        assert fields[3] == "Adam"
    assert hierarchy.depth == 2
    assert hierarchy[1] is hierarchy.levels[1]


def test_hierarchy_rejects_no_levels_and_levels_out_of_order():
    with pytest.raises(ValueError, match="at least one level"):
        Hierarchy([])
    first, second = _hierarchy((4, 2)).levels
    with pytest.raises(ValueError, match="level 0 has index 1"):
        Hierarchy([second, first])


def test_hierarchy_state_round_trips_the_smoothers_per_level():
    hierarchy = _hierarchy()
    for level in hierarchy.levels:
        level.parameters[0].grad = torch.full_like(level.parameters[0], float(level.index + 1))
        level.smoother.step()
    state = hierarchy.state_dict()
    fresh = _hierarchy()
    fresh.load_state_dict(state)
    for old, new in zip(hierarchy.levels, fresh.levels):
        old_state = old.smoother.state_dict()["state"][0]
        new_state = new.smoother.state_dict()["state"][0]
        assert torch.equal(old_state["exp_avg"], new_state["exp_avg"])
        # Adam's first moment after one step is (1 - beta1) g.
        torch.testing.assert_close(new_state["exp_avg"], torch.full_like(new_state["exp_avg"], 0.1 * (old.index + 1)), rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="the state has 3 level"):
        _hierarchy((4, 2)).load_state_dict(state)
