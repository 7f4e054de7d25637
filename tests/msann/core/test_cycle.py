"""Tests of the gamma-cycle (msann.core.cycle).

The gamma-cycle visits levels in the order of seed 002 Algorithm 3.1 / Fig. 4
(against a literal transcription and a slow recursive reference), with the
closed-form visit counts; every down event has its matching up event.
"""

from __future__ import annotations

import pytest

from msann.core.cycle import EVENT_KINDS, Event, cycle_events, matching_up, per_level, visit_order

# ---------------------------------------------------------------------------
# The gamma-cycle scheduler


def _reference_visits(depth: int, gamma: int, level: int = 0) -> list[int]:
    """Algorithm 3.1 of seed 002, transcribed literally (k = 1): the levels trained, in order."""
    visits = [level]  # train M_l for k batches
    if level < depth:  # if max_depth has not been reached
        for _ in range(gamma):  # for 1 <= i <= gamma
            visits += _reference_visits(depth, gamma, level + 1)  # MsANNCycle(l + 1)
            visits.append(level)  # train M_l for k batches
    return visits


def test_w_cycle_of_depth_two_matches_seed_002_figure_4():
    assert visit_order(2, 2) == [0, 1, 2, 1, 2, 1, 0, 1, 2, 1, 2, 1, 0]


def test_v_cycle_of_depth_three_goes_down_and_up_once():
    assert visit_order(3, 1) == [0, 1, 2, 3, 2, 1, 0]


def test_depth_zero_is_one_smoothing_visit_whatever_gamma():
    for gamma in (1, 2, 5):
        assert list(cycle_events(0, gamma)) == [Event("smooth", 0)]


@pytest.mark.parametrize("depth", range(0, 5))
@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_visit_order_equals_the_recursive_reference(depth, gamma):
    assert visit_order(depth, gamma) == _reference_visits(depth, gamma)


@pytest.mark.parametrize("depth", range(0, 6))
@pytest.mark.parametrize("gamma", [1, 2, 3, 4])
def test_visit_counts_have_the_closed_form(depth, gamma):
    """cycle(l) is called gamma^l times and smooths level l 1 + gamma times (once at the coarsest).

    So V_l = gamma^l (1 + gamma) for l < L, V_L = gamma^L, and the cycle has
    sum_l V_l smoothing visits.
    """
    order = visit_order(depth, gamma)
    expected = [gamma**level * (1 + gamma) for level in range(depth)] + [gamma**depth]
    assert [order.count(level) for level in range(depth + 1)] == expected
    assert len(order) == sum(expected)
    # Each cycle starts and ends on the finest level.
    assert order[0] == 0 and order[-1] == 0


@pytest.mark.parametrize("depth", range(0, 5))
@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_events_are_balanced_and_smooth_the_current_level(depth, gamma):
    """down(l) goes from level l to l + 1 and is matched by up(l); every smooth is at the current level."""
    events = list(cycle_events(depth, gamma))
    assert {event.kind for event in events} <= set(EVENT_KINDS)
    stack: list[int] = []
    for position, (kind, level) in enumerate(events):
        current = len(stack)
        if kind == "smooth":
            assert level == current, (position, events)
        elif kind == "down":
            assert level == current and level < depth
            assert events[position + 1] == Event("smooth", level + 1)
            stack.append(level)
        else:
            assert stack and stack.pop() == level and level == current - 1
            assert events[position + 1] == Event("smooth", level)
    assert stack == []
    downs = [event.level for event in events if event.kind == "down"]
    ups = [event.level for event in events if event.kind == "up"]
    assert sorted(downs) == sorted(ups)
    # Every level l < L is left gamma^(l+1) times per cycle.
    assert [downs.count(level) for level in range(depth)] == [gamma ** (level + 1) for level in range(depth)]


def test_cycle_started_at_a_coarser_level_is_the_subcycle():
    events = list(cycle_events(3, 2, level=1))
    assert [event.level for event in events if event.kind == "smooth"] == [
        level + 1 for level in visit_order(2, 2)
    ]
    assert list(cycle_events(3, 2, level=3)) == [Event("smooth", 3)]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((-1, 1), ValueError, "depth must be >= 0"),
        ((2, 0), ValueError, "gamma must be >= 1"),
        ((2, 1.5), TypeError, "gamma must be an integer"),
        ((2, 1, 3), ValueError, r"level must be in \[0, depth = 2\]; got 3"),
        ((2, 1, -1), ValueError, "got -1"),
    ],
)
def test_cycle_events_rejects_bad_arguments(arguments, error, message):
    depth, gamma, *level = arguments
    with pytest.raises(error, match=message):
        list(cycle_events(depth, gamma, **({"level": level[0]} if level else {})))


# ---------------------------------------------------------------------------
# per_level


def test_per_level_expands_a_scalar_and_keeps_a_sequence():
    assert per_level("k", 3, 2) == [3, 3, 3]
    assert per_level("lr", (1e-3, 2e-3), 1) == [1e-3, 2e-3]
    assert per_level("smoother", "adam", 1) == ["adam", "adam"]  # a string is a scalar
    values = [1, 2, 3]
    expanded = per_level("k", values, 2)
    expanded.append(4)
    assert values == [1, 2, 3]  # the caller's list is not mutated


@pytest.mark.parametrize("values", [[1, 2], [1, 2, 3, 4], []])
def test_per_level_rejects_a_sequence_of_the_wrong_length(values):
    with pytest.raises(ValueError, match=rf"k needs one value per level \(L \+ 1 = 3\); got {len(values)}"):
        per_level("k", values, 2)


@pytest.mark.parametrize("depth", range(1, 4))
@pytest.mark.parametrize("gamma", [1, 2, 3])
def test_matching_up_closes_each_down_with_the_visits_of_the_coarser_levels_between(depth, gamma):
    events = list(cycle_events(depth, gamma))
    for position, (kind, level) in enumerate(events):
        if kind != "down":
            continue
        up = matching_up(events, position)
        assert events[up] == Event("up", level)
        inside = events[position + 1 : up]
        assert inside and all(event.level > level for event in inside)  # only coarser levels in between
        assert inside == list(cycle_events(depth, gamma, level=level + 1))


def test_matching_up_refuses_an_event_that_is_not_a_down():
    events = list(cycle_events(1, 1))
    with pytest.raises(ValueError, match="not a down event"):
        matching_up(events, 0)
