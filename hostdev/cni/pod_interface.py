"""The name a moved device gets in the pod: its host name, or ``CNI_IFNAME``.

The seed keeps the host's name ("Interface Name Retention"), and that is right wherever the
caller reads the result by index: Multus for an additional network (``net1``...), which lists
the IPs our result indexes to our interface in the pod's network-status, and podman.

It is wrong for a Kubernetes pod's own network. containerd's CRI plugin (1.6, through go-cni)
files each result IP under the name of the interface it is indexed to and takes the pod IP
only from the interface it asked for, ``eth0``: with the NIC under its host name it finds no IP,
fails RunPodSandbox ("failed to find network info for sandbox") and calls DEL. Chained plugins
that look the interface up by ``CNI_IFNAME`` (``sbr``, ``tuning``) fail the same way. So when
the plugin provides that interface, the NIC is renamed to it, as upstream host-device always
does and AMD's plugin does there. Leaving IPs unindexed instead would satisfy go-cni (it files them under
``eth0``) but not the chained plugins, and would leave the pod without an ``eth0``.

"A Kubernetes pod's own network" is read from what such a caller passes: ``CNI_IFNAME`` is
``eth0`` (containerd's and CRI-O's name for it, and the name Multus gives the cluster's default
network, whose result it hands back to the runtime) and ``CNI_ARGS`` carries the pod sandbox's
ID, ``K8S_POD_INFRA_CONTAINER_ID`` (containerd, CRI-O and Multus pass it). podman's first
network is ``eth0`` too, and podman passes ``K8S_POD_NAME`` (for the dnsname plugin), but no
sandbox ID: a podman container keeps the host's name.
``renameToIfname`` in the configuration, when set, decides alone.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hostdev.cni.config import PluginConfig
    from hostdev.cni.protocol import CniEnv

KUBERNETES_POD_IFNAME = "eth0"
KUBERNETES_POD_ARG = "K8S_POD_INFRA_CONTAINER_ID"


def is_kubernetes_pod_network(env: CniEnv) -> bool:
    """The call provides a Kubernetes pod's own (primary) interface (see the module docstring)."""
    return env.ifname == KUBERNETES_POD_IFNAME and any(key == KUBERNETES_POD_ARG and value for key, value in env.args)


def renames_to_ifname(conf: PluginConfig, env: CniEnv) -> bool:
    """Whether the device takes ``CNI_IFNAME`` as its name in the pod."""
    if conf.rename_to_ifname is not None:
        return conf.rename_to_ifname
    return is_kubernetes_pod_network(env)
