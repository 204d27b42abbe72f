r"""Claim K3: kernel fixed points of the correlation map.

1. **ReLU** (:math:`\sigma_w^2 = 2`, :math:`\sigma_b = 0`): :math:`\rho^* = 1`, reached only
   algebraically. With :math:`\delta = 1-\rho = 1-\cos\theta` the arc-cosine map gives
   :math:`\delta' = \delta - (\sin\theta-\theta\cos\theta)/\pi = \delta - (2\delta)^{3/2}/(3\pi)
   + O(\delta^2)`, so the increments of :math:`\delta^{-1/2}` tend to :math:`\sqrt2/(3\pi)` and
   :math:`l^2\delta_l \to 9\pi^2/2`; the local exponent is still about -1.8 at l = 100, so
   the constants are checked at :math:`l = 10^5` (relative corrections :math:`O(\log l/l)
   \approx 10^{-4}`) within 1%, on the cancellation-free iteration
   :func:`theory.fixedpoints.relu_gap_sequence`, itself checked against the closed form
   iterated in mpmath at 30 digits.
2. **GELU and ELU** at their norm-preserving :math:`\sigma^*` (q = 1): a stable fixed point
   :math:`\rho^* < 1` (:math:`|\mathcal C'(\rho^*)| < 1` while :math:`\chi_1 > 1`), reached
   linearly at rate :math:`\mathcal C'(\rho^*)` (Tsuchida et al., "Avoiding kernel fixed
   points").
3. **Finite networks** (width 2000, depth 20) follow the exact layer map one layer at a
   time: the residuals :math:`V_{l+1} - F(V_l)` at the networks' own :math:`V_l`,
   standardized by their derived :math:`O(N^{-1/2})` covariance
   (:func:`numerics.finite_width.one_step_residuals`), must look like :math:`\mathcal N(0,1)`
   (Bonferroni max|z| and the :math:`\chi^2` band of the whitened mean square, each at
   false-alarm 1e-3). Where :math:`q = 1` is a stable fixed point of the length map (ELU)
   the networks also follow the joint :math:`(q_l, \rho_l)` recursion within
   :math:`4\,s/\sqrt S + 2|b|` (seed spread floored by the moment-closure prediction, and its
   O(1/N) bias, :func:`numerics.finite_width.moment_closure`); for GELU
   (:math:`\mathcal L'(1) \approx 1.14`, a band growing ~13x over 20 layers) that comparison
   is recorded, not judged.
"""

from __future__ import annotations

import math

import numpy as np

from numerics import plots
from numerics.compile import dual_function
from numerics.empirical import finite_network_covariances, q_rho
from numerics.finite_width import moment_closure, one_step_residuals
from numerics.stats import bonferroni_z_threshold
from theory import fixedpoints as fp
from verify import figures
from verify.claim import Override, claim

RELU_CONSTANT, RELU_INCREMENT, RELU_RTOL = 9 * math.pi**2 / 2, math.sqrt(2) / (3 * math.pi), 0.01
ACTIVATIONS = ("gelu", "elu")
INPUT_RHO, INPUT_DIM = 0.2, 500  # layer-1 pre-activations: q = 1, correlation 0.2
Z_THRESHOLD, BIAS_FACTOR, SPREAD_FACTOR = 4.0, 2.0, 3.0
ONE_STEP_ALPHA = 1e-3


def relu_part(layers, mp_layers, step=None):
    """ReLU gap sequence, its asymptotic constants and its check against 30 digits."""
    delta = np.array(fp.relu_gap_sequence(layers, 1.0, step=step))
    # the registry's ReLU kernel iterated at 30 digits (1 - rho keeps its digits there)
    reference = [1 - r for r in fp.iterate_correlation(
        "relu", 0.0, mp_layers, sigma_w=2**0.5, sigma_b=0, q=1.0, dps=30)]
    return {"delta": delta, "scaled": float(layers**2 * delta[layers]),
            "increment": float(delta[layers] ** -0.5 - delta[layers - 1] ** -0.5),
            "vs_mpmath": float(np.max(np.abs(delta[: mp_layers + 1] / np.array(
                reference, dtype=float) - 1))),
            "local_exponent_100": math.log(delta[101] / delta[99]) / math.log(101 / 99)}


def smooth_part(name, layers, correlation_map=None):
    """sigma*, rho*, C'(rho*), chi1, L'(1) and the iteration rho_l -> rho* at q = 1."""
    sw = fp.norm_preserving_sigma(name, 1.0)
    at = dict(sigma_w=sw, sigma_b=0, q=1.0)
    rho_star = fp.correlation_fixed_point(name, **at)
    if correlation_map is None:
        rhos = np.array(fp.iterate_correlation(name, 0.0, layers, **at))
    else:
        rhos = [0.0]
        for _ in range(layers):
            rhos.append(float(correlation_map(name, rhos[-1], sw)))
        rhos = np.array(rhos)
    gaps = rhos - rho_star
    late = np.arange(layers - 50, layers)
    usable = np.abs(gaps[late]) > 1e-13
    ratios = gaps[late + 1][usable] / gaps[late][usable]
    h = 1e-4  # C'' by central differences: O(h^2) ~ 1e-8 relative, it only sets tolerances
    curvature = (fp.correlation_map_slope(name, rho_star + h, **at)
                 - fp.correlation_map_slope(name, rho_star - h, **at)) / (2 * h)
    slope, half = fp.correlation_map_slope(name, rho_star, **at), layers // 2
    # g_{l+1} = C' g_l + C''/2 g_l^2: over the second half |g| contracts at most by
    # |C'| + |C''| |g_half| per layer; the ratios deviate from C' by <= |C''| |g| plus the
    # rounding of rho (eps |rho*| in each of two gaps)
    window = np.abs(gaps[late][usable]) if usable.any() else np.array([np.inf])
    return {"sigma_star": sw, "rho_star": rho_star, "rhos": rhos, "curvature": curvature,
            "half_gap": abs(gaps[half]),
            "final_gap_bound": 2 * abs(gaps[half]) * (abs(slope) + abs(curvature) * abs(
                gaps[half])) ** (layers - half) + 1e-14,
            "contraction_atol": abs(curvature) * window.max() + 4 * 2.2e-16 * abs(
                rho_star) / window.min(),
            "slope": slope,
            "chi1": fp.chi1(name, **at), "length_slope": fp.length_map_slope(name, 1.0, sigma_w=sw),
            "final_gap": float(abs(gaps[-1])),
            "contraction": float(np.median(ratios)) if ratios.size else math.nan}


def trajectory_comparison(name, sigma_w, covariances, width):
    """Seed mean of the networks' (q_l, rho_l) vs the joint recursion, with the tolerance
    4 max(sample, predicted sd)/sqrt(seeds) + 2 |predicted bias| per layer."""
    stats = q_rho(covariances)
    seeds, depth = stats.shape[:2]
    rec = np.array(fp.joint_recursion(name, 1.0, INPUT_RHO, depth - 1, sigma_w=sigma_w,
                                      sigma_b=0.0))
    closure = moment_closure(name, sigma_w, width=width, depth=depth, rho0=INPUT_RHO)
    predicted_sd = np.stack([closure["sd_q"], closure["sd_rho"]], axis=1)
    bias = np.stack([closure["bias_q"], closure["bias_rho"]], axis=1)
    sample_sd = stats.std(axis=0, ddof=1) if seeds > 1 else np.zeros_like(rec)
    tol = Z_THRESHOLD * np.maximum(sample_sd, predicted_sd) / math.sqrt(seeds) + (
        BIAS_FACTOR * np.abs(bias))
    mean = stats.mean(axis=0)
    # spread on rho only: GELU's q fluctuations grow beyond the linear closure
    spread = math.sqrt(np.mean(sample_sd[1:, 1] ** 2) / np.mean(predicted_sd[1:, 1] ** 2))
    return {"mean": mean, "recursion": rec, "tolerance": tol,
            "ratio": np.abs(mean - rec) / tol, "spread_ratio": spread}


def _dict_of(kind, check):
    def validate(mapping):
        for name, value in mapping.items():
            if name not in ACTIVATIONS:
                raise ValueError(f"keys must be among {list(ACTIVATIONS)}, got {name!r}")
            check(name, value)
    return Override(dict, kind, check=validate)


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"weight scale for {name!r} must be a number > 0, got {value!r}")


@claim(
    sizes={"quick": {"relu_layers": 100_000, "relu_mp_layers": 2_000, "iterate_layers": 300,
                     "seeds": 3, "width": 2000, "depth": 20},
           "full": {"relu_layers": 1_000_000, "relu_mp_layers": 100_000, "iterate_layers": 600,
                    "seeds": 16, "width": 2000, "depth": 20}},
    overrides={
        "relu_delta_step": Override(callable, "delta -> delta' replacing the ReLU gap map"),
        "correlation_map": Override(callable, "(name, rho, sigma_w) -> rho' for GELU/ELU"),
        "network_sigma_w": _dict_of("name -> weight scale the networks are built with",
                                    _positive),
        "layer_sigma_w": _dict_of("name -> weight scale of the one-step layer map", _positive),
        "layer_activation": _dict_of("name -> activation whose kernel is the one-step layer map",
                                     lambda name, act: dual_function(act)),
    },
)
def compute(run):
    if run.relu_layers < 200 or run.iterate_layers < 60 or run.depth < 2:
        raise ValueError("need relu_layers >= 200, iterate_layers >= 60 and depth >= 2")
    opt, checks = run.options, run.checks
    relu = relu_part(run.relu_layers, min(run.relu_mp_layers, run.relu_layers),
                     opt["relu_delta_step"])
    source = "O(log l / l) ~ 1e-4 left at l = 1e5"
    checks.within("relu_l2_one_minus_rho", relu["scaled"], RELU_CONSTANT, rtol=RELU_RTOL,
                  source=source)
    checks.within("relu_increment", relu["increment"], RELU_INCREMENT, rtol=RELU_RTOL,
                  source=source)
    checks.at_most("relu_iteration_vs_mpmath", relu["vs_mpmath"], 1e-9,
                   source="a few ulps per step over the compared layers")
    checks.holds("relu_rho_star", fp.correlation_fixed_point(
        "relu", sigma_w=2**0.5, sigma_b=0, q=1.0) == 1.0, "rho* = 1")
    run.note("relu_local_exponent_at_100", relu["local_exponent_100"])
    smooth = {n: smooth_part(n, run.iterate_layers, opt["correlation_map"]) for n in ACTIVATIONS}
    for name, s in smooth.items():
        checks.holds(f"{name}_stable_rho_star", s["rho_star"] < 1 and abs(s["slope"]) < 1
                     and s["chi1"] > 1, "rho* < 1, |C'(rho*)| < 1, chi1 > 1",
                     measured={k: s[k] for k in ("rho_star", "slope", "chi1", "sigma_star")})
        checks.at_most(f"{name}_linear_regime", abs(s["curvature"]) * s["half_gap"],
                       (1 - abs(s["slope"])) / 2, source="|C''| |g_(L/2)| <= (1 - |C'|)/2: the "
                       "second half contracts, so the Taylor bounds below hold")
        checks.at_most(f"{name}_final_gap", s["final_gap"], s["final_gap_bound"],
                       source="2 |g_L/2| (|C'| + |C''| |g_L/2|)^(L/2) + 1e-14 (Taylor, C'')")
        checks.within(f"{name}_contraction", s["contraction"], s["slope"],
                      atol=s["contraction_atol"],
                      source="late ratios of gaps vs C'(rho*): |C''| |g| + rounding / |g|")
    sw = {n: s["sigma_star"] for n, s in smooth.items()}
    covariances = finite_network_covariances(
        {n: (opt["network_sigma_w"] or {}).get(n, sw[n]) for n in ACTIVATIONS}, width=run.width,
        depth=run.depth, seeds=run.seeds, seed=run.seed, rho_in=INPUT_RHO, input_dim=INPUT_DIM)
    one_step, trajectory = {}, {}
    for name in ACTIVATIONS:
        one_step[name] = res = one_step_residuals(
            (opt["layer_activation"] or {}).get(name, name), covariances[name],
            sigma_w=(opt["layer_sigma_w"] or {}).get(name, sw[name]), width=run.width)
        checks.max_abs_z(f"{name}_one_step_z", res["z"], alpha=ONE_STEP_ALPHA,
                         source="one-step residuals / derived O(N^-1/2) sd")
        checks.chi2_mean(f"{name}_one_step_chi2", res["whitened"], alpha=ONE_STEP_ALPHA)
        trajectory[name] = t = trajectory_comparison(name, sw[name], covariances[name], run.width)
        if smooth[name]["length_slope"] < 1:  # q = 1 stable (ELU): the trajectory is judged
            checks.at_most(f"{name}_trajectory", t["ratio"], 1.0,
                           source="4 sd/sqrt(seeds) + 2 |O(1/N) bias| per layer")
            checks.in_range(f"{name}_spread_ratio", t["spread_ratio"], 1 / SPREAD_FACTOR,
                            SPREAD_FACTOR, log=True, source="seed spread vs moment closure")
        else:
            run.note(f"{name}_trajectory_max_ratio", float(t["ratio"].max()))
    run.details = {"one_step": {n: {k: np.asarray(o[k]).tolist() for k in ("residual", "z")}
                                for n, o in one_step.items()},
                   "covariances": {n: c.tolist() for n, c in covariances.items()}}
    run.figure = _figure(relu, smooth, trajectory, one_step)
    return (f"ReLU l^2(1-rho) {relu['scaled']:.3f} vs {RELU_CONSTANT:.3f}; " + ", ".join(
        f"{n} rho* {s['rho_star']:.4f}" for n, s in smooth.items()))


def _figure(relu, smooth, trajectory, one_step):
    fig, ax = figures.grid(3, 3, size=(4.3, 3.8))
    layers = np.unique(np.geomspace(1, len(relu["delta"]) - 1, 400).astype(int))
    plots.relu_asymptotics(layers, relu["delta"][layers], ax=ax[0, 0])
    series = {"relu": 1 - relu["delta"][: len(smooth["gelu"]["rhos"])],
              **{n: s["rhos"] for n, s in smooth.items()}}
    plots.correlation_versus_depth(series, rho_stars={"relu": 1.0, **{
        n: s["rho_star"] for n, s in smooth.items()}}, ax=ax[0, 1])
    for a, (name, s) in zip((ax[0, 2], ax[1, 2]), smooth.items(), strict=True):
        plots.cobweb(lambda r, n=name, w=s["sigma_star"]: fp.correlation_map(
            n, r, sigma_w=w, sigma_b=0, q=1.0), 0.0, 12, rho_star=s["rho_star"], label=name,
            points=41, ax=a)
    for a, col, what in ((ax[1, 0], 1, "rho_l"), (ax[1, 1], 0, "q_l")):
        for name, t in trajectory.items():
            layer = np.arange(1, len(t["mean"]) + 1)
            figures.prediction_band(a, layer, t["mean"][:, col], t["recursion"][:, col],
                                    t["tolerance"][:, col], label=f"{name} nets", name=name,
                                    xlabel="layer l", ylabel=what,
                                    title=f"nets vs joint recursion: {what} (GELU: information)")
    for a, name in zip((ax[2, 0], ax[2, 1]), ACTIVATIONS, strict=True):
        z = one_step[name]["z"]
        figures.z_strip(a, z, bonferroni_z_threshold(z.size, ONE_STEP_ALPHA),
                        groups=[name] * z.size, title=f"{name}: one-step z of V_(l+1) vs F(V_l)")
    for name, o in one_step.items():
        figures.qq_plot(ax[2, 2], o["whitened"], label=name, name=name,
                        title="whitened one-step residuals")
    return fig
