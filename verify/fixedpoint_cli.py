r"""The ``nntheory fixedpoint`` subcommand (the CLI owner's ``verify/cli.py``
delegates here).

Examples::

    nntheory fixedpoint gelu --sigma-w 1.5 --sigma-b 0 [--dps 50]
    nntheory fixedpoint gelu --norm-preserving [--q 4]
    nntheory fixedpoint elu --param alpha=0.5 --sigma-w 1.3 --sigma-b 0.1

Prints q*, rho*, chi_1, the slopes and depth scales at (sigma_w, sigma_b), or
with ``--norm-preserving`` the weight scale sigma* making ``q`` a fixed point
of the length map (sigma_b = 0) and the correlation fixed point there. Errors
(bad input, no fixed point) are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

import mpmath

from theory import fixedpoints as fp
from theory.activations import get

__all__ = ["add_arguments", "main", "parse_params"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``fixedpoint`` arguments to ``parser`` (a subparser)."""
    parser.add_argument("activation", help="registry name, e.g. relu, gelu, elu, tanh, erf")
    parser.add_argument("--sigma-w", dest="sigma_w", type=str, default=None,
                        help="weight scale sigma_w (std of sqrt(N) W); required unless "
                             "--norm-preserving")
    parser.add_argument("--sigma-b", dest="sigma_b", type=str, default="0",
                        help="bias scale sigma_b (default 0)")
    parser.add_argument("--dps", type=int, default=None,
                        help="decimal digits (mpmath); default: double precision")
    parser.add_argument("--norm-preserving", dest="norm_preserving", action="store_true",
                        help="use sigma* (sigma_b = 0) that makes q a fixed point of the "
                             "length map")
    parser.add_argument("--q", type=str, default=None,
                        help="variance q: with --norm-preserving the q to preserve (default 1); "
                             "otherwise evaluate the correlation map at this q instead of q*")
    parser.add_argument("--param", dest="params", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="activation parameter, e.g. --param alpha=0.5 (repeatable)")
    return parser


def parse_params(items) -> dict:
    """``["alpha=0.5", ...]`` -> ``{"alpha": "0.5"}`` (values validated by the registry);
    a mapping is accepted as it is."""
    if isinstance(items, dict):
        return dict(items)
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param must look like NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"--param name must be an identifier, got {key!r}")
        out[key] = value.strip()
    return out


def _number(name, text, dps):
    if text is None:
        return None
    try:
        with mpmath.workdps((dps or 15) + 10):
            value = mpmath.mpf(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {text!r}") from None
    if not mpmath.isfinite(value):
        raise ValueError(f"{name} must be finite, got {text!r}")
    return value if dps else float(value)


def _fmt(value, dps):
    if value is None:
        return "undefined"
    if dps is None:
        return f"{float(value):.15g}"
    with mpmath.workdps(dps):
        return mpmath.nstr(value, dps)


def _phase(chi, dps):
    tol = 1e-12 if dps is None else mpmath.mpf(10) ** (-(dps - 3))
    if abs(chi - 1) <= tol:
        return "critical (edge of chaos)"
    return "ordered (chi_1 < 1)" if chi < 1 else "chaotic (chi_1 > 1)"


def _activation(args):
    params = parse_params(getattr(args, "params", []))
    if params:
        return get(args.activation, **params)
    return get(args.activation)


def _report_norm_preserving(act, args, out):
    dps = args.dps
    qv = _number("--q", args.q if args.q is not None else "1", dps)
    if qv <= 0:
        raise ValueError(f"--q must be > 0, got {args.q}")
    sw = fp.norm_preserving_sigma(act, qv, dps=dps)
    chi = fp.chi1(act, sigma_w=sw, sigma_b=0, q=qv, dps=dps)
    lslope = fp.length_map_slope(act, qv, sigma_w=sw, dps=dps)
    rho = fp.correlation_fixed_point(act, sigma_w=sw, sigma_b=0, q=qv, dps=dps)
    cslope = fp.correlation_map_slope(act, rho, sigma_w=sw, sigma_b=0, q=qv, dps=dps)
    stability = "a stable" if abs(lslope) < 1 else "an unstable"
    lines = [
        f"activation      {act.label}",
        f"precision       {'double' if dps is None else f'{dps} digits'}",
        f"q               {_fmt(qv, dps)}",
        f"sigma*          {_fmt(sw, dps)}   (sigma_b = 0; sigma*^2 E[s(sqrt(q) z)^2] = q)",
        f"L'(q)           {_fmt(lslope, dps)}   (q is {stability} fixed point of the length "
        "map)",
        f"chi_1           {_fmt(chi, dps)}   ({_phase(chi, dps)})",
        f"rho*            {_fmt(rho, dps)}   (stable fixed point of the correlation map at q)",
        f"C'(rho*)        {_fmt(cslope, dps)}",
        f"xi_c            {_fmt(_xi(cslope), dps)}   (-1/log|C'(rho*)|)",
    ]
    out.write("\n".join(lines) + "\n")


def _xi(chi):
    a = abs(chi)
    if a == 1:
        return mpmath.inf
    return -1 / mpmath.log(a)


def _report_point(act, args, out):
    dps = args.dps
    if args.sigma_w is None:
        raise ValueError("--sigma-w is required (or use --norm-preserving)")
    sw = _number("--sigma-w", args.sigma_w, dps)
    sb = _number("--sigma-b", args.sigma_b, dps)
    qv = _number("--q", args.q, dps)
    lines = [
        f"activation      {act.label}",
        f"precision       {'double' if dps is None else f'{dps} digits'}",
        f"sigma_w         {_fmt(sw, dps)}",
        f"sigma_b         {_fmt(sb, dps)}",
    ]
    if qv is None:
        scales = fp.depth_scales(act, sigma_w=sw, sigma_b=sb, dps=dps)
        chi = fp.chi1(act, sigma_w=sw, sigma_b=sb, q=scales.q_star, dps=dps)
        note = ("(q = 0 is always a root at sigma_b = 0; the smallest positive root is "
                "reported when there is one)")
        lines += [
            f"q*              {_fmt(scales.q_star, dps)}   {note}",
            f"chi_q = L'(q*)  {_fmt(scales.chi_q, dps)}",
            f"chi_1           {_fmt(chi, dps)}   ({_phase(chi, dps)})",
            f"rho*            {_fmt(scales.rho_star, dps)}",
            f"chi_c           {_fmt(scales.chi_c, dps)}   (sigma_w^2 E[s'(u) s'(v)] at q*, rho*)",
            f"xi_q            {_fmt(scales.xi_q, dps)}   (-1/log chi_q; < 0: q* unstable)",
            f"xi_c            {_fmt(scales.xi_c, dps)}   (-1/log chi_c)",
        ]
    else:
        chi = fp.chi1(act, sigma_w=sw, sigma_b=sb, q=qv, dps=dps)
        rho = fp.correlation_fixed_point(act, sigma_w=sw, sigma_b=sb, q=qv, dps=dps)
        cslope = fp.correlation_map_slope(act, rho, sigma_w=sw, sigma_b=sb, q=qv, dps=dps)
        lmap = fp.length_map(act, qv, sigma_w=sw, sigma_b=sb, dps=dps)
        lines += [
            f"q               {_fmt(qv, dps)}   (given; L(q) = {_fmt(lmap, dps)})",
            f"chi_1           {_fmt(chi, dps)}   ({_phase(chi, dps)})",
            f"rho*            {_fmt(rho, dps)}   (correlation map at this q)",
            f"C'(rho*)        {_fmt(cslope, dps)}",
            f"xi_c            {_fmt(_xi(cslope), dps)}",
        ]
    out.write("\n".join(lines) + "\n")


def main(args: argparse.Namespace, *, out=None, err=None) -> int:
    """Run the subcommand; returns the exit code (0 ok, 2 bad input / no fixed point)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.dps is not None and (not isinstance(args.dps, int) or args.dps <= 0):
            raise ValueError(f"--dps must be a positive integer, got {args.dps}")
        act = _activation(args)
        if args.norm_preserving:
            if args.sigma_w is not None:
                raise ValueError("--norm-preserving computes sigma_w; do not pass --sigma-w")
            _report_norm_preserving(act, args, out)
        else:
            _report_point(act, args, out)
    except ValueError as exc:
        err.write(f"nntheory fixedpoint: error: {exc}\n")
        return 2
    return 0


def _standalone(argv=None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="nntheory fixedpoint",
                                                   description=__doc__.split("\n\n")[0]))
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(_standalone())
