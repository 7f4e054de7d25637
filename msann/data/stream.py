"""A checkpointable stream of minibatches on the training device (:class:`MinibatchStream`).

Endless, reshuffled every epoch, every batch of the same size; its position
is plain data that a checkpoint stores and a resumed run continues from,
batch for batch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from graphprolong.checks import check_positive_int

__all__ = ["MinibatchStream"]


def _device_tensor(name: str, array: Any, device: torch.device) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        tensor = array.detach()
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N x d); got shape {tuple(tensor.shape)}")
    return tensor.to(device=device, dtype=torch.float32)


class MinibatchStream(Iterator[tuple[torch.Tensor, torch.Tensor]]):
    """An endless, reshuffled, checkpointable stream of minibatches on a device.

    The stream is the concatenation of random permutations of the ``N``
    examples (one per epoch, drawn from ``numpy.random.default_rng(seed)``),
    cut into consecutive batches of exactly ``batch_size`` examples.  So every
    batch has the same size (simple cost accounting), every example is used
    exactly once per epoch, and nothing is dropped; a batch whose slice
    crosses the end of an epoch takes its tail from the next epoch's
    permutation.  (This is neither ``drop_last=True``, which would skip
    ``N mod batch_size`` examples per epoch, nor ``drop_last=False``, which
    would give a short batch.)

    The data are moved to ``device`` once at construction (inputs and targets
    are stored once when they are the same object); each batch is an index
    into them with a slice of the epoch's permutation, held on the device.

    Parameters
    ----------
    inputs, targets : array_like or torch.Tensor
        ``N x d_in`` and ``N x d_out``; converted to float32.
    batch_size : int
        Examples per batch, ``1 <= batch_size <= N``.
    seed : int
        Seed of the shuffling.
    device : torch.device or str
        Where the data and the batches live.
    rank, world_size : int
        Data parallelism (:mod:`msann.core.distributed`): every rank draws the
        same global minibatches and is served its contiguous slice of
        ``batch_size / world_size`` examples (``batch_size`` must be divisible
        by ``world_size``).  The state is the global position, so a stream
        resumes on any number of ranks.  Default: one rank, the whole batch.

    Examples
    --------
    >>> from msann.data import one_object
    >>> data = one_object(length=16, n_train=10, n_val=2)
    >>> stream = MinibatchStream(data.train_inputs, data.train_targets, batch_size=4, seed=0)
    >>> x, y = next(stream)
    >>> tuple(x.shape), stream.epoch, stream.position
    ((4, 16), 0, 4)
    """

    def __init__(
        self,
        inputs: Any,
        targets: Any,
        *,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.device = torch.device(device)
        self._inputs = _device_tensor("inputs", inputs, self.device)
        self._targets = self._inputs if targets is inputs else _device_tensor("targets", targets, self.device)
        count = self._inputs.shape[0]
        if self._targets.shape[0] != count or count == 0:
            raise ValueError(
                f"inputs and targets must have the same number N >= 1 of rows; "
                f"got {count} and {self._targets.shape[0]}"
            )
        self.batch_size = check_positive_int("batch_size", batch_size)
        if self.batch_size > count:
            raise ValueError(f"batch_size must be <= N = {count} examples; got batch_size = {batch_size}")
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.world_size = check_positive_int("world_size", world_size)
        if self.batch_size % self.world_size:
            raise ValueError(f"batch_size must be divisible by the number of ranks (every rank takes an equal slice of "
                             f"each global minibatch); got batch_size = {batch_size} with world_size = {world_size}")
        if not 0 <= rank < self.world_size:
            raise ValueError(f"rank must lie in [0, world_size = {world_size}); got rank = {rank}")
        self.rank = rank
        self.n_examples = int(count)
        self._rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self.position = 0
        self._derived: dict = {}
        self._draw_permutation()

    def _draw_permutation(self) -> None:
        self._epoch_generator_state = self._rng.bit_generator.state
        order = self._rng.permutation(self.n_examples)
        self._permutation = torch.from_numpy(order).to(self.device)

    def __iter__(self) -> MinibatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.next_index()
        inputs = self._inputs.index_select(0, index)
        targets = inputs if self._targets is self._inputs else self._targets.index_select(0, index)
        return inputs, targets

    def next_index(self) -> torch.Tensor:
        """The example indices of the next minibatch (this rank's slice); the stream advances exactly as ``next(stream)`` does."""
        index = self._next_global_index()
        if self.world_size == 1:
            return index
        share = self.batch_size // self.world_size
        return index[self.rank * share : (self.rank + 1) * share]

    def _next_global_index(self) -> torch.Tensor:
        pieces = []
        needed = self.batch_size
        while needed:
            take = min(needed, self.n_examples - self.position)
            pieces.append(self._permutation[self.position : self.position + take])
            self.position += take
            needed -= take
            if self.position == self.n_examples:
                self.epoch += 1
                self.position = 0
                self._draw_permutation()
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def derived(self, key: Hashable, transform: Callable[[torch.Tensor], torch.Tensor],
                target_transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(transform(inputs), target_transform(targets))`` of the whole data set, computed once and kept under ``key``.

        ``target_transform`` None: ``transform``.  A coarse-data level restricts
        the data once (:mod:`msann.coarsening.data`) and gathers its minibatches
        with :meth:`next_index`, instead of restricting every fine minibatch.
        Not part of the state: recomputed after a resume.
        """
        if key not in self._derived:
            inputs = transform(self._inputs)
            same = self._targets is self._inputs and target_transform is None
            self._derived[key] = (inputs, inputs if same else (target_transform or transform)(self._targets))
        return self._derived[key]

    @property
    def examples_seen(self) -> int:
        """Number of examples served so far (``epoch * N + position``)."""
        return self.epoch * self.n_examples + self.position

    def state_dict(self) -> dict[str, Any]:
        """Return the stream's position as plain data (JSON-serialisable).

        ``generator_state`` is the numpy bit-generator state *before* the
        current epoch's permutation was drawn, so that the permutation can be
        redrawn on :meth:`load_state_dict`.
        """
        return {
            "epoch": self.epoch,
            "position": self.position,
            "n_examples": self.n_examples,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "generator_state": _plain(self._epoch_generator_state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict` of a stream on the same data).

        Raises
        ------
        ValueError
            If ``state`` lacks a key, or was saved for another number of
            examples or batch size.
        """
        keys = ("epoch", "position", "n_examples", "batch_size", "generator_state")
        absent = [key for key in keys if key not in state]
        if absent:
            raise ValueError(f"stream state lacks {', '.join(absent)}; a state holds: {', '.join(keys)}")
        for key, mine in (("n_examples", self.n_examples), ("batch_size", self.batch_size)):
            if int(state[key]) != mine:
                raise ValueError(
                    f"stream state was saved with {key} = {state[key]}; this stream has {key} = {mine}"
                )
        position = int(state["position"])
        if not 0 <= position < self.n_examples:
            raise ValueError(
                f"stream state position must lie in [0, {self.n_examples}); got position = {position}"
            )
        self._rng.bit_generator.state = _plain(state["generator_state"])
        self._draw_permutation()
        self.epoch = int(state["epoch"])
        self.position = position

    def __repr__(self) -> str:
        shard = f", rank={self.rank}, world_size={self.world_size}" if self.world_size > 1 else ""
        return (
            f"MinibatchStream(n_examples={self.n_examples}, batch_size={self.batch_size}, "
            f"epoch={self.epoch}, position={self.position}, device={self.device}{shard})"
        )


def _plain(value: Any) -> Any:
    """A deep copy of nested dicts/lists with numpy scalars turned into Python numbers."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
