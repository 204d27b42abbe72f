"""Claim H2 (verify/hs_h2.py): SGD behaves like GD; random biases escape."""

from __future__ import annotations

import pytest

from verify import hs_h2

SMALL = dict(runs=200, variant_runs=40, check_every=20)  # the rule at 1/50 of its period


@pytest.fixture(scope="module")
def small():
    return hs_h2.compute("quick", seed=0, **SMALL)


def test_small_passes(small):
    r = small
    assert r.passed, r.summary
    rb, sw = (r.measured["variants_fraction_and_99_interval"][k]
              for k in ("random_biases", "swapped_variances"))
    assert rb[0] < 0.1 and sw[0] < 0.5  # both escape; swapped is only reported
    assert r.figure is not None


def test_sgd_with_random_biases_fails():
    r = hs_h2.compute("quick", seed=0, bias_std=0.01, **SMALL)
    assert not r.passed


def test_crossing_criterion_blind_to_kinks_in_the_data_fails_the_mechanism():
    # kinks counted only beyond all data (|x| >= 4) while random biases put them inside:
    # "uncrossed" runs then fit below the per-side fit
    r = hs_h2.compute("quick", seed=0, bias_std=1.0, crossing_at=4.0, **SMALL)
    assert r.tolerance["sgd_uncrossed_runs_at_fit"]["passed"] is False


def test_escape_indistinguishable_from_he_fails():
    r = hs_h2.compute("quick", seed=0, escape_bias_std=1e-9, **SMALL)
    assert r.tolerance["random_biases_escape"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError, match="> 0"):
        hs_h2.compute("quick", escape_bias_std=0.0)
    with pytest.raises(ValueError, match="unknown override"):
        hs_h2.compute("quick", method="gd")


@pytest.mark.slow
def test_quick_size_passes():
    assert hs_h2.compute("quick", seed=0).passed
