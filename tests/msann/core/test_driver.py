"""Tests of the training driver on the MsANN method (msann.core.driver, msann.core.checkpoint).

The cost C(t) of a hand-worked schedule; the W-cycle order of seed 002
Fig. 4; a killed and resumed run ends exactly where an uninterrupted one
does; a diverging run stops and keeps a good checkpoint; a checkpoint of an
older format is refused.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from msann.core.checkpoint import CheckpointError, DivergenceError, load_checkpoint, save_checkpoint
from msann.core.cycle import visit_order
from msann.core.driver import TrainingInterrupted, clear_stop, request_stop, train, training_active
from msann.core.level import Hierarchy, Level
from msann.core.method import Descent, MultilevelMethod
from msann.core.smoothing import make_smoother, smoothing_step
from msann.data import MinibatchStream
from msann.methods.msann import MsANN, build_msann

from ..autoencoders import WIDTHS_16, _maps, _one_object_data



# ---------------------------------------------------------------------------
# Cost accounting on a hand-worked schedule

# Widths 8-4-8 with L = 1: level 1 is 4-2-4.
# |M_0| = 8*4 + 4 + 4*8 + 8 = 76 and |M_1| = 4*2 + 2 + 2*4 + 4 = 22.
# gamma = 1, k = 2, batch 4: one cycle smooths levels 0 0 1 1 0 0 at costs
# 4, 4, 4*22/76, 4*22/76, 4, 4 (cycle cost 16 + 176/76).
LEVEL_ONE = 4 * 22 / 76


def _tiny_method(schedule="cycle", *, widths=(8, 4, 8), depth=1, seed=0):
    widths = list(widths)
    return MsANN(build_msann(widths, _maps(widths, depth), seed=seed), smoother="adam", lr=1e-2, schedule=schedule)


def _stream_and_validation(length=8, batch_size=4, seed=1):
    data = _one_object_data(length=length, n_train=32, n_val=8)
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=batch_size, seed=seed)
    return stream, (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))


def test_tiny_hierarchy_has_the_hand_computed_sizes_and_relative_costs():
    method = _tiny_method()
    assert [method.model.level_size(level) for level in (0, 1)] == [76, 22]
    assert [level.relative_cost for level in method.hierarchy.levels] == [1.0, 22 / 76]
    assert [level.size for level in method.hierarchy.levels] == [76, 22]


@pytest.mark.parametrize(
    ("budget", "steps", "levels", "total"),
    [
        (8.0, 2, [0, 0], 8.0),  # C reaches the budget exactly: stop
        (9.0, 3, [0, 0, 1], 8 + LEVEL_ONE),
        (18.3, 6, [0, 0, 1, 1, 0, 0], 16 + 2 * LEVEL_ONE),
        (20.0, 7, [0, 0, 1, 1, 0, 0, 0], 20 + 2 * LEVEL_ONE),
    ],
)
def test_cost_of_a_hand_worked_schedule(budget, steps, levels, total):
    method = _tiny_method()
    stream, validation = _stream_and_validation()
    visited = []
    smooth = method.smooth_step
    method.smooth_step = lambda level, inputs, targets: (visited.append(level), smooth(level, inputs, targets))[1]
    result = train(method, stream, validation, gamma=1, k=2, cost_budget=budget, batch_size=4, eval_points=3)
    assert result.steps == steps
    assert visited == levels
    assert result.total_cost == pytest.approx(total, rel=1e-15)
    assert stream.examples_seen == 4 * steps
    assert result.history[0][0] == 0.0 and result.history[-1][0] == result.total_cost
    costs = [point[0] for point in result.history]
    assert costs == sorted(set(costs))
    cumulative = np.cumsum([4.0 if level == 0 else LEVEL_ONE for level in levels])
    assert all(np.isclose(cumulative, cost, rtol=1e-14).any() for cost in costs[1:])


def test_simultaneous_schedule_costs_the_sum_of_the_level_sizes_per_example():
    method = _tiny_method("simultaneous")
    stream, validation = _stream_and_validation()
    result = train(method, stream, validation, cost_budget=20.0, batch_size=4, eval_points=3)
    per_step = 4 * (76 + 22) / 76
    assert result.steps == 4  # 3 steps cost 15.47 < 20, 4 cost 20.6
    assert result.total_cost == pytest.approx(4 * per_step, rel=1e-15)


def test_train_walks_the_w_cycle_in_the_order_of_figure_4_with_per_level_k():
    method = _tiny_method(widths=(16, 8, 16), depth=2)
    stream, validation = _stream_and_validation(length=16)
    visited, transfers = [], []
    smooth = method.smooth_step
    method.smooth_step = lambda level, inputs, targets: (visited.append(level), smooth(level, inputs, targets))[1]
    method.down = lambda level, stream: (transfers.append(("down", level)), Descent())[1]
    method.up = lambda level, stream: (transfers.append(("up", level)), 0.0)[1]
    costs = [level.relative_cost * 4 for level in method.hierarchy.levels]
    order = visit_order(2, 2)
    k = [1, 2, 3]
    cycle_cost = sum(costs[level] * k[level] for level in order)
    result = train(method, stream, validation, gamma=2, k=k, cost_budget=cycle_cost + 1.0, batch_size=4, eval_points=2)
    expected = [level for level in order for _ in range(k[level])]
    assert visited[: len(expected)] == expected and visited[len(expected)] == 0
    assert transfers[:4] == [("down", 0), ("down", 1), ("up", 1), ("down", 1)]
    assert transfers.count(("down", 1)) == 4 and transfers.count(("up", 0)) == 2
    events = 13 + 2 * 6  # smooth visits, then one down and one up per coarse visit
    assert result.cycles == pytest.approx(1 + 1 / events, rel=1e-15)  # stopped after the first visit of cycle 2


def test_event_seconds_split_the_training_seconds_by_level_and_event():
    import time  # noqa: PLC0415

    method = _tiny_method(widths=(16, 8, 16), depth=2)
    stream, validation = _stream_and_validation(length=16)
    smooth, down = method.smooth_step, method.down
    # Known delays: 2 ms per step at level 2 and per restriction from level 0; everything else runs as it is.
    calls = []
    method.smooth_step = lambda level, *batch: (calls.append(("step", level)), level == 2 and time.sleep(0.002), smooth(level, *batch))[2]
    method.down = lambda level, stream: (calls.append(("down", level)), level == 0 and time.sleep(0.002), down(level, stream))[2]
    result = train(method, stream, validation, gamma=1, k=1, cost_budget=200.0, batch_size=4, eval_points=3)
    seconds = result.event_seconds
    assert set(seconds) == {f"{kind} L{level}" for kind in ("data", "step") for level in range(3)} | {
        f"{kind} L{level}" for kind in ("down", "up") for level in range(2)}
    assert seconds["down L0"] >= 0.002 * calls.count(("down", 0)) > seconds["down L1"]
    assert seconds["step L2"] >= 0.002 * calls.count(("step", 2))
    assert seconds["step L2"] / calls.count(("step", 2)) > seconds["step L1"] / calls.count(("step", 1))
    history_seconds = result.history[-1][2]
    assert sum(seconds.values()) <= history_seconds <= result.wall_seconds - result.evaluation_seconds + 1e-9


def test_train_rejects_k_of_the_wrong_length():
    method = _tiny_method()
    stream, validation = _stream_and_validation()
    with pytest.raises(ValueError, match=r"k needs one value per level \(L \+ 1 = 2\); got 3"):
        train(method, stream, validation, k=[1, 2, 3], cost_budget=10.0, batch_size=4)


# ---------------------------------------------------------------------------
# Kill and resume

PARAMS = {"model": "16-8-4-8-16", "levels": 1, "gamma": 2, "k": 2, "lr": 1e-2}
RUN = {"gamma": 2, "k": 2, "cost_budget": 240.0, "batch_size": 8, "eval_points": 6}


def _fresh_run(seed=0):
    """A method and a stream built from scratch, the same way each time."""
    widths = WIDTHS_16
    method = MsANN(build_msann(widths, _maps(widths, 1), seed=seed), smoother="adam", lr=1e-2)
    data = _one_object_data()
    stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=8, seed=seed + 1)
    return method, stream, (torch.from_numpy(data.val_inputs), torch.from_numpy(data.val_targets))


@pytest.fixture(scope="module")
def uninterrupted():
    method, stream, validation = _fresh_run()
    return train(method, stream, validation, **RUN, params=PARAMS), method, stream


def _assert_same_run(result, method, stream, reference):
    expected, expected_method, expected_stream = reference
    assert result.steps == expected.steps and result.total_cost == expected.total_cost
    assert [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    assert result.evaluations == expected.evaluations
    assert result.cycles == expected.cycles
    mine, theirs = method.model.state_dict(), expected_method.model.state_dict()
    tensors = [name for name, value in theirs.items() if isinstance(value, torch.Tensor)]
    assert tensors and sorted(tensors) == sorted(name for name, value in mine.items() if isinstance(value, torch.Tensor))
    for name in tensors:
        assert torch.equal(mine[name], theirs[name]), name
    for level, other in zip(method.hierarchy.levels, expected_method.hierarchy.levels):
        for key, state in level.smoother.state_dict()["state"].items():
            for name, value in state.items():
                assert torch.equal(value, other.smoother.state_dict()["state"][key][name])
    assert stream.state_dict() == expected_stream.state_dict()


@pytest.mark.parametrize("stop_after", [1, 6, 13])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, stop_after):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    partial = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=stop_after)
    assert stop_after <= partial.steps < uninterrupted[0].steps
    assert path.exists()
    del method, stream
    method, stream, validation = _fresh_run()
    result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    _assert_same_run(result, method, stream, uninterrupted)
    assert load_checkpoint(path)["loop"]["steps"] == result.steps


def test_a_stop_request_saves_at_the_next_safe_point_and_the_resumed_run_ends_where_the_uninterrupted_one_ends(
        tmp_path, uninterrupted):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    seen = []

    def stop_at_the_second_evaluation(cost, errors):
        seen.append(training_active())
        if len(seen) == 2:
            request_stop()

    try:
        with pytest.raises(TrainingInterrupted, match=f"interrupted at cost .*; checkpoint saved to {path}") as raised:
            train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, on_evaluate=stop_at_the_second_evaluation)
    finally:
        clear_stop()
    assert all(seen) and not training_active()
    saved = load_checkpoint(path)["loop"]
    assert raised.value.cost == saved["cost"] and 0 < saved["cost"] < RUN["cost_budget"]
    assert 2 <= len(saved["history"]) < len(uninterrupted[0].history)  # at the end of the event of the 2nd evaluation
    method, stream, validation = _fresh_run()
    result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    _assert_same_run(result, method, stream, uninterrupted)


def test_a_stop_requested_before_training_stops_it_before_any_step(tmp_path):
    method, stream, validation = _fresh_run()
    request_stop()
    try:
        with pytest.raises(TrainingInterrupted, match="no checkpoint is written"):
            train(method, stream, validation, **RUN, params=PARAMS, checkpoint=tmp_path / "checkpoint.pt")
    finally:
        clear_stop()
    assert not (tmp_path / "checkpoint.pt").exists()


def test_divergence_before_any_checkpoint_does_not_claim_one_is_kept(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    for parameter in method.model.parameters():
        parameter.data.fill_(float("nan"))
    with pytest.raises(DivergenceError, match=r"No checkpoint had been written yet \(.*checkpoint.pt does not exist\)") as raised:
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path)
    assert "is kept" not in str(raised.value) and not path.parent.exists()


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path, uninterrupted):
    method, stream, validation = _fresh_run()
    result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=tmp_path / "checkpoint.pt", resume=True)
    _assert_same_run(result, method, stream, uninterrupted)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path, uninterrupted, caplog):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0, max_steps=9)
    previous = path.with_name("checkpoint.pt.prev")
    assert previous.exists()
    assert load_checkpoint(previous)["loop"]["steps"] <= load_checkpoint(path)["loop"]["steps"]
    _truncate(path)
    method, stream, validation = _fresh_run()
    with caplog.at_level(logging.WARNING, logger="msann.core.checkpoint"):
        result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    assert any("checksum" in record.getMessage() and "previous" in record.getMessage() for record in caplog.records)
    _assert_same_run(result, method, stream, uninterrupted)


def test_a_truncated_checkpoint_without_a_previous_one_starts_over(tmp_path, uninterrupted, caplog):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=5)
    assert not path.with_name("checkpoint.pt.prev").exists()
    _truncate(path)
    method, stream, validation = _fresh_run()
    with caplog.at_level(logging.WARNING, logger="msann.core.checkpoint"):
        result = train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    assert any(record.levelno == logging.WARNING and str(path) in record.getMessage() for record in caplog.records)
    _assert_same_run(result, method, stream, uninterrupted)


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=3)
    method, stream, validation = _fresh_run()
    with pytest.raises(CheckpointError, match="belongs to a different run configuration"):
        train(method, stream, validation, **RUN, params=dict(PARAMS, lr=2e-2), checkpoint=path, resume=True)


def test_load_checkpoint_rejects_damaged_files(tmp_path):
    path = save_checkpoint(tmp_path / "state.pt", {"x": torch.arange(4)})
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(4))
    save_checkpoint(path, {"x": torch.arange(5)})
    assert torch.equal(load_checkpoint(path.with_name("state.pt.prev"))["x"], torch.arange(4))
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="fails its SHA-256 checksum"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not an msann checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


# ---------------------------------------------------------------------------
# Divergence


def _finite_checkpoint(path) -> None:
    state = load_checkpoint(path)

    def walk(value):
        if isinstance(value, torch.Tensor):
            assert torch.isfinite(value).all() if value.is_floating_point() else True
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(state["method"])
    assert all(np.isfinite(point[1]) for point in state["loop"]["history"])


def test_a_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, max_steps=4)
    good = load_checkpoint(path)
    method, stream, validation = _fresh_run()
    method.smooth_step = lambda level, inputs, targets: torch.tensor(float("nan"))
    with pytest.raises(DivergenceError, match=r"training loss became nan near cost .*\(step \d+\); stopped") as raised:
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0, resume=True)
    assert str(path) in str(raised.value)
    # A checkpoint may have been rewritten at an event boundary before the first NaN step, but with the same state.
    kept = load_checkpoint(path)
    assert kept["loop"]["steps"] == good["loop"]["steps"]
    for name, value in good["method"]["model"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(kept["method"]["model"][name], value), name
    _finite_checkpoint(path)


def test_a_learning_rate_that_blows_up_raises_divergence_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    widths = WIDTHS_16
    model = build_msann(widths, _maps(widths, 1), seed=0, activation="identity", output_activation="identity")
    method = MsANN(model, smoother="sgd", lr=1e4)
    stream, validation = _stream_and_validation(length=16, batch_size=8)
    with pytest.raises(DivergenceError, match="became (nan|inf)"):
        train(method, stream, validation, cost_budget=1e6, batch_size=8, checkpoint=path, checkpoint_every=0.0, params=PARAMS)
    assert path.exists()
    _finite_checkpoint(path)


def test_parameters_made_non_finite_by_a_step_are_never_checkpointed(tmp_path):
    path = tmp_path / "checkpoint.pt"
    method, stream, validation = _fresh_run()
    smooth, calls = method.smooth_step, []

    def poisoned(level, inputs, targets):
        loss = smooth(level, inputs, targets)
        calls.append(level)
        if len(calls) == 4:  # the last step of a visit; its own loss was finite, its update is not
            with torch.no_grad():
                method.model.thetas["w0_0"].fill_(float("inf"))
        return loss

    method.smooth_step = poisoned
    with pytest.raises(DivergenceError):
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, checkpoint_every=0.0)
    _finite_checkpoint(path)



# ---------------------------------------------------------------------------
# Skipped coarse visits cost nothing


class _SkipEverySecondVisit(MultilevelMethod):
    """A toy two-level method whose ``down`` skips every second coarse visit; its transfer costs 1 example."""

    def __init__(self) -> None:
        parameters = [[torch.nn.Parameter(torch.zeros(3))], [torch.nn.Parameter(torch.zeros(2))]]
        self.hierarchy = Hierarchy([Level(level, None, values, make_smoother("sgd", values, lr=0.1), cost, values[0].numel())
                                    for level, (values, cost) in enumerate(zip(parameters, (1.0, 0.5)))])
        self.smoothed, self.downs, self.ups = [], 0, 0

    def smooth_step(self, level, inputs, targets):
        self.smoothed.append(level)
        parameter = self.hierarchy[level].parameters[0]

        def objective():
            loss = ((parameter - inputs.mean()) ** 2).sum()
            return loss, loss

        return smoothing_step(self.hierarchy[level].smoother, objective)

    def down(self, level, stream):
        self.downs += 1
        return Descent(cost=1.0, skip=self.downs % 2 == 0)

    def up(self, level, stream):
        self.ups += 1
        return 0.0

    def predict(self, inputs):
        return inputs * 0 + self.hierarchy[0].parameters[0].sum()

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_a_skipped_coarse_visit_runs_none_of_its_events_and_costs_nothing():
    """gamma = 1, k = 1, b = 2: a visited cycle costs 2 + 1 (down) + 1 (coarse step) + 2 = 6, a skipped one 2 + 1 + 2 = 5."""
    method = _SkipEverySecondVisit()
    stream, validation = _stream_and_validation(length=8, batch_size=2)
    result = train(method, stream, validation, gamma=1, k=1, cost_budget=22.0, batch_size=2, eval_points=3)
    assert result.total_cost == 6 + 5 + 6 + 5
    assert method.smoothed == [0, 1, 0] + [0, 0] + [0, 1, 0] + [0, 0]
    assert (method.downs, method.ups, result.skipped, result.steps, result.cycles) == (4, 2, 2, 10, 4.0)


def test_a_checkpoint_of_an_older_format_is_refused_and_kept(tmp_path):
    path = tmp_path / "checkpoint.pt"
    old = b"MSANN-CHECKPOINT-1\n" + b"0" * 64 + b"\n" + b"an old payload"
    path.write_bytes(old)
    method, stream, validation = _fresh_run()
    with pytest.raises(CheckpointError, match=r"older msann \(checkpoint format 1; this version reads format 2\)"):
        train(method, stream, validation, **RUN, params=PARAMS, checkpoint=path, resume=True)
    assert path.read_bytes() == old
