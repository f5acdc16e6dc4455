"""hostdev benchmarks (not shipped; needs root and the ``bench`` extra: pyroute2, matplotlib).

``python -m benchmarks`` (or ``python benchmarks/run.py``) runs every scenario and writes
``benchmarks/results/``; ``--quick --out DIR`` is the smoke run CI executes.

Layout: ``benchmarks/harness/`` is scenario-agnostic (clocks, interleaving, stats, tables,
plots, result files, throwaway namespaces); each scenario is a package of its own:

- ``benchmarks/move/``: in-process move latency of one NIC (snapshot, move, apply, move back,
  restore) for hostdev, a raw-socket floor, pyroute2, ``ip`` per step and ``ip -batch``.

Planned: the CNI binary end to end against the reference Go host-device plugin, and scale
(1..64 devices per pod).
"""
