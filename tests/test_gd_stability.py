"""theory.gd_stability: derived coefficients, the GD interval, alpha_min for the
checkerboard (SETUPS.md: 50625 * 1024 / 4 = 1.296e7 without the l'' term)."""

from __future__ import annotations

import sympy as sp

from theory import gd_stability as gs


def test_coefficients():
    assert gs.coefficients() == {"s1": sp.Rational(1, 2), "s2": gs.b / 2,
                                 "l1": -sp.Rational(1, 2), "l2": sp.Rational(1, 4)}


def test_gd_interval():
    assert gs.gd_interval() == sp.Interval.open(0, 2 / gs.lr)


def test_checkerboard_alpha_min_and_region():
    a = gs.checkerboard_alpha_min(32, 256, beta=1)
    assert a == 50625 * 1024 / sp.Integer(4) - sp.Rational(1024, 16)
    assert gs.checkerboard_alpha_min(32, 256, beta=1, pooling="mean") == 256 - sp.Rational(
        64, 50625**2)
    assert gs.checkerboard_alpha_min(32, 257, beta=1) == 226**2 * 256  # even: p = 0
    region = gs.checkerboard_region(32, 256, beta=1).subs(gs.lr, sp.Rational(1, 10**8))
    assert region == sp.Interval.open(a, 2 * 10**8)
    assert gs.checkerboard_region(32, 256, beta=1).subs(gs.lr, sp.Rational(2, 10**7)) == \
        sp.EmptySet
