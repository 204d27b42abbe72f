r"""Registry dual kernels rewritten for floating point, in :math:`(s_1, s_2, \rho)`.

Both float64 evaluators of a closed form, the compiled Gram engine
(:mod:`numerics.gram`) and the NumPy path (:mod:`numerics.kernels`), evaluate the
expressions this module derives from the registry's SymPy ones, so nothing is written
per activation and the two paths agree to rounding:

- :math:`q_{ii} = s_i^2`, :math:`q_{12} = \rho\,s_1 s_2`: no overflow of
  :math:`q_{11}q_{22}`, and :math:`\rho` can be clipped and snapped to :math:`\pm 1`;
- square roots of radicands even in :math:`\rho` as :math:`(c_0 + c_2) - c_2(1-\rho)(1+\rho)`
  with the sum cancelled symbolically (ReLU: :math:`s_1 s_2\sqrt{(1-\rho)(1+\rho)}`);
- :math:`c e^A - c e^B` as :math:`2c\,e^{(A+B)/2}\sinh((A-B)/2)` where
  :math:`|A - B| < 2` (kept as written beyond, where it cannot cancel but sinh overflows);
- pairs of one-sided tilted orthants from their sum (ELU: 3 special-function calls per
  entry instead of 5).
"""

from __future__ import annotations

import sympy as sp

from theory.special import Erfcx, TiltedOrthant
from theory.symbols import q11, q12, q22

__all__ = ["S1", "S2", "RHO", "in_s_rho"]

S1, S2 = sp.symbols("s1 s2", positive=True)
RHO = sp.Symbol("rho", real=True)


def _root_base(base):
    """A radicand that is even in rho, c0 + c2 rho^2, as (c0 + c2) - c2 (1-rho)(1+rho):
    the sum c0 + c2 cancels symbolically, so nothing cancels in floating point as
    rho -> 1 (ReLU: s1^2 s2^2 (1-rho)(1+rho); erf: 1 + 2 s1^2 + 2 s2^2 +
    4 s1^2 s2^2 (1-rho)(1+rho))."""
    if not base.is_polynomial(RHO, S1, S2):
        return base  # rational radicands are arranged in the registry (GELU's scale-free t^2)
    expanded = sp.expand(base)
    poly = sp.Poly(expanded, RHO)
    if poly.degree() != 2 or poly.coeff_monomial(RHO) != 0:
        return base
    c0, c2 = poly.coeff_monomial(1), poly.coeff_monomial(RHO**2)
    return sp.expand(c0 + c2) - c2 * sp.Mul(1 - RHO, 1 + RHO, evaluate=False)


def _factor_roots(expr):
    def is_root(e):
        return e.is_Pow and e.exp.is_Rational and e.exp.q == 2 and e.base.has(RHO)
    return expr.replace(is_root, lambda e: sp.Pow(_root_base(e.base), e.exp))


def _exp_differences(expr):
    """c e^A - c e^B -> 2c e^{(A+B)/2} sinh((A-B)/2): no cancellation when A ~ B (the sin
    kernel e^{-(q11+q22)/2} sinh(q12) at small covariance)."""
    def rewrite(add):
        terms = list(add.args)
        for i, t1 in enumerate(terms):
            c1, e1 = t1.as_independent(sp.exp, as_Add=False)
            if not isinstance(e1, sp.exp):
                continue
            for j in range(i + 1, len(terms)):
                c2, e2 = terms[j].as_independent(sp.exp, as_Add=False)
                if isinstance(e2, sp.exp) and sp.simplify(c1 + c2) == 0:
                    a, b = e1.args[0], e2.args[0]
                    half = sp.expand((a - b) / 2)
                    # sinh where the difference cancels; the two exponentials where it
                    # does not (at |A - B| >= 2 they lose at most a factor 1.16), since
                    # sinh overflows at large |A - B| while e^A - e^B decays exactly
                    pair = sp.Piecewise(
                        (2 * c1 * sp.exp((a + b) / 2) * sp.sinh(half), sp.Abs(half) < 1),
                        (t1 + terms[j], True))
                    rest = [t for k, t in enumerate(terms) if k not in (i, j)]
                    return sp.Add(pair, *rest)
        return add
    return expr.replace(lambda e: e.is_Add and e.has(sp.exp), rewrite)


def _one_sided_tilts(expr):
    """Each pair A(0,b;rho), A(0,b;-rho) of tilted orthants sums to
    E[e^{bZ}1{Z<0}] = erfcx(b/sqrt 2)/2; evaluate only the smaller, A(0,b;-|rho|) (opposite
    signs under the tilted law, at most half the sum, so the subtraction that gives the
    other loses at most one bit): the ELU kernels need 2 such calls instead of 4."""
    swaps = {}
    for term in expr.atoms(TiltedOrthant):
        a, b, r = term.args
        if a == 0 and r in (RHO, -RHO):
            small = TiltedOrthant(0, b, -sp.Abs(RHO))
            swaps[term] = sp.Piecewise((Erfcx(b / sp.sqrt(2)) / 2 - small, r >= 0),
                                       (small, True))
    return expr.xreplace(swaps)


def in_s_rho(expr):
    r"""A registry expression in (q11, q12, q22) rewritten in :math:`(s_1, s_2, \rho)`,
    :math:`q_{ii} = s_i^2`, :math:`q_{12} = \rho s_1 s_2`, in a form without cancellation."""
    expr = expr.subs({q11: S1**2, q22: S2**2, q12: RHO * S1 * S2})
    return _one_sided_tilts(_exp_differences(_factor_roots(expr)))
