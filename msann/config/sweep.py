"""Sweeps: the runs of ``msann sweep`` (gamma x levels x k on a recipe's first run)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from graphprolong.checks import check_positive_int

from .run import ExperimentConfig, RunConfig

__all__ = ["expand_sweep", "parse_int_list"]


def parse_int_list(text: str, *, name: str = "list", minimum: int = 0) -> list[int]:
    """Parse ``"1,2,4"``, ``"0..6"`` (inclusive) or ``"1,2,4..8"``; duplicates dropped, order kept.

    Parameters
    ----------
    text : str
        Comma-separated integers or inclusive ranges ``a..b``.
    name : str
        The option named in errors, e.g. ``"--levels"``.
    minimum : int
        Smallest allowed value.

    Examples
    --------
    >>> parse_int_list("0..3,8")
    [0, 1, 2, 3, 8]
    """
    items = [item.strip() for item in str(text).split(",")]
    values: list[int] = []
    for item in items:
        match = re.fullmatch(r"(-?\d+)(?:\s*\.\.\s*(-?\d+))?", item)
        if match is None:
            raise ValueError(
                f"{name} must be a comma-separated list of integers or ranges a..b; got {text!r} "
                f"(bad item {item!r})"
            )
        start = int(match.group(1))
        stop = start if match.group(2) is None else int(match.group(2))
        if stop < start:
            raise ValueError(f"{name}: range {item!r} is empty (a..b needs a <= b); got {text!r}")
        if start < minimum:
            raise ValueError(f"{name} values must be >= {minimum}; got {start} in {text!r}")
        values.extend(range(start, stop + 1))
    return list(dict.fromkeys(values))


def expand_sweep(config: ExperimentConfig, *, gamma: Sequence[int], levels: Sequence[int],
                 k: Sequence[int]) -> list[RunConfig]:
    """The runs of a sweep: every (levels, gamma, k) on the recipe's first run.

    The plain-training run (``levels = 0``) comes first, once, labelled
    ``"default"`` (its ``gamma`` and ``k`` are the base run's, and
    irrelevant); it is included whether or not ``levels`` lists 0.  The
    others are labelled ``"L=4 gamma=3 k=4"``, in the order of ``levels``,
    then ``gamma``, then ``k`` (duplicates dropped).

    Raises
    ------
    ValueError
        For an empty list or a value out of range (levels >= 0, gamma, k >= 1).
    ConfigError
        If a combination is not a valid run.
    """
    lists = {"levels": (levels, 0), "gamma": (gamma, 1), "k": (k, 1)}
    unique: dict[str, list[int]] = {}
    for option, (values, minimum) in lists.items():
        values = list(values)
        if not values:
            raise ValueError(f"sweep {option} must list at least one value; got {values!r}")
        unique[option] = list(dict.fromkeys(check_positive_int(option, value, minimum=minimum) for value in values))
    base = config.runs[0]
    runs = [base.replace(**{"label": "default", "hierarchy.levels": 0})]
    for level in unique["levels"]:
        if level == 0:
            continue
        for cycle_index in unique["gamma"]:
            for batches in unique["k"]:
                runs.append(base.replace(**{
                    "label": f"L={level} gamma={cycle_index} k={batches}",
                    "hierarchy.levels": level,
                    "hierarchy.gamma": cycle_index,
                    "hierarchy.k": batches,
                }))
    return runs
