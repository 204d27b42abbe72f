"""numerics.conv_pde: FFT correlations against scipy.signal, gradient against finite
differences, the linearization against the gradient near 0, the checkerboard's Hessian."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

from numerics import spectra
from numerics.conv_pde import ConvModel, checkerboard, train_conv


def test_correlations_match_scipy():
    rng = np.random.default_rng(0)
    image = rng.standard_normal((30, 27))
    m = ConvModel(image, 6)
    w = rng.standard_normal((6, 6))
    np.testing.assert_allclose(m.conv(w), correlate(image, w, mode="valid"), atol=1e-12)
    G = rng.standard_normal(m.out_shape)
    np.testing.assert_allclose(m._corr(G), correlate(image, G, mode="valid"), atol=1e-12)


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_gradient_matches_finite_differences(pooling):
    rng = np.random.default_rng(1)
    m = ConvModel(rng.standard_normal((12, 12)), 4, b=1.3, pooling=pooling)
    K = 0.1 * rng.standard_normal(16)
    g = m.gradient(K, alpha=0.7)
    fd = np.array([(m.loss(K + 1e-6 * e, 0.7) - m.loss(K - 1e-6 * e, 0.7)) / 2e-6
                   for e in np.eye(16)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_linearization_is_the_first_order_of_the_gradient():
    rng = np.random.default_rng(2)
    m = ConvModel(rng.standard_normal((12, 12)), 4, pooling="sum")
    v = rng.standard_normal(16)
    for eps in (1e-3, 1e-4):
        err = np.linalg.norm(m.gradient(eps * v, 0.3) - m.linear_gradient(eps * v, 0.3))
        scale = np.linalg.norm(m.linear_gradient(eps * v, 0.3) - m.linear_gradient(0 * v, 0.3))
        assert err < 50 * eps * scale  # second-order remainder


def test_checkerboard_hessian_has_one_negative_direction():
    m = ConvModel(checkerboard(40), 8, pooling="sum")  # 33 x 33 positions, |c|^2 = 64
    zero = np.zeros(m.size)
    H = np.stack([spectra.finite_difference_hvp(m.gradient, zero, e, h=1e-7)
                  for e in np.eye(m.size)], axis=1)
    w = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert w[0] == pytest.approx(-64 * (33**2 / 4 - 1 / 16), rel=1e-5)
    assert np.max(np.abs(w[1:])) < 1e-4 * abs(w[0])


def test_train_conv_detects_blowup():
    m = ConvModel(checkerboard(40), 8)
    K0 = np.random.default_rng(0).standard_normal(m.size)
    r = train_conv(m, K0, lr=0.12, alpha=20.0, steps=2000)
    assert r.diverged_at is not None
    assert r.rate("norm", start=10, stop=r.diverged_at - 5) == pytest.approx(
        np.log(abs(1 - 0.12 * 20)), rel=1e-3)
    with pytest.raises(ValueError, match="pooling"):
        ConvModel(checkerboard(40), 8, pooling="max")
