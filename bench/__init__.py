"""Benchmarks of franz-ivan: drain throughput, scale-out, DAG parse cost, producer fan-out.

Each module prints its figures (medians of several runs, each compared with a baseline measured
in the same run) and can be run alone (``python -m bench.drain_throughput``); ``python -m bench``
runs them all and writes the figures to ``bench/results/``. See ``BENCHMARKS.md``.
"""
