r"""Python source of float64 functions of SymPy expressions, for :mod:`numerics.codecache`.

A :class:`SourceModule` collects functions and prints them as one module that needs
NumPy only (SymPy's ``NumPyPrinter``, fully qualified names, ``cse`` as
``sympy.lambdify(..., cse=True)`` does it, so the arithmetic is the same):

* :meth:`SourceModule.function` — ``def name(*args): ...; return (e_1, ..., e_n)``;
* :meth:`SourceModule.jacobian` — the Jacobian of expressions by forward-mode
  differentiation along their common subexpressions: every intermediate
  :math:`x_i = e_i(\ldots)` of the ``cse`` gets its gradient
  :math:`\nabla x_i = \sum_s \partial_s e_i\,\nabla s` as new intermediates (one
  line per operation; product and power rules by hand, SymPy's ``diff`` on the single
  operation otherwise), so the cost of deriving it grows with the size of the cse'd
  program, not with the size of the expanded derivatives: for the Saad–Solla system
  3.2-3.5 s against 12-17 s for ``Matrix.jacobian`` and ``lambdify(..., cse=True)``
  (one process, load 10 on 2 cores, SymPy's cache cleared before each);
* :meth:`SourceModule.constant` — ``NAME = repr(value)``.

An expression with a function NumPy (or ``math``) has no name for is a ValueError, never
a module that fails when called.
"""

from __future__ import annotations

import keyword

import sympy as sp
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.numpy import NumPyPrinter

__all__ = ["SourceModule"]


def _is_atom(e) -> bool:
    return e.is_Symbol or e.is_Number


class _ForwardMode:
    """The straight-line program of :meth:`SourceModule.jacobian`: value lines
    ``_vN = op(children)``, partial lines ``_pN`` and gradient lines ``_gN_j``, each
    with the names it reads, so unused lines can be dropped."""

    def __init__(self, module, wrt, taken):
        self.module, self.n = module, len(wrt)
        self.lines = []  # (target, code, names read)
        self.memo = {}  # expression -> (value code, {direction: gradient code})
        for j, s in enumerate(wrt):
            self.memo[s] = (str(s), {j: "1"})
        self.counter = 0
        self.taken = taken
        self.definitions = {}  # cse symbol -> its expression
        self.reality = {}

    def _name(self, prefix):
        self.counter += 1
        name = f"_{prefix}{self.counter}"
        if name in self.taken:
            raise ValueError(f"generated name {name} clashes with a symbol")
        return name

    def _emit(self, prefix, expr):
        code = self.module._print(expr)
        target = self._name(prefix)
        self.lines.append((target, code, {str(s) for s in expr.free_symbols}))
        return target

    def bind(self, symbol, expr):
        """A cse intermediate: the symbol stands for ``expr``'s value and gradient."""
        value, grad = self.node(expr)
        self.memo[symbol] = (value, grad)
        self.definitions[symbol] = expr

    def is_real(self, expr) -> bool:
        """Whether SymPy can tell ``expr`` is real, cse symbols standing for their
        definitions (asked only where a derivative needs it)."""
        if expr not in self.reality:
            if expr in self.definitions:
                real = self.is_real(self.definitions[expr])
            elif expr.is_Atom:
                real = bool(expr.is_extended_real)
            else:
                known = {s: sp.Symbol(s.name, real=True) for s in expr.free_symbols
                         if s in self.definitions and self.is_real(s)}
                real = bool(expr.xreplace(known).is_extended_real)
            self.reality[expr] = real
        return self.reality[expr]

    def node(self, expr):
        """``(value code, gradient)`` of ``expr``, emitting the lines it needs."""
        if expr in self.memo:
            return self.memo[expr]
        if expr.is_Number or (expr.is_Symbol and expr not in self.memo):
            out = (self.module._print(expr), {})
            self.memo[expr] = out
            return out
        # the operation applied to named children: its partials are tiny derivatives
        local_args, children = [], []
        for arg in expr.args:
            if arg.is_Number:
                local_args.append(arg)
                continue
            value, grad = self.node(arg)
            sym = sp.Symbol(value)
            local_args.append(sym)
            children.append((sym, grad, arg))
        local = expr.func(*local_args)
        value = self._emit("v", local)
        grad: dict[int, list[str]] = {}
        for position, (_, child_grad, _) in enumerate(children):
            if not child_grad:
                continue
            factor = self._partial(expr, local, local_args, children, position)
            if factor == "0":
                continue
            for j, g in child_grad.items():
                term = g if factor == "1" else (factor if g == "1" else f"{factor}*{g}")
                grad.setdefault(j, []).append(term)
        out = {}
        for j, terms in grad.items():
            if len(terms) == 1 and terms[0].isidentifier():
                out[j] = terms[0]
            else:
                target = self._name("g")
                self.lines.append((target, " + ".join(terms),
                                   {t for term in terms for t in term.split("*")}))
                out[j] = target
        self.memo[expr] = (value, out)
        return value, out

    def _partial(self, expr, local, local_args, children, position) -> str:
        """Code of the partial derivative of the operation by its ``position``-th named
        child: by the product and power rules for Mul and Pow with a number exponent
        (SymPy's ``diff`` is the cost otherwise), else SymPy's ``diff``."""
        sym = children[position][0]
        if expr.is_Add:
            return "1"
        if expr.is_Mul:
            others = [a for a in local_args if a is not sym]
            if len(others) != len(local_args) - 1:  # the same child twice: let SymPy do it
                others = None
            elif not others:
                return "1"
            elif len(others) == 1 and (others[0].is_Symbol or others[0].is_Number):
                return self.module._print(others[0]) if others[0].is_Symbol else \
                    f"({self.module._print(others[0])})"
            if others is not None:
                return self._emit("p", sp.Mul(*others, evaluate=False))
        if expr.is_Pow and expr.exp.is_Number:
            e = expr.exp
            return self._emit("p", sp.Mul(e, sp.Pow(sym, e - 1, evaluate=False),
                                          evaluate=False))
        # a real child stays real for SymPy (d|u|/du = sign(u), not re/im derivatives)
        real = {s: sp.Symbol(s.name, real=True) for s, _, arg in children
                if self.is_real(arg)}
        back = {v: k for k, v in real.items()}
        partial = sp.diff(local.xreplace(real), real.get(sym, sym)).xreplace(back)
        if partial == 0:
            return "0"
        if partial.is_Symbol:
            return self.module._print(partial)
        if partial.is_Number:
            return f"({self.module._print(partial)})"
        return self._emit("p", partial)

    def lines_for(self, entries):
        """The lines the ``entries`` need, in program order."""
        needed = {t for e in entries for t in e.split("*")}
        kept = []
        for target, code, reads in reversed(self.lines):
            if target in needed:
                kept.append((target, code, reads))
                needed |= reads
        return kept[::-1]


class SourceModule:
    """Functions of SymPy expressions printed as the source of one Python module."""

    def __init__(self):
        self._printer = NumPyPrinter({"fully_qualified_modules": True, "inline": True,
                                      "allow_unknown_functions": False, "strict": True})
        self._parts: list[str] = []
        self._cse_memo: dict = {}

    def _cse(self, exprs, args):
        """``sympy.cse`` of ``exprs`` as ``lambdify(..., cse=True)`` does it (symbols
        ``x0, x1, ...`` avoiding the arguments), once per list of expressions."""
        key = (tuple(exprs), tuple(args))
        if key not in self._cse_memo:
            taken = set(args).union(*(e.free_symbols for e in exprs))
            self._cse_memo[key] = sp.cse(list(exprs),
                                         symbols=sp.numbered_symbols("x", exclude=taken))
        return self._cse_memo[key]

    def _print(self, expr) -> str:
        try:
            return self._printer.doprint(expr)
        except PrintMethodNotImplementedError as exc:
            raise ValueError(f"no NumPy code for {str(expr)[:80]!r}: {exc}") from None

    @staticmethod
    def _arguments(args) -> list[str]:
        names = [str(a) for a in args]
        for n in names:
            if not n.isidentifier() or keyword.iskeyword(n) or n in ("numpy", "math"):
                raise ValueError(f"argument {n!r} is not usable as a Python name")
        if len(set(names)) != len(names):
            raise ValueError(f"arguments repeat a name: {names}")
        return names

    def _define(self, name, args, lines, outputs):
        if not name.isidentifier():
            raise ValueError(f"function name must be an identifier, got {name!r}")
        body = [f"    {sym} = {self._print(e)}" for sym, e in lines]
        out = ", ".join(self._print(e) for e in outputs)
        body.append(f"    return ({out}{',' if len(outputs) == 1 else ''})")
        self._parts.append(f"def {name}({', '.join(self._arguments(args))}):\n"
                           + "\n".join(body))

    def function(self, name: str, args, exprs) -> None:
        """``def name(*args)`` returning the tuple of ``exprs`` (cse'd)."""
        reps, reduced = self._cse([sp.sympify(e) for e in exprs], args)
        self._define(name, args, reps, reduced)

    def jacobian(self, name: str, args, exprs, wrt) -> None:
        """``def name(*args)`` returning :math:`\\partial e_i/\\partial w_j` row by row
        (``len(exprs) * len(wrt)`` entries), by forward-mode differentiation along the
        cse of ``exprs``: every operation becomes one line, its partial derivatives are
        those of the single operation (SymPy on a tiny expression) and the gradients
        are propagated as sums of products (module docstring)."""
        exprs = [sp.sympify(e) for e in exprs]
        wrt = list(wrt)
        names = self._arguments(args)
        taken = set(args).union(*(e.free_symbols for e in exprs))
        reps, reduced = self._cse(exprs, args)
        program = _ForwardMode(self, wrt, set(names) | {str(s) for s in taken})
        for x, e in reps:
            program.bind(x, e)
        entries = []
        for e in reduced:
            _, grad = program.node(e)
            entries.extend(grad.get(j, "0") for j in range(len(wrt)))
        body = program.lines_for(entries)
        lines = [f"    {target} = {code}" for target, code, _ in body]
        lines.append(f"    return ({', '.join(entries)}{',' if len(entries) == 1 else ''})")
        self._parts.append(f"def {name}({', '.join(names)}):\n" + "\n".join(lines))

    def constant(self, name: str, value) -> None:
        """``name = value`` (a Python literal: its ``repr`` must evaluate back to it)."""
        if not name.isidentifier():
            raise ValueError(f"constant name must be an identifier, got {name!r}")
        self._parts.append(f"{name} = {value!r}")

    def source(self) -> str:
        """The module: imports of the modules the printed code names, then the parts."""
        imports = [f"import {mod}" for mod in sorted(self._printer.module_imports)]
        return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(self._parts) + "\n"
