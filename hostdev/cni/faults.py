"""Test-only crash points at the step boundaries of ADD and DEL.

Fault-injection tests need the plugin to fail, or die by SIGKILL, between two steps. That must be
unreachable in normal operation, so a point fires only when BOTH are present:

* ``HOSTDEV_TEST_FAULT=<point>:<action>`` in the environment (action ``fail`` or ``kill``), and
* a regular, root-owned file ``.test-faults-enabled`` in the plugin's state directory, which
  only a test that owns that directory creates.

The common path costs one dictionary lookup.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from signal import SIGKILL
else:  # the C module, loaded with the interpreter: `signal` itself builds enums at import
    from _signal import SIGKILL

ENV = "HOSTDEV_TEST_FAULT"
MARKER = ".test-faults-enabled"

ADD_POINTS = (
    "add:after-lock",
    "add:after-state",
    "add:after-netdev-move",
    "add:after-sysctls",
    "add:after-rdma-move",
    "add:after-addresses",
    "add:before-result",
)
# Reached only with an ``ipam`` section: kept apart so tests without IPAM can arm every point above.
IPAM_ADD_POINTS = ("add:after-ipam-add", "add:after-ipam")
IPAM_DEL_POINTS = ("del:after-ipam-del",)
DEL_POINTS = (
    "del:after-lock",
    "del:after-rdma-move",
    "del:after-netdev-move",
    "del:after-addresses",
    "del:before-state-delete",
)


class InjectedFault(Exception):
    """Raised at a crash point armed with ``fail``."""


def crash_point(point: str, state_dir: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    armed, _, action = spec.rpartition(":")
    if armed != point or not _enabled(state_dir):
        return
    if action == "kill":
        os.kill(os.getpid(), SIGKILL)
    if action == "fail":
        raise InjectedFault(f"injected failure at {point}")


def _enabled(state_dir: str) -> bool:
    import stat

    try:
        st = os.stat(os.path.join(state_dir, MARKER), follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == 0
