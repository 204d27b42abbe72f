r"""Compiled Gram engine: the whole depth-L NNGP + NTK recursion of one entry in one pass.

For an activation whose registry entry has closed-form dual kernels
(:mod:`theory.activations`: ``dual``, ``dual_derivative`` and their diagonals), this
module *generates* Python source from those SymPy expressions and compiles it with
numba: scalar functions ``pair(s1, s2, rho) -> (E[s s], E[s' s'])`` and
``diag(q)``, and loops that run, for every Gram entry, all L layers

.. math:: \Sigma^{l+1} = \sigma_w^2\,k(\Sigma^l) + \sigma_b^2,\qquad
          \Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\,\dot k(\Sigma^l)\,\Theta^l

(standard parameterization: :math:`\Theta^{l+1} = n\,k + 1 + \sigma_w^2\dot k\,\Theta^l`)
without leaving compiled code, in parallel over rows (``numba.prange``), on the upper
triangle only for a symmetric Gram. A closed form registered for a new activation is
compiled the first time it is used; nothing here is written per activation.

Numerical guards, as on the NumPy path (:mod:`numerics.kernels`): the expressions are
evaluated in :math:`(s_1, s_2, \rho)` with :math:`s_i = \sqrt{q_{ii}}` (no overflow of
:math:`q_{11}q_{22}`); :math:`\rho = q_{12}\,(1/s_1)(1/s_2)` is clipped to
:math:`[-1, 1]` and snapped to :math:`\pm1` within 4 ulp; square roots of polynomials are
factored before printing, so :math:`\sqrt{s_1^2s_2^2-\rho^2s_1^2s_2^2}` becomes
:math:`s_1s_2\sqrt{(1-\rho)(1+\rho)}`; the diagonal :math:`x = x'` of a symmetric Gram is
the registry's diagonal formula at every layer. An entry whose value comes out
non-finite (a removable 0/0 of a closed form at a zero variance, or an overflow) is
flagged, and :mod:`numerics.kernels` recomputes it on the NumPy path, which handles
those cases or raises its overflow error.

Generated modules are cached on disk by :mod:`numerics.codecache` (key: the
activation's expressions and the source of this module and of
:mod:`numerics.jit_special`), and numba caches their machine code next to them, so a
second process neither runs SymPy nor recompiles. Special functions that numba's
``math`` lacks come from :mod:`numerics.jit_special` (``JIT_FUNCTIONS``); an expression
with a function neither knows is not compiled (:func:`engine` returns None) and the
NumPy path is used. ``NNTHEORY_JIT=0`` in the environment, or numba missing, disables
the engine.

Memory: the engine writes into the two output arrays and allocates nothing of size
:math:`n_1 n_2`; the dot products :math:`\langle x, x'\rangle` are formed in the NNGP
output first (BLAS) and overwritten entry by entry.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from numerics import codecache
from theory.activations import Activation
from theory.special import Erfcx, TiltedOrthant
from theory.symbols import q11, q12, q22

__all__ = ["available", "engine", "Engine"]

S1, S2 = sp.symbols("s1 s2", positive=True)
RHO = sp.Symbol("rho", real=True)
QD = sp.Symbol("q", nonnegative=True)


def _jit_functions() -> dict[str, str]:
    try:
        from numerics.jit_special import JIT_FUNCTIONS
    except ImportError:
        return {}
    return dict(JIT_FUNCTIONS)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether the compiled engine can be used (numba importable, not disabled)."""
    if os.environ.get("NNTHEORY_JIT", "1").strip() in ("0", "false", "no", "off"):
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------
# source generation
# ---------------------------------------------------------------------------

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
                    pair = 2 * c1 * sp.exp((a + b) / 2) * sp.sinh(sp.expand((a - b) / 2))
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


def _in_s_rho(expr):
    expr = expr.subs({q11: S1**2, q22: S2**2, q12: RHO * S1 * S2})
    return _one_sided_tilts(_exp_differences(_factor_roots(expr)))


class _Printer(PythonCodePrinter):
    """Python source with ``math.*`` for the elementary functions and the names of
    :mod:`numerics.jit_special` for the rest; anything else is refused."""

    def __init__(self, special):
        super().__init__({"fully_qualified_modules": True, "user_functions": special,
                          "allow_unknown_functions": False, "strict": True})
        self.special_used = set()

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in self.known_functions:
            target = self.known_functions[name]
            self.special_used.add(target)
            # float arguments throughout: an integer literal would make numba compile a
            # second specialization of the special function
            args = ", ".join(self._print(sp.Float(a) if a.is_Integer else a)
                             for a in expr.args)
            return f"{target}({args})"
        return super()._print_Function(expr)


class NotCompilable(Exception):
    """An expression uses a function the engine cannot print."""


def _assignments(targets, exprs, printer):
    """Source lines ``c0 = ...`` ... ``target = ...`` evaluating ``exprs`` with cse."""
    # no cse "optimizations": they recombine fractions and undo the registry's cancellation-
    # free arrangements (GELU's scale-free form, factors (1-rho)(1+rho))
    reps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("c"))
    try:
        lines = [f"{sym} = {printer.doprint(e)}" for sym, e in reps]
        lines += [f"{t} = {printer.doprint(e)}" for t, e in zip(targets, reduced, strict=True)]
    except Exception as err:  # PrintMethodNotImplementedError and friends
        raise NotCompilable(str(err)) from None
    return lines


# One entry (i, j) through all layers; {nngp} and {both} become the activation's
# generated assignments (e = E[s s], ed = E[s' s'] from s1, s2, rho). Written out in
# every loop rather than called, so that each loop is one function for LLVM (numba's
# own inlining of a called function costs seconds of compile time).
_LAYERS = """
k = sw2 * dot * inv_d + sb2
t = dot + 1.0 if standard else k
for layer in range(L):
    s1 = S1[layer, i]
    s2 = S2[layer, j]
    rho = k * (I1[layer, i] * I2[layer, j])  # I = 1/s: a commutative product
    if rho > 1.0 - 4.0 * EPS:
        rho = 1.0
    elif rho < -1.0 + 4.0 * EPS:
        rho = -1.0
    if want_ntk:
        {both}
        k = sw2 * e + sb2
        if standard:
            t = width * e + 1.0 + sw2 * ed * t
        else:
            t = k + sw2 * ed * t
    else:
        {nngp}
        k = sw2 * e + sb2
"""

# fastmath without "nnan"/"ninf" (NaN and inf propagate): reciprocals, contraction and
# reassociation halve GELU's time and change results by ~1 ulp (the tests bound compiled
# vs NumPy at 1e-11 of the kernel scale, near rho = 1 included). Non-finite entries are
# found afterwards by numerics.gram_loops.nonfinite_rows (no fastmath: isfinite is exact).
_LOOPS = """
@njit(cache=True, error_model="numpy", parallel=True,
      fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def gram(K, T, S1, S2, I1, I2, Vlast, theta, L, sw2, sb2, inv_d, standard, width, want_ntk,
         mode):
    # mode 0: cross Gram K[i, j], j < n2; mode 1: symmetric, the upper triangle j > i
    # (rows in pairs (p, n-1-p) so every thread gets the same share), diagonal exact,
    # mirrored afterwards; mode 2: pairs (x1_i, x2_i) in K[i, 0]. K holds the dot products
    # on entry and is overwritten.
    n1, n2 = K.shape
    for p in prange(row_count(mode, n1)):
        for side in range(2 if mode == 1 else 1):
            i, j0, j1 = row_span(p, side, mode, n1, n2)
            for j in range(j0, j1):
                col = 0 if mode == 2 else j
                dot = K[i, col]
                {layers_4}
                K[i, col] = k
                if want_ntk:
                    T[i, col] = t
            if mode == 1:
                K[i, i] = Vlast[i]
                if want_ntk:
                    T[i, i] = theta[i]
"""


#: activation family -> (condition on s1, s2, rho, or None for every entry; stable pair
#: (e, ed); names it imports from numerics.jit_special): where the registry's closed form
#: cancels, the engine calls the stable form instead. ELU: its terms of order one cancel
#: to O(q) at small variances, near |rho| = 1 the pair is kept consistent with the NumPy
#: path's numerics.kernels.NEAR_ONE_FAMILIES, and elsewhere the stable form is the
#: registry's with the same three tilted orthants (numerics.jit_special.elu_pair_near_one),
#: so it serves every entry and the generated loop stays small (compile time).
#: Keyed by family, never by name.
STABLE_FORMS = {
    "elu": (None, "elu_pair_near_one(s1 * s1, rho * s1 * s2, s2 * s2, {alpha!r})",
            ("elu_pair_near_one",)),
}


def _guarded(act, make_lines, want):
    """The lines ``make_lines()`` behind the family's stable form, if it has one
    (``want``: the targets the lines assign, ``e`` or ``e, ed``); not made if the stable
    form serves every entry."""
    form = STABLE_FORMS.get(act.family)
    if form is None:
        return make_lines(), ()
    condition, call, names = form
    params = {k: float(v) for k, v in act.family_params}
    target = "e, ed" if want == 2 else "e, _"
    if condition is None:
        return [f"{target} = {call.format(**params)}"], names
    return ([f"if {condition}:", f"    {target} = {call.format(**params)}", "else:"]
            + ["    " + line for line in make_lines()]), names


def _indent(lines, level):
    return ("\n" + "    " * level).join(lines)


def _generate(act: Activation) -> str:
    printer = _Printer(_jit_functions())
    k = functools.cache(lambda: _in_s_rho(act.dual))  # derived once, and only if printed
    nngp, names = _guarded(act, lambda: _assignments(["e"], [k()], printer), 1)
    if act.derivative is not None and act.dual_derivative is not None:
        both, _ = _guarded(act, lambda: _assignments(
            ["e", "ed"], [k(), _in_s_rho(act.dual_derivative)], printer), 2)
    else:  # NNGP only (step): never called with want_ntk (numerics.kernels refuses it)
        both = nngp + ["ed = 0.0"]
    body = _LAYERS.strip("\n").replace("{both}", _indent(both, 2)) \
        .replace("{nngp}", _indent(nngp, 2)).split("\n")
    loops = _LOOPS
    loops = loops.replace("{layers_4}", _indent(body, 4))
    header = ["import math", "", "import numpy as np", "from numba import njit, prange",
              "from numerics.gram_loops import row_count, row_span"]
    special = sorted(printer.special_used | set(names))
    if special:
        header.append(f"from numerics.jit_special import {', '.join(special)}")
    header += ["", "EPS = 2.220446049250313e-16"]
    return f"# {act.label}: dual kernels of the registry, in (s1, s2, rho)\n" + \
        "\n".join(header) + "\n\n" + loops


def _key(act: Activation) -> str:
    exprs = (act.dual, act.dual_derivative, act.dual_diagonal, act.dual_derivative_diagonal,
             act.derivative)
    modules = ["numerics.gram", "numerics.gram_loops"]
    if _jit_functions():
        modules.append("numerics.jit_special")
    return "|".join([codecache.source_fingerprint(*modules)] +
                    [sp.srepr(e) if e is not None else "None" for e in exprs])


class Engine:
    """The compiled functions of one activation (a generated, cached module)."""

    def __init__(self, act: Activation, module):
        self.act, self.module = act, module

    def symmetric(self, K, T, S, Vlast, theta, L, sw2, sb2, d, standard, width, want_ntk):
        """Symmetric Gram in place (``K`` holds the dot products on entry, ``T`` is
        written if ``want_ntk``); returns the rows that have a non-finite entry."""
        inv = _inverse(S)
        return self._run(K, T, S, S, inv, inv, Vlast, theta, L, sw2, sb2, d, standard, width,
                         want_ntk, 1)

    def cross(self, K, T, S1, S2, L, sw2, sb2, d, standard, width, want_ntk):
        return self._run(K, T, S1, S2, _inverse(S1), _inverse(S2), S1[0], S1[0], L, sw2, sb2,
                         d, standard, width, want_ntk, 0)

    def pairs(self, dots, S1, S2, L, sw2, sb2, d, standard, width, want_ntk):
        K, T = dots.reshape(-1, 1).copy(), np.empty((dots.size, 1))
        bad = self._run(K, T, S1, S2, _inverse(S1), _inverse(S2), S1[0], S1[0], L, sw2, sb2,
                        d, standard, width, want_ntk, 2)
        return K[:, 0], (T[:, 0] if want_ntk else None), bad

    def _run(self, K, T, S1, S2, I1, I2, Vlast, theta, L, sw2, sb2, d, standard, width,
             want_ntk, mode):
        """One pass of the generated loop (mode 0 cross, 1 symmetric, 2 pairs); returns
        the rows that hold a non-finite entry (after mirroring a symmetric Gram)."""
        from numerics import gram_loops

        self.module.gram(K, T, S1, S2, I1, I2, Vlast, theta, L, sw2, sb2, 1.0 / d, standard,
                         float(width), want_ntk, mode)
        if mode == 1:
            gram_loops.mirror(K)
            if want_ntk:
                gram_loops.mirror(T)
        bad = np.zeros(K.shape[0], dtype=np.bool_)
        gram_loops.nonfinite_rows(K, T, want_ntk, bad)
        return bad


def _inverse(S):
    """1/s per point and layer; NaN where s = 0, so that such entries are flagged and left
    to the NumPy path: a closed form at rho = 0 is the zero-variance value only if it is
    continuous there (the step kernel gives 1/4 where the truth is step(0)^2 = 0)."""
    with np.errstate(divide="ignore"):
        return np.where(S > 0, 1.0 / np.where(S > 0, S, 1.0), np.nan)


@functools.lru_cache(maxsize=128)
def _engine(act: Activation):
    if act.dual is None or act.dual_diagonal is None:
        return None
    try:
        module = codecache.cached_module("gram", _key(act), lambda: _generate(act))
    except NotCompilable:
        return None
    return Engine(act, module)


def engine(act: Activation) -> Engine | None:
    """The compiled engine of an activation, or None (no closed form, a function the
    printer does not know, or the engine disabled: :func:`available`)."""
    if not available():
        return None
    return _engine(act)
