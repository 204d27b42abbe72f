"""Fresh-process measurements for ``benchmarks/kernels.py`` (one JSON line on stdout).

    python benchmarks/kernels_child.py first-call ACTIVATION N
        import time of numerics.kernels, then the first and a second
        ``nngp_ntk`` of RandomState(0).randn(N, 50) in this process (the first one pays
        for code generation and compilation unless $NNTHEORY_CACHE_DIR already has it)
    python benchmarks/kernels_child.py memory ACTIVATION N
        resident memory before the call (VmRSS) and the peak after it (ru_maxrss),
        for one ``nngp_ntk`` of RandomState(0).randn(N, 50); the peak is reset just
        before the call (``5`` written to /proc/self/clear_refs, Linux >= 4.0), so that
        the import and code generation, whose memory is freed, do not count

Settings as in kernels.py: hidden_layers=3, sigma_w=1.5, sigma_b=0.1.
"""

import gc
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

KW = dict(hidden_layers=3, sigma_w=1.5, sigma_b=0.1)
D = 50


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def first_call(activation, n):
    t0 = time.perf_counter()
    import numpy as np

    from numerics import kernels
    t_import = time.perf_counter() - t0
    x = np.random.RandomState(0).randn(n, D)
    t0 = time.perf_counter()
    kernels.nngp_ntk(x, activation=activation, **KW)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    kernels.nngp_ntk(x, activation=activation, **KW)
    t_second = time.perf_counter() - t0
    return {"import": t_import, "first": t_first, "second": t_second}


def memory(activation, n):
    import numpy as np

    from numerics import kernels
    x = np.random.RandomState(0).randn(n, D)
    kernels.nngp_ntk(x[:4], activation=activation, **KW)  # generated code loaded first
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        peak_reset = True
    except OSError:  # the peak then includes the import: an upper bound
        peak_reset = False
    before = rss_bytes()
    t0 = time.perf_counter()
    K, T = kernels.nngp_ntk(x, activation=activation, **KW)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"before": before, "peak": peak, "outputs": K.nbytes + T.nbytes,
            "seconds": seconds, "peak_reset": peak_reset}


if __name__ == "__main__":
    mode, act, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps({"first-call": first_call, "memory": memory}[mode](act, n)))
