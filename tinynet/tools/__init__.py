"""Tools around models: the gradient checker and its case list, the benchmark and per-layer
profiler, and plots (matplotlib, the ``plot`` extra)."""
