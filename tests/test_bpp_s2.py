"""Claim S2 (verify/bpp_s2.py): runs with equal eta/b agree on the flow-time axis; a
4x different eta/b does not; FAILs when one 'equal' run has a 2x wrong batch size."""

from __future__ import annotations

import pytest

from verify import bpp_s2


@pytest.fixture(scope="module")
def quick():
    return bpp_s2.compute("quick", seed=0)


def test_quick_passes(quick):
    r = quick
    assert r.passed, r.summary
    drop, _ = r.measured["drop_equal_group"]
    quarter, quarter_se, predicted = r.measured["drop_quarter_group_and_prediction"]
    assert drop > 0  # SGD shrinks below the flow
    assert abs(quarter - predicted) < 3 * quarter_se + 0.25 * predicted  # ~ eta/b
    assert set(r.measured["ratios_equal_eta_over_b"]) == {"0.001/1", "0.002/2", "0.004/4"}
    assert r.figure is not None


def test_wrong_batch_pairing_fails():
    # (0.004, 8) instead of (0.004, 4): eta/b off by a factor 2
    r = bpp_s2.compute("quick", seed=0, batch_scale={0.004: 2})
    assert not r.passed
    assert r.tolerance["equal_eta_over_b_agree"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError, match="unknown override"):
        bpp_s2.compute("quick", eta=0.1)
    with pytest.raises(ValueError, match="> 0"):
        bpp_s2.compute("quick", clip_norm=0.0)


@pytest.mark.slow
def test_full_passes():
    assert bpp_s2.compute("full", seed=0).passed
