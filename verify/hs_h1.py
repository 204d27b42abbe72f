r"""Claim H1 (Holzmüller & Steinwart, arXiv 2002.04861, section 6 / figure of the crossing
probability; code dholzmueller/nn_inconsistency ``mc_training.py``): full-batch GD on a
two-layer ReLU net with He initialization and zero biases, on the paper's six 1-D points,
ends with high probability at the bad local minimum that fits one affine function on each
side of the origin, because the kinks start at 0 and do not reach the data; the
probability that a kink crosses a data point falls as the width grows.

Setup (:mod:`numerics.one_dim_relu`): sample weights are the frequencies of width^2
uniform draws, the step is 1/lambda_max of the loss Hessian at initialization, a fixed
number of steps (the authors stop earlier, at a proven no-crossing certificate, or run to
1e6 steps; the crossing fraction measured here is that up to ``steps``). A run ends at the
bad minimum when no kink reached |x| = 1 and its loss is within 1% of the per-side fit's
(exactly 1.0 with uniform weights; the global minimum is 0, so 1% cannot be confused
with it). Sweep over seeds on :func:`numerics.parallel.run_sweep`.
"""

from __future__ import annotations

import numpy as np

from numerics import one_dim_relu as odr
from verify import figures
from verify.claim import Override, claim

FRACTION_FLOOR = 0.8  # the "with high probability"
CONFIDENCE = 0.99
SLOPE_Z = 1.645  # one-sided 95%: the slope's upper bound must be below 0


@claim(
    sizes={"quick": {"widths": (16, 32, 64), "runs": 300, "steps": 300},
           "full": {"widths": (16, 32, 64, 128, 256, 512), "runs": 1000, "steps": 5000}},
    overrides={
        "bias_std": Override(float, "std of random initial biases b_i, c (0 = the paper's "
                             "He init; > 0 spreads the kinks into the data and must FAIL)",
                             default=0.0, minimum=0.0),
        "offset": Override(float, "label offset D (paper: 0, 0.01, 0.1)", default=0.0),
        "fraction_min_width": Override(int, "smallest width at which the fraction at the bad "
                                       "minimum must exceed 0.8", default=32, minimum=1),
        "executor": Override(str, "sweep executor (default: serial in quick, processes in "
                             "full)", choices=("serial", "processes")),
    },
)
def compute(run):
    o = run.options
    executor = o["executor"] or ("serial" if run.mode == "quick" else "processes")
    base = {"steps": run.steps, "offset": o["offset"], "method": "gd", "init": "he",
            "bias_std": o["bias_std"], "tolerance": 0.01, "plot_runs": 6}
    out = odr.sweep_widths(base, run.widths, run.runs, seed=int(run.seed_sequence(0)
                           .generate_state(1)[0]),
                           executor=None if executor == "processes" else "serial")
    fractions = {}
    for w in run.widths:
        ok = out[w]["at_bad_minimum"]
        fractions[w] = float(ok.mean())
        if w >= o["fraction_min_width"]:
            run.checks.proportion(f"bad_minimum_width_{w}", int(ok.sum()), ok.size,
                                  above=FRACTION_FLOOR, confidence=CONFIDENCE,
                                  source="issue 11: Wilson lower bound >= 0.8 at every width")
    crossing = {w: float(out[w]["crossed"].mean()) for w in run.widths}
    fit = odr.crossing_slope(out, rng=run.rng(1))
    upper = fit.slope + SLOPE_Z * fit.slope_se
    run.checks.holds("crossing_slope_negative", upper < 0,
                     "log-log slope of P(kink crosses a data point) + 1.645 se < 0",
                     measured=[fit.slope, fit.slope_se],
                     source="Holzmüller & Steinwart: the crossing probability falls with "
                            "width; bootstrap se over runs, one-sided 95%")
    run.note("fraction_bad_minimum", min(fractions[w] for w in run.widths
                                         if w >= o["fraction_min_width"]))
    run.note("fraction_bad_minimum_by_width", {str(w): v for w, v in fractions.items()})
    run.note("crossing_probability_by_width", {str(w): v for w, v in crossing.items()})
    run.note("median_gap_uncrossed", {str(w): float(np.median(np.abs(out[w]["gap"][
        ~out[w]["crossed"]]))) for w in run.widths if (~out[w]["crossed"]).any()})
    run.figure, axes = figures.grid(1, 2, size=(4.8, 3.8))
    odr.plot_learned_functions(axes[0, 0], out[run.widths[0]]["curves"], o["offset"],
                               title=f"GD, width {run.widths[0]}: learned functions")
    figures.loglog_fit(axes[0, 1], run.widths, [max(crossing[w], 1e-4) for w in run.widths],
                       fit, yerr=[np.sqrt(crossing[w] * (1 - crossing[w]) / run.runs)
                                  for w in run.widths],
                       label="P(kink crosses)", title=f"crossing probability ({run.steps} "
                       "steps)", xlabel="width", ylabel="probability")
    axes[0, 1].set_xticks(run.widths, [str(w) for w in run.widths])
    axes[0, 1].xaxis.set_minor_formatter("")  # the widths are the ticks
    return (f"bad minimum {min(fractions.values()):.3f}..{max(fractions.values()):.3f}, "
            f"crossing slope {fit.slope:.2f} +- {fit.slope_se:.2f}")
