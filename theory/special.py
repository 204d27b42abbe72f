r"""Special functions as SymPy Functions, with their mpmath evaluations (imports only
:mod:`theory.arithmetic` from ``theory``).

* ``Phi(x)`` — standard normal CDF as a SymPy expression, ``normal_pdf(x)`` its density;
* ``BivariateNormalCDF(h, k, rho)`` — :math:`\Phi_2(h, k; \rho) = P(Z_1<h, Z_2<k)`,
  a SymPy function with exact derivatives and mpmath evaluation
  (:func:`mp_bivariate_normal_cdf`);
* ``Erfcx(x)`` — the scaled complementary error function
  :math:`e^{x^2}\operatorname{erfc}(x)` (:func:`mp_erfcx`), so that
  :math:`e^{2q}\Phi(-2\sqrt q)` never becomes ``inf * 0``;
* ``TiltedOrthant(a, b, rho)`` — :math:`\mathbb{E}[e^{aZ_1+bZ_2}1\{Z_1<0,Z_2<0\}]
  = e^{(a^2+2ab\rho+b^2)/2}\Phi_2(-(a+b\rho), -(a\rho+b); \rho)` as one function
  (:func:`mp_tilted_orthant`), evaluated without forming the huge-times-tiny product;
* :data:`MPMATH_FUNCTIONS` — the mpmath implementations by SymPy function name, for
  ``lambdify``. (``_check_dps``, its old home, is :func:`theory.arithmetic.target_digits`.)

Float64 twins of these functions live in ``numerics.compile``. The Gaussian lemma
blocks built from them are in :mod:`theory.gaussian`.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy import Function, S

from theory.arithmetic import mp_erfc, mp_erfcx, mp_ncdf
from theory.arithmetic import target_digits as _check_dps  # noqa: F401  (its old name)

__all__ = [
    "Phi",
    "normal_pdf",
    "BivariateNormalCDF",
    "Erfcx",
    "TiltedOrthant",
    "MPMATH_FUNCTIONS",
    "mp_bivariate_normal_cdf",
    "mp_erfcx",
    "mp_tilted_orthant",
]


def Phi(x):
    r"""Standard normal CDF :math:`\Phi(x) = \tfrac12(1 + \operatorname{erf}(x/\sqrt2))`."""
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def normal_pdf(x):
    r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""
    return sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)


def mp_bivariate_normal_cdf(h, k, rho):
    r"""mpmath value of :math:`\Phi_2(h, k; \rho)` at the working precision.

    Uses :math:`\Phi_2(h,k;\rho) = \Phi(h)\Phi(k) + \int_0^\rho \varphi_2(h,k;r)\,dr`
    (Plackett's identity, a consequence of
    :math:`\partial_\rho \Phi_2 = \varphi_2`), integrated with tanh-sinh
    quadrature, which copes with the integrable endpoint singularity at
    :math:`|\rho| = 1`.
    """
    h, k, rho = mpmath.mpf(h), mpmath.mpf(k), mpmath.mpf(rho)
    if abs(rho) > 1:
        raise ValueError(f"rho must lie in [-1, 1], got {rho}")
    ncdf = mp_ncdf
    if rho == 1:
        return ncdf(min(h, k))
    if rho == -1:
        return max(mpmath.mpf(0), ncdf(h) - ncdf(-k))

    def density(r):
        one_minus = 1 - r * r
        return mpmath.exp(-(h * h - 2 * r * h * k + k * k) / (2 * one_minus)) / (
            2 * mpmath.pi * mpmath.sqrt(one_minus)
        )

    return ncdf(h) * ncdf(k) + mpmath.quad(density, [0, rho])


class BivariateNormalCDF(Function):
    r""":math:`\Phi_2(h, k; \rho) = P(Z_1 < h, Z_2 < k)` for standard normals with
    correlation :math:`\rho`.

    Derivatives (exact): :math:`\partial_\rho \Phi_2 = \varphi_2(h,k;\rho)`,
    :math:`\partial_h \Phi_2 = \varphi(h)\,\Phi\big((k-\rho h)/\sqrt{1-\rho^2}\big)`.
    Numeric evaluation: mpmath here (``mp_bivariate_normal_cdf``); the float64
    version in ``numerics`` uses Owen's T.
    """

    nargs = 3

    def fdiff(self, argindex=1):
        h, k, rho = self.args
        root = sp.sqrt(1 - rho**2)
        if argindex == 1:
            return normal_pdf(h) * Phi((k - rho * h) / root)
        if argindex == 2:
            return normal_pdf(k) * Phi((h - rho * k) / root)
        if argindex == 3:
            return sp.exp(-(h**2 - 2 * rho * h * k + k**2) / (2 * (1 - rho**2))) / (
                2 * sp.pi * root
            )
        raise sp.ArgumentIndexError(self, argindex)

    @classmethod
    def eval(cls, h, k, rho):
        if h == 0 and k == 0:
            # Sheppard's formula: P(Z1<0, Z2<0) = 1/4 + arcsin(rho)/(2 pi)
            return S.One / 4 + sp.asin(rho) / (2 * sp.pi)
        if rho == 0:
            return Phi(h) * Phi(k)
        return None

    def _eval_evalf(self, prec):
        if not all(a.is_number for a in self.args):
            return None
        # SymPy's evalf protocol: 10 guard bits, SymPy rounds to prec (sp.Float below)
        with mpmath.workprec(prec + 10):
            vals = [mpmath.mpf(sp.N(a, mpmath.mp.dps + 5)) for a in self.args]
            value = mp_bivariate_normal_cdf(*vals)
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        h, k, rho = (printer._print(a) for a in self.args)
        return rf"\Phi_2\left({h}, {k}; {rho}\right)"


class Erfcx(Function):
    r"""Scaled complementary error function :math:`e^{x^2}\operatorname{erfc}(x)`."""

    nargs = 1

    def fdiff(self, argindex=1):
        (x,) = self.args
        return 2 * x * Erfcx(x) - 2 / sp.sqrt(sp.pi)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.exp(x**2) * sp.erfc(x)

    def _eval_evalf(self, prec):
        (x,) = self.args
        if not x.is_number:
            return None
        # SymPy's evalf protocol: 10 guard bits, SymPy rounds to prec (sp.Float below)
        with mpmath.workprec(prec + 10):
            value = mp_erfcx(mpmath.mpf(sp.N(x, mpmath.mp.dps + 5)))
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        return rf"\operatorname{{erfcx}}\left({printer._print(self.args[0])}\right)"


def mp_tilted_orthant(a, b, rho):
    r""":math:`A(a,b;\rho) = \mathbb{E}[e^{aZ_1+bZ_2}\,1\{Z_1<0,Z_2<0\}]` in mpmath, at the
    working precision, for any real ``a, b`` and :math:`|\rho| \le 1`.

    Conditioning on :math:`Z_1 = z` (:math:`Z_2 = \rho z + sW`, :math:`s=\sqrt{1-\rho^2}`):
    :math:`\mathbb{E}[e^{bZ_2}1\{Z_2<0\}\mid z] = e^{b\rho z + b^2s^2/2}\,\Phi(-t(z))`,
    :math:`t(z) = (\rho z + b s^2)/s`, hence with :math:`c = a + b\rho`

    .. math:: A = \frac{1}{\sqrt{2\pi}}\int_{-\infty}^{0}
              e^{-z^2/2 + cz + b^2s^2/2}\,\Phi(-t(z))\,dz
              = e^{E}\int_{-\infty}^{0}\varphi(z-c)\,\Phi(-t(z))\,dz,
              \qquad E = \tfrac12(a^2+2ab\rho+b^2).

    The integrand is positive, so the quadrature is accurate *relative to A* however
    small :math:`\Phi_2` is — unlike :math:`e^{E}\Phi_2(-(a+b\rho), -(a\rho+b);\rho)`,
    a huge factor times a CDF whose absolute rounding error it amplifies. Where
    :math:`t/\sqrt2 > 1` the integrand is written :math:`e^{-z^2/(2s^2)+az}
    \operatorname{erfcx}(t/\sqrt2)` (the same number: the exponent minus :math:`t^2/2`
    simplifies exactly), elsewhere :math:`e^{-z^2/2+cz+b^2s^2/2}\operatorname{erfc}(t/\sqrt2)`.
    For :math:`a, b \ge 0` a kept node (below) has both exponents :math:`\ge -K`,
    :math:`K` about the working bits, which bounds their terms (and :math:`bs` where
    :math:`t/\sqrt2 \le 1`) by :math:`O(K)`: :math:`\log_2(8p)+10` guard bits (``p``
    working bits) suffice at any size of ``a, b``. Otherwise the terms can be as large
    as :math:`|E|+b^2` and cancel: :math:`\log_2(1+|E|+b^2)+10` guard bits. Nodes whose
    value is below :math:`2^{-p-10}` times a lower bound of :math:`A` (comment in the code)
    divided by :math:`1+z^2` are dropped, so that the far nodes of the infinite interval
    never form :math:`e^{-10^{300}}`.
    Quadrature: mpmath's tanh-sinh rule on :math:`(-\infty, 0]`, split at :math:`c` when
    :math:`c<0` (the peak of :math:`\varphi(z-c)`); its nodes cluster double-exponentially
    at the ends of each piece, which resolves the scale :math:`\min(s, 1/|a|)` of the
    integrand at :math:`z=0` (checked against the closed form at 30 extra digits on
    random arguments, tests/test_gaussian.py). If mpmath's error estimate exceeds
    :math:`10^{3-D}` relative (``D`` working digits), again with pieces graded by 2 from
    :math:`\min(s, 1/(1+|a|))/2` to 1; then ArithmeticError. :math:`\rho = 1`:
    :math:`\operatorname{erfcx}((a+b)/\sqrt2)/2`; :math:`\rho=-1`: 0 (:math:`Z_2=-Z_1`,
    the orthant is a null set).
    """
    a, b, rho = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(rho)
    if abs(rho) > 1:
        raise ValueError(f"rho must lie in [-1, 1], got {rho}")
    if rho == 1:
        return mp_erfcx((a + b) / mpmath.sqrt(2)) / 2
    if rho == -1:
        return mpmath.mpf(0)
    digits = mpmath.mp.dps
    if a >= 0 and b >= 0:
        # every exponent formed below is <= 1 where a node is kept, and its terms are
        # then O(working bits) (docstring): guard bits for those, not for E
        size = 8 * mpmath.mp.prec
    else:
        size = 1 + abs(a * a + 2 * a * b * rho + b * b) / 2 + b * b
    guard = int(mpmath.log(size, 2)) + 10
    # guard bits sized by the arguments (not theory.arithmetic's fixed digits), the
    # precision rounded up to a multiple of 64 bits: mpmath caches quadrature nodes per
    # precision, and recomputing them would dominate the cost
    with mpmath.workprec(-(-(mpmath.mp.prec + guard) // 64) * 64):
        s2 = (1 - rho) * (1 + rho)
        s = mpmath.sqrt(s2)
        if s == 0:  # |rho| within rounding of 1
            value = mpmath.mpf(0) if rho < 0 else mp_erfcx((a + b) / mpmath.sqrt(2)) / 2
            return +value
        c = a + b * rho
        half_b2s2 = b * b * s2 / 2
        # Phi(-t) = erfc(t/sqrt 2)/2 with t/sqrt 2 = slope z + offset (erfc is ~3x
        # cheaper than mpmath.ncdf)
        slope, offset = rho / (s * mpmath.sqrt(2)), b * s / mpmath.sqrt(2)
        # Far tanh-sinh nodes (|z| up to 1e190 at large a, b) make exp(-z^2/2 - t^2)
        # astronomically small and slow to evaluate: a node is dropped when its value is
        # below floor/(1 + w^2) (w: the integration variable), which bounds all dropped
        # terms together by ~pi floor. floor = 2^-(prec+10) x a lower bound of the
        # integral: with delta = min(1/(|a|+|b|+1), s), on the box -delta < Z1, Z2 < 0
        # e^{aZ1+bZ2} >= e^-1 and the density >= e^-2/(2 pi s), so A >= e^-3 delta^2/(2 pi s)
        # and the integral (2 sqrt(2 pi) A) >= e^-3 delta^2 sqrt(2/pi)/s.
        delta = min(1 / (abs(a) + abs(b) + 1), s)
        log_floor = (-3 + 2 * mpmath.log(delta) + mpmath.log(mpmath.sqrt(2 / mpmath.pi) / s)
                     - (mpmath.mp.prec + 10) * mpmath.ln2)
        log_two = mpmath.ln2

        def integrand(z, w=None):
            t = slope * z + offset
            cut = log_floor - mpmath.log1p((z if w is None else w) ** 2)
            if t > 1:
                # erfc(t) = e^{-t^2} erfcx(t) with erfcx(t) <= 1, and the exponent minus t^2
                # is exactly -z^2/(2 s^2) + a z: no cancellation, no underflow
                exponent = -z * z / (2 * s2) + a * z
                return mpmath.mpf(0) if exponent < cut else mpmath.exp(exponent) * mp_erfcx(t)
            exponent = -z * z / 2 + c * z + half_b2s2
            if exponent + log_two < cut:  # erfc(t) <= 2
                return mpmath.mpf(0)
            return mpmath.exp(exponent) * mpmath.erfc(t)

        # tanh-sinh clusters its nodes at the ends of each piece, which resolves the
        # scale min(s, 1/|a|) of the integrand at z = 0 and its Gaussian tail. For
        # a, b >= 0 the factor Phi(-t) removes the peak of phi(z - c) (t(c) = (a rho + b)/s
        # > 0), so c is a breakpoint only for negative arguments.
        peak = [c] if c < 0 and (a < 0 or b < 0) else []
        if rho < 0:
            # Phi(-t) decays on the scale s: integrate in u = z/s
            def scaled(u, f=integrand):
                return s * f(s * u, u)

            integrand, points = scaled, [-mpmath.inf, *(p / s for p in peak), 0]
        else:
            # Phi(-t) steps from 1 to 1/2 within a few s of z = 0: a piece for the step
            points = sorted({-mpmath.inf, *peak, *([-10 * s] if s < 0.01 else []),
                             mpmath.mpf(0)})
        # mpmath.quad stops on an *absolute* error of one ulp: integrate integrand/scale,
        # scale a first rough value (a value far below 1, e.g. 1e-75 at b = 1e75, would
        # otherwise stop at the first level), or the lower bound if that is larger
        rough = mpmath.quad(integrand, points, maxdegree=3)
        scale = max(abs(rough), mpmath.exp(log_floor + (mpmath.mp.prec + 10) * mpmath.ln2))

        def integrate(pieces):
            v, e = mpmath.quad(lambda z: integrand(z) / scale, pieces, error=True)
            return v * scale, e * scale

        value, err = integrate(points)
        target = mpmath.mpf(10) ** (3 - digits)
        if not err <= abs(value) * target:
            # a scale far below 1 at z = 0 (rho -> +-1 or large a): add pieces graded by 2
            # from that scale up to 1
            cuts, step = set(points), min(1, s, 1 / (1 + abs(a))) / 2
            while step < 1:
                cuts.add(-step if rho >= 0 else -step / s)
                step *= 2
            value, err = integrate(sorted(cuts))
        if not err <= abs(value) * target:
            raise ArithmeticError(
                f"tilted orthant quadrature at a={mpmath.nstr(a, 8)}, b={mpmath.nstr(b, 8)}, "
                f"rho={mpmath.nstr(rho, 8)} did not converge (error estimate "
                f"{mpmath.nstr(err, 3)}, value {mpmath.nstr(value, 8)})")
        value = value / (2 * mpmath.sqrt(2 * mpmath.pi))
    return +value


class TiltedOrthant(Function):
    r"""Tilted orthant probability :math:`A(a, b; \rho) = \mathbb{E}[e^{aZ_1+bZ_2}\,
    1\{Z_1<0, Z_2<0\}]` for standard normals with correlation :math:`\rho`; by
    exponential tilting (mean shifted to :math:`(a+b\rho, a\rho+b)`)

    .. math:: A(a, b; \rho) = e^{(a^2+2ab\rho+b^2)/2}\,\Phi_2(-(a+b\rho), -(a\rho+b); \rho)

    (``rewrite(BivariateNormalCDF)``). One function rather than that product so that
    numerics never form a huge exponential times a tiny CDF: mpmath evaluates
    :func:`mp_tilted_orthant`, float64 ``numerics.compile.tilted_orthant``. For
    :math:`a, b \ge 0` it lies in :math:`(0, \tfrac12]`.

    Derivatives (differentiate the product; with :math:`s=\sqrt{1-\rho^2}`,
    :math:`\partial_h\Phi_2 = \varphi(h)\Phi((k-\rho h)/s)` and
    :math:`e^{E}\varphi(a+b\rho)\Phi(-bs) = \operatorname{erfcx}(bs/\sqrt2)/(2\sqrt{2\pi})`,
    :math:`e^{E}\varphi_2(h,k;\rho) = 1/(2\pi s)`):

    .. math::
        \partial_a A &= (a+b\rho)A - \frac{\operatorname{erfcx}(bs/\sqrt2)
                        + \rho\operatorname{erfcx}(as/\sqrt2)}{2\sqrt{2\pi}}, \\
        \partial_b A &= (b+a\rho)A - \frac{\operatorname{erfcx}(as/\sqrt2)
                        + \rho\operatorname{erfcx}(bs/\sqrt2)}{2\sqrt{2\pi}}, \\
        \partial_\rho A &= abA - \frac{b\operatorname{erfcx}(bs/\sqrt2)
                        + a\operatorname{erfcx}(as/\sqrt2)}{2\sqrt{2\pi}} + \frac{1}{2\pi s}.
    """

    nargs = 3

    def fdiff(self, argindex=1):
        a, b, rho = self.args
        s = sp.sqrt(1 - rho**2)
        ea, eb = Erfcx(a * s / sp.sqrt(2)), Erfcx(b * s / sp.sqrt(2))
        norm = 2 * sp.sqrt(2 * sp.pi)
        if argindex == 1:
            return (a + b * rho) * self - (eb + rho * ea) / norm
        if argindex == 2:
            return (b + a * rho) * self - (ea + rho * eb) / norm
        if argindex == 3:
            return a * b * self - (b * eb + a * ea) / norm + 1 / (2 * sp.pi * s)
        raise sp.ArgumentIndexError(self, argindex)

    @classmethod
    def eval(cls, a, b, rho):
        if a == 0 and b == 0:
            # Sheppard: P(Z1<0, Z2<0) = 1/4 + arcsin(rho)/(2 pi)
            return S.One / 4 + sp.asin(rho) / (2 * sp.pi)
        if rho == 0:
            # independence: E[e^{aZ}1{Z<0}] = e^{a^2/2} Phi(-a) = erfcx(a/sqrt 2)/2
            return Erfcx(a / sp.sqrt(2)) * Erfcx(b / sp.sqrt(2)) / 4
        if rho == 1:
            return Erfcx((a + b) / sp.sqrt(2)) / 2
        if rho == -1:
            return S.Zero
        return None

    def _eval_rewrite_as_BivariateNormalCDF(self, a, b, rho, **kwargs):
        return sp.exp((a**2 + 2 * a * b * rho + b**2) / 2) * BivariateNormalCDF(
            -(a + b * rho), -(a * rho + b), rho)

    def _eval_evalf(self, prec):
        if not all(v.is_number for v in self.args):
            return None
        # SymPy's evalf protocol: 10 guard bits, SymPy rounds to prec (sp.Float below)
        with mpmath.workprec(prec + 10):
            vals = [mpmath.mpf(sp.N(v, mpmath.mp.dps + 5)) for v in self.args]
            value = mp_tilted_orthant(*vals)
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        a, b, rho = (printer._print(v) for v in self.args)
        return rf"\mathcal{{A}}\left({a}, {b}; {rho}\right)"


#: mpmath implementations of the special functions above, for lambdify.
MPMATH_FUNCTIONS = {
    "erfc": mp_erfc,  # mpmath.erfc overflows past 1.3e154
    "BivariateNormalCDF": mp_bivariate_normal_cdf,
    "Erfcx": mp_erfcx,
    "TiltedOrthant": mp_tilted_orthant,
}
