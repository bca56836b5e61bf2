"""Reproducible benchmarks; see bench/README.md. Run one with `python -m bench.<name>`."""
