r"""Compiled Gram engine: the whole depth-L NNGP + NTK recursion of a Gram in one pass.

For an activation whose registry entry has closed-form dual kernels
(:mod:`theory.activations`: ``dual``, ``dual_derivative`` and their diagonals), this
module *generates* Python source from those SymPy expressions and compiles it with
numba: a function ``gram`` whose loop over work items takes the entries
:math:`(i, j_0), \dots, (i, j_1 - 1)` of one row through all L layers

.. math:: \Sigma^{l+1} = \sigma_w^2\,k(\Sigma^l) + \sigma_b^2,\qquad
          \Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\,\dot k(\Sigma^l)\,\Theta^l

(standard parameterization: :math:`\Theta^{l+1} = n\,k + 1 + \sigma_w^2\dot k\,\Theta^l`)
without leaving compiled code; it runs on chunks of work items in parallel (threads,
:func:`numerics.gram_loops.in_threads`, the GIL released: numba's ``prange`` would double
the compile time), on the upper triangle only for a symmetric Gram. A closed form
registered for a new activation is compiled the first time it is used; nothing here is
written per activation. Compile time (a fresh process with an empty cache) is kept down
by one compiled function, not a row function and its caller (numba optimizes a callee's
code again in each caller's module), and, for a family whose stable form gives both
kernels at once (ELU), by one call of it per entry.

Speed: the layers are the outer loop of a row and its entries the inner one, a
straight-line body over contiguous arrays that LLVM vectorizes (AVX2: 4 entries per
instruction): the clip of rho is a select, and acos, asin, atan are the branch-free ones
of :mod:`numerics.jit_fastmath` (libm's are opaque calls). Subexpressions of one point
(:class:`_Sides`: erf's :math:`2s_1/\sqrt{1+2s_1^2}`, GELU's :math:`1/(1+s^2)`) are
evaluated once per row and layer, or once per point and layer into a table (``columns``),
not once per entry.

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
activation's expressions and the source of this module, :mod:`numerics.gram_loops`,
:mod:`numerics.jit_fastmath` and :mod:`numerics.jit_special`), and numba caches their
machine code next to them, so a second process neither runs SymPy nor recompiles.
Special functions that numba's ``math`` lacks come from :mod:`numerics.jit_special`
(``JIT_FUNCTIONS``); an expression with a function neither knows is not compiled
(:func:`engine` returns None) and the NumPy path is used. ``NNTHEORY_JIT=0`` in the
environment, or numba missing, disables the engine.

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
from numerics.stable_forms import S1, S2, in_s_rho
from theory.activations import Activation

__all__ = ["available", "engine", "Engine"]



#: SymPy function name -> name of its numba implementation in :mod:`numerics.jit_special`,
#: for generated source (``from numerics.jit_special import <value> as <key>``); the ELU
#: expressions need TiltedOrthant and Erfcx beyond numba's math (acos, asin, sqrt, pi).
#: Names only: numerics.jit_special is imported by the generated modules that use it.
JIT_FUNCTIONS = {
    "TiltedOrthant": "tilted_orthant",
    "BivariateNormalCDF": "bivariate_normal_cdf",
    "Erfcx": "erfcx",
}


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

class _Sides:
    """Subexpressions of a kernel in (s1, s2, rho) that depend on one point only, named:
    ``rows`` (symbol, expression in s1) are evaluated once per row and layer, ``columns``
    (in s2) once per point and layer into a table, so the loop over entries keeps only
    what mixes the two (erf: asin(rho r0 q0) with r0 = 2 s1/sqrt(2 s1^2 + 1)). The terms
    of a sum or factors of a product on one side are grouped (numbers with the row's);
    anything else is left as it is."""

    def __init__(self):
        self.rows, self.columns = [], []

    def _name(self, expr, side):
        table, prefix = (self.rows, "r") if side is S1 else (self.columns, "q")
        for sym, known in table:
            if known == expr:
                return sym
        sym = sp.Symbol(f"{prefix}{len(table)}", real=True)
        table.append((sym, expr))
        return sym

    @staticmethod
    def _side(expr):
        free = expr.free_symbols
        return next((s for s in (S1, S2) if free == {s}), None)

    def __call__(self, expr):
        side = self._side(expr)
        if side is not None:
            return expr if expr.is_Symbol else self._name(expr, side)
        if not expr.args or not expr.free_symbols:
            return expr
        if expr.is_Add or expr.is_Mul:
            groups = {S1: [], S2: []}
            rest = []
            for arg in expr.args:
                side = self._side(arg) or (S1 if not arg.free_symbols else None)
                (groups[side] if side is not None else rest).append(arg)
            named = [self(expr.func(*groups[s])) for s in (S1, S2) if groups[s]]
            return expr.func(*named, *[self(a) for a in rest])
        return expr.func(*[self(a) for a in expr.args])


class _Printer(PythonCodePrinter):
    """Python source with ``math.*`` for the elementary functions (``jit_fastmath.*`` for
    the inverse trigonometric ones) and the names of :mod:`numerics.jit_special` for the
    rest; anything else is refused."""

    def __init__(self, special):
        super().__init__({"fully_qualified_modules": True, "user_functions": special,
                          "allow_unknown_functions": False, "strict": True})
        self.special_used = set()
        self.fast_used = False

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

    def _print_fast(self, expr):
        """acos, asin, atan: the branch-free ones of numerics.jit_fastmath (libm's are calls
        that keep LLVM from vectorizing the loop over a row)."""
        self.fast_used = True
        return f"jit_fastmath.{type(expr).__name__}({self._print(expr.args[0])})"

    _print_acos = _print_asin = _print_atan = _print_fast


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


# One layer of entry (i, j) at column c of the row's span: the row's k and t (at the first
# layer, the dot products' affine maps) are in k_row and t_row; {nngp} and {both} become the
# activation's generated assignments (e = E[s s], ed = E[s' s'] from s1, s2, rho). Branch-free
# (selects), so that LLVM vectorizes the loop over the row.
_ENTRY = """
k = k_row[c]
s2 = s2_row[c]
{column_loads}
rho = k * (i1 * i2_row[c])  # I = 1/s: a commutative product
rho = 1.0 if rho > 1.0 - 4.0 * EPS else rho
rho = -1.0 if rho < -1.0 + 4.0 * EPS else rho
{body}
"""
_NNGP_UPDATE = "k_row[c] = sw2 * e + sb2"
_K_UPDATE = "k = sw2 * e + sb2\nk_row[c] = k"
_T_UPDATE = ["t = t_row[c]",
             "t_row[c] = width * e + 1.0 + sw2 * ed * t if standard else k + sw2 * ed * t"]
_NTK_UPDATE = "\n".join([_K_UPDATE, *_T_UPDATE])
# one loop for both kernels (a stable pair gives e and ed at once): T only with want_ntk
_ONE_LOOP_UPDATE = "\n".join([_K_UPDATE, "if want_ntk:", *("    " + line for line in _T_UPDATE)])

# fastmath without "nnan"/"ninf" (NaN and inf propagate): reciprocals, contraction and
# reassociation halve GELU's time and change results by ~1 ulp (the tests bound compiled
# vs NumPy at 1e-11 of the kernel scale, near rho = 1 included). Rows with a non-finite
# entry are flagged in bad[i] while the row is in cache (isfinite is exact without "nnan"
# and "ninf"); in a symmetric Gram only the row that owns the entry (i < j) is flagged.
# The layers are the outer loop and the row's span the inner one, so that the inner loop
# is one straight-line body over contiguous arrays, which LLVM vectorizes (the row of K and
# T, 2 x 8 n2 bytes, stays in cache across the L layers).
_FASTMATH = '{"nsz", "arcp", "contract", "afn", "reassoc"}'
_COLUMNS = """
@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def columns(S2, L):
    # COL[layer, m, j]: the m-th one-point subexpression of s2 = S2[layer, j]
    COL = np.empty((L, NCOL, S2.shape[1]))
    for j in range(S2.shape[1]):
        for layer in range(L):
            s2 = S2[layer, j]
            {columns_3}
    return COL
"""
# no one-point subexpressions: an empty table, without a compiled function (compile time)
_NO_COLUMNS = """
def columns(S2, L):
    return np.empty((L, 0, S2.shape[1]))
"""

# Two loops over the row, so that the NNGP-only one does not evaluate ed (a closed form's
# derivative kernel costs as much as the kernel); one where a stable pair gives both at
# once (half the code to compile)
_LAYER_TWO_LOOPS = """
if want_ntk:
    for c in range(j1 - j0):
        {both_2}
else:
    for c in range(j1 - j0):
        {nngp_2}
"""
_LAYER_ONE_LOOP = """
for c in range(j1 - j0):
    {both_1}
"""

# work items lo .. hi - 1 (numerics.gram_loops.in_threads runs chunks on threads, the GIL
# released): Python threads rather than numba's prange, whose parfor pipeline doubles the
# compile time. The row is written out in the loop over work items, not called: a called
# function's code is optimized again in its caller's module (compile time)
_GRAM = """
@njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def gram(K, T, S1, S2, I1, I2, COL, Vlast, theta, L, sw2, sb2, inv_d, standard, width,
         want_ntk, mode, bad, lo, hi):
    # mode 0: cross Gram K[i, j], j < n2; mode 1: symmetric, the upper triangle j > i
    # (rows in pairs (p, n-1-p) so every work item has the same share), diagonal exact,
    # mirrored afterwards; mode 2: pairs (x1_i, x2_i) in K[i, 0]. K holds the dot products
    # on entry and is overwritten.
    n1, n2 = K.shape
    for p in range(lo, hi):
        for side in range(2 if mode == 1 else 1):
            # the entries (i, j0) .. (i, j1 - 1) through all layers
            i, j0, j1 = row_span(p, side, mode, n1, n2)
            shift = i if mode == 2 else 0  # entry (i, j) is at column j - shift
            k_row = K[i, j0 - shift:j1 - shift]
            t_row = T[i if want_ntk else 0, j0 - shift:j1 - shift]  # T is 1 x 1 without ntk
            for c in range(j1 - j0):
                dot = k_row[c]
                k = sw2 * dot * inv_d + sb2
                k_row[c] = k
                if want_ntk:
                    t_row[c] = dot + 1.0 if standard else k
            for layer in range(L):
                s1 = S1[layer, i]
                i1 = I1[layer, i]
                s2_row = S2[layer, j0:j1]
                i2_row = I2[layer, j0:j1]
                {rows_4}
                {layer_4}
            n_bad = 0
            for c in range(j1 - j0):
                n_bad += not math.isfinite(k_row[c])
            if want_ntk:
                for c in range(j1 - j0):
                    n_bad += not math.isfinite(t_row[c])
            if mode == 1:
                K[i, i] = Vlast[i]
                n_bad += not math.isfinite(Vlast[i])
                if want_ntk:
                    T[i, i] = theta[i]
                    n_bad += not math.isfinite(theta[i])
            # (or: the empty second side of the middle row must not clear its flag)
            if n_bad > 0:
                bad[i] = True
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


def _column_lines(columns, printer):
    """Lines that set COL[layer, m, j] to the m-th one-point subexpression of s2."""
    return [f"COL[layer, {m}, j] = {printer.doprint(e)}" for m, (_, e) in enumerate(columns)] \
        or ["pass"]


def _generate(act: Activation) -> str:
    printer = _Printer(dict(JIT_FUNCTIONS))
    sides = _Sides()
    k = functools.cache(lambda: sides(in_s_rho(act.dual)))  # derived once, only if printed
    nngp, names = _guarded(act, lambda: _assignments(["e"], [k()], printer), 1)
    if act.derivative is not None and act.dual_derivative is not None:
        both, _ = _guarded(act, lambda: _assignments(
            ["e", "ed"], [k(), sides(in_s_rho(act.dual_derivative))], printer), 2)
    else:  # NNGP only (step): never called with want_ntk (numerics.kernels refuses it)
        both = nngp + ["ed = 0.0"]
    try:
        rows = [f"{sym} = {printer.doprint(e)}" for sym, e in sides.rows]
        rows += [f"{sym}_row = COL[layer, {m}, j0:j1]" for m, (sym, _) in enumerate(sides.columns)]
        columns = _column_lines(sides.columns, printer)
    except Exception as err:  # as in _assignments
        raise NotCompilable(str(err)) from None
    loads = "\n".join(f"{sym} = {sym}_row[c]" for sym, _ in sides.columns)

    def entry(lines, update):
        text = _ENTRY.strip("\n").replace("{column_loads}", loads) \
            .replace("{body}", "\n".join(lines + update.split("\n")))
        return "\n".join(line for line in text.split("\n") if line.strip())
    form = STABLE_FORMS.get(act.family)
    if form is not None and form[0] is None and act.dual_derivative is not None:
        # the stable pair serves every entry: one call gives e and ed
        layer = _LAYER_ONE_LOOP.replace(
            "{both_1}", _indent(entry(both, _ONE_LOOP_UPDATE).split("\n"), 1))
    else:
        layer = _LAYER_TWO_LOOPS.replace(
            "{both_2}", _indent(entry(both, _NTK_UPDATE).split("\n"), 2)).replace(
            "{nngp_2}", _indent(entry(nngp, _NNGP_UPDATE).split("\n"), 2))
    table = (_COLUMNS.replace("{columns_3}", _indent(columns, 3))
             .replace("NCOL", str(len(sides.columns))) if sides.columns else _NO_COLUMNS)
    loops = table + "\n" + _GRAM.replace("{rows_4}", _indent(rows or ["pass"], 4)) \
        .replace("{layer_4}", _indent(layer.strip("\n").split("\n"), 4))
    loops = loops.replace("FASTMATH", _FASTMATH)
    header = ["import math", "", "import numpy as np", "from numba import njit",
              "from numerics.gram_loops import row_span"]
    special = sorted(printer.special_used | set(names))
    if special:
        header.append(f"from numerics.jit_special import {', '.join(special)}")
    if printer.fast_used:
        header.append("from numerics import jit_fastmath")
    header += ["", "EPS = 2.220446049250313e-16"]
    return f"# {act.label}: dual kernels of the registry, in (s1, s2, rho)\n" + \
        "\n".join(header) + "\n\n" + loops


def _key(act: Activation) -> str:
    exprs = (act.dual, act.dual_derivative, act.dual_diagonal, act.dual_derivative_diagonal,
             act.derivative)
    modules = ["numerics.gram", "numerics.gram_loops", "numerics.jit_fastmath",
               "numerics.stable_forms", "numerics.jit_special"]
    return "|".join([codecache.source_fingerprint(*modules)] +
                    [sp.srepr(e) if e is not None else "None" for e in exprs])


class Engine:
    """The compiled functions of one activation (a generated, cached module)."""

    def __init__(self, act: Activation, module):
        self.act, self.module = act, module

    def symmetric(self, K, T, S, Vlast, theta, L, sw2, sb2, d, standard, width, want_ntk):
        """Symmetric Gram in place (``K`` holds the dot products on entry, ``T`` is
        written if ``want_ntk``); returns the rows whose part on and right of the diagonal
        has a non-finite entry (its mirror image below is not flagged again)."""
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
        the rows that hold a non-finite entry (of a symmetric Gram: in its upper triangle
        or on its diagonal, which is all numerics.kernels recomputes)."""
        from numerics import gram_loops

        bad = np.zeros(K.shape[0], dtype=np.bool_)
        COL = self.module.columns(S2, L)
        args = (K, T, S1, S2, I1, I2, COL, Vlast, theta, L, sw2, sb2, 1.0 / d, standard,
                float(width), want_ntk, mode, bad)
        gram_loops.in_threads(self.module.gram, args, gram_loops.row_count(mode, K.shape[0]),
                              K.size * L)
        if mode == 1:
            gram_loops.mirror_upper(K)
            if want_ntk:
                gram_loops.mirror_upper(T)
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
