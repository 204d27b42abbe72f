"""Claim K2: empirical NNGP/NTK of finite networks -> analytic, slope -1/2. The empirical
kernels themselves are tested in test_empirical.py."""

from __future__ import annotations

import pytest

from verify import kernels_k2

# one hidden layer is cheap (no n x n matrix): many seeds, all widths
FAST = dict(activations=["relu", "erf"], depths=[1], seeds=16)


def test_one_layer_passes():
    result = kernels_k2.compute("quick", seed=0, **FAST)
    assert result.passed, result.summary
    assert result.tolerance["level_t"]["passed"]
    slopes = {k: v for k, v in result.tolerance.items() if v["kind"] == "slope"}
    assert len(slopes) == 4  # 2 activations x (nngp, ntk)
    for name, tol in slopes.items():
        assert tol["slope_se"] < 0.05, name  # the 0.1 band is at least two bootstrap SEs wide


def test_wrong_sigma_b_fails():
    # the analytic kernel with sigma_b = 0.5 instead of 0.1: an O(1) error that does not
    # shrink with the width, so the slope is near 0
    result = kernels_k2.compute("quick", seed=0, analytic_sigma_b=0.5, **FAST)
    assert not result.passed
    assert all(abs(result.measured[name]) < 0.2 for name, tol in result.tolerance.items()
               if tol["kind"] == "slope")


def test_two_percent_kernel_error_fails_on_the_level():
    # sigma_b = 0.15 instead of 0.1 in the analytic kernel: a ~2% error that leaves the
    # slopes inside their band (-0.41..-0.48) but shifts the level by many standard errors
    result = kernels_k2.compute("quick", seed=0, analytic_sigma_b=0.15,
                                **{**FAST, "activations": ["relu"]})
    assert not result.passed
    assert not result.tolerance["level_t"]["passed"]
    assert all(result.tolerance[n]["passed"] for n, t in result.tolerance.items()
               if t["kind"] == "slope")


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        kernels_k2.compute("slow")
    with pytest.raises(ValueError, match="override"):
        kernels_k2.compute("quick", width=[1])
    with pytest.raises(ValueError, match="three widths"):
        kernels_k2.compute("quick", widths=[64])


@pytest.mark.slow
def test_quick_mode_passes():
    result = kernels_k2.compute("quick", seed=0)
    assert result.passed, result.summary
