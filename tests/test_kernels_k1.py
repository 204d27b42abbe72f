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
    # relu, erf, tanh: 2 kernels each; step: 1 (no NTK) -> 7 x 5 points, and the same
    # seven diagonals at 3 variances
    assert m["n_tests"] == 7 * (len(kernels_k1.COVARIANCE_POINTS)
                                + len(kernels_k1.DIAGONAL_POINTS))
    assert m["no_closed_form"] == ["tanh"]
    tanh = [t for t in result.details["tests"] if t["activation"] == "tanh"]
    assert all(not t["closed_form"] for t in tanh)
    referenced = [t for t in tanh if "reference_error_estimate" in t]
    assert len(referenced) == 2 * len(kernels_k1.compute.sizes["quick"]["reference_points"])
    assert all("mpmath trapezoid" in t["check"] for t in referenced)
    # relu 2x5 + step 5 + erf 2x5 closed forms (and 5 x 3 diagonals), tanh only where the
    # reference was computed
    assert m["n_quadrature_checks"] == 25 + 15 + len(referenced)
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


def _scaled(fn, factor):
    return lambda *args: factor * fn(*args)


@pytest.mark.parametrize("label,kind,diagonal", [
    ("erf", "dual", False),                      # 1% in a closed-form NNGP kernel
    ("gelu", "dual_derivative", False),          # 1% in a derivative (NTK) kernel
    ("elu", "diagonal", True),                   # 1% in a diagonal formula (x = x')
    ("erf", "diagonal_derivative", True),
])
def test_one_percent_error_fails(label, kind, diagonal):
    right = dual_function(label, derivative=kind.endswith("derivative"), diagonal=diagonal)
    result = kernels_k1.compute("quick", seed=0, activations=[label], samples=20_000,
                                kernel_override={(label, kind): _scaled(right, 1.01)})
    assert not result.passed
    assert result.measured["quadrature_rel_error"] > 1e-3  # 1e7 x its tolerance
    wrong = [t for t in result.details["tests"] if t["overridden"]]
    assert wrong and all(t["kind"] == kind for t in wrong)


def test_one_percent_error_in_the_tanh_path_fails():
    # tanh has no closed form: a kernel 1% off the quadrature is caught by the 30-digit
    # reference at the reference points (and the quadrature comparison everywhere)
    from numerics.quadrature import gaussian_dual

    wrong = {("tanh", "dual"): lambda a, b, c: 1.01 * gaussian_dual("tanh", a, b, c)}
    result = kernels_k1.compute("quick", seed=0, activations=["tanh"], samples=20_000,
                                kernel_override=wrong)
    assert not result.passed and result.measured["quadrature_rel_error"] > 1e-3


def test_monte_carlo_alone_sees_a_two_percent_error_in_full_mode_sizes():
    # without the quadrature (an override replacing the quadrature's own value would pass
    # it), the Monte Carlo z resolves ~4 SE: 2e-3 of the scale at 2e5 draws, 1e-3 at 1e6
    relu = dual_function("relu")
    result = kernels_k1.compute("quick", seed=0, activations=["relu"], samples=1_000_000,
                                points=[(1.0, 0.5, 1.0)], diagonal_points=[1.0],
                                kernel_override={"relu": _scaled(relu, 1.02)})
    bad = [t for t in result.details["tests"] if t["overridden"]]
    assert abs(bad[0]["z"]) > 4


def test_bad_mode_and_override():
    with pytest.raises(ValueError, match="match no activation"):
        kernels_k1.compute("quick", activations=["relu"], kernel_override={("elu", "dual"): abs})
    with pytest.raises(ValueError, match="mode"):
        kernels_k1.compute("medium")
    with pytest.raises(ValueError, match="override"):
        kernels_k1.compute("quick", samplez=10)
