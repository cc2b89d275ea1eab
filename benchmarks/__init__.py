"""aicache benchmarks: ``python -m benchmarks <suite> [options]``; see benchmarks/__main__.py."""
