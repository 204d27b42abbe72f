r"""Claim K2: empirical NNGP and NTK of finite random networks converge to the
analytic kernels at the rate width^(-1/2).

Networks in the NTK parameterization (:func:`numerics.empirical.random_network`,
:math:`L` hidden layers of width :math:`n`, i.i.d. standard-normal weights and
biases, :math:`\sigma_w = 1.5`, :math:`\sigma_b = 0.1`); their empirical NNGP
(:math:`\frac{\sigma_w^2}{n}\phi(h^L)\cdot\phi(h'^L) + \sigma_b^2`) and NTK (the
parameter-Jacobian Gram, :func:`numerics.empirical.empirical_kernels_many`) are
compared with :func:`numerics.kernels.nngp` / :func:`~numerics.kernels.ntk` by the
relative Frobenius error, averaged over independent networks, at widths 64..4096.

Why :math:`-1/2`: with one hidden layer :math:`\hat K` averages :math:`n` i.i.d. terms
of mean :math:`K` (CLT); deeper layers see the previous kernel perturbed by
:math:`O(n^{-1/2})`, propagated linearly by the smooth layer map, with an
:math:`O(1/n)` bias; the finite-width NTK fluctuates at the same order (Hanin & Nica
2019: relative variance :math:`O(L/n)`). PASS if every fitted slope is within 0.1 of
:math:`-1/2` (the seed-bootstrap standard error of each slope, about 0.024, is recorded)
and the error *level* is right: the relative shift of the empirical kernel along the
analytic one, :math:`s(n) = \langle\hat K - K, K\rangle/\|K\|^2`, averaged over seeds and
fitted as :math:`\delta + b/n` (the O(1/n) bias of a finite net), has :math:`\delta`
consistent with 0 (Student-t over the seeds, Bonferroni over the configurations, false
alarm 1e-3). A wrong analytic kernel leaves :math:`\delta \ne 0`: the slope alone lets a
2-3% error through.
The networks run in float32: a length-n dot product's relative rounding error,
:math:`\sqrt n\,6\cdot10^{-8} \approx 4\cdot10^{-6}` at n = 4096, is 1e3 below the
smallest error measured.
"""

from __future__ import annotations

import math

import numpy as np

from numerics import kernels, stats
from numerics.empirical import empirical_kernels_many, random_network
from theory.activations import resolve
from verify import figures
from verify.claim import Override, claim

SIGMA_W, SIGMA_B = 1.5, 0.1
#: 16 fixed inputs on the sphere of radius sqrt(d): more Gram entries average the
#: fluctuation of the Frobenius error (slope scatter 0.024 with 16 inputs, 0.037 with 5)
N_INPUTS, INPUT_DIM, INPUT_SEED = 16, 4, 20240601
EXPECTED_SLOPE, SLOPE_BAND, BOOTSTRAP, LEVEL_ALPHA = -0.5, 0.1, 200, 1e-3


def fixed_inputs():
    X = np.random.default_rng(INPUT_SEED).standard_normal((N_INPUTS, INPUT_DIM))
    return X * (math.sqrt(INPUT_DIM) / np.linalg.norm(X, axis=1, keepdims=True))


@claim(
    # the widest width dominates the cost (its n x n weights), so intermediate widths are
    # nearly free and tighten the fit; full mode averages over 4x more networks
    sizes={"quick": {"widths": (64, 128, 256, 512, 1024, 2048, 4096), "seeds": 8},
           "full": {"widths": (64, 128, 256, 512, 1024, 2048, 4096), "seeds": 32}},
    overrides={
        "activations": Override(tuple, "activations", default=("relu", "erf")),
        "depths": Override(tuple, "numbers of hidden layers", default=(1, 2), minimum=1),
        "analytic_sigma_b": Override(float, "bias scale of the analytic kernel (a wrong value "
                                     "must FAIL)", default=SIGMA_B, minimum=0),
    },
)
def compute(run):
    if len(run.widths) < 3 or run.seeds < 2:
        raise ValueError("need at least three widths and two seeds to fit a slope and a level")
    acts = [resolve(a) for a in run.options["activations"]]
    depths, X = run.options["depths"], fixed_inputs()
    analytic = {}
    for a in acts:
        for L in depths:
            kw = dict(activation=a, hidden_layers=L, sigma_w=SIGMA_W,
                      sigma_b=run.options["analytic_sigma_b"])
            analytic[a.label, L] = (np.asarray(kernels.nngp(X, **kw)),
                                    np.asarray(kernels.ntk(X, **kw)))
    errors = {(a.label, L, k): np.empty((len(run.widths), run.seeds))
              for a in acts for L in depths for k in ("nngp", "ntk")}
    shift = {key: np.empty_like(e) for key, e in errors.items()}  # <K_hat - K, K> / |K|^2
    for s in range(run.seeds):
        for w, width in enumerate(run.widths):
            # one draw of the deepest net per (seed, width); shallower ones use its first
            # layers and its readout
            full = random_network(run.rng(s, w), width, INPUT_DIM, max(depths), np.float32)
            for L in depths:
                grams = empirical_kernels_many(full[:L] + full[-1:], X, acts, sigma_w=SIGMA_W,
                                               sigma_b=SIGMA_B)
                for a, measured in zip(acts, grams, strict=True):
                    for kind, emp, ref in zip(("nngp", "ntk"), measured, analytic[a.label, L],
                                              strict=True):
                        errors[a.label, L, kind][w, s] = (np.linalg.norm(emp - ref)
                                                          / np.linalg.norm(ref))
                        shift[a.label, L, kind][w, s] = np.sum((emp - ref) * ref) / np.sum(
                            ref * ref)
    # the level: the relative shift along K extrapolates to delta + b/n with delta = 0 for
    # the right kernel; a wrong analytic kernel leaves delta != 0 (t-test over the seeds)
    widths = np.asarray(run.widths, dtype=float)
    levels = {}
    for key, sh in shift.items():
        se = sh.std(axis=1, ddof=1) / math.sqrt(run.seeds)
        levels[key] = stats.weighted_least_squares(np.stack([np.ones_like(widths), 1 / widths],
                                                            axis=1), sh.mean(axis=1), se)
    run.checks.max_abs_z("level_t", [f.coef[0] / f.standard_errors[0] for f in levels.values()],
                         alpha=LEVEL_ALPHA, dof=run.seeds - 1,
                         source="t = delta / SE(delta), SE from the seed spread (Student t)")
    run.note("level_delta", {f"{k[0]} L={k[1]} {k[2]}": [float(f.coef[0]),
                                                          float(f.standard_errors[0])]
                             for k, f in levels.items()})
    run.figure, axes = figures.grid(1, 1, size=(7.5, 5.5))
    for i, (key, err) in enumerate(errors.items()):
        name = f"{key[0]} L={key[1]} {key[2]}"
        fit = stats.loglog_slope(run.widths, replicates=err, bootstrap=BOOTSTRAP,
                                 rng=run.seed_sequence(run.seeds, i))
        run.checks.slope(name, fit, expected=EXPECTED_SLOPE, band=SLOPE_BAND,
                         source="CLT rate; band ~4 seed-scatter standard deviations")
        figures.loglog_fit(axes[0, 0], run.widths, err.mean(axis=1), fit, label=name,
                           expected_slope=EXPECTED_SLOPE if i == 0 else None,
                           xlabel="width n", ylabel="mean relative Frobenius error",
                           title="K2: empirical NNGP / NTK -> analytic kernel")
    return f"slopes vs {EXPECTED_SLOPE} +- {SLOPE_BAND}"
