"""LaTeX export: named symbols, every kind of latex_for, errors."""

import pytest
import sympy as sp

from theory import activations as A
from theory import gaussian as G
from theory import latex as X
from theory import recursions as R


def test_to_latex_uses_named_symbols():
    out = X.to_latex(R.sigma_w**2 * A.q12 / A.q11 + R.sigma_b**2)
    assert r"\sigma_w^{2}" in out and r"\sigma_b^{2}" in out
    assert "q_{12}" in out and "q_{11}" in out
    assert "sigma_w" not in out.replace(r"\sigma_w", "")


def test_to_latex_is_sympy_latex_with_names():
    expr = A.get("erf").dual
    assert X.to_latex(expr) == sp.latex(expr, symbol_names=X.SYMBOL_NAMES)


@pytest.mark.parametrize("act", A.builtin_examples(), ids=lambda a: a.label)
def test_every_entry_has_latex(act):
    assert X.activation_latex(act).startswith(r"\sigma{\left(x \right)} = ")
    assert act._repr_latex_().startswith("$") and act._repr_latex_().endswith("$")
    dual = X.latex_for("dual", act)
    assert dual.startswith("k{\\left(q_{11},q_{12},q_{22} \\right)} = ")
    if act.dual is None:
        assert "quadrature" in dual
    if act.has_ntk:
        assert X.latex_for("dual_derivative", act).startswith(r"\dot{k}")
    else:
        with pytest.raises(ValueError, match="no derivative kernel"):
            X.latex_for("dual_derivative", act)


def test_special_functions_print_as_latex():
    elu = X.latex_for("dual", "elu")
    assert r"\mathcal{A}\left(" in elu  # TiltedOrthant, defined in papers/kernels.md
    tilted = G.TiltedOrthant(*sp.symbols("a b r")).rewrite(G.BivariateNormalCDF)
    assert r"\Phi_2\left(" in X.to_latex(tilted)
    diag = X.dual_latex("elu", diagonal=True)
    assert r"\operatorname{erfcx}\left(" in diag


def test_gelu_dual_latex():
    # the textbook form (arcsin of q12/sqrt((1+q11)(1+q22))), not the scale-free one it is
    # evaluated in (whose atan and (1 - rho)(1 + rho) would show)
    out = X.latex_for("dual", "gelu")
    assert r"\operatorname{asin}" in out and "q_{12}" in out
    assert r"\operatorname{atan}" not in out and "scale-free form" in out


def test_ntk_recursion_relu_two_layers():
    out = X.latex_for("ntk", "relu", hidden_layers=2)
    assert out.startswith(r"\begin{gathered}") and out.endswith(r"\end{gathered}")
    assert r"\Theta^{(3)}_{12} = " in out  # readout layer L + 1 = 3
    assert r"\langle x, x' \rangle" in out and r"\sigma_w" in out
    assert r"\dot{k}" in out


def test_nngp_recursion_quadrature_activation():
    out = X.latex_for("nngp", "tanh", hidden_layers=3)
    assert r"\Sigma^{(4)}_{12}" in out and "quadrature" in out


def test_standard_parameterization_widths_are_named():
    out = X.to_latex(R.ntk_depth("erf", 2, parameterization="standard", substitute=False))
    assert "n_{1}" in out and "n_{2}" in out


def test_latex_for_errors():
    with pytest.raises(ValueError, match="unknown LaTeX kind 'odes'.*activation, dual"):
        X.latex_for("odes", "relu")
    with pytest.raises(ValueError, match="hidden_layers"):
        X.latex_for("ntk", "relu", hidden_layers=0)
    with pytest.raises(ValueError, match="no derivative kernel"):
        X.latex_for("ntk", "step", hidden_layers=1)
    with pytest.raises(ValueError, match="unknown activation"):
        X.latex_for("dual", "nope")


def test_latex_kinds_table_is_the_dispatch():
    assert set(X.LATEX_KINDS) == {"activation", "dual", "dual_derivative", "nngp", "ntk",
                                  "length_map", "correlation_map", "ode"}


def test_fixed_point_maps_substitute_the_closed_forms():
    # erf: L(q) = sw^2 (2/pi) arcsin(2q/(1+2q)) + sb^2, the registry's diagonal
    assert r"\operatorname{asin}" in X.latex_for("length_map", "erf")
    assert r"\mathcal{C}(\rho)" in X.latex_for("correlation_map", "erf")
    # tanh has no closed form: the map is written as an expectation
    assert r"\mathbb{E}" in X.latex_for("length_map", "tanh")


def test_map_latex():
    assert r"\sigma_{w}" in X.length_map_latex("relu")
    assert r"\mathcal{C}(\rho)" in X.correlation_map_latex("erf")
    assert r"\mathbb{E}" in X.length_map_latex("tanh")
    assert X.latex_for("length_map", "relu") == X.length_map_latex("relu")
    assert X.latex_for("correlation_map", "erf") == X.correlation_map_latex("erf")


@pytest.mark.parametrize("act", A.builtin_examples(), ids=lambda a: a.label)
def test_repr_latex_is_activation_latex(act):
    # Activation._repr_latex_ prints with sympy.latex directly (latex.py sits above the
    # registry); both must give the same equation
    assert act._repr_latex_() == "$" + X.activation_latex(act) + "$"


def test_ode_latex_models():
    out = X.latex_for("ode", "elu", model="single-index")
    assert out.startswith(r"\begin{gathered}") and r"\dot{a}_{i}" in out and "c_{3} =" in out
    ss = X.ode_latex("saad-solla")
    assert r"\dot R_{in}" in ss and r"\operatorname{asin}" in ss and "I_{4}" in ss
    assert X.latex_for("ode") == X.ode_latex("single-index")
    with pytest.raises(ValueError, match="unknown ODE model"):
        X.ode_latex("mean-field")
