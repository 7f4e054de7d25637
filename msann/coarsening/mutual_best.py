"""Mutual-best matching of a layer's units, and the registry of matchings (SPEC §4).

:func:`mutual_best_matching` pairs two units only if each is the other's most
similar unit (cosine similarity ``S_ij`` of their incoming weight rows) and
``S_ij > theta`` (strictly); a round pairs every such couple at once, and the
next round repeats the test among the units still unpaired, until a round
pairs nobody (or ``rounds`` rounds).  Units left over stay singletons.

This is the matching of LLNL/MTNN (``HEMMatcher.get_heavyedgematching`` in
``MTNN/components/similarity_matcher.py``): each unit points at its best
partner, mutual pointers with similarity ``> 0`` (hard-coded there) are
paired, then the columns of paired units are set to ``-1`` and the loners
retry, up to ``num_retries = 100`` rounds or until a round adds no pair.
Two differences, on purpose: MTNN's similarity reads the rows ``[w_i, b_i]``
(bias appended; here the incoming weights, as seed 000 and the greedy
matching), and its ties follow ``torch.argsort`` (unspecified; here the
smallest index).  With distinct similarities, repeating mutual-best rounds
to the end pairs the same units as the greedy matching that takes the
edges by decreasing weight (a "locally dominant" matching).

:data:`MATCHINGS` holds the matchings by name, one signature
``matching(weights, *, threshold, order, rng) -> Matching``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from graphprolong.checks import check_choice, check_positive_int

from .matching import VISIT_ORDERS, Matching, check_threshold, cosine_similarity, heavy_edge_matching

__all__ = ["MATCHINGS", "mutual_best_matching"]


def _one_round(similarity: np.ndarray, free: np.ndarray, threshold: float) -> np.ndarray:
    """The best free partner of every unit, where the two are mutual best and above ``threshold``; else -1."""
    n = similarity.shape[0]
    candidates = np.where(free[:, None] & free[None, :], similarity, -np.inf)
    np.fill_diagonal(candidates, -np.inf)
    best = np.argmax(candidates, axis=1)  # the smallest index on ties
    units = np.arange(n)
    paired = free & (best[best] == units) & (candidates[units, best] > threshold)
    return np.where(paired, best, -1)


def mutual_best_matching(
    weights: torch.Tensor | np.ndarray,
    *,
    threshold: float,
    rounds: int | None = None,
    order: str = "heaviest",
    rng: np.random.Generator | int | None = None,
) -> Matching:
    """Pair units that are each other's most similar unit, with similarity ``> threshold`` (module docstring).

    Parameters
    ----------
    weights : torch.Tensor or numpy.ndarray
        ``(n_units, fan_in)`` (an ``nn.Linear`` weight) or
        ``(out_channels, in_channels, kh, kw)`` (an ``nn.Conv2d`` weight).
    threshold : float
        ``theta`` in ``[-1, 1]``; only pairs with ``S_ij > theta`` are matched
        (so ``theta = 1`` pairs nobody).
    rounds : int or None
        At most this many rounds (``>= 1``); None: until a round pairs nobody.
        With ``rounds = 1`` every pair is mutual best among all units.
    order, rng : optional
        Accepted for the signature of :data:`MATCHINGS` and ignored: the
        result does not depend on a visit order.

    Returns
    -------
    Matching

    Examples
    --------
    >>> import torch
    >>> W = torch.tensor([[1.0, 0.0], [0.95, 0.31], [0.7, 0.71], [0.0, 1.0]])  # at 0, 18, 45 and 90 degrees
    >>> mutual_best_matching(W, threshold=0.0, rounds=1).aggregates
    ((0, 1), (2,), (3,))
    >>> mutual_best_matching(W, threshold=0.0).aggregates
    ((0, 1), (2, 3))
    """
    theta = check_threshold(threshold)
    limit = None if rounds is None else check_positive_int("rounds", rounds)
    check_choice("order", order, VISIT_ORDERS)
    similarity = cosine_similarity(weights).numpy()
    n = similarity.shape[0]
    mate, free = np.arange(n), np.ones(n, dtype=bool)
    done = 0
    while limit is None or done < limit:
        partner = _one_round(similarity, free, theta)
        paired = partner >= 0
        if not paired.any():
            break
        mate[paired], free[paired] = partner[paired], False
        done += 1
    return Matching.from_mate(mate)


#: Matchings by name, ``matching(weights, *, threshold, order, rng) -> Matching``: ``"greedy"`` (heavy-edge,
#: seed 000 Algorithm 1, :func:`~msann.coarsening.matching.heavy_edge_matching`; ``S_ij >= theta``, visited in
#: ``order``) and ``"mutual-best"`` (LLNL/MTNN, :func:`mutual_best_matching`; ``S_ij > theta``, no order).
MATCHINGS: dict[str, Callable[..., Matching]] = {
    "greedy": heavy_edge_matching,
    "mutual-best": mutual_best_matching,
}
