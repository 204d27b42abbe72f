r"""O(1/N) finite-width theory of the per-layer covariances of random MLPs.

Setting: the two-input networks of :func:`numerics.empirical.finite_network_covariances`
(width :math:`N`, i.i.d. standard-normal weights), whose measured pair covariance
:math:`V_l = (q_{11}, q_{22}, q_{12})` follows the exact infinite-width layer map
:math:`F(V) = \sigma_w^2 k(V) + \sigma_b^2` (:func:`numerics.kernels.layer_map`) up to
fluctuations of order :math:`N^{-1/2}`. Given layer :math:`l`, the rows
:math:`h_i = (h^l_i(x), h^l_i(x'))` are i.i.d. :math:`\mathcal N(0, \Sigma_l)`, so

.. math:: \Sigma_{l+1} = \sigma_w^2\,\tfrac1N\textstyle\sum_i \sigma(h_i)\sigma(h_i)^\top
          + \sigma_b^2 = F(\Sigma_l) + \xi_l,\qquad
          \operatorname{Cov}\xi_l = \sigma_w^4\operatorname{Cov}[Y]/N,\quad
          Y = (\sigma(u)^2, \sigma(v)^2, \sigma(u)\sigma(v)),

and the measured :math:`V_l` adds the Wishart noise :math:`\mathrm{Wick}(\Sigma_l)/N` of the
row average of :math:`(u^2, v^2, uv)`.

* :func:`moment_closure`: predicted bias and standard deviation of the empirical
  :math:`(q_l, \rho_l)` along the whole trajectory (second-order delta method);
* :func:`one_step_covariance`: covariance of the one-step residuals
  :math:`e_l = V_{l+1} - F(V_l)` of one network (the errors of the trajectory are amplified
  by an unstable length map, those of one step are not);
* :func:`one_step_residuals`: residuals, marginal z-scores and whitened residuals of
  measured networks against :math:`F`; the verdict (Bonferroni :math:`\max|z|`,
  :math:`\chi^2` band on :math:`\overline{w^2}`) is the caller's.

Expectations are 2-D Gauss–Hermite rules (:func:`row_moment_covariance`); references:
the large-N expansion of deep-network kernels in Yaida (2020), "Non-Gaussian processes and
neural networks at finite widths", and Roberts, Yaida & Hanin, *The Principles of Deep
Learning Theory* (2022), ch. 4; the martingale structure below is derived in
:func:`one_step_covariance`.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.compile import activation_function
from numerics.kernels import layer_map, layer_map_jacobian
from numerics.validate import check_int, check_real

__all__ = [
    "ROW_MOMENT_NODES",
    "moment_closure",
    "one_step_covariance",
    "one_step_residuals",
    "row_moment_covariance",
]

#: Gauss-Hermite nodes per axis for the one-step noise covariance (row moments of layer l).
#: For GELU (entire) the 64^2 rule is exact to 1e-7 relative even at q = 3; for ELU (jump in
#: s'') it converges algebraically, 5e-5..1e-4 relative against a 300^2 rule
#: (tests/test_finite_width.py). A relative error eps in a variance moves a z-score by
#: eps/2. Quadrature rather than Monte Carlo: the fourth moments E[s(u)^2 s(v)^2] would need
#: ~1e8 samples per layer for 1e-4.
ROW_MOMENT_NODES = 64


def _gauss_hermite_2d(n):
    """Nodes z1, z2 and weights of the n x n tensor rule for E over two independent N(0, 1)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(2 * math.pi)
    Z1, Z2 = np.meshgrid(z, z, indexing="ij")
    return Z1.ravel(), Z2.ravel(), np.outer(w, w).ravel()


def moment_closure(activation, sigma_w, *, width, depth, rho0, q0=1.0, sigma_b=0.0,
                   nodes=48) -> dict:
    r"""Predicted O(1/N) bias and standard deviation of the empirical
    :math:`(q_l, \rho_l)` of width-``N`` networks started at layer 1 from
    :math:`(q_0, \rho_0)` (second-order moment closure).

    With :math:`V_{l+1} = F(V_l) + \xi`, :math:`\operatorname{Cov}\xi = \Sigma_F(V_l)/N`,
    :math:`\Sigma_F = \sigma_w^4\operatorname{Cov}Y` (module docstring), the delta method to
    second order gives the mean :math:`m` and covariance :math:`P` of the layer covariance:

    .. math:: m_{l+1} = F(m_l) + \tfrac12 \nabla^2F : P_l,\qquad
              P_{l+1} = J P_l J^\top + \Sigma_F(m_l)/N,\qquad m_1 = (q_0, q_0, \rho_0 q_0),

    the measured statistics :math:`\hat X_l` (means of :math:`u^2, v^2, uv`) add the Wick
    covariance :math:`\mathrm{Wick}(m_l)/N`, and :math:`\rho = X_3/\sqrt{X_1X_2}` adds its
    own curvature term. Expectations by a ``nodes``² Gauss–Hermite rule (its error enters
    only these O(1/N) corrections), derivatives by central differences.

    Returns a dict of arrays over layers 1..depth: ``bias_q``, ``bias_rho`` (mean of the
    statistic minus the infinite-width recursion :math:`V \mapsto F(V)`) and ``sd_q``,
    ``sd_rho`` (standard deviation across networks)."""
    check_real("sigma_w", sigma_w, positive=True)
    check_real("sigma_b", sigma_b)
    width = check_int("width", width, 1)
    depth = check_int("depth", depth, 1)
    nodes = check_int("nodes", nodes, 2)
    check_real("q0", q0, positive=True)
    check_real("rho0", rho0, low=-1, high=1)
    s = activation_function(activation)
    Z1, Z2, W = _gauss_hermite_2d(nodes)
    sw2, sb2 = sigma_w**2, sigma_b**2

    def moments(V):  # mean and covariance of Y under N(0, V), V = (a, b, c)
        a, b, c = V
        la = math.sqrt(a)
        lc = c / la
        ld = math.sqrt(max(b - lc * lc, 0.0))
        su, sv = s(la * Z1), s(lc * Z1 + ld * Z2)
        Y = np.stack([su * su, sv * sv, su * sv])
        mean = Y @ W
        second = (Y * W) @ Y.T
        return mean, second - np.outer(mean, mean)

    def F(V):
        return sw2 * moments(V)[0] + sb2

    def jacobian_hessian(fun, V, h=2e-3):
        V = np.asarray(V, dtype=float)
        f0 = fun(V)
        m = len(np.atleast_1d(f0))
        J = np.empty((m, 3))
        H = np.empty((m, 3, 3))
        E = np.eye(3) * h
        for j in range(3):
            fp_, fm = fun(V + E[j]), fun(V - E[j])
            J[:, j] = (fp_ - fm) / (2 * h)
            H[:, j, j] = (fp_ - 2 * f0 + fm) / h**2
            for k in range(j + 1, 3):
                v = (fun(V + E[j] + E[k]) - fun(V + E[j] - E[k]) - fun(V - E[j] + E[k])
                     + fun(V - E[j] - E[k])) / (4 * h * h)
                H[:, j, k] = H[:, k, j] = v
        return J, H

    def wick(V):  # covariance of (u^2, v^2, uv) for (u, v) ~ N(0, V)
        a, b, c = V
        return np.array([[2 * a * a, 2 * c * c, 2 * a * c],
                         [2 * c * c, 2 * b * b, 2 * b * c],
                         [2 * a * c, 2 * b * c, a * b + c * c]])

    def rho_of(X):
        return np.array([X[2] / math.sqrt(X[0] * X[1])])

    m = np.array([q0, q0, rho0 * q0])
    rec = m.copy()
    P = np.zeros((3, 3))
    out = {k: np.empty(depth) for k in ("bias_q", "bias_rho", "sd_q", "sd_rho")}
    wq = np.array([0.5, 0.5, 0.0])
    for layer in range(depth):
        cov = P + wick(m) / width
        Jg, Hg = jacobian_hessian(rho_of, m, h=1e-4)
        mean_rho = rho_of(m)[0] + 0.5 * float(np.sum(Hg[0] * cov))
        out["bias_rho"][layer] = mean_rho - rho_of(rec)[0]
        out["sd_rho"][layer] = math.sqrt(max(float(Jg[0] @ cov @ Jg[0]), 0.0))
        out["bias_q"][layer] = float(wq @ (m - rec))
        out["sd_q"][layer] = math.sqrt(max(float(wq @ cov @ wq), 0.0))
        if layer + 1 == depth:
            break
        J, H = jacobian_hessian(F, m)
        noise = sw2 * sw2 * moments(m)[1] / width
        m_next = F(m) + 0.5 * np.einsum("ijk,jk->i", H, P)
        P = J @ P @ J.T + noise
        m, rec = m_next, F(rec)
    return out


def row_moment_covariance(activation, V, sigma_w, nodes=ROW_MOMENT_NODES) -> np.ndarray:
    r"""Covariance :math:`C(V)` (shape ``V.shape[:-1] + (6, 6)``) of one row's
    :math:`R = (\sigma_w^2\sigma(u)^2, \sigma_w^2\sigma(v)^2, \sigma_w^2\sigma(u)\sigma(v),
    u^2, v^2, uv)` for :math:`(u,v)\sim\mathcal N(0, V)`, :math:`V = (q_{11}, q_{22}, q_{12})`
    in the last axis, by a ``nodes``² Gauss–Hermite rule on :math:`u = \sqrt{q_{11}}z_1`,
    :math:`v = (q_{12}/\sqrt{q_{11}})z_1 + \sqrt{q_{22} - q_{12}^2/q_{11}}\,z_2` (exact for
    the polynomial block, the Wick covariance)."""
    V = np.asarray(V, dtype=float)
    if V.ndim < 1 or V.shape[-1] != 3:
        raise ValueError(f"V must have last axis of length 3 (q11, q22, q12), got shape {V.shape}")
    if not np.all(np.isfinite(V)) or np.any(V[..., 0] <= 0) or np.any(V[..., 1] <= 0):
        raise ValueError("V must be finite with variances q11, q22 > 0")
    check_real("sigma_w", sigma_w, positive=True)
    nodes = check_int("nodes", nodes, 2)
    s = activation_function(activation)
    Z1, Z2, weights = _gauss_hermite_2d(nodes)
    a, b, c = V[..., 0:1], V[..., 1:2], V[..., 2:3]
    la = np.sqrt(a)
    lc = c / la
    ld = np.sqrt(np.maximum(b - lc * lc, 0.0))
    u, v = la * Z1, lc * Z1 + ld * Z2
    su, sv = s(u), s(v)
    sw2 = float(sigma_w) ** 2
    R = np.stack([sw2 * su * su, sw2 * sv * sv, sw2 * su * sv, u * u, v * v, u * v], axis=-2)
    mean = R @ weights
    second = np.einsum("...ig,...jg,g->...ij", R, R, weights)
    return second - mean[..., :, None] * mean[..., None, :]


def one_step_covariance(activation, covariances, *, sigma_w, width,
                        nodes=ROW_MOMENT_NODES) -> np.ndarray:
    r"""Covariance of the one-step residuals :math:`e_l = V_{l+1} - F(V_l)`,
    :math:`l = 1..L-1`, of one network (``covariances``: shape ``(L, 3)``, its empirical
    :math:`V_l`), to leading order in :math:`1/N`. Returns the
    :math:`3(L-1)\times3(L-1)` matrix (entries ordered layer-major,
    ``numerics.kernels.PAIR_ENTRIES`` within a layer).

    Derivation. With :math:`A_l = V_l - \Sigma_l` (the Wishart noise of layer :math:`l`)
    and :math:`J_l = \partial F(V_l)` (:func:`numerics.kernels.layer_map_jacobian`):

    .. math:: e_l = \underbrace{V_{l+1} - \Sigma_{l+1}}_{A_{l+1}}
              + \underbrace{\Sigma_{l+1} - F(\Sigma_l)}_{\text{product noise}}
              - \underbrace{(F(V_l) - F(\Sigma_l))}_{\approx J_l A_l}
              = \bar R_{l+1}[u^2,v^2,uv] - \mathbb E + M_l(\bar R_l - \mathbb E) + O(1/N),

    :math:`M_l = [I_3, -J_l]`, :math:`\bar R_l` the row mean over layer :math:`l` of the
    :math:`R` of :func:`row_moment_covariance` (covariance :math:`C(\Sigma_l)/N`). The
    :math:`\bar R_l` of different layers are uncorrelated (each is conditionally centred
    given the layers before), so :math:`\operatorname{Cov}(e) = B\,\operatorname{diag}(C_l/N)
    \,B^\top` with :math:`B` the map above. Gaussian integration by parts (Price's theorem)
    gives :math:`\operatorname{Cov}(hh^\top, g(h)) = \mathrm{Wick}(\Sigma)\,J^\top`, which makes
    the blocks between consecutive layers vanish (the residuals are martingale
    differences); they are built anyway, from the quadrature, and are zero to its accuracy.
    The product noise alone, :math:`\sigma_w^4\operatorname{Var}[\sigma(u)\sigma(v)]/N`,
    misses the two Wishart terms. :math:`\Sigma_l` is replaced by the measured :math:`V_l`
    (relative error :math:`O(N^{-1/2})` in the standard deviations); the neglected
    :math:`O(1/N)` bias of :math:`e_l` shifts z-scores by :math:`O(N^{-1/2})`."""
    V = np.asarray(covariances, dtype=float)
    if V.ndim != 2 or V.shape[1] != 3 or V.shape[0] < 2:
        raise ValueError(f"covariances must have shape (layers >= 2, 3), got {V.shape}")
    width = check_int("width", width, 1)
    L = V.shape[0]
    C = row_moment_covariance(activation, V, sigma_w, nodes)  # (L, 6, 6)
    J = layer_map_jacobian(activation, V, sigma_w=sigma_w)  # (L, 3, 3)
    n = 3 * (L - 1)
    B = np.zeros((n, 6 * L))
    for layer in range(L - 1):
        rows = slice(3 * layer, 3 * layer + 3)
        B[rows, 6 * layer: 6 * layer + 3] = np.eye(3)  # M_l = [I, -J_l] on R_l
        B[rows, 6 * layer + 3: 6 * layer + 6] = -J[layer]
        B[rows, 6 * (layer + 1) + 3: 6 * (layer + 1) + 6] = np.eye(3)  # A_{l+1}
    blocks = np.zeros((6 * L, 6 * L))
    for layer in range(L):
        blocks[6 * layer: 6 * layer + 6, 6 * layer: 6 * layer + 6] = C[layer]
    return B @ blocks @ B.T / width


def one_step_residuals(activation, covariances, *, sigma_w, width, sigma_b=0.0,
                       nodes=ROW_MOMENT_NODES) -> dict:
    r"""Measured networks against one step of the exact layer map.

    For each network (seed) :math:`s` and layer :math:`l`, the measured :math:`V_l` is pushed
    through :func:`numerics.kernels.layer_map` and compared with the measured
    :math:`V_{l+1}`: :math:`e = V_{l+1} - F(V_l)`, with covariance
    :math:`\Sigma_e` from :func:`one_step_covariance`. Returns a dict:

    * ``predicted`` :math:`F(V_l)` and ``residual`` :math:`e`, shape ``(seeds, L-1, 3)``;
    * ``sd``: marginal standard deviations :math:`\sqrt{\operatorname{diag}\Sigma_e}`, and
      ``z`` :math:`= e/\mathrm{sd}`, same shape;
    * ``whitened``: :math:`w = L^{-1}e` per network (:math:`LL^\top = \Sigma_e`, Cholesky),
      shape ``(seeds, 3(L-1))``: i.i.d. :math:`\mathcal N(0,1)` to leading order, so
      :math:`\sum w^2 \sim \chi^2_n`;
    * ``n``: the number of z-scores (``z.size``).

    ``covariances``: shape ``(seeds, L, 3)`` from
    :func:`numerics.empirical.finite_network_covariances`; ``activation``, ``sigma_w`` and
    ``sigma_b`` define the layer map under test (a wrong one shows up as large
    :math:`w^2`)."""
    V = np.asarray(covariances, dtype=float)
    if V.ndim != 3 or V.shape[2] != 3 or V.shape[1] < 2:
        raise ValueError(f"covariances must have shape (seeds, layers >= 2, 3), got {V.shape}")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    rho = V[..., 2] / np.sqrt(V[..., 0] * V[..., 1])
    if not np.all(np.isfinite(rho)) or np.any(np.abs(rho) > 1 - 1e-4):
        raise ValueError("covariances must be positive definite with |rho| <= 1 - 1e-4 "
                         "(the Jacobian steps need room)")
    seeds, L = V.shape[0], V.shape[1]
    predicted = layer_map(activation, V[:, :-1], sigma_w=sigma_w, sigma_b=sigma_b)
    residual = V[:, 1:] - predicted
    marginal_sd = np.empty_like(residual)
    whitened = np.empty((seeds, 3 * (L - 1)))
    for k in range(seeds):
        cov = one_step_covariance(activation, V[k], sigma_w=sigma_w, width=width, nodes=nodes)
        marginal_sd[k] = np.sqrt(np.diag(cov)).reshape(L - 1, 3)
        chol = np.linalg.cholesky(cov)
        whitened[k] = np.linalg.solve(chol, residual[k].ravel())
    z = residual / marginal_sd
    return {"predicted": predicted, "residual": residual, "sd": marginal_sd, "z": z,
            "whitened": whitened, "n": z.size}
