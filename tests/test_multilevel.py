"""Tests of the shared multilevel machinery (msann.multilevel) and the layer prolongations (msann.prolongations).

What is asserted is mathematics: the gamma-cycle visits levels in the order of
seed 002 Algorithm 3.1 / Fig. 4 (against a literal transcription and a slow
recursive reference), with the closed-form visit counts; the layer maps have
orthonormal columns, the grid maps are Kronecker products of the 1D maps and
the shuffled grid maps are row permutations of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from msann.multilevel import (
    EVENT_KINDS,
    SMOOTHERS,
    Event,
    Hierarchy,
    Level,
    cycle_events,
    make_smoother,
    per_level,
    visit_order,
)
from msann.prolongations import (
    METHODS,
    STRATEGIES,
    composite_maps,
    grid_shape,
    layer_maps,
    one_dimensional_map,
    unit_shapes,
)

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


# ---------------------------------------------------------------------------
# Smoothers


def _parameters():
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)])
def test_make_smoother_builds_the_torch_optimiser(name, cls):
    parameters = _parameters()
    smoother = make_smoother(name, parameters, lr=0.25)
    assert type(smoother) is cls
    assert smoother.param_groups[0]["lr"] == 0.25
    assert smoother.param_groups[0]["params"][0] is parameters[0]


def test_sgd_smoother_takes_the_step_it_is_given():
    parameter = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    smoother = make_smoother("sgd", [parameter], lr=0.5, momentum=0.9)
    assert smoother.param_groups[0]["momentum"] == 0.9
    (parameter**2).sum().backward()  # gradient 2 x
    smoother.step()
    assert torch.equal(parameter.detach(), torch.tensor([0.0, 0.0], dtype=torch.float64))


def test_make_smoother_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown smoother 'lbfgs'") as raised:
        make_smoother("lbfgs", _parameters(), lr=1e-3)
    for name in SMOOTHERS:
        assert name in str(raised.value)


def test_make_smoother_refuses_momentum_for_adam():
    with pytest.raises(ValueError, match=r"smoother 'adam' takes no momentum.*got 0.9") as raised:
        make_smoother("adam", _parameters(), lr=1e-3, momentum=0.9)
    assert "sgd" in str(raised.value) and "rmsprop" in str(raised.value)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 2.0])
def test_make_smoother_rejects_momentum_outside_the_unit_interval(momentum):
    with pytest.raises(ValueError, match=rf"momentum must be in \[0, 1\); got {momentum}"):
        make_smoother("sgd", _parameters(), lr=1e-3, momentum=momentum)


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_make_smoother_rejects_a_non_positive_learning_rate(lr):
    with pytest.raises(ValueError, match="lr"):
        make_smoother("sgd", _parameters(), lr=lr)


# ---------------------------------------------------------------------------
# Hierarchy


def _hierarchy(sizes=(100, 30, 9)):
    levels = []
    for index, size in enumerate(sizes):
        parameters = [torch.nn.Parameter(torch.zeros(size, dtype=torch.float64))]
        levels.append(Level(index, parameters, make_smoother("adam", parameters, lr=1e-2), size / sizes[0], size))
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


# ---------------------------------------------------------------------------
# Unit shapes


@pytest.mark.parametrize(
    ("width", "shape"),
    [(256, (16, 16)), (128, (16, 8)), (1024, (32, 32)), (512, (32, 16)), (16, (4, 4)), (8, (4, 2)), (1, (1, 1)), (2, (2, 1))],
)
def test_grid_shape_examples(width, shape):
    assert grid_shape(width) == shape
    assert math.prod(shape) == width


@pytest.mark.parametrize("width", [3, 12, 24, 100 + 1])
def test_grid_shape_rejects_widths_that_are_not_r2_or_2r2(width):
    with pytest.raises(ValueError, match=rf"r\^2 or 2 r\^2 units.*got width {width}"):
        grid_shape(width)


def test_grid_shape_rejects_non_positive_widths():
    with pytest.raises(ValueError, match="width must be >= 1"):
        grid_shape(0)


def test_unit_shapes_examples():
    assert unit_shapes(1024, levels=3, layout="grid") == [(32, 32), (32, 16), (16, 16), (16, 8)]
    assert unit_shapes(28 * 28, levels=2, layout="grid", input_shape=(28, 28)) == [(28, 28), (28, 14), (14, 14)]
    assert unit_shapes(16, levels=3, layout="path") == [(16,), (8,), (4,), (2,)]
    assert unit_shapes(12, levels=0, layout="path") == [(12,)]
    assert unit_shapes(12, levels=2, layout="path") == [(12,), (6,), (3,)]
    # A path layout flattens a 2D input shape.
    assert unit_shapes(64, levels=1, layout="path", input_shape=(8, 8)) == [(64,), (32,)]


def test_unit_shapes_errors_name_the_width_and_the_level():
    assert unit_shapes(16, levels=4, layout="path")[-1] == (1,)  # a side may reach 1
    with pytest.raises(ValueError, match=r"width 16 \(path layout, shape \(16,\)\) cannot be coarsened 5 times: at level 5"):
        unit_shapes(16, levels=5, layout="path")
    with pytest.raises(ValueError, match=r"cannot be coarsened 3 times: at level 3.*side 3 is odd"):
        unit_shapes(12, levels=3, layout="path")
    with pytest.raises(ValueError, match=r"input_shape \(4, 5\) has 20 units, not the layer's width 16"):
        unit_shapes(16, levels=1, layout="grid", input_shape=(4, 5))
    with pytest.raises(ValueError, match="unknown layout 'cycle'; valid layouts are: grid, path"):
        unit_shapes(16, levels=1, layout="cycle")


# ---------------------------------------------------------------------------
# Layer maps


ALL_STRATEGIES = sorted(STRATEGIES)
CHEAP_METHODS = [method for method in METHODS if method != "optimize"]


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
@pytest.mark.parametrize("method", CHEAP_METHODS)
def test_layer_maps_have_orthonormal_columns_and_chain(strategy, method):
    maps = layer_maps(64, levels=3, strategy=strategy, method=method, rng=3)
    assert len(maps) == 3
    widths = [64, 32, 16, 8]
    for level, P in enumerate(maps):
        assert P.shape == (widths[level], widths[level + 1])
        np.testing.assert_allclose(P.T @ P, np.eye(P.shape[1]), atol=1e-12)


def test_one_dimensional_maps_are_orthonormal_and_read_only():
    for method in CHEAP_METHODS:
        P = one_dimensional_map(8, method=method)
        assert P.shape == (16, 8)
        np.testing.assert_allclose(P.T @ P, np.eye(8), atol=1e-12)
        with pytest.raises(ValueError):
            P[0, 0] = 1.0
    P = one_dimensional_map(4, method="piecewise-constant")
    expected = np.zeros((8, 4))
    for i in range(4):
        expected[2 * i, i] = expected[2 * i + 1, i] = 1 / math.sqrt(2)
    np.testing.assert_allclose(P, expected, atol=1e-15)


@pytest.mark.parametrize("method", CHEAP_METHODS)
def test_grid_maps_are_kronecker_products_of_one_dimensional_maps(method):
    """(8, 8) -> (8, 4) -> (4, 4) -> (4, 2): row-major flattening makes P = I ⊗ P_1D or P_1D ⊗ I."""
    maps = layer_maps(64, levels=3, strategy="grid", method=method)
    one_d = {n: one_dimensional_map(n, method=method) for n in (2, 4)}
    expected = [
        np.kron(np.eye(8), one_d[4]),  # halve the columns: 8 -> 4
        np.kron(one_d[4], np.eye(4)),  # halve the rows: 8 -> 4
        np.kron(np.eye(4), one_d[2]),  # halve the columns: 4 -> 2
    ]
    for P, reference in zip(maps, expected, strict=True):
        np.testing.assert_allclose(P, reference, atol=1e-14)


def test_grid_map_acts_on_images_along_one_axis():
    """Prolonging a flattened 4x2 image with the (4, 4) <- (4, 2) map prolongs each row with the 1D map."""
    (P,) = layer_maps(16, levels=1, strategy="grid")
    rng = np.random.default_rng(0)
    image = rng.standard_normal((4, 2))
    rows = image @ one_dimensional_map(2).T
    np.testing.assert_allclose((P @ image.reshape(-1)).reshape(4, 4), rows, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1])
def test_grid_shuffled_maps_are_row_permutations_of_the_grid_maps(seed):
    grid = layer_maps(64, levels=3, strategy="grid")
    shuffled = layer_maps(64, levels=3, strategy="grid-shuffled", rng=seed)
    for P, Q in zip(grid, shuffled, strict=True):
        assert P.shape == Q.shape
        assert not np.array_equal(P, Q)
        # Q = Pi P for a permutation matrix Pi: the rows agree as multisets, and Q Q^T is P P^T permuted.
        matches = np.all(np.isclose(Q[:, None, :], P[None, :, :], atol=1e-14), axis=2)
        permutation = np.argmax(matches, axis=1)
        assert matches[np.arange(len(Q)), permutation].all()
        assert sorted(permutation.tolist()) == list(range(len(P)))
        np.testing.assert_array_equal(Q, P[permutation])
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, layer_maps(64, levels=3, strategy="grid-shuffled", rng=seed)))


def test_random_orthogonal_maps_depend_on_the_seed_only():
    first = layer_maps(32, levels=2, strategy="random-orthogonal", rng=5)
    again = layer_maps(32, levels=2, strategy="random-orthogonal", rng=5)
    other = layer_maps(32, levels=2, strategy="random-orthogonal", rng=6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.allclose(first[0], other[0])
    assert first[0].shape == (32, 16) and first[1].shape == (16, 8)


def test_layer_maps_unknown_strategy_and_method_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown strategy 'cycle'; valid strategys are: grid, grid-shuffled, path, random-orthogonal"):
        layer_maps(16, levels=1, strategy="cycle")
    with pytest.raises(ValueError, match="unknown method 'magic'") as raised:
        layer_maps(16, levels=1, method="magic")
    for method in METHODS:
        assert method in str(raised.value)
    with pytest.raises(ValueError, match="cannot be coarsened 4 times"):
        layer_maps(8, levels=4, strategy="grid")  # 4x2 -> 2x2 -> 2x1 -> 1x1 -> odd


def test_composite_maps_are_the_running_products():
    maps = layer_maps(32, levels=3)
    composite = composite_maps(maps)
    assert len(composite) == 4
    np.testing.assert_array_equal(composite[0], np.eye(32))
    np.testing.assert_allclose(composite[3], maps[0] @ maps[1] @ maps[2], atol=1e-14)
    for C in composite:
        np.testing.assert_allclose(C.T @ C, np.eye(C.shape[1]), atol=1e-12)
    with pytest.raises(ValueError, match="at least one map"):
        composite_maps([])
    with pytest.raises(ValueError, match=r"maps do not chain: \(32, 16\) then \(8, 4\)"):
        composite_maps([maps[0], maps[2]])
