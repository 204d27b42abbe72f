r"""Two-layer ReLU nets on one-dimensional data: the experiment of Holzmüller & Steinwart,
"Training two-layer ReLU networks with gradient descent is inconsistent" (arXiv
2002.04861, JMLR 2022; code: dholzmueller/nn_inconsistency, ``mc_training.py``).

The net :math:`f(x) = c + \sum_i w_i\,\mathrm{relu}(a_i x + b_i)` with He initialization
:math:`a_i\sim N(0,2)`, :math:`w_i\sim N(0,2/n)`, :math:`b_i = c = 0` (variants: the two
variances swapped, random biases :math:`b_i, c\sim N(0,\sigma_b^2)`) is trained on six
points :math:`x = \pm1,\pm2,\pm3`, labels :math:`(1,-2,1)+D` on each side, with sample
weights equal to the empirical frequencies of :math:`n^2` uniform draws from the six points,
by full-batch GD (or SGD with batches of 16 drawn with replacement) at the step
:math:`1/\lambda_{\max}` of the loss Hessian at initialization.

With zero biases every kink :math:`-b_i/a_i` starts at 0; while no kink reaches a data
point the net is affine on each side, so its loss is at least that of the per-side
least-squares affine fit (:func:`numerics.networks.per_side_affine_fit`; slope 0 and
intercept D here, loss exactly 1 with uniform weights). A run *ends at the bad minimum*
when no kink ever reached :math:`|x| = 1` (the smallest :math:`|x_j|`) and its final loss
is within ``tolerance`` (relative) of that fit's loss.

:func:`train_chunk` trains one chunk of independent runs (one point of a
:func:`numerics.parallel.run_sweep`) with :func:`train_relu_1d` (the update of
:func:`numerics.networks.train_ensemble`, compiled), for a fixed number of steps or, as the
authors stop SGD, by :class:`EarlyStopping` on a validation loss.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import threadpoolctl

from numerics.networks import (
    BATCH_DRAW_BLOCK,
    EnsembleTrajectory,
    Network,
    batch_stream,
    draw_batches,
    inverse_sharpness_lr,
    per_side_affine_fit,
    train_ensemble,
)
from numerics.validate import check_int, check_real

__all__ = ["DATA_X", "DATA_Y", "INITS", "MECHANISM_FLOOR", "STOP_REASONS", "EarlyStopping",
           "event_slope", "outcome_summary", "plot_learned_functions", "relu_net", "sweep_widths",
           "train_chunk", "train_relu_1d"]

#: the data of mc_training.get_standard_dataset (labels before the offset D)
DATA_X = (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0)
DATA_Y = (-1.0, 2.0, -1.0, 1.0, -2.0, 1.0)
INITS = ("he", "swapped")
#: floor for the fraction of uncrossed runs at the per-side fit (1 in theory: an uncrossed net
#: is affine per side and converges to the fit; only non-convergence or divergence differ):
#: 0.97 catches a systematic rate above 3% and is certified at 99% with no exception from
#: 214 uncrossed runs on (n / (n + 2.576^2) > 0.97); papers/003
MECHANISM_FLOOR = 0.97
#: why a run stopped, by the code in ``stop_reason`` (the constants of the compiled loop)
STOP_REASONS = ("running", "cap", "crossed", "early_stopped")
#: grid on which learned functions are returned for plots
PLOT_GRID = np.linspace(-4.0, 4.0, 161)


def relu_net(width, init="he", bias_std=0.0) -> Network:
    """The paper's net: ``"he"`` (a ~ N(0, 2), w ~ N(0, 2/width)) or ``"swapped"``
    (a ~ N(0, 2/width), w ~ N(0, 2)); biases b_i and c ~ N(0, bias_std^2) (0: zero)."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "he":
        return Network(1, (width,), "relu", parameterization="standard",
                       sigma_w=math.sqrt(2.0), sigma_b=bias_std, bias=True)
    return Network(1, (width,), "relu", parameterization="standard",
                   sigma_w=math.sqrt(2.0 / width), readout_std=math.sqrt(2.0),
                   sigma_b=bias_std, bias=True)


def _jit_available():
    from numerics.gram import available  # numba importable and not disabled (NNTHEORY_JIT)

    return available()


@dataclass(frozen=True)
class EarlyStopping:
    r"""The authors' stopping rule for SGD (dholzmueller/nn_inconsistency, ``mc_training.py``:
    ``CheckingNN.train`` lines 358-402, ``CrossingStoppingCriterion`` 85-90,
    ``EarlyStoppingCriterion`` 92-108, used by ``mc_runner`` 546-551 with
    ``min_delta=1e-8, patience=10`` every 1000 steps, at most 1000 checks).

    Every ``check_every`` steps: a replica whose largest kink distance so far reached
    ``crossing_at`` stops (their crossing criterion runs first); otherwise its validation
    loss :math:`L = \sum_j q_j (f(x_j) - y_j)^2` (no factor 1/2, as theirs; ``q`` =
    ``validation_weights``, ``(n,)`` or one row per replica) improves when
    :math:`L < L_{\mathrm{best}} - \delta` (absolute ``min_delta``, against the best so
    far, which starts at infinity), resetting the count of checks without improvement;
    the replica stops when that count reaches ``patience``. ``train_relu_1d``'s ``steps``
    is then the cap."""

    validation_weights: np.ndarray
    check_every: int = 1000
    patience: int = 10
    min_delta: float = 1e-8
    crossing_at: float = math.inf

    def __post_init__(self):
        check_int("check_every", self.check_every, 1)
        check_int("patience", self.patience, 1)
        check_real("min_delta", self.min_delta, nonnegative=True)
        if not (isinstance(self.crossing_at, numbers.Real) and self.crossing_at > 0):
            raise ValueError(f"crossing_at must be > 0 (math.inf: never), got "
                             f"{self.crossing_at!r}")
        q = np.asarray(self.validation_weights, dtype=np.float64)
        if q.ndim not in (1, 2) or not np.all(np.isfinite(q)) or np.any(q < 0):
            raise ValueError("validation_weights must be a finite, nonnegative (n,) or (R, n) "
                             "array")


#: steps of SGD batches drawn per call of the compiled loop under early stopping (a multiple
#: of BATCH_DRAW_BLOCK; a replica's batches past its stop, at most this many, are drawn in
#: vain)
STOPPING_CHUNK = 4 * BATCH_DRAW_BLOCK


def _batch_weights(g, prob, scale, start, end, total, n, b):
    """Weights on the n points of the batches of steps ``start .. end - 1`` of a replica's
    stream ``g`` (train_ensemble's: blocks of BATCH_DRAW_BLOCK from step 0, the last one
    cut at ``total``); ``start`` is a multiple of BATCH_DRAW_BLOCK."""
    out = np.empty((end - start, n))
    for s in range(start, end, BATCH_DRAW_BLOCK):
        drawn = draw_batches(g, n, min(BATCH_DRAW_BLOCK, total - s), b, prob)
        k = drawn.shape[0]
        counts = np.bincount((drawn + n * np.arange(k)[:, None]).ravel(), minlength=k * n)
        out[s - start:s - start + k] = counts.reshape(k, n) * scale
    return out


def train_relu_1d(net, params, x, y, *, lr, steps, method="gd", batch_size=None,
                  sample_weights=None, seeds=None, compiled=None,
                  early_stopping=None) -> EnsembleTrajectory:
    """:func:`numerics.networks.train_ensemble` for two-layer ReLU nets on 1-D data with
    ``track_kinks=True`` and ``record=[steps]`` (``method="sgd"``: batches drawn with
    replacement, from the same random streams), compiled: one replica after another in a
    numba loop, ~10-100x faster at these sizes (each replica's state fits in cache, no
    per-step NumPy overhead). ``compiled=None``: numba when available (else
    ``train_ensemble``); ``False`` forces ``train_ensemble``.

    ``early_stopping`` (an :class:`EarlyStopping`, compiled loop only): each replica stops
    by that rule or at ``steps``; the single record holds every replica at its own stop,
    ``traj.stopped_at`` (its step) and ``traj.stop_reason`` (an index of
    :data:`STOP_REASONS`) say where and why. Its SGD batches are the first
    ``stopped_at`` of the stream a fixed run of ``steps`` steps uses."""
    compiled = _jit_available() if compiled is None else compiled
    relu = net.activation.family == "ab_relu" and dict(net.activation.family_params) == {
        "a": 0, "b": 1}
    if (not compiled or net.input_dim != 1 or net.hidden_layers != 1 or not net.bias
            or not relu or net.unit_norm_rows):
        if compiled:
            raise ValueError("train_relu_1d's compiled loop needs a 1-input, one-hidden-layer "
                             "ReLU net with biases")
        if early_stopping is not None:
            raise ValueError("early_stopping needs the compiled loop (numba, NNTHEORY_JIT on)")
        return train_ensemble(net, params, x, y, lr=lr, steps=steps, method=method,
                              batch_size=batch_size if method == "sgd" else None,
                              replace=method == "sgd", sample_weights=sample_weights,
                              seeds=seeds if method == "sgd" else None, record=[steps],
                              track_kinks=True)
    from numerics import _relu1d_jit as jit

    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    n = xs.size
    R = len(params)
    P = (np.full((R, n), 1.0 / n) if sample_weights is None else
         np.broadcast_to(np.asarray(sample_weights, dtype=np.float64), (R, n)).copy())
    eta = np.broadcast_to(np.asarray(lr, dtype=np.float64), (R,)).copy()
    if not np.all(np.isfinite(eta)) or np.any(eta <= 0):
        raise ValueError(f"lr must be finite and > 0 for every replica, got {lr!r}")
    if method not in ("gd", "sgd"):
        raise ValueError(f"method must be 'gd' or 'sgd', got {method!r}")
    steps = int(steps)
    es = early_stopping
    if es is None:
        Q, rule = np.zeros((R, n)), (0, 1, 0.0, math.inf)
    else:
        Q = np.asarray(es.validation_weights, dtype=np.float64)
        if Q.shape not in ((n,), (R, n)):
            raise ValueError(f"early_stopping.validation_weights must have shape ({n},) or "
                             f"({R}, {n}), got {Q.shape}")
        Q = np.broadcast_to(Q, (R, n)).copy()
        rule = (int(es.check_every), int(es.patience), float(es.min_delta),
                float(es.crossing_at))
    mult = net.multipliers()
    s1, s_out, beta = float(mult["s1"]), float(mult["s_out"]), float(mult["beta"])
    U = np.stack([np.asarray(p["W1"], dtype=np.float64)[:, 0] for p in params])
    B = np.stack([np.asarray(p["b1"], dtype=np.float64)[:, 0] for p in params])
    A = np.stack([np.asarray(p["a"], dtype=np.float64)[0] for p in params])
    C = np.array([float(np.asarray(p["c"]).ravel()[0]) for p in params])
    loss, kink, diverged = np.empty(R), np.zeros(R), np.full(R, -1)
    best, wait = np.full(R, np.inf), np.zeros(R, dtype=np.int64)
    stopped_at, reason = np.full(R, -1, dtype=np.int64), np.zeros(R, dtype=np.int64)

    def run(first, stop, batch_w):
        jit.train(U, B, A, C, xs, ys, P, eta, first, stop, steps, batch_w, s1, s_out, beta,
                  loss, kink, diverged, Q, *rule, best, wait, stopped_at, reason)

    if method == "sgd":
        if batch_size is None or int(batch_size) < 1:
            raise ValueError(f"method='sgd' needs batch_size >= 1, got {batch_size!r}")
        if seeds is None or len(seeds) != R:
            raise ValueError(f"method='sgd' needs one seed per replica ({R})")
        b = int(batch_size)
        gens = [batch_stream(s) for s in seeds]  # train_ensemble's streams
        probs = [None if sample_weights is None else P[r] / P[r].sum() for r in range(R)]
        # fixed length: all batches at once; early stopping: chunk by chunk, only for the
        # replicas still running (a cap of 1e6 steps would not fit in memory at once)
        chunk = steps + 1 if es is None else STOPPING_CHUNK
        first = 0
        while first <= steps and (stopped_at < 0).any():
            stop = min(first + chunk, steps + 1)
            batch_w = np.empty((R, stop - first, n))
            for r in np.flatnonzero(stopped_at < 0):
                batch_w[r, :min(stop, steps) - first] = _batch_weights(
                    gens[r], probs[r], P[r].sum() / b, first, min(stop, steps), steps, n, b)
            run(first, stop, batch_w)
            first = stop
    else:
        run(0, steps + 1, np.empty((R, 0, n)))
    traj = EnsembleTrajectory(network=net, diverged_at=diverged)
    traj.steps, traj.loss = [steps], [loss]
    traj.params = [{"W1": U[:, :, None], "b1": B[:, :, None], "a": A[:, None, :],
                    "c": C[:, None, None]}]
    traj.max_kink_distance = kink
    if es is not None:
        traj.stopped_at, traj.stop_reason = stopped_at, reason
    return traj


def train_chunk(point, seed) -> dict:
    """Train ``point["runs"]`` independent runs (a sweep point) and classify them.

    ``point`` keys: ``width, runs, steps, offset, method ("gd" | "sgd"), batch_size,
    init, bias_std, tolerance, plot_runs, crossing_at`` (a kink counts as crossed once it
    reached this distance from the origin; default the smallest |x_j| = 1, the authors'
    criterion) and ``early_stopping`` (None: ``steps`` steps; a dict of
    :class:`EarlyStopping`'s ``check_every, patience, min_delta``: the authors' rule with
    their validation weights, the frequencies of another n^2 uniform draws from the six
    points (``mc_runner`` line 535), and their crossing stop at ``crossing_at``; ``steps``
    is the cap). ``seed``: a SeedSequence; child 0 draws the sample weights, child
    ``1 + r`` initializes run ``r``, child ``1 + runs + r`` its batches, child
    ``1 + 2 runs`` the validation weights. Returns ``crossed, at_bad_minimum`` (bool
    arrays), ``gap`` (final loss / per-side fit loss - 1), ``lr``, ``max_kink``,
    ``stopped_at`` (the step each run ended at), ``stop_reason`` (index of
    :data:`STOP_REASONS`) and ``curves`` (outputs of the first
    ``plot_runs`` runs on :data:`PLOT_GRID`)."""
    with threadpoolctl.threadpool_limits(1):  # tiny eigvalsh calls: threads only cost
        return _train_chunk(point, seed)


def _train_chunk(point, seed):
    width, runs = int(point["width"]), int(point["runs"])
    net = relu_net(width, point.get("init", "he"), point.get("bias_std", 0.0))
    children = seed.spawn(2 + 2 * runs)
    x = np.array(DATA_X)[:, None]
    y = np.array(DATA_Y) + point.get("offset", 0.0)
    draws = width * width  # N = n^2 draws (mc_training.mc_runner)

    def frequencies(child):  # of `draws` uniform draws from the six points, per run
        return np.random.default_rng(child).multinomial(draws, [1 / 6] * 6, size=runs) / draws

    weights = frequencies(children[0])
    params = [net.init(children[1 + r]) for r in range(runs)]
    lrs = np.array([inverse_sharpness_lr(net, p, x, y, sample_weights=w)
                    for p, w in zip(params, weights, strict=True)])
    method = point.get("method", "gd")
    crossing_at = float(point.get("crossing_at", np.min(np.abs(x))))
    if not crossing_at > 0:
        raise ValueError(f"crossing_at must be > 0, got {crossing_at!r}")
    stopping = None
    if point.get("early_stopping") is not None:
        stopping = EarlyStopping(frequencies(children[1 + 2 * runs]), crossing_at=crossing_at,
                                 **point["early_stopping"])
    steps = int(point["steps"])
    traj = train_relu_1d(net, params, x, y, lr=lrs, steps=steps, method=method,
                         batch_size=point.get("batch_size"), sample_weights=weights,
                         seeds=children[1 + runs:1 + 2 * runs] if method == "sgd" else None,
                         early_stopping=stopping)
    fit = np.array([per_side_affine_fit(x[:, 0], y, w)[2] for w in weights])
    gap = traj.loss[-1] / fit - 1
    crossed = traj.max_kink_distance >= crossing_at
    tol = point.get("tolerance", 0.01)
    # GD must have converged to the fit (|gap| <= tol); SGD's loss fluctuates above it, so
    # only "never below the fit" is asked of it (an affine-per-side net cannot be)
    near = np.abs(gap) <= tol if method == "gd" else gap >= -tol
    ok = ~crossed & near & (traj.diverged_at < 0)
    k = min(runs, int(point.get("plot_runs", 0)))
    grid = PLOT_GRID[None, :, None]
    P = traj.params[-1]
    curves = (np.maximum(P["W1"][:k, :, 0][:, None, :] * grid + P["b1"][:k, :, 0][:, None, :],
                         0) @ P["a"][:k, 0, :, None])[:, :, 0] + P["c"][:k, 0]
    return {"width": width, "crossed": crossed, "at_bad_minimum": ok, "gap": gap, "lr": lrs,
            "max_kink": traj.max_kink_distance, "curves": curves,
            "stopped_at": np.full(runs, steps) if stopping is None else traj.stopped_at,
            "stop_reason": (np.full(runs, STOP_REASONS.index("cap")) if stopping is None
                            else traj.stop_reason)}


def sweep_widths(base, widths, runs, *, seed, executor="serial", chunk=100,
                 desc="widths") -> dict:
    """Run :func:`train_chunk` for ``runs`` runs at every width (chunks of at most ``chunk``
    runs as points of :func:`numerics.parallel.run_sweep`); returns width -> merged
    outcome arrays (``curves`` from the first chunk only)."""
    from numerics.parallel import run_sweep

    runs_by_width = dict(zip(widths, runs if isinstance(runs, (list, tuple)) else
                             [runs] * len(widths), strict=True))
    grid = []
    for w in widths:
        left = runs_by_width[w]
        while left > 0:
            grid.append({**base, "width": w, "runs": min(chunk, left),
                         "plot_runs": base.get("plot_runs", 0) if left == runs_by_width[w]
                         else 0})
            left -= chunk
    results = run_sweep(train_chunk, grid, executor=executor, seed=seed, desc=desc,
                        progress=executor != "serial")
    out = {}
    for res in results:
        agg = out.setdefault(res["width"], {"curves": res["curves"]})
        for key in ("crossed", "at_bad_minimum", "gap", "lr", "max_kink", "stopped_at",
                    "stop_reason"):
            agg[key] = np.concatenate([agg.get(key, np.zeros(0, res[key].dtype)), res[key]])
    return out


def event_slope(outcomes, key, *, complement=False, bootstrap=400, rng=None):
    """Log-log slope against width of the probability of the per-run event
    ``outcomes[w][key]`` (``complement=True``: of its negation), with a bootstrap standard
    error over runs (:func:`numerics.stats.loglog_slope`); every width needs an event."""
    from numerics import stats

    widths = sorted(outcomes)
    events = [np.asarray(outcomes[w][key], dtype=bool) for w in widths]
    events = [~e if complement else e for e in events]
    counts = [int(e.sum()) for e in events]
    if min(counts) == 0:
        raise ValueError(f"no run has the event {'not ' if complement else ''}{key!r} at some "
                         f"width (counts {counts}): its slope needs more runs")
    size = min(e.size for e in events)
    # equal replicate counts per width: subsample the first `size` runs of each width
    reps = np.array([e[:size] for e in events], dtype=float)
    return stats.loglog_slope(widths, replicates=reps, bootstrap=bootstrap, rng=rng)


def outcome_summary(outcomes, widths, *, confidence=0.99, rng=None) -> dict:
    """What H1 and H2 judge, from :func:`sweep_widths` outcomes: ``at_fit`` and ``uncrossed``
    (run counts pooled over ``widths``), ``fractions`` (width -> [fraction at the bad minimum,
    Wilson interval at ``confidence``]) and ``slopes``: for ``"not_at_bad_minimum"`` and
    ``"crossing"`` a (:class:`numerics.stats.SlopeFit` or None, event counts per width)
    pair; None where some width has no event (no slope can be fitted)."""
    from numerics import stats

    res = {"at_fit": sum(int(outcomes[w]["at_bad_minimum"].sum()) for w in widths),
           "uncrossed": sum(int((~outcomes[w]["crossed"]).sum()) for w in widths),
           "fractions": {}, "slopes": {}}
    for w in widths:
        ok = outcomes[w]["at_bad_minimum"]
        res["fractions"][str(w)] = [float(ok.mean()), *stats.binomial_interval(
            int(ok.sum()), ok.size, confidence=confidence)]
    sub = {w: outcomes[w] for w in widths}
    for name, key, complement in (("not_at_bad_minimum", "at_bad_minimum", True),
                                  ("crossing", "crossed", False)):
        counts = [int((sub[w][key] != complement).sum()) for w in widths]
        fit = (event_slope(sub, key, complement=complement, rng=rng) if min(counts) > 0
               else None)
        res["slopes"][name] = (fit, counts)
    return res


def plot_learned_functions(ax, curves, offset=0.0, *, title=""):
    """Learned functions (rows of ``curves`` on :data:`PLOT_GRID`) over the data, with the
    per-side fit f = D of the paper's data."""
    ax.plot(DATA_X, np.array(DATA_Y) + offset, "ko", ms=5, label="data")
    for i, c in enumerate(curves):
        ax.plot(PLOT_GRID, c, lw=1, alpha=0.8, label="learned" if i == 0 else None)
    ax.axhline(offset, color="0.5", ls="--", lw=0.8, label="per-side fit f = D")
    ax.axvspan(-1, 1, color="0.9", lw=0)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax
