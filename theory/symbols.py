r"""The SymPy symbols shared across ``theory/`` (a leaf: imports nothing from ``theory``).

* ``x`` — the argument of an activation :math:`\sigma(x)`;
* ``q`` — a variance on the diagonal, ``q11, q12, q22`` — the entries of the
  covariance :math:`[[q_{11}, q_{12}], [q_{12}, q_{22}]]` of a pre-activation pair;
* ``sigma_w, sigma_b`` — weight and bias scales of a layer, ``d`` — the input
  dimension, ``x11, x12, x22`` — the input Gram entries
  :math:`\langle x,x\rangle, \langle x,x'\rangle, \langle x',x'\rangle`.

SymPy symbols are equal when their names and assumptions are, so these objects are
the single definition every module uses.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["x", "q", "q11", "q12", "q22", "sigma_w", "sigma_b", "d", "x11", "x12", "x22"]

x = sp.Symbol("x", real=True)
q = sp.Symbol("q", positive=True)
q11 = sp.Symbol("q11", positive=True)
q22 = sp.Symbol("q22", positive=True)
q12 = sp.Symbol("q12", real=True)

sigma_w = sp.Symbol("sigma_w", nonnegative=True)
sigma_b = sp.Symbol("sigma_b", nonnegative=True)
d = sp.Symbol("d", positive=True, integer=True)
#: input Gram entries <x,x>, <x,x'>, <x',x'>
x11 = sp.Symbol("x11", nonnegative=True)
x22 = sp.Symbol("x22", nonnegative=True)
x12 = sp.Symbol("x12", real=True)
