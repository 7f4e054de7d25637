"""Shared helpers for the graph tests: dense matrices and Kronecker sums."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from graphprolong.matrices import adjacency_matrix, laplacian


def _kronecker_sum(*matrices: np.ndarray) -> np.ndarray:
    """``M1 ⊕ M2 ⊕ ...`` = ``M1 ⊗ I + I ⊗ M2`` applied left to right."""

    def pair(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return np.kron(left, np.eye(right.shape[0])) + np.kron(np.eye(left.shape[0]), right)

    return reduce(pair, matrices)


@pytest.fixture(scope="session")
def kronecker_sum():
    return _kronecker_sum


@pytest.fixture(scope="session")
def dense_laplacian():
    return lambda graph: laplacian(graph).toarray()


@pytest.fixture(scope="session")
def dense_adjacency():
    return lambda graph: adjacency_matrix(graph).toarray()
