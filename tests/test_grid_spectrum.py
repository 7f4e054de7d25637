"""The grid distance spectrum from the indicator span (graphprolong.recipes.grid_spectrum).

The mathematics asserted: the eigenpairs are those of the dense distance
matrix ``T = D ⊗ J + J ⊗ D`` -- its nonzero eigenvalues, and the projector on
every class of equal eigenvalues to 1e-13 also at 32x32, whose eigenvalues
1.4e-8 apart the unrefined construction mixed by 2e-10 -- and the first-order
refinement removes a small mixing of two close eigenvectors of an exact pencil
while leaving eigenvectors of one class alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphprolong.recipes import grid_spectrum, spectra
from graphprolong.recipes.grid_spectrum import refine_eigenvectors


def _dense_distances(shape: tuple[int, int], periodic: bool) -> np.ndarray:
    D0, D1 = (spectra._distances_1d(side, periodic) for side in shape)
    return np.kron(D0, np.ones((shape[1],) * 2)) + np.kron(np.ones((shape[0],) * 2), D1)


@pytest.mark.parametrize(("shape", "periodic"), [((5, 7), False), ((6, 6), True), ((32, 32), False)])
def test_the_spectrum_and_its_class_projectors_are_those_of_the_dense_matrix(shape, periodic):
    T = _dense_distances(shape, periodic)
    spectrum = grid_spectrum._grid_distance_spectrum(shape, periodic)
    values, labels = spectrum.full()
    dense_values, dense_vectors = np.linalg.eigh(T)
    np.testing.assert_allclose(values, dense_values, rtol=0, atol=1e-12 * np.abs(dense_values).max())
    vectors = spectrum.dense_vectors()
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(vectors.shape[1]), rtol=0, atol=1e-13)
    classes = spectra._classes(values, labels)
    for label in np.unique(classes[classes >= 0]):
        ours = vectors[:, labels[classes == label]]
        theirs = dense_vectors[:, classes == label]
        np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, rtol=0, atol=1e-13, err_msg=f"class {label}")


def test_the_refinement_unmixes_two_close_eigenvectors_of_an_exact_pencil():
    values = np.array([1.0, 1.0 + 2e-9, 2.0, 3.0])
    stiffness, gram = np.diag(values), np.diag([1.0, 4.0, 1.0, 9.0])  # eigenvectors: e_i / sqrt(gram_ii)
    exact = np.diag(1.0 / np.sqrt(np.diag(gram)))
    angle = 1e-9
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    mixed = exact @ rotation  # gram-orthonormal, mixing the close pair by 1e-9
    refined = refine_eigenvectors(values, mixed, stiffness * np.diag(gram), gram, tolerance=1e-12)
    np.testing.assert_allclose(refined, exact, rtol=0, atol=1e-15)
    # eigenvalues within the tolerance are one class: their mixing is left as it is
    kept = refine_eigenvectors(values, mixed, stiffness * np.diag(gram), gram, tolerance=1e-8)
    np.testing.assert_allclose(kept[:, :2], mixed[:, :2], rtol=0, atol=1e-15)
    # ... but their orthonormality is restored: columns off by 1e-10 come back M-orthonormal to rounding
    skewed = mixed.copy()
    skewed[:, 1] += 1e-10 * mixed[:, 0]
    fixed = refine_eigenvectors(values, skewed, stiffness * np.diag(gram), gram, tolerance=1e-8)
    np.testing.assert_allclose(fixed.T @ gram @ fixed, np.eye(4), rtol=0, atol=1e-15)
