"""The gamma-cycle: a fixed sequence of smoothing and transfer events (seed 002 Algorithm 3.1).

::

    cycle(l):  smooth(l)
               if l < L:  repeat gamma times:
                              down(l)      # restrict to level l + 1 (FAS: tau, x_c = Pi x; MG/Opt: gate)
                              cycle(l + 1)
                              up(l)        # correct level l from l + 1
                              smooth(l)

The FAS V-cycle of seed 000 is ``gamma = 1``.  :func:`cycle_events` lists the
events; the driver (:func:`msann.core.driver.train`) walks them, and a method
may skip a coarse visit at its ``down`` event (the events up to the matching
``up`` are then not run and not charged).

Nested iteration (``start = "coarsest"``, the full-multigrid start; seed 004
§3.5).  :func:`nested_events` is the prefix run once before the cycles::

    descend(0) ... descend(L-1)          # restrict to the coarsest level (no first-order term, no gate)
    cycle(L) x stage_cycles, ascend(L-1) # train level L on its own objective, prolong its change
    cycle(L-1) x stage_cycles, ascend(L-2)
    ...
    cycle(1) x stage_cycles, ascend(0)

after which the finest cycles repeat.  The prefix of ``L = 0`` is empty:
plain training, event for event.  With ``stage = "top"`` a stage trains its
top level only (``smooth(s) x stage_cycles``, no visits below it), and the
finest stage is plain training of level 0: nested iteration as a
coarse-to-fine initialisation, with no cycles at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from graphprolong.checks import check_choice, check_positive, check_positive_int

__all__ = ["EVENT_KINDS", "STAGES", "STARTS", "Event", "cycle_events", "matching_up", "nested_events", "per_level",
           "training_events", "visit_order"]

#: Kinds of cycle events (``descend``/``ascend``: the transitions of a nested start).
EVENT_KINDS = ("smooth", "down", "up", "descend", "ascend")

#: Where training starts: the finest level's cycles, or nested iteration from the coarsest level.
STARTS = ("finest", "coarsest")

#: What a stage of a nested start runs: gamma-cycles from its level, or its top level only.
STAGES = ("cycles", "top")


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


def nested_events(depth: int, gamma: int, *, stage_cycles: int, stage: str = "cycles", growth: float = 1.0) -> list[Event]:
    """The events of a nested start, before the finest cycles (module docstring).

    The stage at level ``s >= 1`` runs ``round(stage_cycles * growth^(s - 1))``
    cycles (at least one): with ``growth > 1`` the coarser, cheaper stages run longer.

    Examples
    --------
    >>> [(e.kind, e.level) for e in nested_events(1, 1, stage_cycles=2)]
    [('descend', 0), ('smooth', 1), ('smooth', 1), ('ascend', 0)]
    >>> [(e.kind, e.level) for e in nested_events(2, 1, stage_cycles=1, stage="top", growth=2.0)]
    [('descend', 0), ('descend', 1), ('smooth', 2), ('smooth', 2), ('ascend', 1), ('smooth', 1), ('ascend', 0)]
    """
    depth = check_positive_int("depth", depth, minimum=0)
    stage_cycles = check_positive_int("stage_cycles", stage_cycles)
    growth = check_positive("growth", growth)
    top_only = check_choice("stage", stage, STAGES) == "top"
    events = [Event("descend", level) for level in range(depth)]
    for level in range(depth, 0, -1):
        for _ in range(max(1, round(stage_cycles * growth ** (level - 1)))):
            events.extend([Event("smooth", level)] if top_only else cycle_events(depth, gamma, level=level))
        events.append(Event("ascend", level - 1))
    return events


def training_events(depth: int, gamma: int, *, start: str = "finest", stage_cycles: int = 1, stage: str = "cycles",
                    growth: float = 1.0) -> tuple[list[Event], int]:
    """The events of a training run and the position its repetition starts from.

    ``start = "finest"``: the gamma-cycle, repeated from position 0.
    ``start = "coarsest"``: :func:`nested_events`, then the repeated
    gamma-cycle (``stage = "cycles"``) or the finest level's visit alone
    (``stage = "top"``: plain training of level 0).
    """
    if check_choice("start", start, STARTS) == "finest":
        return list(cycle_events(depth, gamma)), 0
    prefix = nested_events(depth, gamma, stage_cycles=stage_cycles, stage=stage, growth=growth)
    repeated = [Event("smooth", 0)] if stage == "top" else list(cycle_events(depth, gamma))
    return prefix + repeated, len(prefix)


def matching_up(events: Sequence[Event], position: int) -> int:
    """The position of the ``up`` event that closes the ``down`` event at ``position``.

    Examples
    --------
    >>> events = list(cycle_events(2, 1))
    >>> events[matching_up(events, 1)]
    Event(kind='up', level=0)
    """
    kind, level = events[position]
    if kind != "down":
        raise ValueError(f"event {position} is {events[position]}, not a down event")
    for later in range(position + 1, len(events)):
        if events[later] == Event("up", level):
            return later
    raise ValueError(f"the down event at {position} has no matching up event")


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
