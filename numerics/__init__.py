"""Fast float64 (and multi-precision) evaluation: kernels, quadrature, simulators.

No SymPy at call time: expressions from ``theory`` are compiled once in
``numerics.compile``.
"""
