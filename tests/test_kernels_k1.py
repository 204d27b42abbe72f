"""Claim K1: closed form = quadrature = Monte Carlo; a wrong kernel FAILs."""

from __future__ import annotations

import math

import pytest

from numerics.compile import dual_function
from verify import kernels_k1

# small but real: a few activations of each kind (kinked, smooth, no closed form, no NTK)
SMALL = dict(activations=["relu", "step", "erf", "tanh"], samples=50_000)


def test_quick_subset_passes():
    result = kernels_k1.compute("quick", seed=0, **SMALL)
    assert result.passed, result.summary
    m = result.measured
    # relu, erf, tanh: 2 kernels each; step: 1 (no NTK) -> 7 x 5 points
    assert m["n_tests"] == 7 * len(kernels_k1.COVARIANCE_POINTS)
    assert m["no_closed_form"] == ["tanh"]
    tanh = [t for t in result.details["tests"] if t["activation"] == "tanh"]
    assert all(not t["closed_form"] for t in tanh)
    referenced = [t for t in tanh if "reference_error_estimate" in t]
    assert len(referenced) == 2 * len(kernels_k1.compute.sizes["quick"]["reference_points"])
    assert all("mpmath trapezoid" in t["check"] for t in referenced)
    # relu 2x5 + step 5 + erf 2x5 closed forms, tanh only where the reference was computed
    assert m["n_quadrature_checks"] == 25 + len(referenced)
    bound = result.tolerance["monte_carlo_z"]["false_alarm_bound"]
    assert bound == pytest.approx(m["n_tests"] * math.erfc(4 / math.sqrt(2)))
    assert result.figure is not None


def test_sign_flipped_kernel_fails_on_monte_carlo():
    relu = dual_function("relu")
    result = kernels_k1.compute(
        "quick", seed=0, activations=["relu"], samples=50_000,
        kernel_override={("relu", "dual"): lambda a, b, c: relu(a, -b, c)},
    )
    assert not result.passed
    flipped = [t for t in result.details["tests"] if t["overridden"]]
    assert len(flipped) == len(kernels_k1.COVARIANCE_POINTS)
    # K(q12) - K(-q12) = q12/2 != 0 at every point, far beyond 4 SE
    assert all(abs(t["z"]) > 4 for t in flipped)
    # the derivative kernel, not overridden, still agrees
    assert all(abs(t["z"]) <= 4 for t in result.details["tests"] if not t["overridden"])


def test_step_kernel_for_relu_fails():
    step = dual_function("step")
    result = kernels_k1.compute("quick", seed=1, activations=["relu"], samples=50_000,
                                kernel_override={"relu": step})
    assert not result.passed
    assert result.measured["monte_carlo_z"] > 4
    assert result.measured["quadrature_rel_error"] > 1e-3


def test_bad_mode_and_override():
    with pytest.raises(ValueError, match="mode"):
        kernels_k1.compute("medium")
    with pytest.raises(ValueError, match="override"):
        kernels_k1.compute("quick", samplez=10)
