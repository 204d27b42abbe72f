r"""Claim I1: last-bit perturbations grow — and the step at which they reach a fixed size
grows with the number of mantissa bits at the rate ln 2 / lambda.

Setting: the Xavier tanh net of I3 at width 20 (gain 1.9, hidden bias 0, no output bias)
on 20 points of T_4, full-batch GD at a large convergent step size (eta = 0.5: the loss
spikes once — a catapult — and then decreases) and at a small one (0.05). Two runs per
number system: plain GD and paper 004's rewriting p <- p - (k lr)(g/k), k = 3 (equal in
exact arithmetic); in float64 also one weight changed in its last bit. Relative L2
difference of the parameter vectors (the paper's mean relative L1 over parameters above
1e-6 is recorded as a note).

Bits sweep: float32 (24), float64 (53), Arb balls at 80 / 106 / 160 / 212 bits
(midpoint reset; differences from exact midpoints). The divergence step t_b (relative L2
>= 1e-4) is compared with the finite-time Lyapunov exponent lambda of the step Jacobians
I - eta H along the highest-precision trajectory (:func:`numerics.spectra.window_ftle`):
(a) t_b - t_24 = sum over the segments between consecutive precisions of
(b2 - b1) ln 2 / lambda_seg (the log growth is the bits times ln 2);
(b) the fitted steps per bit against ln 2 / lambda over the whole window, within the
exponent's variation across the segments. The exponent is not constant here (the
divergence happens in the catapult burst, lambda rises from ~0.4 to ~0.9 per step), which
is why (a) is the sharp test.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from numerics import networks, spectra
from verify import figures
from verify.claim import Override, claim

THRESHOLD, L1_FLOOR = 1e-4, 1e-6


def _backend(b):
    return {24: ("float32", None), 53: ("float64", None)}.get(b, ("arb", b))


@claim(
    sizes={"quick": {"bits": (24, 53, 106), "steps": 2000, "max_steps": 3000},
           "full": {"bits": (24, 53, 80, 106, 160, 212), "steps": 3000, "max_steps": 3000}},
    overrides={
        "lr": Override(float, "large step size", default=0.5, positive=True),
        "small_lr": Override(float, "small step size (stays at round-off)", default=0.05,
                             positive=True),
        "k": Override(int, "the rewriting's k (1 removes the perturbation: must FAIL)",
                      default=3, minimum=1),
        "flip_weight": Override(bool, "also the one-weight last-bit run", default=True),
        "lyapunov_scale": Override(float, "multiply the measured exponent (a wrong one, e.g. "
                                   "1.2, must FAIL)", default=1.0, positive=True),
        "width": Override(int, "hidden width", default=20, minimum=2),
    },
)
def compute(run):
    net = networks.xavier_tanh_net(run.options["width"])
    X, y = networks.chebyshev_data(20, 4)
    P = net.init(run.seed_sequence(0))
    eta, k = run.options["lr"], run.options["k"]
    common = dict(X=X, y=y, frozen=("c",), l1_floor=L1_FLOOR)
    big = networks.divergence(net, P, lr=eta, steps=run.steps, k=k, **common)
    small = networks.divergence(net, P, lr=run.options["small_lr"], steps=run.steps, k=k,
                                **common)
    u = 2.0**-53
    run.checks.at_least("relative_l2_large_lr", big.relative_l2.max(), 1e-2,
                        source="the issue: grows from ~1e-16 to O(1e-2...1)")
    run.checks.holds("loss_bounded", bool(np.all(np.isfinite(big.loss)) and big.loss[-1] <
                                          big.loss[0]), "loss finite, final below initial",
                     measured=[float(big.loss.max()), float(big.loss[-1])])
    run.checks.at_most("relative_l2_small_lr", small.relative_l2.max(), run.steps * u,
                       source="round-off: at most one unit roundoff per step, accumulated "
                       "without amplification (steps x 2^-53)")
    run.note("mean_relative_l1_large_lr", float(big.mean_relative_l1.max()))
    curves = {"float64, k-rewriting": big, f"float64, lr = {run.options['small_lr']:g}": small}
    if run.options["flip_weight"]:
        P2 = {g: v.copy() for g, v in P.items()}
        P2["W1"][0, 0] = np.nextafter(P2["W1"][0, 0], np.inf)
        flip = networks.divergence(net, P, params2=P2, lr=eta, steps=run.steps, k=1, **common)
        run.checks.at_least("relative_l2_one_weight_flip", flip.relative_l2.max(), 1e-2,
                            source="the issue: O(1e-2...1)")
        curves["float64, one weight's last bit"] = flip
    # the bits sweep
    bits = sorted(run.bits)
    sweep = {}
    for b in bits:
        name, nb = _backend(b)
        sweep[b] = networks.divergence(net, P, lr=eta, steps=run.max_steps, k=k,
                                       backend=name, bits=nb, threshold=THRESHOLD,
                                       record_flat=b == bits[-1], **common)
    t_b = [sweep[b].diverged_at for b in bits]
    run.note("divergence_step_by_bits", {str(b): t for b, t in zip(bits, t_b, strict=True)})
    ok = all(t is not None for t in t_b)
    run.checks.holds("divergence_step_grows_with_bits", ok and all(
        t2 > t1 for t1, t2 in pairwise(t_b)), "t_b strictly increasing in the bits",
        measured=t_b)
    if not ok:
        run.checks.holds("lyapunov_prediction", False, "every precision diverged")
        return f"divergence steps {t_b}: not every precision diverged"
    model = spectra.FlatModel(net, X, y, params=P, frozen=("c",))
    thetas = sweep[bits[-1]].flat[:, :model.size]  # c (frozen) is the last entry
    scale = run.options["lyapunov_scale"]
    seg_lam = [scale * spectra.window_ftle(model, thetas, lr=eta, start=t1, stop=t2)[0]
               for t1, t2 in pairwise(t_b)]
    lam = scale * spectra.window_ftle(model, thetas, lr=eta, start=t_b[0], stop=t_b[-1])[0]
    db = np.diff(bits)
    pred_seg = db * math.log(2) / np.array(seg_lam)
    # t_b - t_b0 = integral of the growth: sum over segments of db ln 2 / lambda_seg. Each
    # t_b carries an unknown offset log(projection of the injected rounding on the growing
    # direction) / lambda, |log| <= log sqrt(n) (a random vector's component), one at each
    # end; plus +-1 step of detection at each end
    end_tol = math.log(math.sqrt(model.size)) / np.array(seg_lam)
    cum_tol = 2 + end_tol[0] + end_tol
    run.checks.within("steps_from_first_vs_ln2_over_lambda",
                      (np.array(t_b[1:]) - t_b[0]) / cum_tol, np.cumsum(pred_seg) / cum_tol,
                      atol=1.0, source=(
                          "sum of (b2 - b1) ln 2 / lambda_seg +- (2 + log(sqrt n) / lambda at "
                          "either end) steps"))
    slope = float(np.polyfit(bits, t_b, 1)[0])
    predicted = math.log(2) / lam
    spread = (max(pred_seg / db) - min(pred_seg / db)) / (2 * predicted)
    run.checks.within("steps_per_bit", slope, predicted, rtol=spread, source=(
        "ln 2 / lambda over [t_24, t_max]; tolerance half the range of ln 2 / lambda_seg "
        "(the exponent's variation across the window)"))
    run.note("lyapunov_prediction", predicted)
    run.note("lyapunov_exponent", lam)
    run.note("segment_exponents", seg_lam)
    _figure(run, curves, sweep, bits, t_b, pred_seg, cum_tol, slope, predicted)
    return (f"divergence steps {dict(zip(bits, t_b, strict=True))}; {slope:.3f} steps/bit vs "
            f"ln2/lambda = {predicted:.3f}")


def _figure(run, curves, sweep, bits, t_b, pred_seg, cum_tol, slope, predicted):
    run.figure, axes = figures.grid(1, 2, size=(5.4, 4.0), title=(
        "I1 last-bit perturbations: tanh 1-20-1 on T_4, GD eta = "
        f"{run.options['lr']:g}, p <- p - (k eta)(g/k), k = {run.options['k']}"))
    ax1, ax2 = axes[0]
    for i, b in enumerate(bits):
        d = sweep[b]
        ax1.semilogy(d.steps, np.maximum(d.relative_l2, 1e-80), color=f"C{i}", lw=0.9,
                     label=f"{b} bits")
    for j, (name, d) in enumerate(curves.items()):
        ax1.semilogy(d.steps, np.maximum(d.relative_l2, 1e-80), ls=":", color=f"C{6 + j}",
                     lw=0.9, label=name)
    ax1.axhline(THRESHOLD, color="tab:red", ls="--", lw=0.8)
    ax1.set(xlabel="step", ylabel="relative L2 difference", ylim=(1e-70, 10),
            title="difference of the two runs by number system")
    ax2.plot(bits, t_b, "o", color="tab:blue", label=f"divergence step (fit {slope:.3f}/bit)")
    pred = np.concatenate([[t_b[0]], t_b[0] + np.cumsum(pred_seg)])
    ax2.errorbar(bits, pred, yerr=np.concatenate([[0], cum_tol]), fmt="s--", ms=3,
                 color="k", capsize=2, label="t_24 + sum (db ln2 / lambda_seg)")
    ax2.plot(bits, t_b[0] + predicted * (np.array(bits) - bits[0]), ":", color="tab:green",
             label=f"ln2 / lambda = {predicted:.3f} steps/bit")
    ax2.set(xlabel="mantissa bits", ylabel=f"first step with difference >= {THRESHOLD:g}",
            title="divergence step vs precision")
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
