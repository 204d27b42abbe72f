r"""Two-timescale mean-field two-layer network (paper 002, Takakura & Suzuki,
arXiv 2403.14917): the reduced kernel objective, its first variation and the
expected objective of two label-noise procedures, derived in SymPy.

Model (a reconstruction consistent with the paper's abstract; SETUPS.md):
:math:`f(x) = \mathbb E_{w\sim\mu}[a(w)\,h(x; w)]`, training loss
:math:`\frac1n\sum_j (f(x_j) - y_j)^2 + \lambda_a\mathbb E_\mu a^2`. With the second
layer at its optimum (the fast time scale) :math:`a(w) = h(w)^\top c` and
:math:`K_\mu = \mathbb E_\mu h(w) h(w)^\top` (the :math:`n\times n` feature kernel on the
data), minimizing over :math:`c` leaves

.. math:: G(\mu) = \lambda_a\, y^\top (K_\mu + n\lambda_a I)^{-1} y ,

:func:`ridge_reduction` checks the identity exactly for a symbolic symmetric
:math:`K` of a given size. Its first variation (:func:`first_variation_check`):
:math:`\delta K/\delta\mu(w) = h(w)h(w)^\top`, so

.. math:: \frac{\delta G}{\delta\mu}(w) = -\lambda_a\,(h(w)^\top\beta)^2,\qquad
          \beta = (K_\mu + n\lambda_a I)^{-1} y .

Label noise (:func:`label_noise_expectations`), :math:`\varepsilon` with
:math:`\mathbb E\varepsilon = 0`, :math:`\mathbb E\varepsilon\varepsilon^\top = \sigma^2 I`,
:math:`A = (K + n\lambda_a I)^{-1}`, :math:`\mathrm{df} = \mathrm{Tr}\,K A`:

* ``naive``: fresh noise inside G, :math:`\lambda_a (y+\varepsilon)^\top A (y+\varepsilon)`,
  has expectation :math:`G - \frac{\sigma^2}{n}\mathrm{df} + \sigma^2` (rewards df);
* ``refit``: the second layer fitted on :math:`y+\varepsilon`, the loss measured on the
  clean labels, :math:`J_\varepsilon = \frac1n|K c_\varepsilon - y|^2 + \lambda_a
  c_\varepsilon^\top K c_\varepsilon`, :math:`c_\varepsilon = A(y+\varepsilon)`, which
  equals :math:`\lambda_a (y-\varepsilon)^\top A (y+\varepsilon) + |\varepsilon|^2/n`
  and has expectation :math:`G + \frac{\sigma^2}{n}\mathrm{df}` (penalizes df).

The paper's own procedure could not be read here; ``refit`` is this project's
reconstruction of a procedure for which df is a penalty.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "expected_label_noise_objective",
    "first_variation_check",
    "first_variation_weak_kernel",
    "label_noise_expectations",
    "latex_formulas",
    "objective_expression",
    "particle_drift_expression",
    "refit_objective_expression",
    "ridge_reduction",
    "symbolic_kernel",
]

lam_a, sigma, t = sp.symbols("lambda_a sigma t", positive=True)


def symbolic_kernel(size: int):
    """A symmetric ``size x size`` kernel with symbol entries ``k_ij`` (i <= j)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    k = {}
    for i in range(size):
        for j in range(i, size):
            k[i, j] = k[j, i] = sp.Symbol(f"k_{i}{j}", real=True)
    return sp.Matrix(size, size, lambda i, j: k[i, j])


def _vector(name, size):
    return sp.Matrix(sp.symbols(f"{name}_0:{size}", real=True))


def objective_expression(K, y):
    r""":math:`G = \lambda_a y^\top (K + n\lambda_a I)^{-1} y` for a SymPy matrix K."""
    n = K.shape[0]
    return sp.simplify(lam_a * (y.T * (K + n * lam_a * sp.eye(n)).inv() * y)[0, 0])


def refit_objective_expression(K, y, eps):
    r""":math:`J_\varepsilon`: second layer fitted on ``y + eps``, loss on ``y``."""
    n = K.shape[0]
    c = (K + n * lam_a * sp.eye(n)).inv() * (y + eps)
    resid = K * c - y
    return (resid.T * resid)[0, 0] / n + lam_a * (c.T * K * c)[0, 0]


def ridge_reduction(size: int = 2) -> dict:
    """Minimize the two-layer loss over the second layer symbolically: returns the
    optimal coefficients, the minimum and whether it equals G exactly."""
    K, y, c = symbolic_kernel(size), _vector("y", size), _vector("c", size)
    n = size
    loss = ((K * c - y).T * (K * c - y))[0, 0] / n + lam_a * (c.T * K * c)[0, 0]
    c_star = (K + n * lam_a * sp.eye(n)).inv() * y
    grad = sp.Matrix([sp.diff(loss, ci) for ci in c]).subs(dict(zip(c, c_star, strict=True)))
    minimum = sp.simplify(loss.subs(dict(zip(c, c_star, strict=True))))
    G = objective_expression(K, y)
    return {"c_star": c_star, "minimum": minimum, "G": G,
            "stationary": all(sp.simplify(g) == 0 for g in grad),
            "equal": sp.simplify(minimum - G) == 0}


def _first_variation(K, y, h):
    r""":math:`\frac{d}{dt}G(K + t\,hh^\top)|_{t=0}`: the first variation of G at a particle
    with feature vector h, derived from G."""
    return sp.diff(objective_expression(K + t * h * h.T, y), t).subs(t, 0)


def first_variation_check(size: int = 2) -> dict:
    r""":math:`\frac{d}{dt}G(K + t\,hh^\top)|_{t=0}` against :math:`-\lambda_a(h^\top\beta)^2`."""
    K, y, h = symbolic_kernel(size), _vector("y", size), _vector("h", size)
    derivative = _first_variation(K, y, h)
    beta = (K + size * lam_a * sp.eye(size)).inv() * y
    formula = -lam_a * ((h.T * beta)[0, 0]) ** 2
    return {"derivative": derivative, "formula": formula,
            "equal": sp.simplify(derivative - formula) == 0}


def first_variation_weak_kernel(size: int = 2) -> dict:
    r"""The first variation where the kernel is negligible against the ridge
    (:math:`K \to 0`): :math:`-\lambda_a(h^\top y / n\lambda_a)^2 = -m(w)^2/\lambda_a`,
    :math:`m(w) = \frac1n h(w)^\top y` (the feature's empirical correlation with the
    labels). The Gibbs potential of the particles is then
    :math:`V(w) = -m(w)^2/\lambda_a + \lambda_w|w|^2`, with :math:`V(0) = 0` for a feature with
    :math:`h(x; 0) = 0` (tanh), so it goes below V(0) somewhere if and only if
    :math:`\lambda_a < \max_w m(w)^2/(\lambda_w|w|^2)`
    (:func:`numerics.mean_field.ridge_threshold` evaluates this for the reconstruction's
    feature and target). Returns the limit (the first variation derived from G at K = 0)
    and whether it equals that closed form."""
    y, h = _vector("y", size), _vector("h", size)
    limit = sp.simplify(_first_variation(sp.zeros(size, size), y, h))
    m = (h.T * y)[0, 0] / size
    formula = -m**2 / lam_a
    return {"limit": limit, "formula": formula, "equal": sp.simplify(limit - formula) == 0}


def particle_drift_expression(size: int = 2, dim: int = 2):
    r"""The particle drift derived by differentiating the first variation:
    returns ``(w, X, y, K, drift, formula)`` for features :math:`\tanh\langle w, x_j\rangle`
    with symbolic data ``X`` (``size x dim``), labels ``y`` and kernel ``K`` (symbols), where
    ``drift`` is :math:`\nabla_w[\delta G/\delta\mu(w)]` by SymPy and ``formula`` the
    closed form :math:`-2\lambda_a (h^\top\beta)\sum_j\beta_j(1 - h_j^2)x_j` used by
    :func:`numerics.mean_field.particle_drift` (without the :math:`2\lambda_w w` term)."""
    K, y = symbolic_kernel(size), _vector("y", size)
    w = sp.Matrix(sp.symbols(f"w_0:{dim}", real=True))
    X = sp.Matrix(size, dim, lambda j, p: sp.Symbol(f"x_{j}{p}", real=True))
    h = sp.Matrix([sp.tanh((X[j, :] * w)[0, 0]) for j in range(size)])
    beta = (K + size * lam_a * sp.eye(size)).inv() * y
    variation = -lam_a * ((h.T * beta)[0, 0]) ** 2
    drift = sp.Matrix([sp.diff(variation, wp) for wp in w])
    hb = (h.T * beta)[0, 0]
    formula = sp.Matrix([-2 * lam_a * hb * sum(beta[j] * (1 - h[j] ** 2) * X[j, p]
                                               for j in range(size)) for p in range(dim)])
    return w, X, y, K, drift, formula


def _expect_quadratic(expr, eps):
    """E over eps with E eps_i = 0, E eps_i eps_j = sigma^2 delta_ij of an expression
    that is a polynomial of degree <= 2 in eps."""
    poly = sp.Poly(sp.expand(expr), *eps)
    if poly.total_degree() > 2:
        raise ValueError("expression must be of degree <= 2 in the noise")
    out = 0
    for monom, coeff in poly.terms():
        deg = sum(monom)
        if deg == 0:
            out += coeff
        elif deg == 2 and max(monom) == 2:
            out += coeff * sigma**2
    return out


def label_noise_expectations(size: int = 2) -> dict:
    """Expected objectives of the ``naive`` and ``refit`` procedures minus
    ``G -/+ sigma^2 df / n`` (each simplified; zero means the stated formula holds)."""
    K, y, eps = symbolic_kernel(size), _vector("y", size), _vector("e", size)
    n = size
    A = (K + n * lam_a * sp.eye(n)).inv()
    G = objective_expression(K, y)
    df = sp.simplify((K * A).trace())
    naive = lam_a * ((y + eps).T * A * (y + eps))[0, 0]
    refit = refit_objective_expression(K, y, eps)
    closed = lam_a * ((y - eps).T * A * (y + eps))[0, 0] + (eps.T * eps)[0, 0] / n
    E_naive = _expect(naive, eps)
    E_refit = _expect(refit, eps)
    return {
        "df": df, "G": G,
        "naive_minus": sp.simplify(E_naive - (G - sigma**2 * df / n + sigma**2)),
        "refit_minus": sp.simplify(E_refit - (G + sigma**2 * df / n)),
        "refit_closed_form": sp.simplify(refit - closed),
    }


def _expect(expr, eps):
    """Expectation of a rational expression whose denominator does not involve eps."""
    num, den = sp.fraction(sp.together(expr))
    if any(den.has(e) for e in eps):
        raise ValueError("the denominator must not depend on the noise")
    return _expect_quadratic(num, eps) / den


def expected_label_noise_objective(procedure: str):
    r"""The coefficient of :math:`\sigma^2\,\mathrm{df}/n` in the expected objective of a
    procedure (``"naive"``: -1, ``"refit"``: +1), from :func:`label_noise_expectations`
    at size 2 (a test checks the general-size statement at size 3)."""
    if procedure not in ("naive", "refit"):
        raise ValueError(f"procedure must be 'naive' or 'refit', got {procedure!r}")
    out = label_noise_expectations(2)
    if out[f"{procedure}_minus"] != 0:
        raise ArithmeticError(f"the expectation of {procedure!r} is not G +- sigma^2 df/n")
    return -1 if procedure == "naive" else 1


def latex_formulas() -> dict[str, str]:
    """LaTeX of the objective, its first variation, df and the label-noise expectations,
    printed from SymPy matrix expressions."""
    n = sp.Symbol("n", positive=True, integer=True)
    K = sp.MatrixSymbol("K_{\\mu}", n, n)
    y = sp.MatrixSymbol("y", n, 1)
    h = sp.MatrixSymbol("h(w)", n, 1)
    Id = sp.Identity(n)
    A = (K + n * lam_a * Id).inverse()
    G = sp.Symbol("G(\\mu)")
    df = sp.Symbol("\\mathrm{df}")
    E = sp.Function("\\mathbb{E}")
    return {
        "objective": sp.latex(sp.Eq(G, lam_a * (y.T * A * y), evaluate=False)),
        "first_variation": (r"\frac{\delta G}{\delta\mu}(w) = " + sp.latex(-lam_a)
                            + r"\left(" + sp.latex(h.T * A * y) + r"\right)^{2}"),
        "degrees_of_freedom": sp.latex(sp.Eq(df, sp.Trace(K * A), evaluate=False)),
        "refit_expectation": (sp.latex(E(sp.Symbol("J_{\\varepsilon}"))) + " = "
                              + sp.latex(G + sigma**2 * df / n)),
        "naive_expectation": (sp.latex(E(sp.Symbol("G_{y+\\varepsilon}"))) + " = "
                              + sp.latex(G - sigma**2 * df / n + sigma**2)),
    }
