#!/usr/bin/env bash
# Make a separate virtual environment with neural-tangents 0.6.5 on JAX CPU, for
# `python benchmarks/kernels.py --neural-tangents VENV/bin/python` (never a dependency of
# nntheory: it needs numpy < 2, which nntheory's own environment does not have).
#
#   bash benchmarks/make_neural_tangents_env.sh [VENV]     (default /tmp/nt-venv)
#
# Base interpreter: $PYTHON (default python3.11; jaxlib 0.4.23 has wheels for 3.9-3.12).
# neural-tangents imports tensorflow and tf2jax at import time (its experimental TF
# module), so both are installed; tensorflow < 2.16 is the last line built on numpy < 2.
# The same pins made tests/reference/neural_tangents_kernels.json
# (tests/reference/make_neural_tangents_reference.py). Ends by computing a depth-1 ReLU
# kernel with x64 enabled and checking it against that stored reference.
set -euo pipefail

VENV="${1:-/tmp/nt-venv}"
PYTHON="${PYTHON:-python3.11}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
    "neural-tangents==0.6.5" "jax==0.4.23" "jaxlib==0.4.23" \
    "numpy<2" "scipy<1.13" "tensorflow<2.16" "tf2jax==0.3.5"

"$VENV/bin/python" - "$HERE/../tests/reference/neural_tangents_kernels.json" <<'EOF'
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

ref = json.load(open(sys.argv[1]))
case = next(c for c in ref["cases"] if c["activation"] == "relu" and c["hidden_layers"] == 1
            and c["parameterization"] == "ntk")
_, _, kernel_fn = stax.serial(stax.Dense(512, W_std=ref["W_std"], b_std=ref["b_std"]),
                              stax.Relu(),
                              stax.Dense(1, W_std=ref["W_std"], b_std=ref["b_std"]))
k = kernel_fn(jnp.asarray(ref["x1"], dtype=jnp.float64), None, ("nngp", "ntk"))
assert k.ntk.dtype == jnp.float64, k.ntk.dtype
err = float(np.max(np.abs(np.asarray(k.ntk) - np.asarray(case["ntk_x1_x1"]))))
assert err < 1e-12, err
print(f"neural-tangents {nt.__version__}, jax {jax.__version__}, numpy {np.__version__}, "
      f"x64 on, devices {jax.devices()}; depth-1 ReLU NTK matches the stored reference "
      f"(max abs diff {err:.1e})")
EOF
echo "ready: $VENV/bin/python"
