"""neural-tangents side of ``benchmarks/kernels.py`` (run by it in the neural-tangents
virtual environment made by ``benchmarks/make_neural_tangents_env.sh``; imports nothing
from nntheory).

    PYTHON benchmarks/neural_tangents_timings.py SPEC.json

SPEC.json: ``{"repeat": R, "out_dir": DIR, "jobs": [{"name", "activation", "inputs",
"numerical_deg"}]}``; ``inputs`` is an ``.npy`` file of the (n, d) points written by
the caller, so both sides see the same floats.  For each job it builds (x64 enabled)

    stax.serial(*[Dense(512, W_std=1.5, b_std=0.1), Act()] * 3, Dense(1, W_std=1.5, b_std=0.1))

with Act = Relu / Erf / Gelu(approximate=False), or
``ElementwiseNumerical(fn, deg=numerical_deg)`` when ``numerical_deg`` is set (fn =
``jax.nn.elu``), jits ``kernel_fn`` (``static_argnames='get'``), calls
``kernel_fn(x, None, ('nngp', 'ntk'))`` once as warm-up (compilation) and then R times,
blocking on both outputs, and writes both Grams to ``DIR/<name>.npz``.  Prints one JSON
object: versions, devices, thread settings, and per job ``{"seconds": best, "runs": [...],
"warmup": t}`` or ``{"error": message}`` (e.g. out of memory).
"""

import json
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

W_STD, B_STD, WIDTH, HIDDEN_LAYERS = 1.5, 0.1, 512, 3
ACTIVATIONS = {"relu": stax.Relu, "erf": stax.Erf, "gelu": lambda: stax.Gelu(approximate=False)}
NUMERICAL_FNS = {"elu": jax.nn.elu}


def network(activation, numerical_deg):
    def act():
        if numerical_deg is not None:
            return stax.ElementwiseNumerical(NUMERICAL_FNS[activation], deg=numerical_deg)
        return ACTIVATIONS[activation]()

    layers = []
    for _ in range(HIDDEN_LAYERS):
        layers += [stax.Dense(WIDTH, W_std=W_STD, b_std=B_STD), act()]
    layers.append(stax.Dense(1, W_std=W_STD, b_std=B_STD))
    return stax.serial(*layers)


def run_job(job, repeat, out_dir):
    x = jnp.asarray(np.load(job["inputs"]), dtype=jnp.float64)
    _, _, kernel_fn = network(job["activation"], job.get("numerical_deg"))
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")

    def call():
        k = kernel_fn(x, None, ("nngp", "ntk"))
        k.nngp.block_until_ready()
        k.ntk.block_until_ready()
        return k

    t0 = time.perf_counter()
    k = call()
    warmup = time.perf_counter() - t0
    assert k.ntk.dtype == jnp.float64, k.ntk.dtype
    np.savez(os.path.join(out_dir, job["name"] + ".npz"), nngp=np.asarray(k.nngp),
             ntk=np.asarray(k.ntk))
    del k
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        runs.append(time.perf_counter() - t0)
    return {"seconds": min(runs), "runs": runs, "warmup": warmup}


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = {}
    for job in spec["jobs"]:
        try:
            results[job["name"]] = run_job(job, spec["repeat"], spec["out_dir"])
        except Exception as exc:  # reported to the caller, who prints it in the table
            results[job["name"]] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    print(json.dumps({
        "versions": {"neural_tangents": nt.__version__, "jax": jax.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "x64": bool(jax.config.read("jax_enable_x64")),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "results": results,
    }))


if __name__ == "__main__":
    main()
