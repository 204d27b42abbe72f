"""Tests for claim B2 (verify/bmz_b2.py): PASS with ELU's coefficients; FAIL when the
flow's c_1 is 10% low (t_1 beyond 15% of the linearized prediction) and when the second
layer is as slow as the first (flow eps = 1: no eps scaling, later drops never happen)."""

from __future__ import annotations

import pytest

from verify import bmz_b2 as B

FAST = dict(particles=60)


@pytest.fixture(scope="module")
def quick_result():
    return B.compute("quick", **FAST)


def test_quick_passes(quick_result):
    r = quick_result
    assert r.passed, r.summary
    assert abs(r.measured["exponent_l1"] - 0.5) < 0.05
    assert abs(r.measured["exponent_l2"] - 0.25) < 0.05
    assert all(abs(x - 1) < 0.15 for x in r.measured["t1_over_prediction"])
    assert r.figure is not None


def test_wrong_c1_fails():
    c = B.hermite_coefficients(B.get("elu"), 3)
    c[1] *= 0.9
    r = B.compute("quick", coefficients=c, **FAST)
    assert not r.passed
    assert r.tolerance["t1_over_prediction"]["passed"] is False


def test_slow_second_layer_fails():
    r = B.compute("quick", flow_eps=1.0, **FAST)
    assert not r.passed
    assert r.tolerance["exponent_l1"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError, match="at least two"):
        B.compute("quick", eps=(1e-8,))
    with pytest.raises(ValueError, match="degrees"):
        B.compute("quick", degrees=4)


@pytest.mark.slow
def test_full_passes():
    r = B.compute("full")
    assert r.passed, r.summary
