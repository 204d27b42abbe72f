"""Claim T3 (verify/ts_t3.py): alignment rises and the network beats initial-kernel ridge;
FAIL when the first layer is trained on permuted labels."""

import pytest

from verify import ts_t3 as T

SMALL = dict(seeds=1, steps=600, particles=96)


def test_small_passes():
    r = T.compute("quick", **SMALL)
    assert r.passed, r.summary
    assert r.measured["alignment_end"] > r.measured["alignment_start"]
    assert r.measured["test_loss_network"] < r.measured["test_loss_initial_kernel"]
    assert r.figure is not None


def test_first_layer_trained_on_permuted_labels_fails():
    r = T.compute("quick", train_labels="shuffled", **SMALL)
    assert not r.passed
    assert r.tolerance["alignment_gain_in_sd"]["passed"] is False


def test_bad_overrides():
    with pytest.raises(ValueError):
        T.compute("quick", train_labels="noise")
    with pytest.raises(ValueError):
        T.compute("quick", init_scale=0.0)


@pytest.mark.slow
def test_quick_size():
    r = T.compute("quick")
    assert r.passed, r.summary
