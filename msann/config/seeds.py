"""Repeating every run over seeds: ``--seeds`` and the recipe key ``seeds = [...]``.

A run repeated over seeds ``s`` becomes one run per seed, labelled
``"<label> seed=<s>"``, with ``[train] seed = s`` (the data, the initial
weights and the minibatch order are all drawn from it).  The runs are
ordered seed by seed (every run of the first seed, then the next), so that a
run's baseline, the recipe's first run of the same seed, has trained before
it.  The report condenses them back by label (:mod:`msann.report.seeds`).

Examples
--------
>>> parse_seeds("3")
(0, 1, 2)
>>> parse_seeds("4,7..9")
(4, 7, 8, 9)
>>> seed_label("default", 2)
'default seed=2'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .run import RunConfig
from .sweep import parse_int_list

__all__ = ["check_seeds", "expand_seeds", "parse_seeds", "seed_label"]


def seed_label(label: str, seed: int) -> str:
    """The label of ``label``'s run with ``seed``."""
    return f"{label} seed={seed}"


def check_seeds(value: Any, *, what: str = "seeds") -> tuple[int, ...]:
    """A non-empty list of distinct integers >= 0, as a tuple; a ValueError naming ``what`` and the value otherwise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of integers >= 0 (e.g. [0, 1, 2]); got {type(value).__name__} {value!r}")
    seeds = list(value)
    if not seeds:
        raise ValueError(f"{what} must list at least one seed; got []")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{what} must be integers >= 0; got {seed!r} in {seeds!r}")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(f"{what} must be distinct (each seed is one run); {repeated[0]} appears twice in {seeds!r}")
    return tuple(seeds)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds``: a count ``N`` (seeds 0 .. N-1), or a list with a comma or a range (``"3,5"``, ``"0..4"``).

    A single given seed is ``--seed S`` (or ``--seeds S,``).
    """
    text = str(text).strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise ValueError(f"--seeds N must be >= 1 (N seeds: 0 .. N-1); got {text!r}")
        return tuple(range(count))
    return check_seeds(parse_int_list(text.rstrip(","), name="--seeds", minimum=0), what="--seeds")


def expand_seeds(runs: Sequence[RunConfig], seeds: Sequence[int]) -> list[RunConfig]:
    """Every run once per seed (:func:`seed_label`, ``[train] seed``), seed by seed in the runs' order."""
    seeds = check_seeds(seeds)
    return [run.replace(**{"label": seed_label(run.label, seed), "train.seed": seed}) for seed in seeds for run in runs]
