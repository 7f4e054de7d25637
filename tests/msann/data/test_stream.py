"""Tests of msann.data.stream: the checkpointable minibatch stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from msann.data import MinibatchStream, one_object


def _indexed_stream(n: int, batch_size: int, seed: int = 0) -> MinibatchStream:
    """A stream whose inputs hold each example's index, and targets twice it."""
    inputs = np.arange(n, dtype=np.float32)[:, None]
    return MinibatchStream(inputs, 2 * inputs, batch_size=batch_size, seed=seed)


@pytest.mark.parametrize("n, batch_size", [(12, 4), (10, 3), (7, 7), (5, 1)])
def test_stream_covers_every_example_once_per_epoch(n, batch_size):
    stream = _indexed_stream(n, batch_size)
    epochs = 3
    batches = [next(stream) for _ in range(epochs * n // batch_size)]
    served = torch.cat([x for x, _ in batches]).flatten().long().numpy()
    assert all(x.shape == (batch_size, 1) for x, _ in batches)  # every batch full size
    assert all(torch.equal(y, 2 * x) for x, y in batches)  # inputs and targets stay paired
    for epoch in range(epochs):
        assert sorted(served[epoch * n : (epoch + 1) * n]) == list(range(n))
    assert stream.examples_seen == len(served)
    orders = {tuple(served[epoch * n : (epoch + 1) * n]) for epoch in range(epochs)}
    assert n < 5 or len(orders) > 1  # reshuffled every epoch


def test_stream_resume_matches_uninterrupted():
    reference = _indexed_stream(10, 3, seed=4)
    expected = [next(reference)[0] for _ in range(20)]
    interrupted = _indexed_stream(10, 3, seed=4)
    for _ in range(7):  # stops mid-epoch, after a batch that crossed an epoch boundary
        next(interrupted)
    state = json.loads(json.dumps(interrupted.state_dict()))  # plain data
    assert (state["epoch"], state["position"]) == (2, 1)
    resumed = _indexed_stream(10, 3, seed=99)  # the seed is overridden by the state
    resumed.load_state_dict(state)
    for index in range(7, 20):
        assert torch.equal(next(resumed)[0], expected[index])


def test_stream_determinism_and_shared_targets():
    data = one_object(length=16, noise=0.0, n_train=20, n_val=2)
    first = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=1)
    again = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=1)
    other = MinibatchStream(data.train_inputs, data.train_inputs, batch_size=5, seed=2)
    a, b, c = (torch.cat([next(stream)[0] for _ in range(4)]) for stream in (first, again, other))
    assert torch.equal(a, b) and not torch.equal(a, c)
    x, y = next(first)
    assert x.dtype == torch.float32 and x.device == torch.device("cpu") and torch.equal(x, y)


def test_stream_errors():
    inputs = np.zeros((6, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="batch_size must be <= N = 6 examples; got batch_size = 7"):
        MinibatchStream(inputs, inputs, batch_size=7, seed=0)
    with pytest.raises(ValueError, match="same number N >= 1 of rows; got 6 and 5"):
        MinibatchStream(inputs, inputs[:5], batch_size=2, seed=0)
    stream = MinibatchStream(inputs, inputs, batch_size=2, seed=0)
    state = stream.state_dict()
    with pytest.raises(ValueError, match="saved with batch_size = 2; this stream has batch_size = 3"):
        MinibatchStream(inputs, inputs, batch_size=3, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="lacks generator_state"):
        stream.load_state_dict({key: value for key, value in state.items() if key != "generator_state"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_stream_on_cuda_matches_cpu():
    data = one_object(length=32, n_train=40, n_val=2)
    cpu = MinibatchStream(data.train_inputs, data.train_targets, batch_size=16, seed=3)
    gpu = MinibatchStream(data.train_inputs, data.train_targets, batch_size=16, seed=3, device="cuda")
    for _ in range(5):
        (x_cpu, y_cpu), (x_gpu, y_gpu) = next(cpu), next(gpu)
        assert x_gpu.is_cuda and torch.equal(x_gpu.cpu(), x_cpu) and torch.equal(y_gpu.cpu(), y_cpu)
