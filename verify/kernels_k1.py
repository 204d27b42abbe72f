r"""Claim K1: every registry dual kernel, three ways.

For every entry of :func:`theory.activations.builtin_examples` and both
kernels,

.. math:: k(q_{11},q_{12},q_{22}) = \mathbb{E}[\sigma(u)\sigma(v)], \qquad
          \dot k(q_{11},q_{12},q_{22}) = \mathbb{E}[\sigma'(u)\sigma'(v)]
          \quad (\text{where the NTK exists}),

:math:`(u,v)` centred Gaussian with variances :math:`q_{11}, q_{22}` and
covariance :math:`q_{12}`, we check at several covariance points

1. closed form (``numerics.compile.dual_function``) = 2-D quadrature
   (``numerics.quadrature.gaussian_dual``) to ``rtol = 1e-10`` relative to the
   kernel's natural scale :math:`\sqrt{k(q_{11},q_{11},q_{11})\,k(q_{22},q_{22},q_{22})}`
   (the Cauchy–Schwarz bound on :math:`|k|`, so kernels that cross zero are
   judged fairly). Entries without a closed form (tanh) say so in the record
   and compare the quadrature with an independent high-precision reference
   instead (:func:`trapezoid_reference`, mpmath at 30 digits);
2. closed form = Monte Carlo of a wide random layer: a layer of width ``N``
   with i.i.d. Gaussian weights has pre-activations :math:`(u_i, v_i)` at two
   inputs that are i.i.d. draws of exactly this covariance, so its empirical
   kernel :math:`\frac1N\sum_i \sigma(u_i)\sigma(v_i)` is the MC mean. Its
   standard error is the sample std over :math:`\sqrt N`; PASS if
   :math:`|k - \hat k_{MC}| \le 4\,\mathrm{SE}` for every test.

Why 4 standard errors: by the CLT the z-score is standard normal, so one test
falsely fails with probability :math:`P(|Z|>4) = 6.3\cdot 10^{-5}`; with the
:math:`n \approx 135` tests of the default sizes the family-wise false-FAIL rate
is at most :math:`n \cdot 6.3\cdot10^{-5} \approx 0.9\%` (union bound; the
record stores the bound for the tests actually run). The draws are seeded,
so a given seed always gives the same verdict. A wrong kernel is caught when
its error exceeds 4 SE: with ``N = 2e5`` samples the SE is about
:math:`2\cdot 10^{-3}` of the kernel scale, so errors above ~1% are detected
in quick mode and ~0.2% in full mode (the quadrature check is far stricter
but does not test the closed form against a *simulated* network).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np

from theory.activations import Activation, builtin_examples, resolve
from verify.common import ClaimResult

__all__ = ["COVARIANCE_POINTS", "compute", "monte_carlo_dual", "trapezoid_reference"]

#: (q11, q12, q22): rho = 0.5, -0.6, 0.99 (near the diagonal), and two with unequal
#: variances (rho = 0.3 and rho = -1.2/sqrt(1.6) = -0.949)
COVARIANCE_POINTS = (
    (1.0, 0.5, 1.0),
    (1.0, -0.6, 1.0),
    (1.0, 0.99, 1.0),
    (0.5, 0.3, 2.0),
    (2.0, -1.2, 0.8),
)

SAMPLES = {"quick": 200_000, "full": 4_000_000}
Z_THRESHOLD = 4.0
QUADRATURE_RTOL = 1e-10
#: two-sided normal tail P(|Z| > 4) = erfc(4/sqrt(2))
TAIL_PROBABILITY = math.erfc(Z_THRESHOLD / math.sqrt(2))
#: trapezoidal reference: step h and truncation |z| <= L per mode (see trapezoid_reference)
TRAPEZOID = {"quick": (0.2, 8.0), "full": (0.1, 10.0)}
#: covariance points (indices into the points list) at which entries without a closed form
#: get the mpmath reference: it costs ~0.3 s per point and kernel, so quick mode uses the two
#: hardest points (rho near 1; unequal variances with rho near -1) and full mode all of them.
#: Elsewhere their Monte Carlo is compared with the quadrature.
REFERENCE_POINTS = {"quick": (2, 4), "full": None}
REFERENCE_DPS = 30
_CHUNK = 1_000_000

KINDS = ("dual", "dual_derivative")


def monte_carlo_dual(f: Callable, q11: float, q12: float, q22: float, samples: int,
                     rng: np.random.Generator) -> tuple[float, float]:
    r"""Mean and standard error of :math:`f(u)f(v)` over ``samples`` draws of
    :math:`u = \sqrt{q_{11}} z_1`, :math:`v = \sqrt{q_{22}}(\rho z_1 + \sqrt{1-\rho^2} z_2)`.

    Chunked (at most 1e6 draws in memory); chunk means and variances are
    merged with Chan et al.'s pairwise formula, so the variance is not lost
    to cancellation. SE = sample std / sqrt(N).
    """
    if samples < 2:
        raise ValueError(f"samples must be >= 2, got {samples}")
    s1, s2 = math.sqrt(q11), math.sqrt(q22)
    rho = q12 / (s1 * s2)
    c = math.sqrt(max(0.0, (1 - rho) * (1 + rho)))
    n_tot, mean, m2 = 0, 0.0, 0.0
    remaining = samples
    while remaining:
        n = min(remaining, _CHUNK)
        z = rng.standard_normal((2, n))
        prod = f(s1 * z[0]) * f(s2 * (rho * z[0] + c * z[1]))
        cm, cv = float(prod.mean()), float(prod.var())
        delta = cm - mean
        total = n_tot + n
        mean += delta * n / total
        m2 += cv * n + delta * delta * n_tot * n / total
        n_tot = total
        remaining -= n
    if not (math.isfinite(mean) and math.isfinite(m2)):
        raise ValueError(f"Monte Carlo mean is not finite at (q11, q12, q22) = {(q11, q12, q22)}")
    return mean, math.sqrt(m2 / (n_tot - 1) / n_tot)


def trapezoid_reference(act: Activation, q11: float, q12: float, q22: float, *,
                        derivative: bool = False, h: float = 0.1, L: float = 10.0,
                        dps: int = REFERENCE_DPS) -> tuple[float, float]:
    r"""High-precision reference for kernels without a closed form.

    .. math:: \mathbb{E}[f(u)f(v)] \approx h^2 \sum_{|z_i|,|z_j|\le L}
              f(s_1 z_i)\, f\big(s_2(\rho z_i + c z_j)\big)\,\varphi(z_i)\varphi(z_j),
              \qquad z_k = k h,

    the tensor trapezoidal rule in mpmath at ``dps`` digits. For an integrand
    analytic in the strip :math:`|\mathrm{Im}\,z| < a` the rule's error is
    :math:`\le 2M/(e^{2\pi a/h}-1)` (Trefethen & Weideman, SIAM Review 56 (2014),
    Thm 5.1): geometric in :math:`1/h`. For tanh (poles at :math:`\pm i\pi/2`) and
    the variances used here :math:`a \ge \pi/(2\sqrt 2) \approx 1.1`, so
    ``h = 0.2`` gives :math:`\lesssim 10^{-13}` and ``h = 0.1`` :math:`\lesssim 10^{-26}`;
    truncating at ``L`` drops Gaussian mass :math:`P(|z|>L)` (:math:`10^{-15}` at
    ``L = 8``, :math:`10^{-23}` at ``L = 10``) times :math:`\sup|f|`.

    Returns ``(value, error_estimate)`` where the estimate is the difference to
    the rule with step ``2h``: geometric convergence makes the error of the
    ``h`` rule about the square of the ``2h`` rule's relative error, so a small
    estimate certifies the value (a kinked activation, for which the rule
    converges only algebraically, shows up as a large estimate).
    """
    f = act.mpmath_function(derivative)
    with mpmath.workdps(dps + 5):
        s1, s2 = mpmath.sqrt(q11), mpmath.sqrt(q22)
        rho = mpmath.mpf(q12) / (s1 * s2)
        c = mpmath.sqrt((1 - rho) * (1 + rho))
        n = int(round(L / h))
        hh = mpmath.mpf(h)
        z = [k * hh for k in range(-n, n + 1)]
        w = [hh * mpmath.npdf(zk) for zk in z]

        def rule(stride):
            nodes = range(0, len(z), stride)
            total = mpmath.mpf(0)
            for i in nodes:
                inner = mpmath.fsum(w[j] * stride * f(s2 * (rho * z[i] + c * z[j]))
                                    for j in nodes)
                total += w[i] * stride * f(s1 * z[i]) * inner
            return total

        # n is even for the step/truncation pairs used here, so stride 2 keeps +-L
        fine, coarse = rule(1), rule(2)
        return float(fine), float(abs(fine - coarse))


def _scale(act: Activation, derivative: bool, q11: float, q22: float) -> float:
    """sqrt(E f(u)^2 E f(v)^2): the Cauchy-Schwarz bound on |E f(u) f(v)|."""
    from numerics.compile import dual_function
    from numerics.quadrature import gaussian_diagonal

    diag = dual_function(act, derivative=derivative, diagonal=True)
    if diag is None:
        d1 = gaussian_diagonal(act, q11, derivative=derivative)
        d2 = gaussian_diagonal(act, q22, derivative=derivative)
    else:
        d1, d2 = diag(q11), diag(q22)
    return math.sqrt(max(float(d1) * float(d2), 0.0))


def _override_for(overrides: dict, act: Activation, kind: str):
    for key in ((act.label, kind), (act.name, kind), act.label if kind == "dual" else None):
        if key is not None and key in overrides:
            return overrides[key]
    return None


def compute(mode: str = "quick", seed: int = 0, **overrides) -> ClaimResult:
    """Run claim K1. Overrides (for tests):

    ``activations``: list of names/entries (default ``builtin_examples()``);
    ``points``: covariance points (default :data:`COVARIANCE_POINTS`);
    ``samples``: Monte Carlo sample size;
    ``kernel_override``: mapping ``(label, kind) -> callable(q11, q12, q22)``
    (``kind`` in ``"dual"``, ``"dual_derivative"``; a bare label means ``"dual"``)
    that replaces the closed form, e.g. a deliberately wrong kernel;
    ``trapezoid``: ``(h, L)`` of the reference rule.
    """
    from numerics.compile import activation_function, dual_function
    from numerics.quadrature import gaussian_dual

    if mode not in SAMPLES:
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    unknown = set(overrides) - {"activations", "points", "samples", "kernel_override",
                                "trapezoid"}
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)}")
    acts = [resolve(a) for a in overrides.get("activations", builtin_examples())]
    points = [tuple(float(v) for v in p) for p in overrides.get("points", COVARIANCE_POINTS)]
    samples = int(overrides.get("samples", SAMPLES[mode]))
    kernel_override = dict(overrides.get("kernel_override", {}))
    h, L = overrides.get("trapezoid", TRAPEZOID[mode])
    ref_idx = REFERENCE_POINTS[mode]
    ref_idx = range(len(points)) if ref_idx is None else [i for i in ref_idx if i < len(points)]

    root = np.random.SeedSequence(seed)
    tests = []
    for act in acts:
        for kind in KINDS:
            derivative = kind == "dual_derivative"
            if derivative and not act.has_ntk:
                continue
            f = activation_function(act, derivative=derivative)
            closed = _override_for(kernel_override, act, kind)
            overridden = closed is not None
            if closed is None:
                closed = dual_function(act, derivative=derivative)
            for index, (q11, q12, q22) in enumerate(points):
                rng = np.random.default_rng(root.spawn(1)[0])
                quad = float(gaussian_dual(act, q11, q12, q22, derivative=derivative))
                scale = _scale(act, derivative, q11, q22)
                entry = {"activation": act.label, "kind": kind, "q11": q11, "q12": q12,
                         "q22": q22, "quadrature": quad, "scale": scale,
                         "overridden": overridden}
                if closed is not None:
                    value = float(closed(q11, q12, q22))
                    entry.update(closed_form=True, value=value,
                                 check="closed form vs quadrature")
                elif index in ref_idx:
                    value, est = trapezoid_reference(act, q11, q12, q22, derivative=derivative,
                                                     h=h, L=L)
                    entry.update(closed_form=False, value=value, reference_error_estimate=est,
                                 check=f"no closed form: quadrature vs mpmath trapezoid "
                                       f"(dps={REFERENCE_DPS}, h={h}, L={L})")
                else:
                    value = quad
                    entry.update(closed_form=False, value=value,
                                 check="no closed form: Monte Carlo vs quadrature only")
                mc, se = monte_carlo_dual(f, q11, q12, q22, samples, rng)
                entry.update(
                    monte_carlo=mc, standard_error=se,
                    z=(value - mc) / se if se > 0 else (0.0 if value == mc else math.inf),
                    # None where there is nothing independent to compare the quadrature with
                    quadrature_error=(abs(value - quad) / max(scale, 1e-300)
                                      if value is not quad else None),
                )
                tests.append(entry)

    n_tests = len(tests)
    max_z = max(abs(t["z"]) for t in tests)
    checked = [t for t in tests if t["quadrature_error"] is not None]
    max_quad = max((t["quadrature_error"] for t in checked), default=0.0)
    ok_z = max_z <= Z_THRESHOLD
    ok_quad = max_quad <= QUADRATURE_RTOL
    no_closed = sorted({t["activation"] for t in tests if not t["closed_form"]})
    worst = max(tests, key=lambda t: abs(t["z"]))
    worst_q = max(checked, key=lambda t: t["quadrature_error"]) if checked else None
    passed = bool(ok_z and ok_quad)
    summary = (f"max |z| = {max_z:.2f} (<= {Z_THRESHOLD:g}), max |closed - quad|/scale = "
               f"{max_quad:.1e} (<= {QUADRATURE_RTOL:g}) over {n_tests} tests")
    return ClaimResult(
        params={"activations": [a.label for a in acts], "points": points, "samples": samples,
                "trapezoid_h": h, "trapezoid_L": L, "reference_dps": REFERENCE_DPS,
                "overridden": sorted(f"{t['activation']}:{t['kind']}" for t in tests
                                     if t["overridden"])},
        measured={"max_abs_z": max_z, "max_quadrature_rel_error": max_quad,
                  "n_tests": n_tests,
                  "worst_z_test": f"{worst['activation']} {worst['kind']} at "
                                  f"{(worst['q11'], worst['q12'], worst['q22'])}",
                  "worst_quadrature_test": (
                      f"{worst_q['activation']} {worst_q['kind']} at "
                      f"{(worst_q['q11'], worst_q['q12'], worst_q['q22'])}" if worst_q else None),
                  "n_quadrature_checks": len(checked),
                  "no_closed_form": no_closed},
        expected={"max_abs_z": f"<= {Z_THRESHOLD:g}",
                  "max_quadrature_rel_error": f"<= {QUADRATURE_RTOL:g}"},
        tolerance={"z": Z_THRESHOLD, "quadrature_rtol": QUADRATURE_RTOL,
                   "false_fail_rate_per_test": TAIL_PROBABILITY,
                   "familywise_false_fail_bound": min(1.0, n_tests * TAIL_PROBABILITY)},
        passed=passed,
        summary=summary,
        figure=_figure(tests),
        details={"tests": tests},
    )


def _figure(tests):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax_z, ax_q = fig.subplots(2, 1)
    index = np.arange(len(tests))
    z = np.array([t["z"] for t in tests], dtype=float)
    # exact agreement is drawn at 1e-18; unchecked entries (NaN) are not drawn
    err = np.array([np.nan if t["quadrature_error"] is None else max(t["quadrature_error"], 1e-18)
                    for t in tests])
    kind = np.array([t["kind"] for t in tests])
    closed = np.array([t["closed_form"] for t in tests])
    for k, color in (("dual", "tab:blue"), ("dual_derivative", "tab:orange")):
        for c, marker in ((True, "o"), (False, "s")):
            sel = (kind == k) & (closed == c)
            if sel.any():
                ax_z.plot(index[sel], z[sel], marker, color=color, ms=4, ls="none")
                ax_q.semilogy(index[sel], err[sel], marker, color=color, ms=4, ls="none")
    labels, ticks = [], []
    for i, t in enumerate(tests):
        if not labels or labels[-1] != t["activation"]:
            labels.append(t["activation"])
            ticks.append(i)
    for ax in (ax_z, ax_q):
        ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
        ax.grid(alpha=0.3)
    ax_z.axhspan(-Z_THRESHOLD, Z_THRESHOLD, color="tab:green", alpha=0.1)
    for y in (-Z_THRESHOLD, Z_THRESHOLD):
        ax_z.axhline(y, color="tab:red", lw=1)
    ax_z.set_ylabel("(closed - MC) / SE")
    ax_z.set_title("K1: closed form vs Monte Carlo of a wide layer (blue: E[s s], orange: "
                   "E[s' s']; squares: no closed form)", fontsize=9)
    ax_q.axhline(QUADRATURE_RTOL, color="tab:red", lw=1)
    ax_q.set_ylabel("|closed - quadrature| / scale")
    ax_q.set_title("closed form (squares: mpmath reference) vs 2-D quadrature; red line: "
                   "rtol 1e-10", fontsize=9)
    return fig
