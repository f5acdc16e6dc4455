"""Test-only crash points at the step boundaries of ADD and DEL (not shipped in the node bundle).

Fault-injection tests need the plugin to fail, or die by SIGKILL, between two steps. That must be
unreachable in normal operation, so a point fires only when ALL of these hold:

* ``HOSTDEV_TEST_FAULT=<point>:<action>[,<point>:<action>...]`` is in the environment (action
  ``fail``, ``kill``, or ``stop``: SIGSTOP, so a test can act while the call holds its locks and
  then let it go on with SIGCONT);
* a regular, root-owned file sits at the fixed path :data:`MARKER` — a node's ``/etc``, which no
  network configuration can name (tests lay it over ``/etc`` in the plugin's own mount
  namespace, or write it in a VM guest's throwaway root);
* this module is there at all: the node bundle is built without it
  (``bundle/assemble.py``), so there a crash point never fires whatever the environment says.

:func:`hostdev.cni.attachment.crash_point` imports this module only when the variable is set.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from signal import SIGKILL, SIGSTOP
else:  # the C module, loaded with the interpreter: `signal` itself builds enums at import
    from _signal import SIGKILL, SIGSTOP

MARKER = "/etc/cni/amd-host-device.test-faults"

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
# Where an undo starts (ADD's rollback and DEL alike): arming one makes that undo fail.
UNDO_POINTS = ("undo:netdev",)


class InjectedFault(Exception):
    """Raised at a crash point armed with ``fail``."""


def fire(point: str, spec: str) -> None:
    """Act on ``point`` if ``spec`` arms it and the marker is in place."""
    for armed in spec.split(","):
        name, _, action = armed.rpartition(":")
        if name != point or not _enabled():
            continue
        if action == "kill":
            os.kill(os.getpid(), SIGKILL)
        if action == "stop":
            os.kill(os.getpid(), SIGSTOP)
        if action == "fail":
            raise InjectedFault(f"injected failure at {point}")


def _enabled() -> bool:
    import stat

    try:
        st = os.stat(MARKER, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == 0
