"""Tests for claim K3 (verify/kernels_k3.py): it PASSes on the right inputs and FAILs on
deliberately wrong ones. Reduced sizes keep this file fast; the claim's real quick mode
runs under ``-m slow``."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify import kernels_k3 as K

#: small sizes at which the correct claim still passes: 2e4 ReLU layers leave an
#: O(log l / l) ~ 2e-3 error (< 1%); 250 layers bring ELU (C' = 0.97) within 1e-3 of rho*
SMALL = dict(relu_layers=20_000, relu_mp_layers=500, iterate_layers=250, seeds=3, width=400,
             depth=8)


@pytest.fixture(scope="module")
def small_result():
    return K.compute("quick", seed=0, **SMALL)


def test_small_passes(small_result):
    r = small_result
    assert r.passed, r.summary
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) < 0.01
    assert r.measured["relu_rho_star"] == 1.0
    # the issue: local exponent about -1.8 at l = 100
    assert r.measured["relu_local_exponent_at_100"] == pytest.approx(-1.8, abs=0.05)
    assert r.figure is not None


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1e-12, max_value=2.0))
def test_relu_delta_step_matches_mpmath(delta):
    with mpmath.workdps(40):
        rho = 1 - mpmath.mpf(delta)
        new = (mpmath.sqrt((1 - rho) * (1 + rho)) + (mpmath.pi - mpmath.acos(rho)) * rho
               ) / mpmath.pi
        reference = float(1 - new)
    # a few ulps per step (see relu_delta_step's docstring)
    assert K.relu_delta_step(delta) == pytest.approx(reference, rel=1e-14)


def test_series_matches_direct_form():
    for theta in (0.3, 0.49, 0.5, 0.8):
        with mpmath.workdps(40):
            ref = float(mpmath.sin(theta) - theta * mpmath.cos(theta))
        assert K._sin_minus_theta_cos(theta) == pytest.approx(ref, rel=1e-14)


def test_wrong_relu_map_fails():
    def wrong(delta):  # 10% too strong a contraction: the constant becomes 9 pi^2/(2 * 1.21)
        theta = 2 * math.asin(math.sqrt(delta / 2))
        return delta - 1.1 * K._sin_minus_theta_cos(theta) / math.pi

    r = K.compute("quick", relu_delta_step=wrong, **SMALL)
    assert not r.passed
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) > 0.1


def test_wrong_correlation_map_fails():
    from theory import fixedpoints as fp

    def flipped(name, rho, sigma_w):  # sign flip of the input correlation
        return fp.correlation_map(name, -rho, sigma_w=sigma_w, sigma_b=0, q=1.0)

    r = K.compute("quick", correlation_map=flipped, **{**SMALL, "iterate_layers": 60})
    assert not r.passed


def test_wrong_network_sigma_fails():
    # networks built with sigma_w 4% above ELU's sigma* drift away from the recursion
    r = K.compute("quick", network_sigma_w={"elu": 1.3}, **SMALL)
    assert not r.passed
    assert r.measured["elu_network_max_deviation_over_tolerance"] > 1


def test_finite_network_statistics_shapes_and_layer_one():
    stats = K.finite_network_statistics("elu", 1.2, width=300, depth=3, seeds=2, seed=1)
    assert stats.shape == (2, 3, 2)
    # layer 1: q = 1 and rho = INPUT_RHO up to sampling error (Wick: sd ~ sqrt(2/N) = 0.08)
    assert np.all(np.abs(stats[:, 0, 0] - 1) < 0.4)
    assert np.all(np.abs(stats[:, 0, 1] - K.INPUT_RHO) < 0.4)


def test_moment_closure_layer_one_is_wick():
    out = K.moment_closure("gelu", 1.5, width=1000, depth=2)
    # layer 1: no propagated noise; sd(q_hat) = sqrt(Var((u^2+v^2)/2)/N) = sqrt((1+rho^2)/N)
    assert out["sd_q"][0] == pytest.approx(math.sqrt((1 + K.INPUT_RHO**2) / 1000), rel=1e-6)
    assert out["bias_q"][0] == 0


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        K.compute("quick", nonsense=1)
    with pytest.raises(ValueError, match="mode"):
        K.compute("medium")


def test_fixed_point_table_markdown():
    rows = K.fixed_point_table(q_values=(1.0,), activations=("gelu",))
    assert rows[0][0] == "gelu" and rows[0][2] == pytest.approx(1.5335304411955, rel=1e-12)
    text = K.fixed_point_table_markdown(q_values=(1.0,))
    assert "| gelu | 1 | 1.533530 |" in text and "| elu | 1 |" in text
    for file in K.FIGURE_FILES.values():
        assert f"figures/{file}" in text


@pytest.mark.slow
def test_quick_mode_passes():
    r = K.compute("quick", seed=0)
    assert r.passed, r.summary
