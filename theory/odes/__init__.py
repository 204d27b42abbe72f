"""Reduced ODEs of training dynamics (SymPy only): :mod:`theory.odes.base`
(:class:`~theory.odes.base.ReducedODE`, :class:`~theory.odes.base.ParticleODE`),
:mod:`theory.odes.single_index` (paper 000) and :mod:`theory.odes.saad_solla`
(erf soft committee machines)."""
