"""Benchmarks and the synthetic national data set they run on (issue 7)."""
