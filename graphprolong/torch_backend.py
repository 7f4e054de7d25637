"""The ``"torch"`` backend of :func:`graphprolong.solve`: the objective on a torch device.

:class:`TorchObjective` evaluates the objective's terms -- the same
:class:`~graphprolong.problem.ObjectiveTerm` definition the numpy backends use
-- on tensors: the problem's matrices go to the device as dense tensors,
sparse tensors (scipy sparse Laplacians of large general graphs) or, for grids
given as :class:`~graphprolong.operators.StructuredMatrices`, as Kronecker
operators whose products never form an ``n x n`` matrix.  The optimisers live
in :mod:`graphprolong.torch_optimizers`; :func:`run_torch` is the backend's
entry in :data:`graphprolong.solver.BACKENDS`.

torch is optional (the ``torch`` extra) and imported inside the functions only:
``import graphprolong`` never imports it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .checks import check_choice
from .operators import StructuredOperator
from .optional import require_torch
from .problem import ProlongationProblem
from .run_options import RunOptions
from .torch_optimizers import minimize, orthonormalise

__all__ = ["DEVICES", "DTYPES", "TorchObjective", "resolve_device", "run_torch", "to_numpy"]

logger = logging.getLogger(__name__)

#: Floating-point types of the torch backend, by name.
DTYPES = ("float32", "float64")

#: Device names: ``"auto"`` is CUDA when available, else the CPU.
DEVICES = ("auto", "cpu", "cuda")

#: Sparse matrices up to this size go to the device dense (a dense product is faster there).
DENSE_LIMIT = 2048


def resolve_device(device: str = "auto"):
    """Return the ``torch.device`` for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    ``"auto"`` is CUDA when torch sees a GPU, else the CPU.  ``ValueError``
    for any other name, and when CUDA is asked for but not available.
    """
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"unknown device {device!r}; valid devices are: {', '.join(DEVICES)} (or cuda:N)")
    torch = require_torch()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested, but torch {torch.__version__} sees no CUDA device "
            f"(torch.cuda.is_available() is False); use 'cpu' or 'auto'"
        )
    return torch.device(device)


def _resolve_dtype(dtype: str):
    check_choice("dtype", dtype, DTYPES)
    return getattr(require_torch(), dtype)

class _SparseOnDevice:
    """A symmetric sparse tensor that supports ``M @ X`` and ``X @ M`` (as ``(M @ X^T)^T``)."""

    def __init__(self, matrix) -> None:
        self.matrix = matrix

    def __matmul__(self, X):
        return self.matrix @ X

    def __rmatmul__(self, X):
        return (self.matrix @ X.T.contiguous()).T


def _device_matrix(matrix, device, dtype):
    """``matrix`` (dense, scipy sparse or structured) on the device, in a form that supports ``@`` on both sides."""
    torch = require_torch()

    def tensor(array):
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=device)

    if isinstance(matrix, StructuredOperator):
        return matrix.map_factors(tensor)
    if sp.issparse(matrix) and matrix.shape[0] > DENSE_LIMIT:
        coo = sp.coo_array(matrix)
        indices = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64), device=device)
        return _SparseOnDevice(torch.sparse_coo_tensor(indices, tensor(coo.data), size=coo.shape, check_invariants=True).coalesce())
    return tensor(matrix.toarray() if sp.issparse(matrix) else matrix)


@dataclass
class _Evaluation:
    """``E`` at one point, with what its gradient and Hessian need."""

    P: object
    value: float
    residuals: list  # per active term: R = P X1 / sqrt(c) - sqrt(c) X2 P
    scales: list  # per active term: c
    values: list  # per active term: ||R||^2 (unweighted)


class TorchObjective:
    """``E(P)`` of a :class:`~graphprolong.problem.ProlongationProblem` on a torch device.

    Parameters
    ----------
    problem : ProlongationProblem
        Its graphs' matrices may be :class:`~graphprolong.operators.StructuredMatrices`.
    device : {"auto", "cpu", "cuda"}
    dtype : {"float64", "float32"}
    """

    def __init__(self, problem: ProlongationProblem, *, device: str = "auto", dtype: str = "float64") -> None:
        if not isinstance(problem, ProlongationProblem):
            raise TypeError(f"problem must be a ProlongationProblem; got {type(problem).__name__}")
        self.problem = problem
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype)
        convert = lambda matrix: _device_matrix(matrix, self.device, self.dtype)  # noqa: E731
        self.terms = list(problem.active_terms(convert))

    def tensor(self, array):
        """Return ``array`` as a tensor of this objective's device and dtype."""
        return require_torch().as_tensor(array, dtype=self.dtype, device=self.device)

    def evaluate(self, P) -> _Evaluation:
        """Return ``E(P)`` and its residuals (scale factors eliminated where not fixed)."""
        residuals, scales, values = [], [], []
        for _, _, term in self.terms:
            R, c = term.residual(P)
            residuals.append(R)
            scales.append(c)
            values.append(float((R * R).sum()))
        value = sum(weight * v for (_, weight, _), v in zip(self.terms, values))
        return _Evaluation(P, float(value), residuals, scales, values)

    def gradient(self, evaluation: _Evaluation):
        """Return the Euclidean gradient ``Σ w 2 (R X1 / sqrt(c) - sqrt(c) X2 R)`` at an evaluated point."""
        parts = [term.adjoint(R, c, 2.0 * weight) for (_, weight, term), R, c in zip(self.terms, evaluation.residuals, evaluation.scales)]
        return sum(parts[1:], parts[0])

    def hessian(self, evaluation: _Evaluation):
        """Return ``V ->`` the Euclidean Hessian of ``E`` at the evaluated point applied to ``V`` (:meth:`ObjectiveTerm.hessian`)."""
        parts = [(weight, term.hessian(evaluation.P, c)) for (_, weight, term), c in zip(self.terms, evaluation.scales)]

        def apply(V):
            results = [weight * part(V) for weight, part in parts]
            return sum(results[1:], results[0])

        return apply

    def curvature(self, evaluation: _Evaluation, D) -> float:
        """Return ``Σ w ||D X1 / sqrt(c) - sqrt(c) X2 D||^2`` with the scales of ``evaluation`` frozen.

        Along the line ``P + t D`` the fixed-scale objective is exactly
        ``E + t <G, D> + t^2 * curvature``.
        """
        total = 0.0
        for (_, weight, term), c in zip(self.terms, evaluation.scales):
            image = term.image(D, c)
            total += weight * float((image * image).sum())
        return total


def to_numpy(P) -> np.ndarray:
    """Return the iterate ``P`` (any dtype and device) as a float64 numpy array, re-orthonormalised in float64."""
    return orthonormalise(P.to(require_torch().float64)).cpu().numpy()


def run_torch(problem: ProlongationProblem, start: np.ndarray, options: RunOptions) -> tuple[np.ndarray, int, str, dict]:
    """One run of :mod:`graphprolong.torch_optimizers` from ``start`` on ``device``: ``(P, iterations, reason, log)``.

    The signature of every entry of :data:`graphprolong.solver.BACKENDS`; ``P``
    is returned as float64 numpy, re-orthonormalised in float64.
    """
    objective = TorchObjective(problem, device=options.device, dtype=options.dtype)
    P, iterations, reason, log = minimize(
        objective, objective.tensor(start), method=options.optimizer, max_iterations=options.max_iterations,
        min_gradient_norm=options.min_gradient_norm, max_time=options.max_time, **options.optimizer_options,
    )
    return to_numpy(P), iterations, reason, log
