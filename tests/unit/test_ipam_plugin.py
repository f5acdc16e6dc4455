"""The real IPAM plugins of Debian's containernetworking-plugins, driven through IpamPlugin.

No root and no namespaces needed: host-local and static only read their configuration and
(host-local) write its allocation files, here in a private dataDir. What the pod then gets is
the e2e tier's business (tests/e2e/test_ipam.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hostdev.cni.errors import CniError
from hostdev.cni.ipam import IpamPlugin
from hostdev.cni.results import DNS, IPConfig, Route, format_result
from tests.unit.host_local import IPAM_BIN, allocations, host_local

NETWORK = "amd-host-device-nad-vnic"


@pytest.fixture(autouse=True)
def _plugins_installed() -> None:
    for name in ("host-local", "static"):
        assert (IPAM_BIN / name).is_file(), f"{IPAM_BIN / name} missing: scripts/bootstrap.sh installs containernetworking-plugins"


def conf(version: str, ipam: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"cniVersion": version, "name": NETWORK, "type": "amd-host-device", "ipam": ipam, **extra}


def plugin(config: dict[str, Any], container_id: str = "c1", ifname: str = "net1") -> IpamPlugin:
    environ = {"PATH": "/usr/bin:/bin", "CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname, "CNI_NETNS": "/run/netns/p", "CNI_PATH": str(IPAM_BIN)}
    return IpamPlugin(
        config["ipam"]["type"], cni_path=("/nonexistent", str(IPAM_BIN)), stdin=json.dumps(config).encode(),
        cni_version=config["cniVersion"], timeout_s=30, environ=environ,
    )  # fmt: skip


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_host_local_result_in_every_version_it_speaks(tmp_path: Path, version: str) -> None:
    ipam = host_local(tmp_path, routes=[{"dst": "0.0.0.0/0"}, {"dst": "10.99.0.0/16", "gw": "10.7.0.254"}], gateway="10.7.0.1")
    result = plugin(conf(version, ipam)).add()
    assert result.ips == (IPConfig("10.7.0.2/24", "10.7.0.1"),)
    assert result.routes == (Route("0.0.0.0/0"), Route("10.99.0.0/16", "10.7.0.254"))
    assert allocations(tmp_path, NETWORK) == {"10.7.0.2": ("c1", "net1")}
    # 0.1.0/0.2.0 came back as ip4 blocks and are now in the current shape.
    assert format_result("1.0.0", result)["ips"] == [{"address": "10.7.0.2/24", "gateway": "10.7.0.1"}]


def test_host_local_dual_stack_and_release(tmp_path: Path) -> None:
    ipam = {"type": "host-local", "dataDir": str(tmp_path), "ranges": [[{"subnet": "10.7.0.0/24"}], [{"subnet": "fd00:7::/64"}]]}
    first = plugin(conf("1.0.0", ipam), "c1").add()
    second = plugin(conf("1.0.0", ipam), "c2").add()
    assert [ip.address for ip in first.ips] == ["10.7.0.2/24", "fd00:7::2/64"]
    assert [ip.address for ip in second.ips] == ["10.7.0.3/24", "fd00:7::3/64"]
    assert set(allocations(tmp_path, NETWORK)) == {"10.7.0.2", "10.7.0.3", "fd00:7::2", "fd00:7::3"}
    plugin(conf("1.0.0", ipam), "c1").delete()
    plugin(conf("1.0.0", ipam), "c1").delete()  # again: still success
    assert allocations(tmp_path, NETWORK) == {"10.7.0.3": ("c2", "net1"), "fd00:7::3": ("c2", "net1")}


def test_host_locals_own_error_is_ours(tmp_path: Path) -> None:
    ipam = host_local(tmp_path, subnet="10.7.0.0/30")  # one usable address besides the gateway
    plugin(conf("0.3.1", ipam), "c1").add()
    with pytest.raises(CniError) as info:
        plugin(conf("0.3.1", ipam), "c2").add()
    assert info.value.code == 999  # what host-local itself says, not a code of ours
    assert "no IP addresses available in range set" in info.value.msg


def test_host_local_refuses_a_version_it_does_not_speak_and_that_is_ours_too(tmp_path: Path) -> None:
    with pytest.raises(CniError) as info:
        plugin(conf("1.1.0", host_local(tmp_path))).add()
    assert info.value.code == 1 and info.value.msg == "incompatible CNI versions"


def test_static_gets_multus_ips_capability_through_runtime_config() -> None:
    ipam = {"type": "static", "capabilities": {"ips": True}, "routes": [{"dst": "10.10.0.0/16", "gw": "10.9.0.1"}], "dns": {"nameservers": ["10.9.0.53"], "search": ["pod.example"]}}
    config = conf("1.0.0", ipam, runtimeConfig={"ips": ["10.9.0.5/24", "fd00:9::5/64"], "mac": "02:00:00:00:00:05"})
    result = plugin(config).add()
    assert result.ips == (IPConfig("10.9.0.5/24"), IPConfig("fd00:9::5/64"))
    assert result.routes == (Route("10.10.0.0/16", "10.9.0.1"),)
    assert result.dns == DNS(nameservers=("10.9.0.53",), search=("pod.example",))
    # CHECK needs the ADD's result as prevResult (SPEC.md: the runtime always passes it).
    plugin(config | {"prevResult": format_result("1.0.0", result)}).check()
    plugin(config).delete()
