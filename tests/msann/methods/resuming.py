"""Training in pieces: a run interrupted every few steps and resumed from its checkpoint, against the uninterrupted run."""

from __future__ import annotations

from collections.abc import Callable

import torch

from msann.core.driver import train
from msann.data import MinibatchStream


def assert_resumed_in_pieces_ends_as_whole(fresh: Callable[[int], object], inputs: torch.Tensor, targets: torch.Tensor,
                                           checkpoint, *, options: dict, pieces_at_least: int = 5) -> tuple:
    """Train ``fresh(0)`` whole, and ``fresh(k)`` resumed ``max_steps = 3`` at a time; assert the same history and weights.

    Every resumed process starts from other weights (``fresh(k)``, ``k > 1``): the checkpoint must win.
    Returns the whole and the last resumed method.
    """
    whole = fresh(0)
    expected = train(whole, MinibatchStream(inputs, targets, batch_size=options["batch_size"], seed=1), (inputs, targets), **options)
    calls = 0
    while True:
        calls += 1
        method = fresh(0 if calls == 1 else calls)
        result = train(method, MinibatchStream(inputs, targets, batch_size=options["batch_size"], seed=1), (inputs, targets),
                       checkpoint=checkpoint, resume=True, max_steps=3, **options)
        if result.total_cost >= options["cost_budget"]:
            break
    assert calls > pieces_at_least
    assert [point[:2] for point in result.history] == [point[:2] for point in expected.history]
    for mine, theirs in zip(method.hierarchy[0].model.parameters(), whole.hierarchy[0].model.parameters()):
        assert torch.equal(mine, theirs)
    return whole, method
