"""hostdev benchmarks (not shipped; needs root and the ``bench`` extra: pyroute2, matplotlib).

``python -m benchmarks`` (or ``python benchmarks/run.py``) runs every scenario and writes
``benchmarks/results/``; ``--quick --out DIR`` is the smoke run CI executes.

Layout: ``benchmarks/harness/`` is scenario-agnostic (clocks, interleaving, stats, tables,
plots, the reports' shared skeleton, result files, throwaway namespaces); each scenario is a package of its own:

- ``benchmarks/move/``: in-process move latency of one NIC (snapshot, move, apply, move back,
  restore) for hostdev, a raw-socket floor, pyroute2, ``ip`` per step and ``ip -batch``.
- ``benchmarks/cni/``: the installed ``amd-host-device`` ADD+DEL cycle and VERSION exec against
  Debian's Go ``host-device``, with where the milliseconds go.
- ``benchmarks/scale/``: 1..64 devices per pod and 1..8 plugin processes in parallel.
"""
