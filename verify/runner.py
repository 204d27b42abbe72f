r"""The verify runner: run claims, print a PASS/FAIL table, write records.

``python -m verify [--quick|--full] [--jobs N] [--seed S] [--out DIR] [--list]
[--update-papers] [claim ...]`` (also ``nntheory verify ...``).

Each claim (``verify/registry.py``) is computed on a ``concurrent.futures``
executor (a process pool for ``--jobs N > 1``, in-process for ``--jobs 1``).
As soon as a claim finishes, its record and figure are written atomically to
``<out>/<claim>/<hash>/record.json`` and ``figure.png`` (ARCHITECTURE.md, "The verify
record"), so an interrupted run loses nothing that finished. ``<hash>`` is
:func:`record_hash` of (claim, mode, params, seed, package version).

Exit code: 0 when every claim PASSes, 1 when any FAILs, 2 when any is an ERROR
(an exception inside a claim is an ERROR carrying its message, never a PASS)
or the command line is bad.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (also in worker processes)

from verify import registry  # noqa: E402
from verify.claim import ClaimResult  # noqa: E402

__all__ = [
    "PASS",
    "FAIL",
    "ERROR",
    "RECORD_KEYS",
    "add_arguments",
    "exit_code",
    "main",
    "package_version",
    "record_hash",
    "run_claims",
    "run_one",
    "select_claims",
    "to_jsonable",
    "versions",
    "write_record",
]

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"

_UMASK = os.umask(0)  # read once (os.umask can only be read by setting it)
os.umask(_UMASK)

#: keys every record.json has (ARCHITECTURE.md contract, plus ``summary``)
RECORD_KEYS = (
    "claim", "paper", "statement", "mode", "seed", "params", "measured", "expected",
    "tolerance", "verdict", "elapsed_s", "versions", "summary",
)


class UsageError(ValueError):
    """Bad command-line input (printed as one line, exit code 2)."""


# ---------------------------------------------------------------------------
# versions, hashing, JSON
# ---------------------------------------------------------------------------

def package_version() -> str:
    """Version of the nntheory distribution (installed metadata, else pyproject.toml)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("nntheory")
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib

        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (ImportError, OSError, KeyError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of Python, nntheory and the numerical libraries a record depends on."""
    out = {"python": platform.python_version(), "nntheory": package_version()}
    for name, module in (("numpy", "numpy"), ("scipy", "scipy"), ("sympy", "sympy"),
                         ("mpmath", "mpmath"), ("flint", "flint"),
                         ("matplotlib", "matplotlib")):
        try:
            out[name] = str(__import__(module).__version__)
        except Exception:  # noqa: BLE001 - a missing library is recorded, not fatal
            out[name] = "not installed"
    return out


def to_jsonable(value: Any) -> Any:
    """Convert numpy/mpmath/SymPy values to plain JSON types (non-finite floats
    become the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the file is strict JSON)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalar or array
        return to_jsonable(value.tolist())
    try:  # mpmath / SymPy numbers (claims store high-precision values as strings themselves)
        return to_jsonable(float(value))
    except (TypeError, ValueError):
        return str(value)


def record_hash(claim_id: str, mode: str, params: dict, seed: int,
                version: str | None = None) -> str:
    """16 hex digits of SHA-256 over (claim, mode, params, seed, package version),
    canonical JSON (sorted keys), so equal inputs give equal directories."""
    payload = {
        "claim": claim_id,
        "mode": mode,
        "params": to_jsonable(params),
        "seed": int(seed),
        "version": package_version() if version is None else version,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _atomic_write_bytes(path: Path, writer) -> None:
    """Write via a temporary file in the same directory, then ``os.replace``
    (atomic on POSIX and Windows): readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; records are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_record(record: dict, out_dir: Path | str, figure=None) -> Path:
    """Write ``<out>/<claim>/<hash>/figure.png`` then ``record.json`` atomically
    (the record last, so a record on disk implies its figure is complete).
    Returns the record's directory."""
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"record lacks the contract keys {missing}")
    directory = Path(out_dir) / record["claim"] / record["hash"]
    if figure is not None:
        _atomic_write_bytes(directory / "figure.png",
                            lambda fh: figure.savefig(fh, format="png", dpi=110))
    text = json.dumps(to_jsonable(record), indent=2, sort_keys=False, allow_nan=False) + "\n"
    _atomic_write_bytes(directory / "record.json", lambda fh: fh.write(text.encode()))
    return directory


# ---------------------------------------------------------------------------
# running one claim
# ---------------------------------------------------------------------------

def _base_record(claim: registry.Claim, mode: str, seed: int) -> dict:
    return {
        "claim": claim.id,
        "paper": claim.paper,
        "statement": claim.statement,
        "detects": claim.detects,
        "mode": mode,
        "seed": int(seed),
        "params": {},
        "measured": {},
        "expected": {},
        "tolerance": {"rule": claim.tolerance},
        "verdict": ERROR,
        "elapsed_s": 0.0,
        "versions": versions(),
        "summary": "",
    }


def run_one(claim: registry.Claim, mode: str, seed: int, out_dir: Path | str) -> dict:
    """Compute one claim, write its record and figure, return the record.

    Never raises for a failure inside the claim: any exception becomes an
    ERROR record whose ``error`` holds the message and ``traceback`` the trace.
    """
    record = _base_record(claim, mode, seed)
    figure = None
    start = time.perf_counter()
    try:
        module = claim.load()
        result = module.compute(mode=mode, seed=seed)
        if not isinstance(result, ClaimResult):
            raise TypeError(
                f"compute() of {claim.id} returned {type(result).__name__}, not ClaimResult"
            )
        # only a genuine boolean decides the verdict (np.bool_ included); anything else
        # (None, a number, an array) is a bug in the claim, reported as ERROR
        if type(result.passed).__name__ not in ("bool", "bool_"):
            raise TypeError(f"ClaimResult.passed must be a bool, got {result.passed!r}")
        record.update(
            params=result.params,
            measured=result.measured,
            expected=result.expected,
            tolerance={**result.tolerance, "rule": claim.tolerance},
            verdict=PASS if bool(result.passed) else FAIL,
            summary=result.summary,
        )
        if result.details:
            record["details"] = result.details
        figure = result.figure
    except Exception as exc:  # noqa: BLE001 - every failure of a claim is an ERROR record
        record.update(verdict=ERROR, summary=f"ERROR: {type(exc).__name__}: {exc}",
                      error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    record["elapsed_s"] = round(time.perf_counter() - start, 3)
    record["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    record["hash"] = record_hash(claim.id, mode, record["params"], seed)
    try:
        directory = write_record(record, out_dir, figure)
    except Exception as exc:  # noqa: BLE001 - e.g. an unserializable measured value
        record.update(verdict=ERROR, error=f"writing the record failed: {type(exc).__name__}: "
                      f"{exc}", summary=f"ERROR: cannot write record: {exc}",
                      measured={}, params={}, expected={}, figure_error=True)
        record.pop("details", None)
        directory = write_record(record, out_dir, None)
    finally:
        if figure is not None:
            _close_figure(figure)
    record["record_path"] = str(directory / "record.json")
    return record


def _close_figure(figure) -> None:
    try:
        import matplotlib.pyplot as plt

        plt.close(figure)
    except Exception:  # noqa: BLE001 - a Figure made without pyplot needs no closing
        pass


# ---------------------------------------------------------------------------
# running many claims
# ---------------------------------------------------------------------------

def select_claims(ids: list[str] | None) -> list[registry.Claim]:
    """The claims named by ``ids`` (case-insensitive), all registered ones when empty.
    Raises UsageError listing the valid ids for an unknown one."""
    if not registry.CLAIMS:
        raise UsageError("no claims are registered in verify/registry.py")
    if not ids:
        return list(registry.CLAIMS)
    chosen = []
    for claim_id in ids:
        try:
            claim = registry.get_claim(claim_id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if claim not in chosen:
            chosen.append(claim)
    return chosen


def run_claims(claims: list[registry.Claim], *, mode: str = "quick", seed: int = 0,
               out_dir: Path | str = "runs", jobs: int = 1, progress: bool = True) -> list[dict]:
    """Run ``claims`` and return their records in the order given.

    ``jobs == 1`` runs in this process (one after the other); ``jobs > 1`` uses a
    ``ProcessPoolExecutor`` with that many workers. Records are written by
    whoever ran the claim as soon as it finishes.
    """
    if mode not in ("quick", "full"):
        raise UsageError(f"mode must be 'quick' or 'full', got {mode!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"--jobs must be an integer >= 1, got {jobs!r}")
    from tqdm import tqdm

    out_dir = Path(out_dir)
    results: dict[str, dict] = {}
    bar = tqdm(total=len(claims), desc="verify", unit="claim", file=sys.stderr,
               disable=not progress, leave=False)
    try:
        if jobs == 1:
            for claim in claims:
                bar.set_postfix_str(claim.id)
                results[claim.id] = run_one(claim, mode, seed, out_dir)
                bar.update(1)
        else:
            pool = cf.ProcessPoolExecutor(max_workers=min(jobs, len(claims)),
                                          initializer=_worker_init, initargs=(os.getpid(),))
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                futures = {pool.submit(run_one, c, mode, seed, out_dir): c for c in claims}
                for future in cf.as_completed(futures):
                    claim = futures[future]
                    try:
                        results[claim.id] = future.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker died
                        results[claim.id] = _worker_failure(claim, mode, seed, out_dir, exc)
                    bar.set_postfix_str(claim.id)
                    bar.update(1)
            except BaseException:
                # interrupted (SIGINT / SIGTERM): stop the workers now; their unfinished
                # records leave nothing behind (atomic writes, SystemExit in the worker)
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                signal.signal(signal.SIGTERM, previous)
            pool.shutdown(wait=True)
    finally:
        bar.close()
    return [results[c.id] for c in claims]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_init(parent_pid: int) -> None:
    """In each worker: SIGTERM unwinds (so temporary files are removed), and a watchdog
    ends the worker if its parent disappears (killed with SIGKILL, say)."""
    import threading

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _worker_failure(claim, mode, seed, out_dir, exc) -> dict:
    """ERROR record for a claim whose worker process failed outside ``run_one``."""
    record = _base_record(claim, mode, seed)
    record.update(error=f"worker failed: {type(exc).__name__}: {exc}",
                  summary=f"ERROR: worker failed: {type(exc).__name__}: {exc}")
    record["hash"] = record_hash(claim.id, mode, {}, seed)
    record["record_path"] = str(write_record(record, out_dir) / "record.json")
    return record


def exit_code(records: list[dict]) -> int:
    """2 if any ERROR, else 1 if any FAIL, else 0."""
    verdicts = {r["verdict"] for r in records}
    if ERROR in verdicts:
        return 2
    if FAIL in verdicts:
        return 1
    return 0


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------

def format_table(records: list[dict]) -> str:
    """Plain-text table: claim, paper, measured vs expected, verdict, seconds."""
    header = ("claim", "paper", "measured vs expected", "verdict", "seconds")
    rows = [(r["claim"], r["paper"], r.get("summary", ""), r["verdict"],
             f"{r['elapsed_s']:.1f}") for r in records]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths[2] = min(widths[2], 100)

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            cell = str(cell)
            out.append(cell.rjust(widths[i]) if i == 4 else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def format_details(records: list[dict]) -> str:
    """Per claim: the statement, the tolerance rule and where the record went."""
    lines = []
    for r in records:
        lines.append(f"{r['claim']} [{r['verdict']}] {r['statement']}")
        lines.append(f"    tolerance: {r['tolerance'].get('rule', r['tolerance'])}")
        if r.get("error"):
            lines.append(f"    error: {r['error']}")
        lines.append(f"    record: {r.get('record_path', '?')}")
    return "\n".join(lines)


def format_list(claims: list[registry.Claim]) -> str:
    """``--list``: id, paper, expected runtime (quick/full), statement."""
    lines = []
    for c in claims:
        lines.append(f"{c.id:<6} paper {c.paper:<8} ~{c.runtime_quick_s:.0f} s quick, "
                     f"~{c.runtime_full_s:.0f} s full")
        lines.append(f"       {c.statement}")
        lines.append(f"       detects: {c.detects}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The verify options, shared by ``python -m verify`` and ``nntheory verify``."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small sizes, seconds per claim (default)")
    size.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the sizes the claims are stated at (minutes)")
    parser.set_defaults(mode="quick")
    parser.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                        help="run claims on N worker processes (default 1: in this process)")
    parser.add_argument("--seed", type=_nonnegative_int, default=0, metavar="S",
                        help="root seed of every random draw (default 0)")
    parser.add_argument("--out", default="runs", metavar="DIR",
                        help="directory for records and figures (default runs/)")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    parser.add_argument("--update-papers", action="store_true",
                        help="rewrite the 'Last result' section of papers/*.md from this run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("claims", nargs="*", metavar="claim",
                        help="claim ids (default: all registered), e.g. K1 K2")
    return parser


def int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


_positive_int = int_at_least(1)
_nonnegative_int = int_at_least(0)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_from_args(args: argparse.Namespace, prog: str = "verify") -> int:
    """Execute parsed verify arguments; returns the exit code."""
    try:
        if args.list:
            claims = select_claims(args.claims) if args.claims else list(registry.CLAIMS)
            print(format_list(claims))
            return 0
        claims = select_claims(args.claims)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    records = run_claims(claims, mode=args.mode, seed=args.seed, out_dir=args.out,
                         jobs=args.jobs, progress=not args.no_progress)
    print(format_table(records))
    print()
    print(format_details(records))
    if args.update_papers:
        from verify.papers import update_last_results

        for path in update_last_results(records):
            print(f"updated {path}")
    return exit_code(records)


def main(argv: list[str] | None = None) -> int:
    """``python -m verify ...``; returns the exit code."""
    parser = add_arguments(OneLineParser(
        prog="python -m verify",
        description="Check the claims of the papers in papers/ by computation.",
    ))
    args = parser.parse_args(argv)
    return quiet_pipe_and_interrupt(lambda: run_from_args(args, prog="python -m verify"))


def quiet_pipe_and_interrupt(run) -> int:
    """Run ``run()``; output piped into e.g. ``head`` that closed early is not an error
    (exit 0, no traceback); an interrupt exits with 130 after the workers have stopped."""
    try:
        return run()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished records are in place, unfinished ones left nothing",
              file=sys.stderr)
        return 130
