"""Claim S3 (verify/bpp_s3.py): GD finds the support only with weight decay; FAILs when
the weight decay is too weak to act within the run."""

from __future__ import annotations

import pytest

from verify import bpp_s3


@pytest.fixture(scope="module")
def quick():
    return bpp_s3.compute("quick", seed=0)


def test_quick_passes(quick):
    r = quick
    assert r.passed, r.summary
    ratios = r.measured["ratios"]
    assert ratios["GD + weight decay"][0] < 0.01 < ratios["SGD b = 1"][0] < ratios["GD"][0]
    assert r.figure is not None


def test_weak_weight_decay_fails():
    # 1/100 of the authors' 0.1: exp(-lr wd steps) ~ 0.45 of the irrelevant norm is left
    r = bpp_s3.compute("quick", seed=0, weight_decay=0.001)
    assert not r.passed
    assert r.tolerance["ratio_gd_weight_decay"]["passed"] is False
    assert r.tolerance["ratio_gd"]["passed"] is True


def test_bad_overrides():
    with pytest.raises(ValueError, match="> 0"):
        bpp_s3.compute("quick", weight_decay=-0.1)


@pytest.mark.slow
def test_full_passes():
    assert bpp_s3.compute("full", seed=0).passed
