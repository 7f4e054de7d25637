"""Synthetic 1-object and 2-object denoising vectors (seed 002, section 4.2).

Zeros with one (or two) contiguous runs of ones; binary noise
(:data:`NOISE_KINDS`) on the inputs only, the clean vectors as targets.
"""

from __future__ import annotations

import inspect

from collections.abc import Callable

from typing import Any

import numpy as np

from graphprolong.checks import check_choice, check_positive_int, check_unit_interval

from .dataset import Dataset

__all__ = ["NOISE_KINDS", "one_object", "two_object"]


def _fire(clean: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return clean | mask


def _flip(clean: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return clean ^ mask


#: Binary noise models ``(clean, mask) -> noisy`` on boolean arrays; ``mask``
#: is true with probability ``noise`` independently per entry.
#: ``"fire"``: the pixel is set to 1 (seed 002: "each pixel of the input has an
#: independent chance of firing spuriously"); ``"flip"``: the pixel is toggled.
NOISE_KINDS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "fire": _fire,
    "flip": _flip,
}


def _one_run_starts(rng: np.random.Generator, count: int, length: int, run_length: int) -> np.ndarray:
    """Start of one run, uniform over the ``length - run_length + 1`` placements."""
    return rng.integers(0, length - run_length + 1, size=(count, 1))


def _two_run_starts(rng: np.random.Generator, count: int, length: int, run_length: int) -> np.ndarray:
    """Starts of two runs separated by >= 1 zero, uniform over all such placements.

    The ``free = length - 2 run_length - 1`` zeros that are not the mandatory
    gap are split into (before, between, after) by two distinct "bars" ``a < b``
    among ``free + 2`` slots (stars and bars); every split is equally likely.
    """
    slots = length - 2 * run_length + 1
    first = rng.integers(0, slots, size=count)
    second = rng.integers(0, slots - 1, size=count)
    second = second + (second >= first)
    low, high = np.minimum(first, second), np.maximum(first, second)
    return np.stack([low, high + run_length], axis=1)


def _runs_to_vectors(starts: np.ndarray, length: int, run_length: int) -> np.ndarray:
    positions = np.arange(length)
    clean = np.zeros((starts.shape[0], length), dtype=bool)
    for column in range(starts.shape[1]):
        start = starts[:, column : column + 1]
        clean |= (positions >= start) & (positions < start + run_length)
    return clean


def _object_split(
    seed_sequence: np.random.SeedSequence,
    count: int,
    *,
    length: int,
    run_length: int,
    objects: int,
    noise: float,
    noise_kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed_sequence)
    place = _one_run_starts if objects == 1 else _two_run_starts
    clean = _runs_to_vectors(place(rng, count, length, run_length), length, run_length)
    mask = rng.random((count, length), dtype=np.float32) < noise
    noisy = NOISE_KINDS[noise_kind](clean, mask)
    return noisy.astype(np.float32), clean.astype(np.float32)


def _object_dataset(
    *,
    objects: int,
    length: int,
    run_length: int | None,
    noise: float,
    noise_kind: str,
    n_train: int,
    n_val: int,
    seed: int,
) -> Dataset:
    name = "one_object" if objects == 1 else "two_object"
    length = check_positive_int("length", length)
    run_length = length // 8 if run_length is None else check_positive_int("run_length", run_length)
    needed = objects * run_length + (objects - 1)
    if run_length < 1 or needed > length:
        rule = "1 <= run_length <= length" if objects == 1 else "2 * run_length + 1 <= length (two runs and a gap)"
        raise ValueError(f"{name} needs {rule}; got length = {length}, run_length = {run_length}")
    noise = check_unit_interval("noise", noise)
    noise_kind = check_choice("noise_kind", noise_kind, NOISE_KINDS)
    n_train = check_positive_int("n_train", n_train)
    n_val = check_positive_int("n_val", n_val)
    seed = check_positive_int("seed", seed, minimum=0)
    train_seed, val_seed = np.random.SeedSequence(seed).spawn(2)
    options = dict(length=length, run_length=run_length, objects=objects, noise=noise, noise_kind=noise_kind)
    train_inputs, train_targets = _object_split(train_seed, n_train, **options)
    val_inputs, val_targets = _object_split(val_seed, n_val, **options)
    metadata = {
        "name": name,
        "length": length,
        "run_length": run_length,
        "objects": objects,
        "min_gap": 1 if objects == 2 else None,
        "noise": noise,
        "noise_kind": noise_kind,
        "noise_on": "inputs",
        "n_train": n_train,
        "n_val": n_val,
        "seed": seed,
    }
    return Dataset(name, train_inputs, train_targets, val_inputs, val_targets, (length,), metadata)


def one_object(
    *,
    length: int = 1024,
    run_length: int | None = None,
    noise: float = 0.05,
    noise_kind: str = "fire",
    n_train: int = 10000,
    n_val: int = 1000,
    seed: int = 0,
) -> Dataset:
    """Denoising vectors with one object (seed 002, section 4.2.1).

    A clean vector is zeros with one contiguous run of ``run_length`` ones,
    at a position drawn uniformly among the ``length - run_length + 1``
    placements that lie entirely inside the vector.  The input is the clean
    vector with binary noise; the target is the clean vector.

    Binary noise ``p``: seed 002 says "each pixel of the input has an
    independent chance of firing spuriously with p = 0.05", which this module
    reads as ``noise_kind="fire"``: every entry is independently *set to 1*
    with probability ``p`` (ones stay ones; zeros become one with probability
    ``p``).  ``noise_kind="flip"`` toggles every entry (0 <-> 1) with
    probability ``p`` instead.  The noise is drawn once per example, so the
    data set is fixed and reproducible from ``seed``.

    Parameters
    ----------
    length : int
        Number of entries ``d`` (the paper uses ``2**10``).
    run_length : int or None
        Length of the run of ones; default ``length // 8``.
    noise : float
        Noise probability ``p`` in [0, 1].
    noise_kind : {"fire", "flip"}
        Noise model, see above and :data:`NOISE_KINDS`.
    n_train, n_val : int
        Numbers of training and validation examples.
    seed : int
        Seed (>= 0).  Training and validation sets come from independent
        streams spawned from it, so the validation set does not depend on
        ``n_train``.

    Returns
    -------
    Dataset
        ``unit_shape == (length,)``.

    Examples
    --------
    >>> data = one_object(length=64, n_train=100, n_val=10, seed=1)
    >>> data.train_inputs.shape, int(data.train_targets[0].sum())
    ((100, 64), 8)
    """
    return _object_dataset(
        objects=1,
        length=length,
        run_length=run_length,
        noise=noise,
        noise_kind=noise_kind,
        n_train=n_train,
        n_val=n_val,
        seed=seed,
    )


def two_object(**options: Any) -> Dataset:
    """Denoising vectors with two non-overlapping objects (seed 002, section 4.2.2).

    As :func:`one_object`, but each clean vector holds two runs of
    ``run_length`` ones that neither overlap nor touch: at least one zero lies
    between them, so the target always shows two separate objects (two
    touching runs would be indistinguishable from one run of twice the
    length).  The placement is uniform over all such pairs; this needs
    ``2 * run_length + 1 <= length``.  See :func:`one_object` for the noise
    and the parameters.

    Examples
    --------
    >>> data = two_object(length=64, n_train=5, n_val=2)
    >>> int(data.train_targets[0].sum())
    16
    """
    bound = inspect.signature(one_object).bind(**options)  # the same options and defaults as one_object
    bound.apply_defaults()
    return _object_dataset(objects=2, **bound.arguments)


two_object.__signature__ = inspect.signature(one_object, eval_str=True)  # what load_dataset and the recipes read
