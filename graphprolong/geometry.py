"""Geometry of the Stiefel manifold ``St(n, k) = {P : P^T P = I}`` (embedded metric), for every backend.

The functions use nothing but ``@``, ``.T``, ``*``, ``sum`` and a QR
factorisation, so they take numpy arrays and torch tensors alike (torch is
never imported here: a tensor brings its own ``linalg``).

* :func:`sym`, :func:`stiefel_project`: the tangent projection
  ``V - P sym(P^T V)``, which also gives the Riemannian gradient and serves as
  vector transport;
* :func:`qr_orthonormal`: the Q factor of a thin QR with the signs fixed so that
  ``diag(R) >= 0`` (unique for full column rank) -- the QR retraction
  ``qf(P + V)``, a random orthonormal start, and re-orthonormalisation;
* :func:`inner`: the Frobenius inner product as a Python float.
"""

from __future__ import annotations

import numpy as np

__all__ = ["inner", "qr_orthonormal", "stiefel_project", "sym"]


def sym(matrix):
    """``(M + M^T) / 2``."""
    return 0.5 * (matrix + matrix.T)


def stiefel_project(P, V):
    """Project ``V`` onto the tangent space of the Stiefel manifold at ``P``: ``V - P sym(P^T V)``."""
    return V - P @ sym(P.T @ V)


def inner(X, Y) -> float:
    """The Frobenius inner product ``<X, Y> = sum X * Y`` as a float (numpy: ``numpy.vdot``)."""
    if isinstance(X, np.ndarray):
        return float(np.vdot(X, Y))
    return float((X * Y).sum())


def qr_orthonormal(Y):
    """The Q factor of the thin QR of ``Y`` (``n x k``, ``n >= k``) with ``diag(R) >= 0``.

    For ``Y = P + V`` this is the QR retraction; for a Gaussian ``Y`` a
    Haar-distributed orthonormal matrix.  numpy arrays use ``numpy.linalg.qr``,
    torch tensors ``torch.linalg.qr``.

    Examples
    --------
    >>> Y = np.array([[-2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])  # orthogonal columns: Q is Y, normalised
    >>> bool(np.allclose(qr_orthonormal(Y), Y / np.linalg.norm(Y, axis=0)))
    True
    """
    if isinstance(Y, np.ndarray):
        Q, R = np.linalg.qr(Y)
        return Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    import torch  # only reached with a tensor, so torch is installed

    Q, R = torch.linalg.qr(Y)
    return Q * torch.where(torch.diagonal(R) < 0, -1.0, 1.0).to(Q.dtype)
