"""Figures of prolongation maps (matplotlib, imported lazily, file output only)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_heatmaps", "plot_s_sweep", "plot_spectra_matching", "s_sweep"]


def plot_heatmaps(
    panels: Sequence[tuple[str, np.ndarray]],
    path: str | os.PathLike,
    *,
    columns: int = 2,
    title: str | None = None,
) -> Path:
    """Save ``|P|`` heatmaps, one panel per ``(label, P)``, to a PNG file.

    Rows of ``P`` (large-graph vertices) run down, columns (small-graph
    vertices) across, in the canonical node order; each panel has its own
    colour bar from 0 to ``max |P|``.
    """
    plt = _pyplot()
    if not panels:
        raise ValueError("plot_heatmaps needs at least one (label, P) panel; got none")
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.6 * rows), squeeze=False)
    for axis, (label, P) in zip(axes.flat, panels):
        magnitude = np.abs(np.asarray(P))
        image = axis.imshow(magnitude, cmap="viridis", interpolation="nearest", aspect="auto", vmin=0.0)
        axis.set_title(label, fontsize=10)
        axis.set_xlabel(f"small-graph vertex ({magnitude.shape[1]})")
        axis.set_ylabel(f"large-graph vertex ({magnitude.shape[0]})")
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="|P|")
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    _pyplot().close(figure)
    return path


def s_sweep(
    G_small,
    G_large,
    *,
    s_values: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    alpha: float | None = None,
    beta: float | None = None,
    warm_start: bool = False,
    max_iterations: int = 200,
) -> list:
    """Solve ``G_small -> G_large`` for each weight in ``s_values``.

    Each run starts from the eigenvalue matching, or with ``warm_start`` from
    the previous run's map (which follows one family of optima and, from the
    diffuse s = 0 optimum, tends to stay diffuse).  Returns
    ``[(s, SolveResult), ...]``.  The seed's pictures correspond to fixed
    ``alpha = 1, beta = n1/n2``.
    """
    from .problem import ProlongationProblem
    from .solver import solve

    results, init = [], "matching"
    for s in s_values:
        result = solve(ProlongationProblem(G_small, G_large, s=s, alpha=alpha, beta=beta), init=init, max_iterations=max_iterations)
        results.append((float(s), result))
        if warm_start:
            init = result.P
    return results


def plot_s_sweep(results, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Save one ``|P|`` heatmap per ``(s, SolveResult)`` of :func:`s_sweep`, in a row."""
    panels = [(f"s = {s:g}\nE = {result.objective:.3g}", result.P) for s, result in results]
    return plot_heatmaps(panels, path, columns=min(len(panels), 5), title=title or "From fully diffuse (s = 0) to fully local (s = 1)")


def _stacked(values: np.ndarray, base: float, step: float, *, tolerance: float = 1e-9) -> np.ndarray:
    heights = np.full(values.size, base)
    for k in range(1, values.size):
        if abs(values[k] - values[k - 1]) <= tolerance * max(1.0, abs(values[k])):
            heights[k] = heights[k - 1] + step
    return heights


def plot_spectra_matching(G_small, G_large, path: str | os.PathLike, *, matcher: str = "scipy") -> Path:
    """Draw both Laplacian spectra and the minimal eigenvalue matching between them (seed eq. 3.2)."""
    from .matching import eigenvalue_matching
    from .matrices import graph_matrices

    small, large = graph_matrices(G_small), graph_matrices(G_large)
    matching = eigenvalue_matching(small.eigenvalues, large.eigenvalues, method=matcher)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 3.2))
    # Repeated eigenvalues (cycles have pairs) are stacked so that multiplicities show.
    heights_large = _stacked(large.eigenvalues, 0.0, -0.07)
    heights_small = _stacked(small.eigenvalues, 1.0, 0.07)
    axis.scatter(large.eigenvalues, heights_large, s=14, color="tab:blue", zorder=3)
    axis.scatter(small.eigenvalues, heights_small, s=14, color="tab:orange", zorder=3)
    for j, i in enumerate(matching.rows):
        axis.plot([small.eigenvalues[j], large.eigenvalues[i]], [heights_small[j], heights_large[i]], color="0.55", linewidth=0.7, zorder=1)
    axis.set_yticks([0, 1], [f"λ(L2), {large.name}", f"λ(L1), {small.name}"])
    axis.set_xlabel("Laplacian eigenvalue (L = A − D)")
    axis.set_ylim(-0.5, 1.5)
    axis.set_title(f"Minimal eigenvalue matching, cost {matching.cost:.3g} ({matcher})")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)
