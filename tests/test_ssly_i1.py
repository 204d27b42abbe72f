"""Claim I1 (verify/ssly_i1.py): last-bit perturbations grow; divergence step vs bits at
ln 2 / lambda. PASS at reduced size (float32, float64, 106-bit Arb), FAIL with the
perturbation removed and with the Lyapunov exponent 20% off either way."""

from __future__ import annotations

import pytest

from verify import ssly_i1 as K

SMALL = dict(steps=1200, max_steps=1000)


@pytest.fixture(scope="module")
def result():
    return K.compute("quick", **SMALL)


def test_passes(result):
    r = result
    assert r.passed, r.summary
    assert r.measured["relative_l2_small_lr"] < 1e-14
    steps = r.measured["divergence_step_by_bits"]
    assert steps["24"] < steps["53"] < steps["106"]
    assert r.measured["steps_per_bit"] == pytest.approx(r.measured["lyapunov_prediction"],
                                                        rel=0.1)
    assert r.figure is not None


@pytest.mark.parametrize("scale", [1.2, 0.8])
def test_wrong_exponent_fails(scale):
    r = K.compute("quick", lyapunov_scale=scale, **SMALL)
    assert not r.passed
    assert r.tolerance["steps_from_first_vs_ln2_over_lambda"]["passed"] is False


def test_perturbation_removed_fails():
    r = K.compute("quick", k=1, flip_weight=False, bits=(24, 53), steps=300, max_steps=300)
    assert not r.passed
    assert r.measured["relative_l2_large_lr"] == 0.0
    assert r.tolerance["divergence_step_grows_with_bits"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError, match="k"):
        K.compute("quick", k=0)


@pytest.mark.slow
def test_quick_size_passes():
    assert K.compute("quick").passed
