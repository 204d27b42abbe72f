r"""The ``nntheory`` console script.

Subcommands::

    nntheory verify [--quick|--full] [--jobs N] [--seed S] [--out DIR] [--list]
                    [--update-papers] [claim ...]
    nntheory latex KIND --activation NAME [--param k=v ...] [--hidden-layers L]
                    # KIND: activation | dual | dual_derivative | nngp | ntk | ...
    nntheory latex ode --model single-index|saad-solla [--activation NAME]
    nntheory kernel NAME --x1 1,0 [--x2 0,1] [--hidden-layers L] [--sigma-w SW]
                    [--sigma-b SB] [--param k=v ...] [--dps D]
    nntheory fixedpoint NAME [--sigma-w SW] [--sigma-b SB] [--dps D]
                    [--norm-preserving] [--q Q] [--param k=v ...]

Bad input prints one line ``nntheory <command>: error: <message>`` on stderr
and exits with code 2 (no traceback).
"""

from __future__ import annotations

import argparse
import sys

from verify.runner import (
    OneLineParser,
    add_arguments,
    int_at_least,
    quiet_pipe_and_interrupt,
    run_from_args,
)

__all__ = ["main", "build_parser", "kernel_values"]



class CliError(ValueError):
    """Bad input found after parsing (printed as one line, exit code 2)."""


# ---------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------

def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _param(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"must look like name=number, got {text!r}")
    try:
        return key.strip(), _number(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"value of {key.strip()!r} must be a number, got {value.strip()!r}") from None


def _vector(text: str):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated numbers such as 1,0.5,-2, got {text!r}") from None
    if not values or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise argparse.ArgumentTypeError(f"must be finite numbers, got {text!r}")
    return values


def _nonnegative_float(text: str):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _positive_float(text: str):
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


_positive_int = int_at_least(1)


def _add_param_option(parser):
    parser.add_argument("--param", type=_param, action="append", default=[], metavar="k=v",
                        help="activation parameter, e.g. --param alpha=0.5 (repeatable)")


def _activation(name: str, params: list[tuple[str, object]]):
    from theory.activations import get

    return get(name, **dict(params))


# ---------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------

def _cmd_latex(args) -> int:
    if args.kind == "ode":
        from theory.latex import latex_for

        act = _activation(args.activation, args.param) if args.activation else None
        print(latex_for("ode", act, model=args.model or "single-index"))
        return 0
    if args.activation is None:
        raise CliError(f"latex {args.kind} needs --activation NAME")
    act = _activation(args.activation, args.param)
    if args.kind in ("nngp", "ntk") and args.hidden_layers is None:
        raise CliError(f"latex {args.kind} needs --hidden-layers L (L >= 1)")
    try:
        from theory.latex import latex_for
    except ImportError as exc:
        raise CliError(f"LaTeX export is not available (theory.latex: {exc})") from None
    print(latex_for(args.kind, act, hidden_layers=args.hidden_layers))
    return 0


def kernel_values(act, x1, x2, *, hidden_layers, sigma_w, sigma_b, dps=None):
    r"""NNGP and NTK of the network (``hidden_layers`` hidden layers + linear
    readout, NTK parameterization) at one pair of inputs: ``(nngp, ntk)``,
    ``ntk`` None when the activation has no derivative kernel.

    Float64 via ``numerics.kernels``; with ``dps`` the recursion
    :math:`\Sigma^{l+1} = \sigma_w^2\,\mathbb E[\sigma(u)\sigma(v)] + \sigma_b^2`,
    :math:`\Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2\,\mathbb E[\sigma'(u)\sigma'(v)]\,\Theta^l`,
    :math:`\Theta^1 = \Sigma^1 = \sigma_w^2\langle x,x'\rangle/d + \sigma_b^2`, runs in
    mpmath at ``dps`` digits (``theory.recursions.nngp_entries`` / ``ntk_entries``).
    """
    if len(x1) != len(x2):
        raise CliError(f"--x1 and --x2 must have the same length, got {len(x1)} and {len(x2)}")
    if dps is None:
        import numpy as np

        try:
            from numerics import kernels
        except ImportError as exc:
            raise CliError(f"the float64 kernel engine is not available (numerics.kernels: "
                           f"{exc}); pass --dps D for the mpmath path") from None
        kw = dict(activation=act, hidden_layers=hidden_layers, sigma_w=sigma_w, sigma_b=sigma_b)
        a, b = np.array([x1], dtype=float), np.array([x2], dtype=float)
        nngp = float(np.asarray(kernels.nngp(a, b, **kw))[0, 0])
        ntk = float(np.asarray(kernels.ntk(a, b, **kw))[0, 0]) if act.has_ntk else None
        return nngp, ntk
    return _kernel_values_mp(act, x1, x2, hidden_layers, sigma_w, sigma_b, dps)


def _kernel_values_mp(act, x1, x2, hidden_layers, sigma_w, sigma_b, dps):
    from theory.recursions import nngp_entries, ntk_entries

    nngp = nngp_entries(act, x1, x2, hidden_layers, sigma_w, sigma_b, dps=dps)[1]
    ntk = (ntk_entries(act, x1, x2, hidden_layers, sigma_w, sigma_b, dps=dps)
           if act.has_ntk else None)
    return nngp, ntk


def _cmd_kernel(args) -> int:
    act = _activation(args.activation, args.param)
    x2 = args.x2 if args.x2 is not None else args.x1
    nngp, ntk = kernel_values(act, args.x1, x2, hidden_layers=args.hidden_layers,
                              sigma_w=args.sigma_w, sigma_b=args.sigma_b, dps=args.dps)

    def fmt(v):
        if args.dps is None:
            return repr(v)
        import mpmath

        return mpmath.nstr(v, args.dps)

    print(f"{act.label}, hidden_layers={args.hidden_layers}, sigma_w={args.sigma_w}, "
          f"sigma_b={args.sigma_b}, x1={args.x1}, x2={x2}"
          + (f", dps={args.dps}" if args.dps else ", float64"))
    print(f"NNGP  {fmt(nngp)}")
    if ntk is None:
        print(f"NTK   undefined: {act.label} has no derivative kernel")
    else:
        print(f"NTK   {fmt(ntk)}")
    return 0


def _cmd_fixedpoint(args) -> int:
    try:
        from verify import fixedpoint_cli
    except ImportError as exc:
        raise CliError(
            f"the fixed-point explorer is not available (verify.fixedpoint_cli: {exc})"
        ) from None
    namespace = argparse.Namespace(
        activation=args.activation, params=dict(args.param), sigma_w=args.sigma_w,
        sigma_b=args.sigma_b, dps=args.dps, norm_preserving=args.norm_preserving, q=args.q,
    )
    code = fixedpoint_cli.main(namespace)
    return 0 if code is None else int(code)


def _cmd_verify(args) -> int:
    return run_from_args(args, prog="nntheory verify")


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="nntheory",
        description="Symbolic-numeric checks of neural-network theory: verify claims, "
                    "LaTeX of kernels, NNGP/NTK values, kernel fixed points.",
    )
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)

    p = add_arguments(sub.add_parser("verify", help="run the claims of papers/ (PASS/FAIL)",
                                     description="Run claims and write records under --out."))
    p.set_defaults(handler=_cmd_verify)

    p = sub.add_parser("latex", help="LaTeX of an activation, dual kernel, NNGP/NTK recursion "
                       "or length/correlation map")
    from theory.latex import LATEX_KINDS

    p.add_argument("kind", choices=list(LATEX_KINDS), help="what to print")
    p.add_argument("--activation", default=None, metavar="NAME",
                   help="registry name, e.g. gelu (required except for ode)")
    p.add_argument("--model", choices=["single-index", "saad-solla"], default=None,
                   help="reduced ODE for kind ode (default single-index)")
    p.add_argument("--hidden-layers", type=_positive_int, default=None, metavar="L",
                   help="depth L (number of hidden layers), for nngp and ntk")
    _add_param_option(p)
    p.set_defaults(handler=_cmd_latex)

    p = sub.add_parser("kernel", help="NNGP and NTK of a deep network at two inputs")
    p.add_argument("activation", metavar="NAME", help="registry name, e.g. relu")
    p.add_argument("--x1", type=_vector, required=True, metavar="V",
                   help="first input, comma-separated (use --x1=-1,0 for a leading minus)")
    p.add_argument("--x2", type=_vector, default=None, metavar="V",
                   help="second input (default: x1)")
    p.add_argument("--hidden-layers", type=_positive_int, default=1, metavar="L",
                   help="depth L = number of hidden layers (default 1)")
    p.add_argument("--sigma-w", type=_nonnegative_float, default=1.0, metavar="SW",
                   help="weight standard deviation (default 1)")
    p.add_argument("--sigma-b", type=_nonnegative_float, default=0.0, metavar="SB",
                   help="bias standard deviation (default 0)")
    p.add_argument("--dps", type=_positive_int, default=None, metavar="D",
                   help="decimal digits (mpmath); default float64")
    _add_param_option(p)
    p.set_defaults(handler=_cmd_kernel)

    p = sub.add_parser("fixedpoint", help="q*, rho*, chi1 and depth scales of deep networks")
    p.add_argument("activation", metavar="NAME", help="registry name, e.g. gelu")
    p.add_argument("--sigma-w", type=_nonnegative_float, default=None, metavar="SW",
                   help="weight standard deviation")
    p.add_argument("--sigma-b", type=_nonnegative_float, default=0.0, metavar="SB",
                   help="bias standard deviation (default 0)")
    p.add_argument("--dps", type=_positive_int, default=None, metavar="D",
                   help="decimal digits (mpmath); default double precision")
    p.add_argument("--norm-preserving", action="store_true",
                   help="use the weight scale sigma* that keeps q fixed (sigma_b = 0)")
    p.add_argument("--q", type=_positive_float, default=None, metavar="Q",
                   help="pre-activation variance q (for --norm-preserving, default 1)")
    _add_param_option(p)
    p.set_defaults(handler=_cmd_fixedpoint)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nntheory``; returns the exit code (the console script
    exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def run():
        try:
            return args.handler(args)
        except ValueError as exc:  # bad input (unknown activation, invalid parameter, ...)
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"nntheory {args.command}: error: {message}", file=sys.stderr)
            return 2

    return quiet_pipe_and_interrupt(run)


if __name__ == "__main__":
    sys.exit(main())
