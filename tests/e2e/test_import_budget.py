"""The plugin's import budget per command: a regression guard on what each exec imports.

Start-up is most of a CNI call's cost and every module is paid on every pod event, so the
number of modules VERSION, ADD and DEL import is held under a ceiling, and the modules that
the start-up work removed (typing, enum, re, json, collections, socket, ...) must stay out.
Counts, not times: they are exact on any machine. The installed launcher runs with
``-X importtime`` on a stand-in NIC; every module the interpreter imports after its own start-up
(from ``cni_main`` on) counts.

Raising a ceiling is a decision, not a fix: say in the commit which module and why, and what
it costs (``python -m benchmarks --parts cni`` shows it per command).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.harness import Node

pytestmark = pytest.mark.e2e

# ADD +2, DEL +1 (issue 16): hostdev.cni.node_settings (every command but VERSION: the node, not a
# NAD, decides where files go) and hostdev.cni.node_protection (ADD: refuse the NICs the node
# needs); ~0.1-0.2 ms each under -X importtime.
# ADD -1, DEL -2 (issue 14): the crash points live in hostdev.cni.attachment (hostdev.cni.faults
# is gone), and DEL's ceiling had one to spare. Then ADD and DEL +1: the built-in gc, to switch
# the cyclic collector off (~2 ms of collections per ADD that find nothing; importing it ~10 us).
CEILINGS = {"VERSION": 10, "ADD": 67, "DEL": 57}
FORBIDDEN = {
    "typing", "enum", "re", "json", "dataclasses", "collections", "collections.abc", "socket", "selectors",
    "contextlib", "functools", "signal", "ipaddress", "inspect", "logging", "pycparser", "cffi",
}  # fmt: skip
_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def imported(stderr: str) -> list[str]:
    """Modules imported from the entry script on, in the order their imports finished."""
    names = [m.group(1) for m in map(_LINE.match, stderr.splitlines()) if m]
    first = next((i for i, name in enumerate(names) if name in ("__future__", "cni_main")), len(names))
    return names[first:]


@pytest.fixture
def counting_node(plugin: Path, tmp_path: Path) -> Iterator[Node]:
    lines = plugin.read_text(errors="replace").splitlines(keepends=True)
    if not lines or not lines[0].startswith("#!") or "hostdev-launcher" not in "".join(lines[:2]):
        pytest.skip(f"{plugin} is not a hostdev launcher (a bundle): its imports are not Python's to count")
    interpreter, _, flags = lines[0][2:].strip().partition(" ")
    variant = tmp_path / "amd-host-device"
    variant.write_text(f"#!{interpreter} {flags}Ximporttime\n" + "".join(lines[1:]))
    variant.chmod(0o755)
    node = Node(variant)
    try:
        yield node
    finally:
        node.cleanup()


def test_version_add_and_del_stay_within_their_import_budget(counting_node: Node) -> None:
    node = counting_node
    node.add_nic("enp5s0f0", "0000:05:00.0", addrs=("192.0.2.10/24", "2001:db8:5::10/64"))
    node.ip("route add 198.51.100.0/24 via 192.0.2.1 dev enp5s0f0")
    pod = node.add_pod()
    conf = node.conf(pciBusID="0000:05:00.0", cniVersion="1.0.0")
    runs = {
        "VERSION": node.run("VERSION", {"cniVersion": "1.0.0"}),
        "ADD": node.run("ADD", conf, netns=node.pod_path(pod)),
        "DEL": node.run("DEL", conf, netns=node.pod_path(pod)),
    }
    report = []
    for command, result in runs.items():
        assert result.ok, f"{command}: {result.stdout} {result.stderr[-2000:]}"
        modules = imported(result.stderr)
        assert modules, f"{command}: no -X importtime output"
        banned = sorted(FORBIDDEN & set(modules))
        assert not banned, f"{command} imports {banned} again (see the module docstring)"
        if len(modules) > CEILINGS[command]:
            report.append(f"{command}: {len(modules)} modules > ceiling {CEILINGS[command]}: {modules}")
    assert not report, "\n".join(report)
