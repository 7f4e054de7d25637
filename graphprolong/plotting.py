"""Figures of prolongation maps (matplotlib, imported lazily, file output only)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_heatmaps"]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path
