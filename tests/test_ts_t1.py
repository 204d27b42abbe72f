"""Claim T1 (verify/ts_t1.py): convexity of G along mixtures; FAIL on a kernel that is not
linear in mu and on a 0.1% error in the first variation."""

import pytest

from verify import ts_t1 as T

SMALL = dict(pairs=40, n=20, max_particles=20, grid=11)


def test_passes_and_records():
    r = T.compute("quick", **SMALL)
    assert r.passed, r.summary
    assert r.measured["min_second_difference"] > 0
    assert r.figure is not None


def test_mean_feature_kernel_is_not_convex():
    r = T.compute("quick", nonlinear_weight=1.0, **SMALL)
    assert not r.passed
    assert r.tolerance["convexity_violation"]["passed"] is False
    assert r.measured["min_second_difference"] < 0


def test_slightly_nonlinear_kernel_fails_by_first_variation():
    # convexity survives alpha = 1e-3, the first variation of a linear K does not
    r = T.compute("quick", nonlinear_weight=1e-3, **SMALL)
    assert not r.passed
    assert r.tolerance["first_variation"]["passed"] is False


def test_first_variation_off_by_a_tenth_of_a_percent_fails():
    r = T.compute("quick", first_variation_scale=1.001, **SMALL)
    assert not r.passed and r.tolerance["first_variation"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError):
        T.compute("quick", nonlinear_weight=2.0)
    with pytest.raises(ValueError):
        T.compute("quick", grid=2)
    with pytest.raises(ValueError):
        T.compute("quick", unknown=1)


@pytest.mark.slow
def test_quick_size():
    assert T.compute("quick").passed
