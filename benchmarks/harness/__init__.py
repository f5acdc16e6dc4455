"""The benchmark harness, shared by every scenario: clocks, round-robin runner, statistics,
machine description, throwaway namespaces, tables, plots and result files.

A scenario module supplies implementations (objects with ``name`` and ``run(clock)``, ticking
``clock.lap(op)`` after each operation) and a fixture check; the harness does the rest.
"""
