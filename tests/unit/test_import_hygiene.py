"""What the plugin may import at run time, module by module, including the paths the e2e import
budget (tests/e2e/test_import_budget.py) cannot drive on this machine: RDMA, CHECK, GC.

Each of these heavy stdlib modules cost a plugin exec milliseconds and none is needed at run time
(typing only for the type checker, _json instead of json, _socket instead of socket, ...)."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = (
    "typing", "enum", "re", "json", "dataclasses", "collections", "socket", "selectors", "contextlib",
    "functools", "signal", "ipaddress", "inspect", "logging", "pycparser", "cffi",
)  # fmt: skip

PLUGIN_PATHS = {
    "entry": ["cni_main", "hostdev.cni.plugin", "hostdev.cni.versions"],
    "ADD": ["hostdev.cni.protocol", "hostdev.cni.config", "hostdev.cni.add", "hostdev.cni.result_json", "hostdev.cni.results"],
    "DEL/GC": ["hostdev.cni.detach"],
    "CHECK/STATUS": ["hostdev.cni.check"],
    "RDMA": ["hostdev.rdma", "hostdev._netlink.rdma_codec", "hostdev.rdma_errors"],
    "netns": ["hostdev.netns", "hostdev._netns_ffi"],
    "IPAM": ["hostdev.cni.ipam", "hostdev.cni.ipam_step", "hostdev.cni.ipam_result", "hostdev.cni.delegate", "hostdev.addressing"],
}


@pytest.mark.parametrize("path", sorted(PLUGIN_PATHS))
def test_the_plugins_modules_import_no_heavy_stdlib_module(path: str) -> None:
    code = (f"import sys; sys.path[:0] = {sys.path!r}\n"
            + "".join(f"import {module}\n" for module in PLUGIN_PATHS[path])
            + f"print(' '.join(sorted(set({FORBIDDEN!r}) & set(sys.modules))))")  # fmt: skip
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [], f"{path} imports {done.stdout.split()}"
