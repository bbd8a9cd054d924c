"""Measurements that print ratios (run as modules: `python -m benchmarks.<name> [--out FILE]`)."""
