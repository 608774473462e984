"""Benchmarks of the assistant: `python -m bench` (see docs/performance.md)."""
