"""Benchmarks of ntrvsta-async against hand-written aiohttp baselines (``python -m benchmarks``)."""
