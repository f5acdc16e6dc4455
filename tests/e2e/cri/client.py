"""A small CRI client that calls the runtime the way the kubelet does for a pod's sandbox.

The kubelet's pod lifecycle, as far as the network is concerned: ``RunPodSandbox`` with the
pod's metadata (name, namespace, uid, attempt), which is what the runtime turns into
``K8S_POD_*`` in ``CNI_ARGS``; ``PodSandboxStatus`` for the pod IP it reports to the API server;
``StopPodSandbox`` (retried until it succeeds, and called again freely: the CRI says it must be
idempotent) which is where the runtime calls CNI DEL; ``RemovePodSandbox`` at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc


@dataclass(frozen=True)
class Pod:
    """What the kubelet knows of a pod when it asks for its sandbox."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0


@dataclass(frozen=True)
class SandboxStatus:
    state: str  # "SANDBOX_READY" | "SANDBOX_NOTREADY"
    ip: str
    additional_ips: tuple[str, ...]
    info: dict[str, Any]  # containerd's verbose info (pid, runtimeSpec, cniResult, ...)

    @property
    def pid(self) -> int:
        return int(self.info["pid"])


class CriClient:
    def __init__(self, socket: str, pb: ModuleType, services: ModuleType, *, timeout: float = 120) -> None:
        self._pb = pb
        self._timeout = timeout
        self._channel = grpc.insecure_channel(f"unix://{socket}")
        self._runtime = services.RuntimeServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def wait_ready(self, timeout: float) -> dict[str, str]:
        """The runtime's verbose ``Status`` once its socket answers (``wait_for_ready`` blocks
        on the channel's connection, not on a sleep loop)."""
        reply = self._runtime.Status(self._pb.StatusRequest(verbose=True), timeout=timeout, wait_for_ready=True)
        return dict(reply.info)

    def version(self) -> Any:
        return self._runtime.Version(self._pb.VersionRequest(version="v1"), timeout=self._timeout)

    def run_pod_sandbox(self, pod: Pod, *, runtime_handler: str, cgroup_parent: str, log_dir: str) -> str:
        pb = self._pb
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=pod.name, uid=pod.uid, namespace=pod.namespace, attempt=pod.attempt),
            hostname=pod.name,
            log_directory=log_dir,
            labels={"io.kubernetes.pod.name": pod.name, "io.kubernetes.pod.namespace": pod.namespace, "io.kubernetes.pod.uid": pod.uid},
            annotations={"kubernetes.io/config.source": "api"},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD),
                ),
            ),
        )  # fmt: skip
        reply = self._runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler), timeout=self._timeout)
        return str(reply.pod_sandbox_id)

    def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        pb = self._pb
        reply = self._runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True), timeout=self._timeout)
        status = reply.status
        info = json.loads(reply.info["info"]) if "info" in reply.info else {}
        return SandboxStatus(
            state=pb.PodSandboxState.Name(status.state),
            ip=status.network.ip,
            additional_ips=tuple(extra.ip for extra in status.network.additional_ips),
            info=info,
        )

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self._runtime.StopPodSandbox(self._pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self._timeout)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._runtime.RemovePodSandbox(self._pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self._timeout)

    def list_pod_sandbox_ids(self) -> list[str]:
        reply = self._runtime.ListPodSandbox(self._pb.ListPodSandboxRequest(), timeout=self._timeout)
        return [item.id for item in reply.items]


RpcError = grpc.RpcError
