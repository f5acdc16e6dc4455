"""Crash points at the step boundaries of ADD and DEL, for fault-injection tests.

A point does nothing unless ``HOSTDEV_TEST_FAULT`` is set; then the test-only
:mod:`hostdev.cni.fault_injection` decides (its marker at a fixed root-owned path must be there
too). The node bundle ships without that module, so there no point ever fires. The common path
costs one environment lookup.
"""

from __future__ import annotations

import os

ENV = "HOSTDEV_TEST_FAULT"


def crash_point(point: str) -> None:
    spec = os.environ.get(ENV)
    if spec:
        try:
            from hostdev.cni import fault_injection
        except ImportError:  # the node bundle: built without it
            return
        fault_injection.fire(point, spec)
