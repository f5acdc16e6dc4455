"""Which name the device gets in the pod (hostdev.cni.pod_interface)."""

from __future__ import annotations

import pytest

from hostdev.cni.config import PluginConfig, parse_plugin_config
from hostdev.cni.pod_interface import is_kubernetes_pod_network, renames_to_ifname
from hostdev.cni.protocol import CniEnv, parse_cni_args

CONTAINERD_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=u1"
MULTUS_ARGS = "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=u1"


def _env(ifname: str, args: str) -> CniEnv:
    return CniEnv("ADD", "c0ffee", "/var/run/netns/cni-1", ifname, parse_cni_args(args), ("/opt/cni/bin",))


def _conf(**extra: object) -> PluginConfig:
    conf = {"cniVersion": "0.3.1", "name": "amd-host-device-nad-nic", "type": "amd-host-device", "deviceID": "0000:44:00.0"}
    return parse_plugin_config(conf | extra, "ADD")


@pytest.mark.parametrize(
    ("ifname", "args", "primary"),
    [
        ("eth0", CONTAINERD_ARGS, True),  # containerd / CRI-O: the pod's own network
        ("eth0", MULTUS_ARGS, True),  # Multus: the cluster's default network
        ("net1", MULTUS_ARGS, False),  # Multus: an additional network
        ("eth1", CONTAINERD_ARGS, False),  # containerd: a second network of the pod
        ("eth0", "IgnoreUnknown=1;K8S_POD_NAME=web", False),  # podman: eth0 too, a name for dnsname
        ("eth0", "", False),
        ("eth0", "IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID=", False),  # an empty sandbox ID is none
        ("eth0", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web", False),
    ],
)
def test_kubernetes_pod_network(ifname: str, args: str, primary: bool) -> None:
    env = _env(ifname, args)
    assert is_kubernetes_pod_network(env) is primary
    assert renames_to_ifname(_conf(), env) is primary


@pytest.mark.parametrize("ifname, args", [("eth0", CONTAINERD_ARGS), ("net1", MULTUS_ARGS), ("eth0", "")])
@pytest.mark.parametrize("setting", [True, False])
def test_the_option_decides_alone_when_set(ifname: str, args: str, setting: bool) -> None:
    assert renames_to_ifname(_conf(renameToIfname=setting), _env(ifname, args)) is setting


def test_null_option_is_unset() -> None:
    assert renames_to_ifname(_conf(renameToIfname=None), _env("eth0", CONTAINERD_ARGS)) is True
