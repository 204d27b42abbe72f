r"""Claim H1 (Holzmüller & Steinwart, arXiv 2002.04861, section 6 / figure of the crossing
probability; code dholzmueller/nn_inconsistency ``mc_training.py``): full-batch GD on a
two-layer ReLU net with He initialization and zero biases, on the paper's six 1-D points,
ends with a probability that tends to 1 with the width at the bad local minimum that fits
one affine function on each side of the origin, because the kinks start at 0 and do not
reach the data; the probability that a kink crosses a data point falls as the width grows.

Setup (:mod:`numerics.one_dim_relu`): sample weights are the frequencies of width^2
uniform draws, the step is 1/lambda_max of the loss Hessian at initialization, a fixed
number of steps past the point where the crossing fraction stops changing (papers/003:
at width 32, 68 / 69 / 69 of 300 runs crossed by step 5000 / 2e4 / 1e5; the authors stop
at a proven no-crossing certificate or at 1e6 steps). A run ends at the bad minimum when
no kink reached |x| = 1 and its loss is within 1% of the per-side fit's (exactly 1.0 with
uniform weights; the global minimum is 0). Checks, all from the paper's statement:

- the mechanism: a run whose kinks stayed inside (-1, 1) is affine on each side of the
  data, and GD on it converges to the per-side fit; the only other outcomes are
  non-convergence within the step budget or divergence, so the fraction of uncrossed runs
  at the fit (pooled over widths) must be ~1: 99% Wilson lower bound above 0.97;
- "with high probability" as the paper means it, a probability tending to 1 with the
  width: the fraction *not* at the bad minimum and the crossing probability both fall
  with width (log-log slope + 1.645 bootstrap se < 0, one-sided 95%).

The issue's floor "fraction >= 0.8 at every width" is not the paper's (which gives no
number at a finite width) and is reported per width with its interval, not judged.
"""

from __future__ import annotations

import numpy as np

from numerics import one_dim_relu as odr
from numerics import stats
from verify import figures
from verify.claim import Override, claim

# uncrossed runs at the fit: 1 in theory (module docstring); 0.97 detects a systematic rate
# above 3% and is certified at 99% with no exception from 214 uncrossed runs on (n / (n +
# 2.576^2) > 0.97), fewer than either quick form has (H1 ~660, H2 ~340)
MECHANISM_FLOOR = 0.97
ISSUE_FLOOR = 0.8  # issue 11's "with high probability": reported per width, not judged
CONFIDENCE = 0.99
SLOPE_Z = 1.645  # one-sided 95%: the slope's upper bound must be below 0


def fractions_with_intervals(out, widths):
    """width -> [fraction at the bad minimum, 99% Wilson low, high]."""
    res = {}
    for w in widths:
        ok = out[w]["at_bad_minimum"]
        res[str(w)] = [float(ok.mean()), *stats.binomial_interval(
            int(ok.sum()), ok.size, confidence=CONFIDENCE)]
    return res


def judge_paper_checks(run, out, widths, *, prefix="", mechanism_source):
    """The checks H1 and H2 share: the mechanism (pooled over widths), the slopes of the
    fraction not at the bad minimum and of the crossing probability. Returns both fits."""
    at_fit = sum(int(out[w]["at_bad_minimum"].sum()) for w in widths)
    uncrossed = sum(int((~out[w]["crossed"]).sum()) for w in widths)
    if uncrossed:
        run.checks.proportion(f"{prefix}uncrossed_runs_at_fit", at_fit, uncrossed,
                              above=MECHANISM_FLOOR, confidence=CONFIDENCE,
                              source=mechanism_source)
    else:  # every run crossed: the mechanism has nothing to show
        run.checks.holds(f"{prefix}uncrossed_runs_at_fit", False, "no uncrossed run",
                         measured=0, source=mechanism_source)
    fits = {}
    for name, key, complement, what in (
            ("not_at_bad_minimum", "at_bad_minimum", True, "1 - P(at the bad minimum)"),
            ("crossing", "crossed", False, "P(kink crosses a data point)")):
        events = [int((out[w][key] != complement).sum()) for w in widths]
        if min(events) == 0:  # no slope without an event at every width: not shown
            run.checks.holds(f"{prefix}{name}_slope_negative", False,
                             f"{what} has no event at some width (counts {events})",
                             measured=events, source="a slope needs an event at every width")
            fits[name] = None
            continue
        fit = odr.event_slope(out, key, complement=complement, rng=run.rng(1))
        run.checks.holds(f"{prefix}{name}_slope_negative",
                         fit.slope + SLOPE_Z * fit.slope_se < 0,
                         f"log-log slope of {what} + 1.645 se < 0",
                         measured=[fit.slope, fit.slope_se],
                         source="Holzmüller & Steinwart, abstract: 'with high probability' "
                                "(-> 1 as the width grows); their figure: the crossing "
                                "probability falls with width; bootstrap se over runs, "
                                "one-sided 95%")
        fits[name] = fit
    return fits


@claim(
    sizes={"quick": {"widths": (16, 32, 64), "runs": 300, "steps": 5000},
           "full": {"widths": (16, 32, 64, 128, 256, 512), "runs": 1000, "steps": 20000}},
    overrides={
        "bias_std": Override(float, "std of random initial biases b_i, c (0 = the paper's "
                             "He init; > 0 spreads the kinks into the data and must FAIL)",
                             default=0.0, minimum=0.0),
        "offset": Override(float, "label offset D (paper: 0, 0.01, 0.1)", default=0.0),
        "crossing_at": Override(float, "distance from 0 at which a kink counts as crossed "
                                "(the authors: min |x_j| = 1)", default=1.0, positive=True),
        "executor": Override(str, "sweep executor (default: serial in quick, processes in "
                             "full)", choices=("serial", "processes")),
    },
)
def compute(run):
    o = run.options
    executor = o["executor"] or ("serial" if run.mode == "quick" else "processes")
    base = {"steps": run.steps, "offset": o["offset"], "method": "gd", "init": "he",
            "bias_std": o["bias_std"], "tolerance": 0.01, "plot_runs": 6,
            "crossing_at": o["crossing_at"]}
    out = odr.sweep_widths(base, run.widths, run.runs, seed=int(run.seed_sequence(0)
                           .generate_state(1)[0]),
                           executor=None if executor == "processes" else "serial")
    fits = judge_paper_checks(run, out, run.widths, mechanism_source=(
        "Holzmüller & Steinwart, abstract: GD 'only finds a bad local minimum' because the "
        "biases stay near 0; uncrossed => affine per side => converges to the per-side fit "
        "(only non-convergence or divergence can differ)"))
    fractions = fractions_with_intervals(out, run.widths)
    crossing = {w: float(out[w]["crossed"].mean()) for w in run.widths}
    run.note("fraction_bad_minimum", min(v[0] for v in fractions.values()))
    run.note("fraction_bad_minimum_by_width", fractions)
    run.note("issue_floor_met_by_width", {w: v[1] > ISSUE_FLOOR for w, v in fractions.items()})
    run.note("crossing_probability_by_width", {str(w): v for w, v in crossing.items()})
    run.note("median_gap_uncrossed", {str(w): float(np.median(np.abs(out[w]["gap"][
        ~out[w]["crossed"]]))) for w in run.widths if (~out[w]["crossed"]).any()})
    run.figure, axes = figures.grid(1, 2, size=(4.8, 3.8))
    odr.plot_learned_functions(axes[0, 0], out[run.widths[0]]["curves"], o["offset"],
                               title=f"GD, width {run.widths[0]}: learned functions")
    fit = fits["crossing"]
    figures.loglog_fit(axes[0, 1], run.widths, [max(crossing[w], 1e-4) for w in run.widths],
                       fit, yerr=[np.sqrt(crossing[w] * (1 - crossing[w]) / run.runs)
                                  for w in run.widths],
                       label="P(kink crosses)", title=f"crossing probability ({run.steps} "
                       "steps)", xlabel="width", ylabel="probability")
    axes[0, 1].set_xticks(run.widths, [str(w) for w in run.widths])
    axes[0, 1].xaxis.set_minor_formatter("")  # the widths are the ticks
    low = [v[0] for v in fractions.values()]
    return (f"bad minimum {min(low):.3f}..{max(low):.3f}, slopes: not at it "
            f"{slope_text(fits['not_at_bad_minimum'])}, crossing {slope_text(fit)}")


def slope_text(fit):
    return "undefined" if fit is None else f"{fit.slope:.2f} +- {fit.slope_se:.2f}"

