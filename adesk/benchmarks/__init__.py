"""Benchmarks: ``python -m adesk.benchmarks quick`` (see ``benchmarks/README.md``)."""
