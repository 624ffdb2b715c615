"""Synthetic sector databases for the demo, the tests and the benchmarks (not part of the product: the
pipeline never imports it, import-linter checks so). Run it with `python -m synthetic seed`."""
