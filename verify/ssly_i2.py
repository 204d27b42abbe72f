r"""Claim I2: the gradient-descent PDE of paper 004's single-layer conv model is stable
only for weight decays in (alpha_min, 2/lr); outside the linearized region the nonlinear
dynamics is restrained (bounded) where the linearization at 0 blows up.

Model (SETUPS.md; sunyx523/surprising-instabilities ``single_layer/``): one 32x32 kernel
on the 256x256 checkerboard, Swish (b = 1), sum pooling, sigmoid + BCE (label 1), weight
decay alpha, full-batch GD (:mod:`numerics.conv_pde`). Four parts:

1. alpha_min from SymPy (:func:`theory.gd_stability.checkerboard_alpha_min`, the
   linearization's coefficients by differentiation) against alpha_min from the training
   code itself: Lanczos (smallest eigenvalue) on central differences of its gradient at
   K = 0 -- no eigenvalue formula involved.
2. the linear PDE (GD on the linearization, lr = 1e-8): the per-step growth rate of the
   update K_{t+1} - K_t equals log max(|1 - lr alpha|, |1 - lr (alpha - alpha_min)|) from
   the SymPy region; it blows up exactly outside (alpha_min, 2/lr).
3. nonlinear model, alpha = 20 << alpha_min, lr below 2/alpha: the linearization at 0
   predicts growth by 1 + lr (alpha_min - alpha) per step, the loss stays bounded
   (restrained instability).
4. nonlinear model beyond lr = 2/alpha: the directions orthogonal to the checkerboard
   patch see only the weight decay, so the loss blows up at the rate log|1 - lr alpha|
   (this deviates from SETUPS.md's "bounded at lr 0.11-0.13"; see papers/004_*.md).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from numerics import spectra
from numerics.conv_pde import ConvModel, checkerboard, train_conv
from theory import gd_stability as gs
from verify import figures
from verify.claim import Override, claim

LINEAR_LR, NONLINEAR_ALPHA = 1e-8, 20.0  # SETUPS.md / single_layer/linear.py, PySun.py
FD_STEP = 1e-9  # central-difference step for the spectrum route
#: max of Swish' (b = 1): s''(x) = 0 at x = 2.3994 (bounded minimization: 1.099839, rounded up)
SWISH_DERIVATIVE_MAX = 1.09984


@claim(
    sizes={"quick": {"linear_alphas": (6.5e6, 1.5e8, 2.2e8), "linear_steps": 300,
                     "nonlinear_lrs": (0.05, 0.09), "beyond_lrs": (0.11,),
                     "nonlinear_steps": 200},
           "full": {"linear_alphas": (6.5e6, 1.2e7, 1.4e7, 1.5e8, 1.9e8, 2.1e8),
                    "linear_steps": 1000, "nonlinear_lrs": (0.02, 0.05, 0.07, 0.09, 0.099),
                    "beyond_lrs": (0.11, 0.12, 0.13), "nonlinear_steps": 1000}},
    overrides={
        "alpha_min": Override(float, "alpha_min used instead of the SymPy one (a wrong one, "
                              "e.g. without the l'' term, must FAIL)", positive=True),
        "pooling": Override(str, "pooling of the model", default="sum",
                            choices=("sum", "mean")),
        "nonlinear_as_linear": Override(bool, "run the nonlinear experiment on the "
                                        "linearization at 0 (must FAIL: no restraint)",
                                        default=False),
    },
)
def compute(run):
    model = ConvModel(checkerboard(256), 32, b=1.0, pooling=run.options["pooling"])
    exact = gs.checkerboard_alpha_min(32, 256, beta=1, pooling=run.options["pooling"])
    a_theory = run.options["alpha_min"] or float(exact)
    zero = np.zeros(model.size)
    w, _ = spectra.top_eigenpairs(
        lambda v: spectra.finite_difference_hvp(model.gradient, zero, v, h=FD_STEP),
        model.size, 1, which="SA", tol=1e-12)
    a_spec = -float(w[0])
    # FD rounding: eps * N (FFT sums of N terms) / (2 h alpha_min / k), ~5e-10
    fd_tol = 100 * np.finfo(float).eps * model.positions / (2 * FD_STEP * a_spec / 32)
    run.checks.within("alpha_min_spectrum", a_spec, a_theory, rtol=fd_tol, source=(
        f"Lanczos on central differences (h = {FD_STEP:g}) of the training gradient; 100x "
        f"the FFT rounding estimate eps N / (2 h alpha_min / k) = {fd_tol / 100:.1e}"))
    run.note("alpha_min_theory", float(exact))
    run.note("alpha_min_exact", str(exact))
    region = gs.checkerboard_region(32, 256, beta=1, pooling=run.options["pooling"])
    inside = region.subs(gs.lr, sp.Rational(repr(LINEAR_LR)))
    # part 2: the linear PDE
    rng = run.rng(0)
    K0 = rng.standard_normal(model.size)
    rates, predicted, blown, lin_runs, rate_tol = [], [], [], {}, []
    c_hat = checkerboard(32).ravel() / 32.0
    share = abs(K0 @ c_hat) / np.linalg.norm(K0)
    amp = max(share, 1 / share)  # initial amplitude ratio of the two modes (c vs c-perp)
    for a in run.linear_alphas:
        r = train_conv(model, K0, lr=LINEAR_LR, alpha=a, steps=run.linear_steps, linear=True,
                       blowup=1e300)
        lin_runs[a] = r
        start, stop = r.rate_window("update")
        rates.append(r.rate("update", start, stop))
        f = sorted([abs(1 - LINEAR_LR * a), abs(1 - LINEAR_LR * (a - a_theory))])
        predicted.append(math.log(f[1]))
        # the subdominant mode's share decays like (f0/f1)^t: its effect on the mean rate
        rate_tol.append(max(1e-6, 2 * amp * (f[0] / f[1]) ** start / (stop - start)))
        blown.append(bool(rates[-1] > 0) == bool(inside.contains(sp.Rational(repr(a)))))
    run.checks.within("linear_growth_rate", np.array(rates) / rate_tol,
                      np.array(predicted) / rate_tol, atol=1.0, source=(
        "the update obeys d_{t+1} = (1 - lr H) d_t exactly: its rate -> log spectral radius; "
        "per point tolerance 2 A (f_sub/f_top)^t0 / (t1 - t0), A the initial amplitude ratio "
        "of the two modes (c and its complement), >= 1e-6"))
    run.note("linear_growth_rate_tolerance", rate_tol)
    run.checks.holds("linear_blowup_outside_region", not any(blown),
                     f"rate > 0 exactly outside {inside}", measured=rates)
    # parts 3 and 4: the nonlinear model
    lr_thr = 2 / NONLINEAR_ALPHA
    run.note("lr_threshold", lr_thr)
    nl = {lr: train_conv(model, K0, lr=lr, alpha=NONLINEAR_ALPHA, steps=run.nonlinear_steps,
                         linear=run.options["nonlinear_as_linear"])
          for lr in (*run.nonlinear_lrs, *run.beyond_lrs)}
    burn = run.nonlinear_steps // 5
    bounded = [float(np.nanmax(nl[lr].loss)) for lr in run.nonlinear_lrs]
    lin_rate = [math.log1p(lr * (a_theory - NONLINEAR_ALPHA)) for lr in run.nonlinear_lrs]
    # a priori: |grad of the data term| <= N max|s'| |c| (|l'| <= 1, every patch has norm
    # |c| = 32); with lr alpha < 2 the weight decay contracts by |1 - lr alpha| < 1, so
    # |K_t| <= |K_0| + lr G / (1 - |1 - lr alpha|): bounded, unlike the linearization
    G = model.positions * model.scale * SWISH_DERIVATIVE_MAX * 32.0
    radius = [np.linalg.norm(K0) + lr * G / (1 - abs(1 - lr * NONLINEAR_ALPHA))
              for lr in run.nonlinear_lrs]
    run.checks.at_most("restrained_norm_over_bound", [
        np.nanmax(nl[lr].norm) / R if nl[lr].diverged_at is None else math.inf
        for lr, R in zip(run.nonlinear_lrs, radius, strict=True)], 1.0, source=(
        "the a priori radius |K0| + lr N max|s'| |c| / (1 - |1 - lr alpha|); the "
        "linearization at 0 instead grows by exp(linearized_log_rate) per step"))
    run.note("linearized_log_rate_at_0", lin_rate)
    run.note("max_loss_restrained", max(bounded))
    beyond = [nl[lr].rate("norm", start=burn) for lr in run.beyond_lrs]
    run.checks.within("growth_rate_beyond_2_over_alpha", beyond, [
        math.log(abs(1 - lr * NONLINEAR_ALPHA)) for lr in run.beyond_lrs], rtol=0.01,
        source="K on the complement of the patch direction evolves by (1 - lr alpha) exactly")
    run.note("max_loss_beyond_threshold", float(np.nanmax(np.concatenate(
        [nl[lr].loss for lr in run.beyond_lrs]))))
    run.figure, axes = figures.grid(1, 3, size=(4.6, 3.8), title=(
        "I2 single-layer conv PDE (32x32 kernel, 256x256 checkerboard, sum pooling)"))
    ax1, ax2, ax3 = axes[0]
    for i, (a, r) in enumerate(lin_runs.items()):
        ax1.semilogy(r.norm, color=f"C{i}", label=f"alpha = {a:.3g}")
    ax1.set(xlabel="step", ylabel="|K|", title=f"linear PDE, lr = {LINEAR_LR:g}: stable "
            f"for {float(a_theory):.4g} < alpha < {2 / LINEAR_LR:.3g}")
    for i, lr in enumerate(run.nonlinear_lrs):
        ax2.semilogy(nl[lr].loss, color=f"C{i}", lw=0.8, label=f"lr = {lr:g}")
    ax2.set(xlabel="step", ylabel="loss", title=f"nonlinear, alpha = {NONLINEAR_ALPHA:g}: "
            "restrained (bounded)")
    for i, lr in enumerate(run.beyond_lrs):
        ax3.semilogy(nl[lr].loss, color=f"C{i + 3}", lw=0.8, label=f"lr = {lr:g} > 2/alpha")
    ax3.set(xlabel="step", ylabel="loss", title="beyond lr = 2/alpha: blows up")
    for ax in axes[0]:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return (f"alpha_min: SymPy {float(exact):.8g}, Lanczos {a_spec:.8g}; linear PDE blows up "
            f"exactly outside ({float(a_theory):.4g}, {2 / LINEAR_LR:.3g}); nonlinear max loss "
            f"{max(bounded):.3g} (restrained)")

