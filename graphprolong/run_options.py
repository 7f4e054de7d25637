"""The options of one optimiser run, shared by every backend of :data:`graphprolong.solver.BACKENDS`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """What one run of a backend needs besides the problem and the start (validated by :func:`graphprolong.solve`).

    Attributes
    ----------
    backend : {"analytic", "autograd", "torch"}
    optimizer : {"trust-regions", "conjugate-gradient", "steepest-descent"}
    max_iterations : int
    min_gradient_norm : float
        Stop when the Riemannian gradient norm is at most this.
    max_time : float
        Seconds.
    optimizer_options : dict
        Further options of the optimiser.
    device, dtype : str
        The torch backend's device and working precision (ignored by the others).
    """

    backend: str
    optimizer: str
    max_iterations: int
    min_gradient_norm: float
    max_time: float
    optimizer_options: dict = field(default_factory=dict)
    device: str = "auto"
    dtype: str = "float64"
