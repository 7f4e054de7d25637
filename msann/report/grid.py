"""The evaluation schedule of a training run: log-spaced cost points (:class:`CostGrid`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from graphprolong.checks import check_positive, check_positive_int, check_real

__all__ = ["CostGrid"]


class CostGrid:
    """Log-spaced cost points at which to evaluate the validation error.

    The grid is ``points`` values from ``first`` to ``budget``, equally spaced
    in log(cost).  :meth:`due` is called with the running cost after each
    training step and returns ``True`` once each time the cost reaches the
    next grid point (a step that jumps over several points fires once).  The
    initial error (cost 0) is the caller's to log before training.

    Parameters
    ----------
    budget : float
        Total cost budget (the last grid point).
    points : int
        Number of grid points, >= 1 (one point is the budget alone).
    first : float, optional
        First grid point, in (0, budget]; default ``budget / 1000``.

    Examples
    --------
    >>> grid = CostGrid(1000.0, points=4, first=1.0)
    >>> grid.grid.tolist()
    [1.0, 10.0, 100.0, 1000.0]
    >>> [grid.due(cost) for cost in (0.5, 1.0, 5.0, 500.0, 999.0, 1000.0, 2000.0)]
    [False, True, False, True, False, True, False]
    """

    def __init__(self, budget: float, *, points: int = 60, first: float | None = None) -> None:
        self.budget = check_positive("budget", budget)
        self.points = check_positive_int("points", points)
        self.first = self.budget / 1000.0 if first is None else check_positive("first", first)
        if self.first > self.budget:
            raise ValueError(f"first must be <= budget; got first = {self.first!r} > budget = {self.budget!r}")
        if self.points == 1:
            grid = np.array([self.budget])
        else:
            grid = np.geomspace(self.first, self.budget, self.points)
            grid[0], grid[-1] = self.first, self.budget
        self._grid = grid
        self._index = 0

    @property
    def grid(self) -> np.ndarray:
        """The grid points (a copy)."""
        return self._grid.copy()

    @property
    def next_point(self) -> float | None:
        """The next grid point not yet passed, or ``None`` once all have fired."""
        return float(self._grid[self._index]) if self._index < self._grid.size else None

    def due(self, cost: float) -> bool:
        """Return ``True`` if ``cost`` has reached the next grid point (then move past it)."""
        cost = check_real("cost", cost)
        if self._index >= self._grid.size or cost < self._grid[self._index]:
            return False
        self._index = int(np.searchsorted(self._grid, cost, side="right"))
        return True

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state for a checkpoint."""
        return {"budget": self.budget, "points": self.points, "first": self.first, "index": self._index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the grid itself must be the same one."""
        mine = self.state_dict()
        for key in ("budget", "points", "first"):
            if key not in state or state[key] != mine[key]:
                raise ValueError(f"the saved CostGrid has {key} = {state.get(key)!r}; this grid has {key} = {mine[key]!r}")
        index = state.get("index")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= self._grid.size:
            raise ValueError(f"the saved CostGrid index must be an integer in [0, {self._grid.size}]; got {index!r}")
        self._index = int(index)

    def __repr__(self) -> str:
        return f"CostGrid(budget={self.budget!r}, points={self.points}, first={self.first!r}, next={self.next_point!r})"
