"""Claim H1 (verify/hs_h1.py): GD from He init with zero biases ends at the per-side
affine fit; FAILs when random initial biases put kinks into the data."""

from __future__ import annotations

import pytest

from numerics import one_dim_relu as odr
from verify import hs_h1


@pytest.fixture(scope="module")
def quick():
    return hs_h1.compute("quick", seed=0)


def test_quick_passes(quick):
    r = quick
    assert r.passed, r.summary
    assert set(r.tolerance) >= {"uncrossed_runs_at_fit", "not_at_bad_minimum_slope_negative",
                                "crossing_slope_negative"}
    fractions = r.measured["fraction_bad_minimum_by_width"]  # [p, 99% low, high], not judged
    assert fractions["16"][0] < fractions["64"][0]
    crossing = r.measured["crossing_probability_by_width"]
    assert crossing["64"] < crossing["16"]
    # an uncrossed GD run converges to the per-side fit (median gap well inside 1%)
    assert max(r.measured["median_gap_uncrossed"].values()) < 2e-3
    assert r.figure is not None


@pytest.mark.parametrize("bias_std", [0.01, 1.0])
def test_random_biases_fail(bias_std):
    # 0.01 is the smallest bias scale tried: 1% of the distance to the nearest data point
    r = hs_h1.compute("quick", bias_std=bias_std, runs=150)
    assert not r.passed
    assert r.tolerance["crossing_slope_negative"]["passed"] is False
    assert r.tolerance["not_at_bad_minimum_slope_negative"]["passed"] is False


def test_unconverged_runs_fail_the_mechanism():
    # 3 steps: no uncrossed run has reached the per-side fit, and no kink crossed at all
    r = hs_h1.compute("quick", steps=3, runs=100)
    assert r.tolerance["uncrossed_runs_at_fit"]["passed"] is False
    assert r.tolerance["crossing_slope_negative"]["passed"] is False  # no event: not shown


def test_uncrossed_runs_are_affine_per_side():
    import numpy as np

    out = odr.train_chunk({"width": 32, "runs": 40, "steps": 200, "plot_runs": 40},
                          np.random.SeedSequence(3))
    x = odr.PLOT_GRID
    for c, crossed in zip(out["curves"], out["crossed"], strict=True):
        if crossed:
            continue
        for side in (x <= -1, x >= 1):
            # affine on each side of the data: second differences vanish
            assert np.max(np.abs(np.diff(c[side], 2))) < 1e-10


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        hs_h1.compute("quick", bogus=1)
    with pytest.raises(ValueError, match=">= 0"):
        hs_h1.compute("quick", bias_std=-1.0)
    with pytest.raises(ValueError, match="not among the valid"):
        hs_h1.compute("quick", executor="threads")


@pytest.mark.slow
def test_full_mode_passes():
    assert hs_h1.compute("full", seed=0).passed
