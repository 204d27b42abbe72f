"""Tests for claim SS1 (verify/bmz_ss1.py): PASS at reduced size; FAIL with I2 in place
of I3 in the ODE; bad overrides."""

from __future__ import annotations

import pytest

from verify import bmz_ss1 as B


def test_reduced_passes():
    r = B.compute("quick", widths=(100, 200), seeds=6)
    assert r.passed, r.summary
    assert r.measured["plateau_ode"] == pytest.approx(0.0149, rel=0.05)
    assert abs(r.measured["plateau_sgd"] - r.measured["plateau_ode"]) < 1e-3
    assert r.figure is not None


def test_wrong_i3_fails():
    r = B.compute("quick", wrong_i3=True, widths=(100, 200), seeds=4, t_max=60.0)
    assert not r.passed


def test_bad_overrides():
    with pytest.raises(ValueError, match="two widths"):
        B.compute("quick", widths=(100,))
    with pytest.raises(ValueError, match="unknown override"):
        B.compute("quick", lr=0.1)


@pytest.mark.slow
def test_quick_and_full_pass():
    assert B.compute("quick").passed
    assert B.compute("full").passed
