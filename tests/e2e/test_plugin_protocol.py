"""Every command × every spec version, through the installed binary."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Node

VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
BDF = "0000:44:00.0"


def _nic(node: Node) -> None:
    node.add_nic("enp68s0", BDF, addrs=("55.1.1.56/24", "fd00::5/64 nodad"))


@pytest.mark.parametrize("version", VERSIONS)
def test_version_command(node: Node, version: str) -> None:
    r = node.run("VERSION", {"cniVersion": version})
    assert r.ok, r.stdout
    assert r.out is not None and set(VERSIONS) <= set(r.out["supportedVersions"])
    assert r.out["cniVersion"] == version


@pytest.mark.parametrize("version", VERSIONS)
def test_add_check_del_in_every_version(node: Node, version: str) -> None:
    _nic(node)
    pod = node.add_pod()
    conf = node.conf(cniVersion=version, deviceID=BDF, rdma="skip")
    r = node.run("ADD", conf, netns=node.pod_path(pod))
    assert r.ok, r.stdout + r.stderr
    assert r.out is not None and r.out["cniVersion"] == version
    if version in ("0.1.0", "0.2.0"):
        assert r.out["ip4"]["ip"] == "55.1.1.56/24" and r.out["ip6"]["ip"] == "fd00::5/64"
        assert "interfaces" not in r.out
    else:
        iface = r.out["interfaces"][0]
        assert iface["name"] == "enp68s0" and iface["sandbox"] == node.pod_path(pod)
        assert [ip["address"] for ip in r.out["ips"]] == ["55.1.1.56/24", "fd00::5/64"]
        has_version = version in ("0.3.0", "0.3.1", "0.4.0")
        assert all(("version" in ip) == has_version for ip in r.out["ips"])
        assert ("pciID" in iface) == (version == "1.1.0")
    assert node.has_link("enp68s0", pod) and not node.has_link("enp68s0")

    check = node.run("CHECK", conf | {"prevResult": r.out}, netns=node.pod_path(pod))
    if version in ("0.4.0", "1.0.0", "1.1.0"):
        assert check.ok, check.stdout
    else:
        assert check.code != 0 and check.out is not None and check.out["code"] == 1

    d = node.run("DEL", conf, netns=node.pod_path(pod))
    assert d.ok and d.stdout == "", d.stdout + d.stderr
    assert node.has_link("enp68s0") and not node.has_link("enp68s0", pod)
    assert node.state_files() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_status_and_gc_need_1_1_0(node: Node, version: str) -> None:
    for command in ("STATUS", "GC"):
        r = node.run(command, node.conf(cniVersion=version, **{"cni.dev/valid-attachments": []}))
        if version == "1.1.0":
            assert r.ok, r.stdout
        else:
            assert r.out is not None and r.out["code"] == 1, r.stdout


def test_status_reports_unusable_state_dir(node: Node) -> None:
    blocker = node.work / "not-a-dir"
    blocker.write_text("x")
    assert node.settings is not None
    node.settings["stateDir"] = str(blocker)  # the node's state dir is unusable
    r = node.run("STATUS", node.conf(cniVersion="1.1.0"))
    assert r.out is not None and r.out["code"] == 50, r.stdout


def test_errors_are_json_on_stdout_and_logs_on_stderr(node: Node) -> None:
    r = node.run("ADD", b"{not json", netns="/run/netns/none")
    assert r.code != 0 and r.out is not None and r.out["code"] == 6
    assert "Traceback" not in r.stdout + r.stderr
