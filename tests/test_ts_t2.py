"""Claim T2 (verify/ts_t2.py): particle slope -1, time slope +1, linear convergence; FAIL
on a kernel scaling that is not the mean-field 1/N and on a noise scaling that is not
Euler-Maruyama."""

import numpy as np
import pytest

from verify import ts_t2 as T

SMALL = dict(particles=(4, 8, 16), replicas=64, time=100.0, coupled_time=20.0,
             time_particles=8)


@pytest.fixture(scope="module")
def small():
    return T.compute("quick", **SMALL)


def test_small_passes(small):
    assert small.passed, small.summary
    assert abs(small.measured["particle_slope"] + 1) < 0.3
    assert abs(small.measured["time_slope"] - 1) < 0.3
    assert small.figure is not None


def test_convergence_fit_on_an_exponential():
    t = np.linspace(0, 10, 101)
    V = (np.exp(-t) * 5 + 1)[:, None] + 1e-4 * np.random.default_rng(0).standard_normal(
        (101, 4))
    rate, ratio, _, used = T._convergence(t, V)
    assert rate == pytest.approx(1.0, rel=0.05) and ratio == pytest.approx(1, abs=0.1)
    assert len(used) > 10


def test_convergence_fit_rejects_a_power_law():
    t = np.linspace(0, 10, 101)
    V = (5 / (1 + t) + 1)[:, None] + 1e-5 * np.random.default_rng(0).standard_normal(
        (101, 4))
    _, ratio, _, _ = T._convergence(t, V)
    assert ratio < 0.75


def test_kernel_scaling_off_the_mean_field_one_fails():
    r = T.compute("quick", kernel_exponent=0.5, **SMALL)  # the NTK scaling
    assert not r.passed
    assert r.tolerance["particle_slope"]["passed"] is False


def test_wrong_noise_scaling_fails():
    r = T.compute("quick", noise_exponent=0.55, **SMALL)
    assert not r.passed


def test_bad_overrides():
    with pytest.raises(ValueError):
        T.compute("quick", particles=(4, 6, 8))
    with pytest.raises(ValueError):
        T.compute("quick", noise_exponent=-1.0)


@pytest.mark.slow
def test_quick_size():
    r = T.compute("quick")
    assert r.passed, r.summary
