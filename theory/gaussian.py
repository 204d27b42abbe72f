r"""Gaussian expectation engine (SymPy + mpmath only).

Building blocks for dual kernels :math:`\mathbb{E}[f(u)g(v)]` with
:math:`(u, v) \sim \mathcal{N}(0, [[q_{11}, q_{12}], [q_{12}, q_{22}]])`:

* ``Phi(x)`` — standard normal CDF as a SymPy expression,
* ``BivariateNormalCDF(h, k, rho)`` — :math:`\Phi_2(h, k; \rho) = P(Z_1<h, Z_2<k)`,
  a SymPy function with exact derivatives and mpmath evaluation,
* ``Erfcx(x)`` — the scaled complementary error function
  :math:`e^{x^2}\operatorname{erfc}(x)`, so that :math:`e^{2q}\Phi(-2\sqrt q)`
  never becomes ``inf * 0``,
* ``hermite_coefficients`` — normalized Hermite coefficients
  :math:`c_k = \mathbb{E}[\sigma(z) \mathrm{He}_k(z)] / \sqrt{k!}`.

Price's theorem, :math:`\partial_{q_{12}} \mathbb{E}[f(u)g(v)] = \mathbb{E}[f'(u)g'(v)]`,
is what ties a dual kernel to its derivative kernel; the checks live in
``price_theorem_residual`` and the tests.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy import Function, S

__all__ = [
    "Phi",
    "BivariateNormalCDF",
    "Erfcx",
    "hermite_coefficients",
    "mp_bivariate_normal_cdf",
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
    ncdf = mpmath.ncdf
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
        with mpmath.workprec(prec + 10):
            xv = mpmath.mpf(sp.N(x, mpmath.mp.dps + 5))
            value = mpmath.exp(xv * xv) * mpmath.erfc(xv)
        return sp.Float(value, precision=prec)

    def _latex(self, printer):
        return rf"\operatorname{{erfcx}}\left({printer._print(self.args[0])}\right)"


#: mpmath implementations of the special functions above, for lambdify.
MPMATH_FUNCTIONS = {
    "BivariateNormalCDF": mp_bivariate_normal_cdf,
    "Erfcx": lambda x: mpmath.exp(x * x) * mpmath.erfc(x),
}


def _check_dps(dps):
    if dps is None:
        return 15
    if not isinstance(dps, int) or isinstance(dps, bool) or dps <= 0:
        raise ValueError(f"dps must be a positive integer (decimal digits), got {dps!r}")
    return dps


def gaussian_expectation(fn, *, dps=None, kinks=()):
    r""":math:`\mathbb{E}[f(z)]`, :math:`z \sim \mathcal N(0,1)`, by mpmath
    tanh-sinh quadrature split at the given kinks (so piecewise integrands are
    integrated to full precision)."""
    dps = _check_dps(dps)
    with mpmath.workdps(dps + 10):
        points = [-mpmath.inf, *sorted(mpmath.mpf(k) for k in set(kinks)), mpmath.inf]
        value = mpmath.quad(lambda z: fn(z) * mpmath.npdf(z), points)
    return value


def hermite_coefficients(activation, k_max, *, dps=None, **params):
    r"""Normalized Hermite coefficients of an activation.

    .. math:: c_k = \mathbb{E}[\sigma(z)\,\mathrm{He}_k(z)]/\sqrt{k!},
              \quad z\sim\mathcal N(0,1), \quad k = 0..k_{\max},

    so that :math:`\sigma = \sum_k c_k \mathrm{He}_k/\sqrt{k!}` and
    :math:`\mathbb{E}[\sigma(u)\sigma(v)] = \sum_k c_k^2 \rho^k` for unit variances.
    Computed with mpmath quadrature (split at the activation's kinks) at
    ``dps`` digits; returns a list of mpmath numbers when ``dps`` is given,
    else floats.
    """
    from theory.activations import resolve

    act = resolve(activation, **params)
    if not isinstance(k_max, int) or isinstance(k_max, bool) or k_max < 0:
        raise ValueError(f"k_max must be a non-negative integer, got {k_max!r}")
    work = _check_dps(dps)
    sigma = act.mpmath_function()
    coeffs = []
    with mpmath.workdps(work + 10):
        for k in range(k_max + 1):
            norm = mpmath.sqrt(mpmath.factorial(k))
            value = gaussian_expectation(
                lambda z, k=k: sigma(z) * mpmath.hermite(k, z / mpmath.sqrt(2))
                / mpmath.mpf(2) ** (mpmath.mpf(k) / 2),
                dps=work,
                kinks=act.kinks,
            )
            coeffs.append(value / norm)
    if dps is None:
        return [float(c) for c in coeffs]
    with mpmath.workdps(work):
        return [+c for c in coeffs]


# ---------------------------------------------------------------------------
# lemma blocks for the ELU kernels
# ---------------------------------------------------------------------------

def tilted_orthant(a, b, rho):
    r""":math:`A(a,b) = \mathbb{E}[e^{aZ_1+bZ_2}\,1\{Z_1<0, Z_2<0\}]` for standard
    normals with correlation :math:`\rho`. Exponential tilting shifts the mean to
    :math:`(a+b\rho, a\rho+b)`, so

    .. math:: A(a,b) = e^{(a^2+2ab\rho+b^2)/2}\,\Phi_2(-(a+b\rho), -(a\rho+b); \rho).
    """
    return sp.exp((a**2 + 2 * a * b * rho + b**2) / 2) * BivariateNormalCDF(
        -(a + b * rho), -(a * rho + b), rho
    )


def elu_kernels(alpha):
    r"""Closed-form ELU dual kernels for any :math:`\alpha \ge 0`.

    :math:`\sigma(x) = x` for :math:`x>0`, :math:`\alpha(e^x-1)` otherwise. With
    :math:`u = s_1 Z_1`, :math:`v = s_2 Z_2`, :math:`\rho = q_{12}/(s_1 s_2)`,
    the tilted orthant block :func:`tilted_orthant` and Stein's lemma for
    :math:`\mathbb{E}[Z_1 1\{Z_1>-m_1\}1\{Z_2<-m_2\}]` give every term in terms
    of :math:`\Phi`, :math:`\Phi_2` and :math:`\varphi`. Returns the
    ``Activation`` keyword arguments ``dual, dual_derivative, dual_diagonal,
    dual_derivative_diagonal``.
    """
    from theory.activations import q, q11, q12, q22

    s1, s2 = sp.sqrt(q11), sp.sqrt(q22)
    rho = q12 / (s1 * s2)
    root = sp.sqrt(1 - rho**2)
    both_positive = BivariateNormalCDF(0, 0, rho)  # P(Z1>0, Z2>0) = P(Z1<0, Z2<0)

    def exp_negative(b):
        # E[e^{b Z} 1{Z<0}] = e^{b^2/2} Phi(-b)
        return sp.exp(b**2 / 2) * Phi(-b)

    def relu_times_expneg(s_relu, b):
        # E[s_relu Z1 1{Z1>0} (e^{b Z2} - 1) 1{Z2<0}]
        m1 = b * rho
        tilted = sp.exp(b**2 / 2) * (
            m1 * (Phi(-b) - BivariateNormalCDF(-m1, -b, rho))
            + normal_pdf(m1) * Phi(-b * root)
            - rho * normal_pdf(b) / 2
        )
        plain = (1 - rho) / (2 * sp.sqrt(2 * sp.pi))
        return s_relu * (tilted - plain)

    relu_part = (sp.sqrt(q11 * q22 - q12**2) + (sp.pi - sp.acos(rho)) * q12) / (2 * sp.pi)
    negative_part = (
        tilted_orthant(s1, s2, rho)
        - tilted_orthant(s1, 0, rho)
        - tilted_orthant(0, s2, rho)
        + both_positive
    )
    dual = (
        relu_part
        + alpha * relu_times_expneg(s1, s2)
        + alpha * relu_times_expneg(s2, s1)
        + alpha**2 * negative_part
    )
    dual_derivative = (
        both_positive
        + alpha * (exp_negative(s2) - tilted_orthant(0, s2, rho))
        + alpha * (exp_negative(s1) - tilted_orthant(s1, 0, rho))
        + alpha**2 * tilted_orthant(s1, s2, rho)
    )
    # diagonals with erfcx: e^{2q} Phi(-2 sqrt q) = erfcx(sqrt(2q))/2
    dual_diagonal = q / 2 + alpha**2 * (
        Erfcx(sp.sqrt(2 * q)) / 2 - Erfcx(sp.sqrt(q / 2)) + sp.Rational(1, 2)
    )
    dual_derivative_diagonal = sp.Rational(1, 2) + alpha**2 * Erfcx(sp.sqrt(2 * q)) / 2
    return {
        "dual": dual,
        "dual_derivative": dual_derivative,
        "dual_diagonal": dual_diagonal,
        "dual_derivative_diagonal": dual_derivative_diagonal,
    }
