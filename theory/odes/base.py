r"""The common form of a reduced ODE: state symbols, parameters, a SymPy right-hand
side, the Jacobian derived from it, and LaTeX.

Two shapes:

* :class:`ReducedODE` — a closed system :math:`\dot s = F(s; p)` in a few state symbols
  (the Saad–Solla overlaps ``Q, R, v``).
* :class:`ParticleODE` — a mean-field particle system: every particle has the same
  few state symbols :math:`\theta_i` (e.g. :math:`(a_i, r_i)`), and the particles
  interact only through moments :math:`M_k = \frac1m\sum_i \mu_k(\theta_i)`. The
  per-particle right-hand side :math:`\dot\theta_i = F(\theta_i, M)` is written in
  terms of the moment symbols, so a system of hundreds of particles never becomes a
  SymPy system with hundreds of symbols. Its Jacobian has three blocks (all derived
  here in SymPy): :math:`\partial F/\partial\theta` (per particle),
  :math:`\partial F/\partial M` (the rank-K coupling) and
  :math:`\partial\mu/\partial\theta`; with the moments as extra state variables,
  :math:`\dot M_k = \frac1m\sum_i \nabla\mu_k(\theta_i)\cdot F(\theta_i, M)`
  (:meth:`ParticleODE.moment_rate`) and the Jacobian becomes an arrowhead.

Numbers (the Hermite coefficients of an activation, a target, a learning rate) are kept
apart in ``values`` (symbol -> number) and substituted only when the system is compiled
(:mod:`numerics.integrate`) or evaluated (:meth:`ReducedODE.substituted`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

__all__ = ["ReducedODE", "ParticleODE", "time"]

#: the time variable of every reduced ODE
time = sp.Symbol("t", nonnegative=True)


def _tuple(symbols, what):
    out = tuple(symbols)
    if not out or not all(isinstance(s, sp.Symbol) for s in out):
        raise ValueError(f"{what} must be a non-empty sequence of SymPy symbols, got {symbols!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} repeat a symbol: {out!r}")
    return out


@dataclass(frozen=True)
class ReducedODE:
    r""":math:`\dot s = F(s; p)`: ``state`` symbols, ``rhs`` (one SymPy expression per
    state symbol), ``parameters`` (symbols the rhs may contain besides the state),
    ``values`` (numbers for some parameters), a ``name`` and a one-line ``description``."""

    name: str
    state: tuple
    rhs: tuple
    parameters: tuple = ()
    values: Mapping = field(default_factory=dict)
    description: str = ""
    symbol_names: Mapping = field(default_factory=dict)  # symbol -> LaTeX name

    def __post_init__(self):
        object.__setattr__(self, "state", _tuple(self.state, "state"))
        object.__setattr__(self, "rhs", tuple(sp.sympify(e) for e in self.rhs))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        if len(self.rhs) != len(self.state):
            raise ValueError(f"{self.name}: {len(self.rhs)} right-hand sides for "
                             f"{len(self.state)} state symbols")
        allowed = set(self.state) | set(self.parameters) | set(self.extra_symbols())
        for expr in self.rhs:
            stray = expr.free_symbols - allowed
            if stray:
                raise ValueError(f"{self.name}: right-hand side uses undeclared symbols "
                                 f"{sorted(map(str, stray))}")
        unknown = set(self.values) - set(self.parameters)
        if unknown:
            raise ValueError(f"{self.name}: values for symbols that are not parameters: "
                             f"{sorted(map(str, unknown))}")

    def extra_symbols(self) -> tuple:
        """Symbols besides state and parameters the rhs may contain (moments of a
        particle system)."""
        return ()

    @property
    def free_parameters(self) -> tuple:
        """The parameters without a value in ``values`` (to be given at compile time)."""
        return tuple(p for p in self.parameters if p not in self.values)

    def jacobian(self) -> sp.Matrix:
        r""":math:`\partial F_i/\partial s_j`, derived from ``rhs``."""
        return sp.Matrix(self.rhs).jacobian(sp.Matrix(self.state))

    def jacobian_block(self, rows, cols) -> sp.Matrix:
        """The block of the Jacobian: rows = state symbols whose rates, cols = state
        symbols (or moment symbols of a particle system) to differentiate by."""
        index = {s: i for i, s in enumerate(self.state)}
        try:
            exprs = [self.rhs[index[s]] for s in rows]
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]} is not a state symbol of {self.name}") from None
        return sp.Matrix(exprs).jacobian(sp.Matrix(list(cols)))

    def substitution(self, **values) -> dict:
        """``self.values`` updated with the given ``name=number`` parameter values (an
        unknown name is a ValueError listing the parameters)."""
        subs = dict(self.values)
        by_name = {str(p): p for p in self.parameters}
        for key, v in values.items():
            if key not in by_name:
                raise ValueError(f"{self.name}: unknown parameter {key!r}; parameters: "
                                 f"{sorted(by_name)}")
            subs[by_name[key]] = v
        return subs

    def substituted(self, **values) -> tuple:
        """The rhs with ``self.values`` and the given ``name=number`` values substituted."""
        subs = self.substitution(**values)
        return tuple(e.subs(subs) for e in self.rhs)

    def equations(self) -> list:
        r"""``Eq(d s/dt, F)`` for every state symbol (the state written as a function of
        :math:`t`)."""
        return [sp.Eq(sp.Derivative(sp.Function(s.name)(time), time), f, evaluate=False)
                for s, f in zip(self.state, self.rhs, strict=True)]

    def latex(self) -> str:
        r"""The system as a LaTeX ``gathered`` environment: one row
        :math:`\dot s = F` per state symbol."""
        names = dict(self.symbol_names)
        rows = []
        for s, f in zip(self.state, self.rhs, strict=True):
            lhs = r"\dot{" + names.get(s, sp.latex(s)) + "}"
            rows.append(lhs + " = " + sp.latex(f, symbol_names=names))
        return r"\begin{gathered}" + r" \\ ".join(rows) + r"\end{gathered}"


@dataclass(frozen=True)
class ParticleODE(ReducedODE):
    r"""A mean-field particle system (module docstring): ``state`` are the symbols of
    one particle, ``moments`` the symbols :math:`M_k`, ``moment_functions``
    :math:`\mu_k(\theta)` with :math:`M_k = \frac1m\sum_i\mu_k(\theta_i)`, ``risk`` the
    expression the flow descends (in the moments and, for a finite-m correction, a
    per-particle term ``self_term`` :math:`s(\theta)` entering as
    :math:`\frac{1}{m^2}\sum_i s(\theta_i)`)."""

    moments: tuple = ()
    moment_functions: tuple = ()
    risk: sp.Expr = sp.S.Zero
    self_term: sp.Expr = sp.S.Zero

    def __post_init__(self):
        object.__setattr__(self, "moments", _tuple(self.moments, "moments"))
        object.__setattr__(self, "moment_functions",
                           tuple(sp.sympify(e) for e in self.moment_functions))
        if len(self.moment_functions) != len(self.moments):
            raise ValueError(f"{self.name}: {len(self.moment_functions)} moment functions for "
                             f"{len(self.moments)} moments")
        super().__post_init__()

    def extra_symbols(self) -> tuple:
        return self.moments

    def particle_block(self) -> sp.Matrix:
        r""":math:`\partial F/\partial\theta` (p x p, the same for every particle)."""
        return self.jacobian()

    def coupling_block(self) -> sp.Matrix:
        r""":math:`\partial F/\partial M` (p x K)."""
        return sp.Matrix(self.rhs).jacobian(sp.Matrix(self.moments))

    def moment_gradient(self) -> sp.Matrix:
        r""":math:`\partial\mu_k/\partial\theta` (K x p)."""
        return sp.Matrix(self.moment_functions).jacobian(sp.Matrix(self.state))

    def moment_rate(self) -> tuple:
        r"""Per-particle contributions :math:`g_k(\theta, M) = \nabla\mu_k(\theta)\cdot
        F(\theta, M)`, so that :math:`\dot M_k = \frac1m\sum_i g_k(\theta_i, M)`."""
        grad = self.moment_gradient()
        F = sp.Matrix(self.rhs)
        return tuple(sp.expand((grad[k, :] * F)[0, 0]) for k in range(len(self.moments)))

    def moment_rate_blocks(self) -> tuple[sp.Matrix, sp.Matrix]:
        r""":math:`(\partial g/\partial\theta, \partial g/\partial M)`: the arrowhead's
        dense rows (K x p, per particle, divided by m when assembled) and its corner
        (K x K, averaged over the particles)."""
        g = sp.Matrix(self.moment_rate())
        return g.jacobian(sp.Matrix(self.state)), g.jacobian(sp.Matrix(self.moments))

    def latex(self) -> str:
        r"""The risk, the moments and the per-particle flow as a LaTeX ``gathered``
        environment."""
        names = dict(self.symbol_names)
        i = sp.Symbol("i")
        rows = [r"\mathcal{R} = " + sp.latex(self.risk, symbol_names=names)]
        if self.self_term != 0:
            rows[0] += (r" + \frac{1}{m^{2}}\sum_{i} s(\theta_i),\quad s = "
                        + sp.latex(self.self_term, symbol_names=names))
        for M, mu in zip(self.moments, self.moment_functions, strict=True):
            rows.append(names.get(M, sp.latex(M)) + r" = \frac{1}{m}\sum_{i=1}^{m} "
                        + sp.latex(mu, symbol_names={s: names.get(s, sp.latex(s)) + "_{i}"
                                                     for s in self.state}))
        for s, f in zip(self.state, self.rhs, strict=True):
            rows.append(r"\dot{" + names.get(s, sp.latex(s)) + "}_{" + sp.latex(i) + "} = "
                        + sp.latex(f, symbol_names={**names, **{
                            p: names.get(p, sp.latex(p)) + "_{i}" for p in self.state}}))
        return r"\begin{gathered}" + r" \\ ".join(rows) + r"\end{gathered}"
