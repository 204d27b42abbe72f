"""numerics.stable_forms: the registry's closed forms rewritten in (s1, s2, rho) equal the
registry's expressions (evaluated by mpmath at 30 digits), for every builtin with a closed
form, on both signs of rho and near |rho| = 1; the rewrites do what they are for."""

import pytest
import sympy as sp

from numerics.stable_forms import RHO, S1, S2, in_s_rho
from theory.activations import builtin_examples, get
from theory.special import TiltedOrthant
from theory.symbols import q11, q12, q22

CLOSED = [a for a in builtin_examples() if a.dual is not None]
POINTS = [(0.7, 1.9, 0.6), (2.3, 0.4, -0.8), (1.1, 1.1, 0.999), (0.3, 3.0, -0.99999)]


def _plain(expr):
    return expr.subs({q11: S1**2, q22: S2**2, q12: RHO * S1 * S2})


@pytest.mark.parametrize("act", CLOSED, ids=[a.label for a in CLOSED])
def test_rewritten_kernels_equal_the_registry_at_30_digits(act):
    exprs = [act.dual] + ([act.dual_derivative] if act.dual_derivative is not None else [])
    for expr in exprs:
        plain, rewritten = _plain(expr), in_s_rho(expr)
        for s1, s2, rho in POINTS:
            at = {S1: sp.Float(s1, 40), S2: sp.Float(s2, 40), RHO: sp.Float(rho, 40)}
            a, b = plain.subs(at).evalf(30), rewritten.subs(at).evalf(30)
            # 30 digits in both evaluations: a difference beyond 1e-25 is a wrong rewrite
            assert abs(a - b) <= 1e-25 * max(abs(a), 1), (act.label, s1, s2, rho)


def test_one_sided_tilts_halve_the_elu_calls():
    """A(0,b;rho) + A(0,b;-rho) = erfcx(b/sqrt 2)/2: the ELU kernels need 3 tilted orthants
    instead of 5 (their values are checked above)."""
    elu = get("elu")
    calls = [set(), set()]
    for expr in (elu.dual, elu.dual_derivative):
        calls[0] |= _plain(expr).atoms(TiltedOrthant)
        calls[1] |= in_s_rho(expr).atoms(TiltedOrthant)
    assert (len(calls[0]), len(calls[1])) == (5, 3)


def test_even_radicands_lose_their_cancellation():
    # ReLU: sqrt(s1^2 s2^2 - rho^2 s1^2 s2^2) -> s1 s2 sqrt((1-rho)(1+rho)), exact at rho = 1
    roots = [e for e in in_s_rho(get("relu").dual).atoms(sp.Pow) if e.exp == sp.S.Half]
    assert [e.base for e in roots] == [(1 - RHO) * (1 + RHO)]


def test_exponential_differences_become_sinh():
    rewritten = in_s_rho(get("sin").dual)
    assert rewritten.has(sp.sinh)
