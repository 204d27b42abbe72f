"""Claims of the papers, checked by computation: one module per claim plus the runner."""
