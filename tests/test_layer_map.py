"""numerics.kernels.layer_map and layer_map_jacobian: the infinite-width layer map on one
pair covariance V = (q11, q22, q12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from numerics import kernels
from numerics.compile import dual_function
from theory.activations import q, q11, q12, q22, resolve

CLOSED_FORM = ("relu", "erf", "gelu", "elu")


@pytest.mark.parametrize("name", CLOSED_FORM)
@pytest.mark.parametrize("sigma_b", [0.0, 0.3])
def test_iterated_layer_map_is_nngp(name, sigma_b):
    """Sigma^1 from the inputs, then L applications of layer_map = the depth-L NNGP of
    numerics.kernels.nngp (an independent code path: fused forms, Gram matrices)."""
    sw = 1.4
    X = np.array([[1.0, 0.5, -0.3], [0.2, -1.1, 0.7]])
    d = X.shape[1]
    G = sw**2 * X @ X.T / d + sigma_b**2
    V = np.array([G[0, 0], G[1, 1], G[0, 1]])
    for L in range(1, 4):
        V = kernels.layer_map(name, V, sigma_w=sw, sigma_b=sigma_b)
        K = kernels.nngp(X, activation=name, hidden_layers=L, sigma_w=sw, sigma_b=sigma_b)
        np.testing.assert_allclose(V, [K[0, 0], K[1, 1], K[0, 1]], rtol=1e-11, atol=1e-14)


def test_layer_map_broadcasts_over_leading_axes():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, (2, 4, 5))
    c = rng.uniform(-0.9, 0.9, (4, 5)) * np.sqrt(a * b)
    V = np.stack([a, b, c], axis=-1)
    F = kernels.layer_map("gelu", V, sigma_w=1.2)
    assert F.shape == (4, 5, 3)
    np.testing.assert_array_equal(F[2, 3], kernels.layer_map("gelu", V[2, 3], sigma_w=1.2))
    # symmetric in the two inputs: swapping q11 and q22 swaps F1 and F2, keeps F3
    swapped = kernels.layer_map("gelu", V[..., [1, 0, 2]], sigma_w=1.2)
    # rounding only: a few ulps of the kernel's scale (entries near zero have no relative
    # accuracy to speak of)
    np.testing.assert_allclose(swapped, F[..., [1, 0, 2]], rtol=1e-13, atol=1e-15)


def _sympy_jacobian(name, V, sw):
    """dF/dV from the registry's SymPy expressions, evaluated at 30 digits."""
    act = resolve(name)
    a, b, c = (sp.Float(v, 30) for v in V)
    point = {q11: a, q22: b, q12: c}
    k = act.dual
    diag = act.dual_diagonal if act.dual_diagonal is not None else k.subs(
        {q11: q, q22: q, q12: q})
    ddiag = sp.diff(diag, q)
    J = np.zeros((3, 3))
    J[0, 0] = float(ddiag.subs(q, a).evalf(30))
    J[1, 1] = float(ddiag.subs(q, b).evalf(30))
    for j, s in enumerate((q11, q22, q12)):
        J[2, j] = float(sp.diff(k, s).subs(point).evalf(30))
    return sw**2 * J


@pytest.mark.parametrize("name", ["relu", "erf", "gelu"])
def test_jacobian_matches_sympy_derivative(name):
    sw = 1.3
    V = np.array([1.4, 0.8, 0.5])
    J = kernels.layer_map_jacobian(name, V, sigma_w=sw)
    exact = _sympy_jacobian(name, V, sw)
    # central differences at h = 1e-6 sqrt(q11 q22): ~1e-10 relative (docstring)
    np.testing.assert_allclose(J, exact, rtol=1e-8, atol=1e-9 * np.abs(exact).max())


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_jacobian_q12_column_is_prices_theorem(name):
    """d k / d q12 = E[s'(u) s'(v)] (Price), the registry's derivative kernel: an
    independent check that also covers ELU (tilted orthant functions)."""
    sw = 1.1
    V = np.array([[1.0, 1.0, 0.3], [2.0, 0.6, -0.7]])
    J = kernels.layer_map_jacobian(name, V, sigma_w=sw)
    kd = dual_function(name, derivative=True)
    expected = sw**2 * kd(V[:, 0], V[:, 2], V[:, 1])
    np.testing.assert_allclose(J[:, 2, 2], expected, rtol=1e-7)
    # F1 depends on q11 only, F2 on q22 only
    np.testing.assert_array_equal(J[:, 0, 1:], 0)
    np.testing.assert_array_equal(J[:, 1, [0, 2]], 0)


def test_jacobian_does_not_depend_on_sigma_b_and_scales_with_sigma_w():
    V = np.array([1.2, 0.9, 0.4])
    J1 = kernels.layer_map_jacobian("erf", V, sigma_w=1.0)
    J2 = kernels.layer_map_jacobian("erf", V, sigma_w=2.0)
    np.testing.assert_allclose(J2, 4 * J1, rtol=1e-9)


@pytest.mark.parametrize(
    "V, kwargs, message",
    [
        (np.array([1.0, 1.0]), {}, "last axis of length 3"),
        (np.array([0.0, 1.0, 0.0]), {}, "q11, q22 must be > 0"),
        (np.array([1.0, -1.0, 0.0]), {}, "q11, q22 must be > 0"),
        (np.array([1.0, 1.0, 1.5]), {}, r"\|rho\|"),
        (np.array([1.0, np.nan, 0.5]), {}, "finite"),
        (np.array([1.0, 1.0, 0.5]), {"sigma_w": -1.0}, "sigma_w"),
        (np.array([1.0, 1.0, 0.5]), {"sigma_b": math.inf}, "sigma_b"),
    ],
)
def test_layer_map_bad_input(V, kwargs, message):
    kw = {"sigma_w": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        kernels.layer_map("gelu", V, **kw)


def test_layer_map_refuses_activations_without_closed_form():
    with pytest.raises(ValueError, match="'tanh' has no closed-form dual kernel"):
        kernels.layer_map("tanh", np.array([1.0, 1.0, 0.5]), sigma_w=1.0)
    with pytest.raises(ValueError):
        kernels.layer_map("no_such_activation", np.array([1.0, 1.0, 0.5]), sigma_w=1.0)


def test_jacobian_needs_room_inside_the_covariance_cone():
    with pytest.raises(ValueError, match=r"\|rho\|"):
        kernels.layer_map_jacobian("gelu", np.array([1.0, 1.0, 1.0]), sigma_w=1.0)
    # the layer map itself accepts rho = 1 (the diagonal of a Gram matrix)
    F = kernels.layer_map("gelu", np.array([1.0, 1.0, 1.0]), sigma_w=1.0)
    assert F[2] == pytest.approx(F[0], rel=1e-12)
