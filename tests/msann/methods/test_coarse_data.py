"""Tests of MsANN on coarse data and of nested iteration (``[hierarchy] coarse_data``, ``start = "coarsest"``).

The mathematics asserted: a smoothing step at level ``l`` changes the fine
parameters by exactly ``P_p`` (composed down to level 0) of the coarse
change; a coarse level's minibatch is the block mean of the stream's; a
nested start with no coarse level is plain training bit for bit, for MsANN
and FAS; a resumed run ends where the uninterrupted one ends.
"""

from __future__ import annotations

import pytest
import torch

from msann.coarsening.data import BlockMean
from msann.coarsening.graph import layer_maps, unit_shapes
from msann.core.cycle import nested_events
from msann.core.driver import train
from msann.core.transfer import parameters_of
from msann.data import MinibatchStream
from msann.methods.fas import FAS
from msann.methods.msann import CoarseDataMsANN, MsANN, build_msann
from msann.models.mlp import plain_autoencoder
from msann.models.poisson_nets import poisson_fc

from ..autoencoders import _one_object_data

F64 = torch.float64
WIDTHS = [16, 8, 4, 8, 16]


def _method(levels=2, *, dtype=F64, seed=0, lr=1e-2, p_method="recipe", batch_factor=1):
    maps = [layer_maps(width, levels=levels, strategy="path", method=p_method, input_shape=(width,)) for width in WIDTHS]
    shapes = unit_shapes(WIDTHS[0], levels=levels, layout="path")
    return CoarseDataMsANN(plain_autoencoder(WIDTHS, seed=seed, dtype=dtype), maps, shapes, smoother="adam", lr=lr,
                           batch_factor=batch_factor)


def _data(dtype=F64):
    data = _one_object_data(length=16, n_train=64, n_val=16)
    inputs, targets = (torch.as_tensor(data.train_inputs, dtype=dtype), torch.as_tensor(data.train_targets, dtype=dtype))
    return inputs, targets


@pytest.mark.parametrize("level", [1, 2])
def test_a_coarse_data_step_changes_the_fine_parameters_exactly_by_the_prolonged_coarse_change(level):
    method = _method()
    inputs, targets = _data()
    stream = map(lambda batch: tuple(t.to(F64) for t in batch), MinibatchStream(inputs, targets, batch_size=8, seed=0))
    before = parameters_of(method.hierarchy[0].model)
    before = {name: value.clone() for name, value in before.items()}
    for l in range(level):
        method.down(l, stream)
    start = {name: value.clone() for name, value in parameters_of(method.hierarchy[level].model).items()}
    method.smooth_step(level, *method.batch(level, stream))
    change = {name: value - start[name] for name, value in parameters_of(method.hierarchy[level].model).items()}
    assert max(float(value.abs().max()) for value in change.values()) > 1e-4  # the step did something
    for l in reversed(range(level)):
        change = method.hierarchy[l].transfer.prolong(change)
        method.up(l, stream)
    after = parameters_of(method.hierarchy[0].model)
    for name in before:
        torch.testing.assert_close(after[name] - before[name], change[name], rtol=0, atol=1e-13)


def test_a_coarse_level_trains_on_the_block_means_of_the_streams_minibatch():
    method = _method(dtype=torch.float32)
    inputs, targets = _data()
    mine, reference = MinibatchStream(inputs, targets, batch_size=8, seed=3), MinibatchStream(inputs, targets, batch_size=8, seed=3)
    coarse_inputs, coarse_targets = method.batch(2, mine)
    fine_inputs, fine_targets = next(reference)
    restrict = BlockMean((16,), (4,))
    assert coarse_inputs.shape == (8, 4)
    torch.testing.assert_close(coarse_inputs, restrict(fine_inputs), rtol=0, atol=0)
    torch.testing.assert_close(coarse_targets, restrict(fine_targets), rtol=0, atol=0)
    torch.testing.assert_close(coarse_inputs, fine_inputs.reshape(8, 4, 4).mean(dim=2))


def test_batch_factor_joins_factor_to_the_l_minibatches_at_level_l_and_charges_them():
    method = _method(dtype=torch.float32, batch_factor=2)
    inputs, targets = _data()
    mine, reference = MinibatchStream(inputs, targets, batch_size=8, seed=3), MinibatchStream(inputs, targets, batch_size=8, seed=3)
    assert [level.batches for level in method.hierarchy] == [1, 2, 4]
    coarse_inputs, coarse_targets = method.batch(2, mine)
    fine = [next(reference) for _ in range(4)]
    restrict = BlockMean((16,), (4,))
    assert coarse_inputs.shape == (32, 4)
    torch.testing.assert_close(coarse_inputs, restrict(torch.cat([x for x, _ in fine])), rtol=0, atol=0)
    torch.testing.assert_close(coarse_targets, restrict(torch.cat([y for _, y in fine])), rtol=0, atol=0)
    assert torch.equal(method.batch(0, mine)[0], next(reference)[0])  # the finest level: one minibatch, the stream's next
    # The cost of a step at level l is its share of the parameters times the examples it took: 8 x 2^l.
    visits = []
    original = method.smooth_step
    method.smooth_step = lambda level, *batch: (visits.append((level, batch[0].shape[0])), original(level, *batch))[1]
    result = _train(method, start="finest", gamma=1, k=1, budget=200.0)
    sizes = {level: 8 * 2**level for level in range(3)}
    assert {level: rows for level, rows in visits} == sizes
    expected = sum(method.hierarchy[level].relative_cost * rows for level, rows in visits)
    assert result.total_cost == pytest.approx(expected, rel=1e-12)


def test_coarse_levels_are_smaller_networks_and_cost_their_share_of_the_parameters():
    method = _method()
    sizes = [level.size for level in method.hierarchy]
    assert sizes == [sum(p.numel() for p in level.model.parameters()) for level in method.hierarchy]
    assert sizes[0] == 2 * (16 * 8 + 8 * 4) + 8 + 4 + 8 + 16 and sizes[1] == 2 * (8 * 4 + 4 * 2) + 4 + 2 + 4 + 8
    assert [level.relative_cost for level in method.hierarchy] == [size / sizes[0] for size in sizes]
    assert [level.model[0].in_features for level in method.hierarchy] == [16, 8, 4]


def test_coarse_data_and_paper_msann_start_from_the_same_fine_network():
    method = _method(levels=2)
    maps = [layer_maps(width, levels=2, strategy="path", input_shape=(width,)) for width in WIDTHS]
    paper = MsANN(build_msann(WIDTHS, maps, seed=0, dtype=F64))
    x = _data()[0][:5]
    torch.testing.assert_close(method.predict(x), paper.predict(x), rtol=0, atol=1e-14)


def _train(method, *, start, checkpoint=None, max_steps=None, resume=False, gamma=1, k=2, budget=400.0, stage_cycles=2,
           stage="cycles", stage_growth=1.0):
    inputs, targets = _data(dtype=next(method.hierarchy[0].model.parameters()).dtype)
    stream = MinibatchStream(inputs, targets, batch_size=8, seed=1)
    return train(method, stream, (inputs[:16], targets[:16]), gamma=gamma, k=k, cost_budget=budget, batch_size=8,
                 eval_points=6, progress=False, start=start, stage_cycles=stage_cycles, checkpoint=checkpoint,
                 max_steps=max_steps, resume=resume, stage=stage, stage_growth=stage_growth)


def _parameters(method):
    return [p.detach().clone() for level in method.hierarchy for p in level.model.parameters()]


@pytest.mark.parametrize("build", [
    lambda: MsANN(build_msann(WIDTHS, [[] for _ in WIDTHS], seed=0, dtype=torch.float32), lr=1e-2),
    lambda: FAS(poisson_fc(16, 16, hidden=8, layers=2, seed=0, dtype=torch.float32), levels=0, lr=0.05),
], ids=["msann", "fas"])
@pytest.mark.parametrize("stage", ["cycles", "top"])
def test_a_nested_start_without_coarse_levels_is_plain_training_bit_for_bit(build, stage):
    assert nested_events(0, 3, stage_cycles=5, stage=stage) == []
    plain, nested = build(), build()
    expected, result = _train(plain, start="finest"), _train(nested, start="coarsest", stage=stage, stage_growth=2.0)
    assert result.history and [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    assert result.steps == expected.steps
    for mine, theirs in zip(_parameters(nested), _parameters(plain), strict=True):
        assert torch.equal(mine, theirs)


def test_a_nested_start_trains_the_coarsest_level_first_and_reaches_the_fine_level():
    method = _method(dtype=torch.float32)
    visits = []
    original = method.smooth_step

    def record(level, inputs, targets):
        visits.append((level, inputs.shape[1]))
        return original(level, inputs, targets)

    method.smooth_step = record
    _train(method, start="coarsest", budget=300.0)
    levels = [level for level, _ in visits]
    assert levels[:4] == [2, 2, 2, 2]  # two cycles of k = 2 steps at the coarsest level, on 4 data units
    assert {width for level, width in visits if level == 2} == {4}
    first_fine = levels.index(0)
    assert set(levels[:first_fine]) == {1, 2} and levels.count(0) > 2


def test_a_nested_start_of_top_stages_trains_each_level_alone_then_only_the_finest():
    method = _method(dtype=torch.float32)
    visits = []
    original = method.smooth_step

    def record(level, inputs, targets):
        visits.append(level)
        return original(level, inputs, targets)

    method.smooth_step = record
    result = _train(method, start="coarsest", stage="top", stage_cycles=2, stage_growth=2.0, budget=300.0)
    # level 2: 2 x 2^1 visits of k = 2 steps, level 1: 2 visits, then level 0 only
    assert visits[:12] == [2] * 8 + [1] * 4 and set(visits[12:]) == {0}
    assert result.steps == len(visits) and result.cycles == (len(visits) - 12) / 2  # a finest cycle: one visit of level 0, k = 2 steps
    assert result.skipped == 0


def test_lr_factor_gives_level_l_the_rate_lr_times_factor_to_the_l():
    from msann.config.run import parse_run  # noqa: PLC0415 (the recipe path of the option)
    from msann.methods.msann import build_msann_method

    data = _one_object_data(length=16, n_train=64, n_val=16)
    run = parse_run({"label": "x", "method": "msann", "data": {"name": "one_object", "length": 16},
                     "model": {"widths": WIDTHS}, "hierarchy": {"levels": 2, "lr_factor": 3.0, "coarse_data": True},
                     "train": {"lr": 0.01}})
    method = build_msann_method(run, data, torch.device("cpu"))
    rates = [level.smoother.param_groups[0]["lr"] for level in method.hierarchy]
    assert rates == pytest.approx([0.01, 0.03, 0.09], rel=1e-12)


@pytest.mark.parametrize(("start", "batch_factor"), [("finest", 1), ("coarsest", 1), ("coarsest", 2)])
def test_an_interrupted_coarse_data_run_resumes_to_the_uninterrupted_result(tmp_path, start, batch_factor):
    whole = _method(dtype=torch.float32, batch_factor=batch_factor)
    expected = _train(whole, start=start)
    path, calls = tmp_path / "checkpoint.pt", 0
    while True:
        calls += 1
        method = _method(dtype=torch.float32, seed=0 if calls == 1 else calls, batch_factor=batch_factor)  # later: the checkpoint must win
        result = _train(method, start=start, checkpoint=path, max_steps=3, resume=True)
        if result.total_cost >= 400.0:
            break
    assert calls > 5
    assert [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    for mine, theirs in zip(_parameters(method), _parameters(whole), strict=True):
        assert torch.equal(mine, theirs)


def test_fas_nested_stage_trains_its_top_level_on_fresh_minibatches_with_no_first_order_term():
    fas = FAS(poisson_fc(16, 6, hidden=8, layers=2, seed=0, dtype=F64), levels=2, lr=0.05, tau_batches=2)
    inputs, targets = torch.randn(40, 16, dtype=F64), torch.randn(40, 6, dtype=F64)
    stream = map(lambda batch: tuple(t.to(F64) for t in batch), MinibatchStream(inputs, targets, batch_size=8, seed=0))
    fine_start = {name: value.clone() for name, value in parameters_of(fas.hierarchy[0].model).items()}
    fas.descend(0)
    fas.descend(1)
    assert fas.tau(2) is None
    reference = MinibatchStream(inputs, targets, batch_size=8, seed=0)
    batch = fas.batch(2, stream)
    torch.testing.assert_close(batch[0], next(reference)[0].to(F64), rtol=0, atol=0)  # fresh, not a tau batch
    fas.smooth_step(2, *batch)
    fas.ascend(1)
    middle_start = {name: value.clone() for name, value in parameters_of(fas.hierarchy[1].model).items()}
    restricted = dict(fas.hierarchy[0].state["restricted"])
    fas.smooth_step(1, *fas.batch(1, stream))  # level 1 is now the top: fresh minibatches too
    change = {name: value - restricted[name] for name, value in parameters_of(fas.hierarchy[1].model).items()}
    fas.ascend(0)
    expected = fas.hierarchy[0].transfer.prolong(change)
    for name, value in parameters_of(fas.hierarchy[0].model).items():
        torch.testing.assert_close(value - fine_start[name], expected[name], rtol=0, atol=1e-12)
    assert any(not torch.equal(middle_start[name], value) for name, value in parameters_of(fas.hierarchy[1].model).items())
    with pytest.raises(RuntimeError, match="tau batch"):  # back to ordinary cycles: coarse levels need their tau batch
        fas.batch(1, stream)
