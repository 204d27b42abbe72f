"""Exact and arbitrary-precision mathematics of neural networks (SymPy + mpmath only).

Never imports ``numerics`` or ``verify``; no NumPy arrays, no SciPy.
"""
