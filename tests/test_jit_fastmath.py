"""numerics.jit_fastmath: the branch-free asin, acos, atan of the compiled Gram engine,
measured in ulp against 30-digit mpmath on dense grids with the reduction boundaries, the
ends of [-1, 1] and tiny arguments; a truncated polynomial must fail the same bound."""

import math
import re

import mpmath
import numba
import numpy as np
import pytest

from numerics import jit_fastmath as fm

RNG = np.random.default_rng(20261201)


def _neighbours(points, k=20):
    """Each point and its k floating-point neighbours on either side."""
    return np.concatenate([b + np.arange(-k, k + 1) * np.spacing(b) for b in points])


def _unit_grid():
    tiny = np.geomspace(1e-300, 0.5, 400)
    g = np.concatenate([np.linspace(-1, 1, 4001), RNG.uniform(-1, 1, 4000), tiny, -tiny,
                        [0.0, -0.0], _neighbours([0.5, -0.5, 0.975, -0.975, 1.0, -1.0])])
    return g[np.abs(g) <= 1]


def _atan_grid():
    large = np.geomspace(1e-300, 1e300, 800)
    bounds = [7 / 16, 11 / 16, 19 / 16, 39 / 16]
    return np.concatenate([RNG.uniform(-4, 4, 6000), np.linspace(-10, 10, 2001), large, -large,
                           _neighbours(bounds + [-b for b in bounds]), [0.0]])


def max_ulp(f, reference, xs):
    """Largest |f(x) - reference(x)| in units of the last place of the true value."""
    worst = 0.0
    with mpmath.workdps(30):
        for x in xs:
            exact = reference(mpmath.mpf(float(x)))
            y = f(float(x))
            if not math.isfinite(y):
                return math.inf
            err = abs(mpmath.mpf(y) - exact)
            worst = max(worst, float(err / np.spacing(abs(float(exact)))) if exact else
                        float(err) / 5e-324)
    return worst


UNIT, ATAN = _unit_grid(), _atan_grid()


@pytest.mark.parametrize("name, f, ref, grid", [
    ("asin", fm.asin, mpmath.asin, UNIT), ("acos", fm.acos, mpmath.acos, UNIT),
    ("atan", fm.atan, mpmath.atan, ATAN)])
def test_within_stated_ulp(name, f, ref, grid):
    assert max_ulp(f, ref, grid) <= fm.MAX_ULP[name]


def _truncated(coeffs):
    return tuple(coeffs[:-1]) + (0.0,)


@pytest.mark.parametrize("f, ref, grid", [
    (lambda x: fm.asin_with(x, _truncated(fm.ASIN_P), fm.ASIN_Q), mpmath.asin, UNIT),
    (lambda x: fm.acos_with(x, _truncated(fm.ASIN_P), fm.ASIN_Q), mpmath.acos, UNIT),
    (lambda x: fm.asin_with(x, fm.ASIN_P, _truncated(fm.ASIN_Q)), mpmath.asin, UNIT),
    (lambda x: fm.atan_with(x, _truncated(fm.ATAN_COEFFS)), mpmath.atan, ATAN)])
def test_truncated_polynomial_fails(f, ref, grid):
    """Dropping the last coefficient (of order 1e-5 .. 1e-2) breaks the bound: the grid
    and the measure see the polynomial's tail."""
    assert max_ulp(f, ref, grid) > 4 * max(fm.MAX_ULP.values())


def test_special_values():
    assert fm.asin(1.0) == math.asin(1.0) and fm.asin(-1.0) == -math.asin(1.0)
    assert fm.acos(1.0) == 0.0 and fm.acos(-1.0) == math.pi and fm.acos(0.0) == math.pi / 2
    assert fm.atan(math.inf) == math.pi / 2 and fm.atan(-math.inf) == -math.pi / 2
    assert math.copysign(1.0, fm.asin(-0.0)) == -1.0 and math.copysign(1.0, fm.atan(-0.0)) < 0
    for f in (fm.asin, fm.acos, fm.atan):
        assert math.isnan(f(math.nan))
    for x in (1.0 + 2.2e-16, -1.0 - 2.2e-16, 2.0, math.inf):
        assert math.isnan(fm.asin(x)) and math.isnan(fm.acos(x))


def test_atan_table_is_atan():
    """The head + tail constants of the reduction are atan(1/2), atan(1), atan(3/2), pi/2."""
    with mpmath.workdps(40):
        for hi, lo, c in zip(fm._ATAN_HI, fm._ATAN_LO, (0.5, 1.0, 1.5, mpmath.inf),
                                strict=True):
            # lo is the double nearest atan(c) - hi: within half its ulp
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - mpmath.atan(c)) <= np.spacing(lo) / 2


def test_a_fastmath_loop_over_them_vectorizes_and_keeps_their_values():
    """Branch-free and inlinable: LLVM turns a loop calling them into vector code (what the
    Gram engine relies on; a branch or an opaque libm call would leave it scalar), and
    inside the fastmath loop they give the same bits as alone (numba lets a callee inherit
    its caller's fastmath unless the callee sets it, and reassociation would undo the
    head/tail split)."""
    @numba.njit(error_model="numpy", fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
    def loop(x, out):
        for i in range(x.size):
            out[0, i] = fm.acos(x[i])
            out[1, i] = fm.asin(x[i])
            out[2, i] = fm.atan(4.0 * x[i])

    x = np.concatenate([UNIT[::7], [1.0, -1.0, 0.5, -0.5]])
    out = np.empty((3, x.size))
    loop(x, out)
    ir = next(iter(loop.inspect_llvm().values()))
    assert re.search(r"<\d+ x double>", ir), "no vector instructions"
    assert not re.search(r"call [^\n]*@(acos|asin|atan)\b", ir)
    alone = [[f(v) for v in x] for f in (fm.acos, fm.asin, lambda v: fm.atan(4.0 * v))]
    np.testing.assert_array_equal(out, alone)
