"""Exact and arbitrary-precision mathematics of neural networks (SymPy + mpmath only).

Never imports ``numerics`` or ``verify``; no NumPy arrays, no SciPy. Modules import
only modules below them, in the order (lowest first; ``tests/test_layers.py``
enforces it, imports inside functions included)::

    symbols, arithmetic -> special -> gaussian -> activations -> dual -> recursions
    -> fixedpoints -> odes -> latex

This package module imports nothing from ``theory``.
"""
