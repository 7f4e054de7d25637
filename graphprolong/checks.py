"""Input validation at the public boundary.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of
object) whose message states the rule and the value received, so that a user
can fix the call without reading the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: Tolerance on ``||P^T P - I||_F`` for a matrix handed to us as orthonormal.
ORTHONORMAL_TOLERANCE = 1e-8


def check_choice(name: str, value: Any, valid: Iterable[str] | Mapping[str, Any]) -> str:
    """Return ``value`` if it is one of ``valid``, else raise listing the valid names."""
    names = sorted(valid)
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"unknown {name} {value!r}; valid {name}s are: {', '.join(names)}")
    return value


def check_unit_interval(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1]."""
    number = check_real(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1]; got {name} = {value!r}")
    return number


def check_real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite; got {name} = {value!r}")
    return number


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a finite float > 0."""
    number = check_real(name, value)
    if number <= 0.0:
        raise ValueError(f"{name} must be > 0; got {name} = {value!r}")
    return number


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {name} = {value!r}")
    return int(value)


def check_finite_array(name: str, array: Any) -> np.ndarray:
    """Return ``array`` as a float64 ndarray whose entries are all finite."""
    values = np.asarray(array, dtype=float)
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{name} must have finite entries; found {bad} non-finite of {values.size}")
    return values


def orthonormality_error(P: Any) -> float:
    """Return ``||P^T P - I||_F`` (a factored map computes it from its factors)."""
    if hasattr(P, "orthonormality_error"):  # graphprolong.kronecker.KroneckerMap
        return P.orthonormality_error()
    return float(np.linalg.norm(P.T @ P - np.eye(P.shape[1])))


def check_orthonormal(name: str, P: Any, shape: tuple[int, int]) -> np.ndarray:
    """Return ``P`` as a finite float array of ``shape`` with orthonormal columns."""
    values = check_finite_array(name, P)
    if values.shape != tuple(shape):
        raise ValueError(
            f"{name} must have shape (n_large, n_small) = {tuple(shape)}; got shape {values.shape}"
        )
    error = orthonormality_error(values)
    if not error <= ORTHONORMAL_TOLERANCE:  # NaN fails too
        raise ValueError(
            f"{name} must have orthonormal columns (||P^T P - I||_F <= {ORTHONORMAL_TOLERANCE:g}); "
            f"got ||P^T P - I||_F = {error:.3g}"
        )
    return values
