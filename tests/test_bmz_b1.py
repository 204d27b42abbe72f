"""Tests for claim B1 (verify/bmz_b1.py): PASS with ELU's coefficients; FAIL when the
flow uses a 5% wrong c_1 (the first plateau then sits 0.7% high, beyond its Aitken
tolerance), a 20% wrong c_2 (the last drop never reaches its level) or a wrong target."""

from __future__ import annotations

import pytest

from verify import bmz_b1 as B

FAST = dict(eps=(1e-8, 1e-10, 1e-12), particles=60, dims=(1e2, 1e4, 1e6))


@pytest.fixture(scope="module")
def quick_result():
    return B.compute("quick", **FAST)


def test_quick_passes(quick_result):
    r = quick_result
    assert r.passed, r.summary
    assert r.measured["plateaus"][0] == pytest.approx(0.15625, rel=2e-3)
    assert len(r.measured["stuck_time_by_d"]) == 3
    assert r.measured["stuck_time_per_ln_d"] > 0
    assert r.figure is not None


def test_wrong_c1_in_flow_fails():
    c = B.elu_coefficients()
    c[1] *= 1.05
    r = B.compute("quick", coefficients=c, **FAST)
    assert not r.passed
    assert r.tolerance["plateau_1_limit"]["passed"] is False


def test_wrong_c2_in_flow_fails():
    c = B.elu_coefficients()
    c[2] *= 1.2
    r = B.compute("quick", coefficients=c, **FAST)
    assert not r.passed


def test_wrong_target_fails():
    r = B.compute("quick", target=(0, 1, 0.5, 0.3), **FAST)
    assert not r.passed


def test_bad_overrides():
    with pytest.raises(ValueError, match="at least three"):
        B.compute("quick", eps=(1e-8, 1e-10))
    with pytest.raises(ValueError, match="coefficients"):
        B.compute("quick", target=(0, 1))
    with pytest.raises(ValueError, match="unknown override"):
        B.compute("quick", bogus=1)


@pytest.mark.slow
def test_full_passes():
    r = B.compute("full")
    assert r.passed, r.summary
