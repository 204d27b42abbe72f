"""Claim I3 (verify/ssly_i3.py): the sharpness locks at 2/eta; PASS at reduced length,
FAIL against a wrong threshold (1.2 and 1.15 x 2/eta) and at a step size that never
reaches 2/eta."""

from __future__ import annotations

import pytest

from verify import ssly_i3 as K

#: crossings at ~550/400/300 steps: 1500 steps still give twice the crossing time
SHORT = dict(steps=1500)


@pytest.fixture(scope="module")
def short_result():
    return K.compute("quick", **SHORT)


def test_short_run_passes(short_result):
    r = short_result
    assert r.passed, r.summary
    for ratio in r.measured["sharpness_over_2_over_eta"]:
        assert abs(ratio - 1) < 0.05
    assert r.measured["initial_sharpness"] == pytest.approx(6.25, abs=0.1)  # below 2/0.25 = 8
    assert r.figure is not None


@pytest.mark.parametrize("factor", [1.2, 1.15])
def test_wrong_threshold_fails(factor):
    r = K.compute("quick", threshold_factor=factor, **SHORT)
    assert not r.passed
    assert r.tolerance["sharpness_over_2_over_eta"]["passed"] is False


def test_step_size_that_never_reaches_the_edge_fails():
    # eta = 0.05: 2/eta = 40, far above the sharpness this net reaches in 1500 steps
    r = K.compute("quick", step_sizes=(0.05, 0.2, 0.25), **SHORT)
    assert not r.passed
    assert r.tolerance["crossing_step_over_half_the_run"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError, match="threshold_factor"):
        K.compute("quick", threshold_factor=-1.0)
    with pytest.raises(ValueError, match="unknown override"):
        K.compute("quick", eta=0.1)


@pytest.mark.slow
def test_quick_size_passes():
    assert K.compute("quick").passed
