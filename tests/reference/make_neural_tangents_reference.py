"""Regenerate tests/reference/neural_tangents_kernels.json (NOT run by pytest).

Run in a separate environment (never a dependency of nntheory):

    python -m venv /tmp/ntvenv
    /tmp/ntvenv/bin/pip install neural-tangents==0.6.5 jax==0.4.23 jaxlib==0.4.23 \
        'numpy<2' 'scipy<1.13'
    /tmp/ntvenv/bin/python tests/reference/make_neural_tangents_reference.py

It evaluates neural-tangents' analytic ``kernel_fn`` (x64 enabled) for
``stax.serial(*[Dense(512, W_std, b_std, parameterization=p), Act()] * L,
Dense(1, W_std, b_std, parameterization=p))`` on fixed inputs and stores the values
with the versions used.
"""

import datetime
import inspect
import json
import pathlib
import platform

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from neural_tangents import stax  # noqa: E402

X1 = [
    [0.3, -1.2, 0.5],
    [1.1, 0.4, -0.7],
    [-0.6, 0.9, 1.3],
    [0.0, 0.2, -0.1],
    [2.0, -0.5, 0.8],
]
X2 = [
    [-1.0, 0.5, 0.25],
    [0.3, -1.2, 0.5],
    [0.7, 0.7, 0.7],
]
W_STD, B_STD, WIDTH = 1.5, 0.1, 512
ACTIVATIONS = {"relu": stax.Relu, "erf": stax.Erf, "gelu": lambda: stax.Gelu(approximate=False)}


def network(act, hidden_layers, parameterization):
    layers = []
    for _ in range(hidden_layers):
        layers += [stax.Dense(WIDTH, W_std=W_STD, b_std=B_STD,
                              parameterization=parameterization), ACTIVATIONS[act]()]
    layers.append(stax.Dense(1, W_std=W_STD, b_std=B_STD, parameterization=parameterization))
    return stax.serial(*layers)


def main():
    x1 = jnp.asarray(X1, dtype=jnp.float64)
    x2 = jnp.asarray(X2, dtype=jnp.float64)
    cases = []
    for parameterization in ("ntk", "standard"):
        for act in ACTIVATIONS:
            for hidden_layers in (1, 3):
                if parameterization == "standard" and hidden_layers == 3:
                    continue
                _, _, kernel_fn = network(act, hidden_layers, parameterization)
                k11 = kernel_fn(x1, None, ("nngp", "ntk"))
                k12 = kernel_fn(x1, x2, ("nngp", "ntk"))
                assert k11.nngp.dtype == jnp.float64
                cases.append({
                    "activation": act,
                    "hidden_layers": hidden_layers,
                    "parameterization": parameterization,
                    "width": WIDTH,
                    "nngp_x1_x1": np.asarray(k11.nngp).tolist(),
                    "ntk_x1_x1": np.asarray(k11.ntk).tolist(),
                    "nngp_x1_x2": np.asarray(k12.nngp).tolist(),
                    "ntk_x1_x2": np.asarray(k12.ntk).tolist(),
                })
    record = {
        "provenance": {
            "generator": "tests/reference/make_neural_tangents_reference.py",
            "date": datetime.date.today().isoformat(),
            "neural_tangents": nt.__version__,
            "jax": jax.__version__,
            "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else "0.4.23",
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
            "x64": bool(jax.config.read("jax_enable_x64")),
            "stax_code": inspect.getsource(network),
            "call": "kernel_fn(x1, x2_or_None, ('nngp', 'ntk'))",
        },
        "W_std": W_STD,
        "b_std": B_STD,
        "x1": X1,
        "x2": X2,
        "cases": cases,
    }
    out = pathlib.Path(__file__).with_name("neural_tangents_kernels.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
