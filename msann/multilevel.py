"""The multilevel machinery shared by MsANN, FAS and MG/Opt (STYLE.md practice 2).

A :class:`Hierarchy` is a list of :class:`Level` records, finest first.  Each
level holds the parameters a smoothing step at that level updates, its
smoother (an ordinary ``torch.optim`` optimiser with its own state), its cost
per example relative to the finest model, and whatever transfer operators
the method keeps towards the next coarser level.

The gamma-cycle (seed 002 Algorithm 3.1; the FAS V-cycle of seed 000 is
gamma = 1) is a fixed sequence of events, :func:`cycle_events`::

    cycle(l):  smooth(l)
               if l < L:  repeat gamma times:
                              down(l)      # restrict to level l + 1 (FAS: tau, x_c = Pi x)
                              cycle(l + 1)
                              up(l)        # correct level l from l + 1 (FAS: x += P (x_c - Pi x))
                              smooth(l)

A *method* (:class:`MultilevelMethod`) gives the meaning of the three events;
methods differ only in their coarse objective and correction.  The driver
that walks the events, counts cost and evaluates is
:func:`msann.training.train`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from graphprolong.checks import check_choice, check_positive, check_positive_int

__all__ = [
    "EVENT_KINDS",
    "SMOOTHERS",
    "Event",
    "Hierarchy",
    "Level",
    "MultilevelMethod",
    "cycle_events",
    "make_smoother",
    "per_level",
    "visit_order",
]

#: Kinds of cycle events.
EVENT_KINDS = ("smooth", "down", "up")


class Event(NamedTuple):
    """One step of a cycle: ``kind`` in :data:`EVENT_KINDS` at ``level`` (down/up: between ``level`` and ``level + 1``)."""

    kind: str
    level: int


def cycle_events(depth: int, gamma: int, *, level: int = 0) -> Iterator[Event]:
    """The events of one gamma-cycle started at ``level`` on a hierarchy of depth ``L = depth``.

    Examples
    --------
    >>> [e.level for e in cycle_events(2, 2) if e.kind == "smooth"]
    [0, 1, 2, 1, 2, 1, 0, 1, 2, 1, 2, 1, 0]
    """
    depth = check_positive_int("depth", depth, minimum=0)
    gamma = check_positive_int("gamma", gamma)
    if not 0 <= level <= depth:
        raise ValueError(f"level must be in [0, depth = {depth}]; got {level}")
    yield Event("smooth", level)
    if level < depth:
        for _ in range(gamma):
            yield Event("down", level)
            yield from cycle_events(depth, gamma, level=level + 1)
            yield Event("up", level)
            yield Event("smooth", level)


def visit_order(depth: int, gamma: int) -> list[int]:
    """The levels smoothed by one cycle, in order (seed 002 Fig. 4)."""
    return [event.level for event in cycle_events(depth, gamma) if event.kind == "smooth"]


def per_level(name: str, value: Any, depth: int) -> list:
    """Expand an option: a scalar applies to every level, a sequence gives one value per level (PyAMG style)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != depth + 1:
            raise ValueError(f"{name} needs one value per level (L + 1 = {depth + 1}); got {len(value)}: {list(value)}")
        return list(value)
    return [value] * (depth + 1)


#: Smoothers: name -> (torch.optim class name, options it takes besides lr).
SMOOTHERS = {
    "adam": ("Adam", ()),
    "sgd": ("SGD", ("momentum",)),
    "rmsprop": ("RMSprop", ("momentum",)),
}


def make_smoother(name: str, parameters, *, lr: float, momentum: float = 0.0):
    """A ``torch.optim`` optimiser over ``parameters`` (one per level: each keeps its own state).

    Parameters
    ----------
    name : {"adam", "sgd", "rmsprop"}
    parameters : iterable of torch.nn.Parameter
    lr : float
        Learning rate, > 0.
    momentum : float
        In [0, 1); only for ``sgd`` and ``rmsprop`` (Adam's betas are torch's defaults).
    """
    import torch

    check_choice("smoother", name, SMOOTHERS)
    lr = check_positive("lr", lr)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1); got {momentum}")
    if momentum and "momentum" not in SMOOTHERS[name][1]:
        raise ValueError(f"smoother {name!r} takes no momentum (only {[k for k, v in SMOOTHERS.items() if v[1]]} do); got {momentum}")
    class_name, extra = SMOOTHERS[name]
    options = {"momentum": momentum} if "momentum" in extra else {}
    return getattr(torch.optim, class_name)(list(parameters), lr=lr, **options)


@dataclasses.dataclass
class Level:
    """One level of a hierarchy.

    Attributes
    ----------
    index : int
        0 is the finest.
    parameters : list of torch.nn.Parameter
        What a smoothing step at this level updates.
    smoother : torch.optim.Optimizer
        Its optimiser, with per-level state.
    relative_cost : float
        Cost of one example at this level relative to the finest model
        (MsANN: ``|M_l| / |M_0|``; FAS: its work-unit share).
    size : int
        Number of trainable parameters of the level's standalone model.
    transfers : object
        Method-specific operators to the next coarser level (None at the coarsest).
    """

    index: int
    parameters: list
    smoother: Any
    relative_cost: float
    size: int
    transfers: Any = None


@dataclasses.dataclass
class Hierarchy:
    """Levels, finest first."""

    levels: list[Level]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a hierarchy needs at least one level")
        for position, level in enumerate(self.levels):
            if level.index != position:
                raise ValueError(f"level {position} has index {level.index}; levels must be listed finest first")

    @property
    def depth(self) -> int:
        """``L``: the index of the coarsest level."""
        return len(self.levels) - 1

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, index: int) -> Level:
        return self.levels[index]

    def __repr__(self) -> str:
        lines = [f"Hierarchy of {len(self.levels)} level(s)", "  level   parameters   relative cost   smoother"]
        for level in self.levels:
            smoother = type(level.smoother).__name__ if level.smoother is not None else "-"
            lines.append(f"  {level.index:5d}   {level.size:10d}   {level.relative_cost:13.4g}   {smoother}")
        return "\n".join(lines)

    def state_dict(self) -> dict:
        """The smoothers' states, per level (the parameters belong to the method's model)."""
        return {"smoothers": [level.smoother.state_dict() if level.smoother is not None else None for level in self.levels]}

    def load_state_dict(self, state: dict) -> None:
        smoothers = state["smoothers"]
        if len(smoothers) != len(self.levels):
            raise ValueError(f"the state has {len(smoothers)} level(s); this hierarchy has {len(self.levels)}")
        for level, smoother in zip(self.levels, smoothers):
            if smoother is not None:
                level.smoother.load_state_dict(smoother)


class MultilevelMethod(Protocol):
    """What :func:`msann.training.train` drives.  Methods differ in these, nothing else.

    ``smooth_step(level, inputs, targets) -> float``
        One smoothing step (one minibatch) at ``level``; returns its training loss.
    ``down(level)`` / ``up(level)``
        Transfer from ``level`` to ``level + 1`` before its visits, and back
        after them.  They may return the cost (in examples, fine-model
        equivalents) of work they do besides smoothing (FAS: the tau
        gradients); the driver adds it to ``C(t)``.
    ``batch(level, stream)`` (optional)
        The minibatch of the next smoothing step at ``level``; without it the
        driver takes ``next(stream)`` (FAS reuses its tau batch on coarse levels).
    ``evaluate(inputs, targets) -> dict``
        Validation errors of the finest model (the first entry is the logged error).
    ``state_dict()`` / ``load_state_dict(state)``
        Everything to resume (parameters, smoother states, method state).
    """

    hierarchy: Hierarchy

    def smooth_step(self, level: int, inputs, targets) -> float: ...

    def down(self, level: int) -> float | None: ...

    def up(self, level: int) -> float | None: ...

    def evaluate(self, inputs, targets) -> dict: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...
