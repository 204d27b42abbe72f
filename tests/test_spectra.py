"""numerics.spectra: exact Hessian-vector products against 50-digit central differences of
the backend gradient, Lanczos against the dense Hessian, Lyapunov exponents against a
quadratic whose step Jacobian is known."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import networks, spectra
from numerics.precision import get_backend


def _tiny(activation="tanh", bias=True, parameterization="standard", output_dim=1):
    net = networks.Network(2, (3, 4), activation, parameterization=parameterization,
                           sigma_w=1.3, sigma_b=0.4, bias=bias, output_dim=output_dim)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 2))
    y = rng.standard_normal((5, output_dim))
    return net, X, y


def _mp_gradient(net, P, X, y, dps=50):
    B = get_backend("mpmath", dps=dps)
    _, g = networks.loss_and_gradient(net, P, X, y, backend=B)
    return np.concatenate([B.to_mpmath(g[k]).ravel() for k in net.param_names])


@pytest.mark.parametrize("activation,bias,param,k", [
    ("tanh", True, "standard", 1), ("gelu", False, "ntk", 1), ("erf", True, "ntk", 2)])
def test_gradient_matches_networks(activation, bias, param, k):
    net, X, y = _tiny(activation, bias, param, k)
    P = net.init(3)
    m = spectra.FlatModel(net, X, y)
    loss, g = m.gradient(m.flatten(P))
    ref_loss, ref = networks.loss_and_gradient(net, P, X, y)
    B = get_backend("float64")
    np.testing.assert_allclose(g, np.concatenate([B.to_numpy(ref[n]).ravel()
                                                  for n in net.param_names]), rtol=1e-12,
                               atol=1e-14)
    assert loss == pytest.approx(float(ref_loss), rel=1e-13)


@pytest.mark.parametrize("activation,bias,param,k", [
    ("tanh", True, "standard", 1), ("gelu", False, "ntk", 1), ("erf", True, "ntk", 2)])
def test_hvp_matches_high_precision_finite_differences(activation, bias, param, k):
    """Central differences at 50 digits with h = 1e-20: truncation h^2 ~ 1e-40, rounding
    1e-50/h = 1e-30; the float64 R-operator must agree to ~1e-13 of the scale."""
    import mpmath

    net, X, y = _tiny(activation, bias, param, k)
    P = net.init(4)
    m = spectra.FlatModel(net, X, y)
    theta = m.flatten(P)
    v = np.random.default_rng(2).standard_normal(m.size)
    hv = m.hvp(theta, v)
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        th = [mpmath.mpf(float(t)) for t in theta]
        plus = {n: np.array(a, dtype=object) for n, a in m.unflatten(np.zeros(m.size)).items()}

        def shifted(sign):
            vals = [t + sign * h * mpmath.mpf(float(vi)) for t, vi in zip(th, v, strict=True)]
            out, i = {}, 0
            for n in net.param_names:
                size = int(np.prod(net.param_shapes()[n]))
                arr = np.empty(size, dtype=object)
                arr[:] = vals[i:i + size]
                out[n] = arr.reshape(net.param_shapes()[n])
                i += size
            return out

        del plus
        fd = (_mp_gradient(net, shifted(1), X, y) - _mp_gradient(net, shifted(-1), X, y)) / (
            2 * h)
    fd = np.array([float(f) for f in fd])
    np.testing.assert_allclose(hv, fd, rtol=1e-10, atol=1e-13 * np.max(np.abs(fd)))


def test_frozen_groups_and_weight_decay():
    net, X, y = _tiny()
    P = net.init(5)
    m = spectra.FlatModel(net, X, y, params=P, frozen=("c", "b1"), weight_decay=0.3)
    full = spectra.FlatModel(net, X, y, weight_decay=0.3)
    assert m.size == full.size - 1 - 3
    H, Hf = m.hessian(m.flatten(P)), full.hessian(full.flatten(P))
    keep = np.concatenate([np.arange(full.offsets[i], full.offsets[i + 1])
                           for i, g in enumerate(full.names) if g not in ("c", "b1")])
    np.testing.assert_allclose(H, Hf[np.ix_(keep, keep)], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H, H.T, atol=1e-12 * np.abs(H).max())
    with pytest.raises(ValueError, match="frozen"):
        spectra.FlatModel(net, X, y, frozen=("c",))
    with pytest.raises(ValueError, match="not parameters"):
        spectra.FlatModel(net, X, y, params=P, frozen=("zz",))


def test_lanczos_matches_dense_eigenvalues():
    net, X, y = _tiny()
    m = spectra.FlatModel(net, X, y)
    theta = m.flatten(net.init(6))
    w = np.linalg.eigvalsh(m.hessian(theta))
    vals, vecs = spectra.top_eigenpairs(lambda v: m.hvp(theta, v), m.size, 3)
    np.testing.assert_allclose(vals, w[::-1][:3], rtol=1e-9)
    lam, u = spectra.sharpness(m, theta, return_vector=True)
    assert lam == pytest.approx(w[-1], rel=1e-9)
    np.testing.assert_allclose(m.hvp(theta, u), lam * u, atol=1e-6 * abs(lam))
    low, _ = spectra.top_eigenpairs(lambda v: m.hvp(theta, v), m.size, 1, which="SA")
    assert low[0] == pytest.approx(w[0], rel=1e-8, abs=1e-10)


def test_finite_difference_hvp_float64():
    net, X, y = _tiny()
    m = spectra.FlatModel(net, X, y)
    theta = m.flatten(net.init(7))
    v = np.random.default_rng(0).standard_normal(m.size)
    fd = spectra.finite_difference_hvp(lambda t: m.gradient(t)[1], theta, v)
    np.testing.assert_allclose(fd, m.hvp(theta, v), atol=1e-8 * np.abs(fd).max())


def test_lyapunov_exponents_of_a_linear_network_step():
    """A one-layer identity net (linear regression) has a constant Hessian X^T X s^2/n: GD
    is linear and the exponents are log|1 - eta h_i| exactly."""
    net = networks.Network(3, (1,), "identity", parameterization="standard", bias=False)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    # freeze the readout: the model is then linear in W1
    P = net.init(0)
    P["a"] = np.array([[1.0]])
    m = spectra.FlatModel(net, X, y, params=P, frozen=("a",))
    h = np.linalg.eigvalsh(m.hessian(m.flatten(P)))[::-1]
    lr = 1.5 / h[0]
    res = spectra.lyapunov_exponents(m, m.flatten(P), lr=lr, steps=200, k=3)
    expected = np.sort(np.log(np.abs(1 - lr * h)))[::-1]
    # the sum over a full basis is log|det J| at every step; single exponents converge
    # after the vectors align (transient O(1/T) in the full-horizon mean)
    assert res.exponents.sum() == pytest.approx(expected.sum(), rel=1e-10)
    np.testing.assert_allclose(res.window(100), expected, atol=1e-4)  # gap 0.022: slow
    np.testing.assert_allclose(res.exponents, expected, atol=5e-3)
    assert res.log_stretch.shape == (200, 3)


def test_window_ftle_of_a_linear_step_is_the_top_factor():
    net = networks.Network(3, (1,), "identity", parameterization="standard", bias=False)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 3)), rng.standard_normal(10)
    P = net.init(0)
    P["a"] = np.array([[1.0]])
    m = spectra.FlatModel(net, X, y, params=P, frozen=("a",))
    h = np.linalg.eigvalsh(m.hessian(m.flatten(P)))
    lr = 2.5 / h[-1]
    thetas = [m.flatten(P)] * 20
    lam, _ = spectra.window_ftle(m, thetas, lr=lr, start=3, stop=13, iterations=30)
    assert lam == pytest.approx(np.max(np.log(np.abs(1 - lr * h))), rel=1e-6)


def test_sharpness_trajectory_records():
    net, X, y = _tiny()
    m = spectra.FlatModel(net, X, y)
    tr = spectra.sharpness_trajectory(m, m.flatten(net.init(0)), lr=0.01, steps=30, every=10)
    assert list(tr.steps) == [0, 10, 20, 30] and tr.loss.shape == (30,)
    assert tr.first_crossing(1e9) is None and tr.first_crossing(-1.0) == 0
