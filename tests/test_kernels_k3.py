"""Tests for claim K3 (verify/kernels_k3.py): it PASSes on the right inputs and FAILs on
deliberately wrong ones. Reduced sizes keep this file fast; the claim's real quick mode
runs under ``-m slow``. The library it rests on is tested in test_empirical.py,
test_finite_width.py, test_layer_map.py and test_fixedpoints.py."""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import fixedpoints as fp
from verify import kernels_k3 as K
from verify import kernels_page

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
    for name in K.ACTIVATIONS:
        # 3 seeds x 7 steps x 3 entries, all inside the Bonferroni and chi-square bounds
        assert r.tolerance[f"{name}_one_step_z"]["n"] == 63
        assert r.tolerance[f"{name}_one_step_chi2"]["n"] == 63
    # the trajectory is judged only where L'(1) < 1 (ELU; GELU's L'(1) = 1.14)
    assert "elu_trajectory" in r.tolerance and "gelu_trajectory" not in r.tolerance
    assert "gelu_trajectory_max_ratio" in r.measured
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) < 0.01
    # the issue: local exponent about -1.8 at l = 100
    assert r.measured["relu_local_exponent_at_100"] == pytest.approx(-1.8, abs=0.05)
    assert r.figure is not None


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=1e-12, max_value=2.0))
def test_relu_gap_step_matches_mpmath(delta):
    with mpmath.workdps(40):
        rho = 1 - mpmath.mpf(delta)
        new = (mpmath.sqrt((1 - rho) * (1 + rho)) + (mpmath.pi - mpmath.acos(rho)) * rho
               ) / mpmath.pi
        reference = float(1 - new)
    # a few ulps per step (see relu_gap_step's docstring)
    assert fp.relu_gap_step(delta) == pytest.approx(reference, rel=1e-14)


def test_series_matches_direct_form():
    for theta in (0.3, 0.49, 0.5, 0.8):
        with mpmath.workdps(40):
            ref = float(mpmath.sin(theta) - theta * mpmath.cos(theta))
        assert fp._sin_minus_theta_cos(theta) == pytest.approx(ref, rel=1e-14)


def test_wrong_relu_map_fails():
    def wrong(delta):  # 10% too strong a contraction: the constant becomes 9 pi^2/(2 * 1.21)
        theta = 2 * math.asin(math.sqrt(delta / 2))
        return delta - 1.1 * fp._sin_minus_theta_cos(theta) / math.pi

    r = K.compute("quick", relu_delta_step=wrong, **SMALL)
    assert not r.passed
    assert abs(r.measured["relu_l2_one_minus_rho"] / K.RELU_CONSTANT - 1) > 0.1
    assert not r.tolerance["relu_iteration_vs_mpmath"]["passed"]  # not the registry's map


def test_wrong_correlation_map_fails():
    def flipped(name, rho, sigma_w):  # sign flip of the input correlation
        return fp.correlation_map(name, -rho, sigma_w=sigma_w, sigma_b=0, q=1.0)

    r = K.compute("quick", correlation_map=flipped, **{**SMALL, "iterate_layers": 60})
    assert not r.passed


def test_one_percent_variance_error_in_the_correlation_map_fails():
    # the map evaluated at q = 1.01 instead of 1: rho* moves by ~1e-3, which the derived
    # final-gap bound (~1e-7 for GELU, ~3e-5 for ELU) resolves; the old fixed 1e-3 did not
    def wrong(name, rho, sigma_w):
        return fp.correlation_map(name, rho, sigma_w=sigma_w, sigma_b=0, q=1.01)

    r = K.compute("quick", correlation_map=wrong, **SMALL)
    assert not r.passed
    for name in K.ACTIVATIONS:
        assert not r.tolerance[f"{name}_final_gap"]["passed"]
        assert r.measured[f"{name}_final_gap"] < 2e-3  # a small error, not a gross one


def test_wrong_network_sigma_fails():
    # networks built with sigma_w 4% above ELU's sigma* drift away from the recursion
    r = K.compute("quick", network_sigma_w={"elu": 1.3}, **SMALL)
    assert not r.passed
    assert r.measured["elu_trajectory"] > 1


def test_wrong_layer_maps_fail_in_claim():
    """The claim FAILs when the one-step layer map of the GELU networks is the ReLU kernel,
    and when that of the ELU networks has sigma_w 5% too large (width 2000, so that the
    one-step resolution is that of the claim)."""
    sizes = {**SMALL, "width": 2000}
    wrong = 1.05 * fp.norm_preserving_sigma("elu", 1.0)
    r = K.compute("quick", layer_activation={"gelu": "relu"}, layer_sigma_w={"elu": wrong},
                  **sizes)
    assert not r.passed
    for name in ("gelu", "elu"):
        check = r.tolerance[f"{name}_one_step_chi2"]
        assert r.measured[f"{name}_one_step_chi2"] > check["high"]


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        K.compute("quick", nonsense=1)
    with pytest.raises(ValueError, match="mode"):
        K.compute("medium")
    with pytest.raises(ValueError, match="keys must be among"):
        K.compute("quick", layer_activation={"tanh": "relu"})
    with pytest.raises(ValueError, match="must be a number > 0"):
        K.compute("quick", layer_sigma_w={"gelu": -1.0})
    with pytest.raises(ValueError, match="unknown activation"):
        K.compute("quick", layer_activation={"gelu": "nonsense"})


def test_fixed_point_table_markdown():
    rows = kernels_page.fixed_point_table(q_values=(1.0,), activations=("gelu",))
    assert rows[0][0] == "gelu" and rows[0][2] == pytest.approx(1.5335304411955, rel=1e-12)
    text = kernels_page.fixed_point_table_markdown(q_values=(1.0,))
    assert "| gelu | 1 | 1.533530 |" in text and "| elu | 1 |" in text
    for file in kernels_page.FIGURE_FILES.values():
        assert f"figures/{file}" in text


@pytest.mark.slow
def test_quick_mode_passes():
    r = K.compute("quick", seed=0)
    assert r.passed, r.summary
