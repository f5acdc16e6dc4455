"""hostdev.rdma: what the handle asks, in which netns, and how kernel answers surface.

The socket is replaced by a scripted one (this kernel has no RDMA; the qemu tier runs the real
thing); replies are built from the attribute table. The one test of the real socket proves
that this machine's kernel refusal (EPROTONOSUPPORT) becomes RdmaUnavailable.
"""

from __future__ import annotations

import errno
import pickle
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostdev import rdma
from hostdev._netlink import rdma_codec
from hostdev._netlink.rdma_codec import RdmaDevice, RdmaPort
from hostdev._netlink.rdma_tables import NLDEV, NLDEV_GET, NLDEV_PORT_GET, NLDEV_SET
from hostdev._netlink.socket import Request
from hostdev._netlink.attrs import encode_attr
from hostdev._netlink.wire import (
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLMSG_ERROR,
    NLMSGERR_ATTR_MSG,
    MessageHeader,
    encode_message,
    iter_messages,
    parse_ack,
)
from hostdev.errors import HostdevError, NetlinkError
from hostdev.rdma_errors import (
    RdmaDeviceNotFound,
    RdmaDeviceNotInCallerNetns,
    RdmaNetlinkError,
    RdmaNetnsModeBusy,
    RdmaNetnsNotSupported,
    RdmaUnavailable,
    explain_move_error,
)
from tests.unit.sysfs_fixtures import FakeSysfs

Decode = Callable[[memoryview, MessageHeader], object]


def device_reply(index: int, name: str) -> bytes:
    body = NLDEV.encode([("ATTR_DEV_INDEX", index), ("ATTR_DEV_NAME", name), ("ATTR_PORT_INDEX", 1),
                         ("ATTR_CAP_FLAGS", 0), ("ATTR_NODE_GUID", 0x1000 + index),
                         ("ATTR_SYS_IMAGE_GUID", 0x1000 + index), ("ATTR_DEV_NODE_TYPE", 1)])  # fmt: skip
    return encode_message(NLDEV_GET, 2, 0, body)


def port_reply(index: int, name: str, ndev: tuple[int, str] | None) -> bytes:
    pairs: list[tuple[str, object]] = [("ATTR_DEV_INDEX", index), ("ATTR_DEV_NAME", name), ("ATTR_PORT_INDEX", 1),
                                       ("ATTR_PORT_STATE", 4), ("ATTR_PORT_PHYS_STATE", 5)]  # fmt: skip
    if ndev is not None:
        pairs += [("ATTR_NDEV_INDEX", ndev[0]), ("ATTR_NDEV_NAME", ndev[1])]
    return encode_message(NLDEV_PORT_GET, 2, 0, NLDEV.encode(pairs))


class ScriptedSocket:
    """Answers (message type, body) with reply frames or a kernel errno; logs what was asked."""

    def __init__(self, script: dict[tuple[int, bytes], list[bytes] | int], log: list[str]) -> None:
        self.script = script
        self.log = log
        self.asked: list[tuple[str, int, bytes]] = []

    def request(self, msg_type: int, body: bytes, what: Request, *, flags: int = 0, decode: Decode | None = None) -> list[object]:
        return self._answer("request", msg_type, body, what, decode)

    def dump(self, msg_type: int, body: bytes, what: Request, decode: Decode) -> list[object]:
        return self._answer("dump", msg_type, body, what, decode)

    def close(self) -> None:
        self.log.append("close")

    def _answer(self, kind: str, msg_type: int, body: bytes, what: Request, decode: Decode | None) -> list[object]:
        self.asked.append((kind, msg_type, body))
        self.log.append(f"{kind} {msg_type:#x}")
        answer = self.script[(msg_type, body)]
        if isinstance(answer, int):
            raise NetlinkError(answer, what.name)
        out: list[object] = []
        for frame in answer:
            for msg in iter_messages(frame):
                if decode is not None:
                    out.append(decode(memoryview(frame), msg))
        return out


@dataclass
class StandInNetNS:
    fd: int
    path: str


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> Callable[..., ScriptedSocket]:
    def install(script: dict[tuple[int, bytes], list[bytes] | int]) -> ScriptedSocket:
        sock = ScriptedSocket(script, log)

        def open_socket(netns: Any) -> ScriptedSocket:
            log.append(f"socket in {getattr(netns, 'path', 'caller netns')}")
            return sock

        monkeypatch.setattr(rdma, "_open_socket", open_socket)

        @contextmanager
        def entered(ns: Any) -> Iterator[None]:
            log.append(f"enter {ns.path}")
            try:
                yield
            finally:
                log.append(f"leave {ns.path}")

        monkeypatch.setattr(rdma, "entered", entered)
        return sock

    return install


TWO_DEVICES = {
    (NLDEV_GET, b""): [device_reply(0, "mlx5_0"), device_reply(1, "rxe0")],
    (NLDEV_PORT_GET, rdma_codec.dump_ports_body(0)): [port_reply(0, "mlx5_0", (7, "enp68s0"))],
    (NLDEV_PORT_GET, rdma_codec.dump_ports_body(1)): [port_reply(1, "rxe0", (2, "eth0"))],
}


def test_ports_dumps_each_device(scripted: Callable[..., ScriptedSocket]) -> None:
    sock = scripted(TWO_DEVICES)
    found = rdma.RdmaHandle().ports()
    assert [(p.dev_name, p.netdev_name, p.state_name) for p in found] == [("mlx5_0", "enp68s0", "ACTIVE"), ("rxe0", "eth0", "ACTIVE")]
    assert [a[0] for a in sock.asked] == ["dump", "dump", "dump"]


def test_ports_skip_a_device_that_left_between_dumps(scripted: Callable[..., ScriptedSocket]) -> None:
    scripted({**TWO_DEVICES, (NLDEV_PORT_GET, rdma_codec.dump_ports_body(1)): errno.EINVAL})
    assert [p.dev_name for p in rdma.RdmaHandle().ports()] == ["mlx5_0"]


def test_devices_of_netdev_by_index_and_name(scripted: Callable[..., ScriptedSocket]) -> None:
    scripted({**TWO_DEVICES, (NLDEV_PORT_GET, rdma_codec.dump_ports_body(1)): [port_reply(1, "rxe0", None)]})
    handle = rdma.RdmaHandle()
    assert [d.name for d in rdma.rdma_devices_of_netdev(handle, ifindex=7)] == ["mlx5_0"]
    assert [d.name for d in rdma.rdma_devices_of_netdev(handle, name="enp68s0")] == ["mlx5_0"]
    # rxe0's netdev is in another netns: the kernel leaves NDEV_* out, so nothing matches it.
    assert rdma.rdma_devices_of_netdev(handle, name="eth0") == []
    with pytest.raises(ValueError):
        rdma.rdma_devices_of_netdev(handle, ifindex=7, name="enp68s0")


def test_lookup_by_index_maps_einval_to_not_found(scripted: Callable[..., ScriptedSocket]) -> None:
    scripted({(NLDEV_GET, rdma_codec.get_device_body(9)): errno.EINVAL})
    handle = rdma.RdmaHandle()
    with pytest.raises(RdmaDeviceNotFound) as caught:
        handle.device(index=9)
    assert isinstance(caught.value.__cause__, NetlinkError) and caught.value.__cause__.errno == errno.EINVAL
    assert handle.find_device(index=9) is None


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [(errno.ENODEV, RdmaDeviceNotInCallerNetns, "inside the pod"), (errno.EOPNOTSUPP, RdmaNetnsNotSupported, "netns_mode=0"),
     (errno.EPERM, RdmaNetlinkError, "CAP_NET_ADMIN"), (errno.EEXIST, RdmaNetlinkError, "already exists")],
)  # fmt: skip
def test_move_refusals_keep_errno_and_explain(scripted: Callable[..., ScriptedSocket], code: int, kind: type, words: str) -> None:
    scripted({(NLDEV_SET, rdma_codec.move_device_body(3, 11)): code})
    with pytest.raises(kind) as caught:
        rdma.RdmaHandle().move_device(3, StandInNetNS(11, "/run/netns/pod"))  # type: ignore[arg-type]
    exc = caught.value
    assert isinstance(exc, NetlinkError) and exc.errno == code and words in str(exc)
    assert exc.request == "RDMA_NLDEV_CMD_SET index=3 netns=/run/netns/pod"
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc) and str(clone) == str(exc) and clone.errno == code


def test_move_of_an_unknown_index_is_not_found(scripted: Callable[..., ScriptedSocket]) -> None:
    scripted({(NLDEV_SET, rdma_codec.move_device_body(3, 11)): errno.EINVAL})
    with pytest.raises(RdmaDeviceNotFound):
        rdma.RdmaHandle().move_device(3, StandInNetNS(11, "/run/netns/pod"))  # type: ignore[arg-type]


def test_handle_of_another_netns_moves_from_inside_it(scripted: Callable[..., ScriptedSocket], log: list[str]) -> None:
    scripted({(NLDEV_SET, rdma_codec.move_device_body(3, 11)): []})
    pod = StandInNetNS(5, "/run/netns/pod")
    handle = rdma.RdmaHandle(pod)  # type: ignore[arg-type]
    handle.move_device(3, StandInNetNS(11, "/proc/1/ns/net"))  # type: ignore[arg-type]
    assert log == ["socket in /run/netns/pod", "enter /run/netns/pod", "request 0x1402", "leave /run/netns/pod"]


def test_move_device_back_runs_entirely_inside_the_pod(scripted: Callable[..., ScriptedSocket], log: list[str]) -> None:
    sock = scripted({
        (NLDEV_GET, b""): [device_reply(3, "mlx5_0")],
        (NLDEV_SET, rdma_codec.move_device_body(3, 4)): [],
    })  # fmt: skip
    rdma.move_device_back("mlx5_0", StandInNetNS(9, "/run/netns/pod"), StandInNetNS(4, "/proc/1/ns/net"))  # type: ignore[arg-type]
    # thread enters the pod, the socket is made there, the device is found there, moved, all before leaving
    assert log == ["enter /run/netns/pod", "socket in caller netns", "dump 0x1401", "request 0x1402", "close", "leave /run/netns/pod"]
    assert sock.asked[-1] == ("request", NLDEV_SET, rdma_codec.move_device_body(3, 4))


def test_move_device_back_by_index_and_refusals(scripted: Callable[..., ScriptedSocket], log: list[str]) -> None:
    scripted({(NLDEV_SET, rdma_codec.move_device_body(3, 4)): errno.ENODEV})
    with pytest.raises(RdmaDeviceNotInCallerNetns):
        rdma.move_device_back(3, StandInNetNS(9, "/run/netns/pod"), StandInNetNS(4, "/proc/1/ns/net"))  # type: ignore[arg-type]
    assert log == ["enter /run/netns/pod", "socket in caller netns", "request 0x1402", "close", "leave /run/netns/pod"]
    with pytest.raises(TypeError):
        rdma.move_device_back(True, StandInNetNS(9, "p"), StandInNetNS(4, "h"))  # type: ignore[arg-type]
    scripted({(NLDEV_GET, b""): []})
    with pytest.raises(RdmaDeviceNotFound):
        rdma.move_device_back("mlx5_9", StandInNetNS(9, "/run/netns/pod"), StandInNetNS(4, "h"))  # type: ignore[arg-type]


def test_mode_change_refusal(scripted: Callable[..., ScriptedSocket]) -> None:
    scripted({(0x1407, rdma_codec.set_netns_mode_body("exclusive")): errno.EBUSY})
    with pytest.raises(RdmaNetnsModeBusy, match="netns_mode=0") as caught:
        rdma.RdmaHandle().set_netns_mode("exclusive")
    assert caught.value.request == "RDMA_NLDEV_CMD_SYS_SET netns=exclusive"


def test_rdma_devices_of_pci_reads_infiniband_dir(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path)
    fake.add_pci_function("0000:44:00.0", driver="mlx5_core", netdevs=["enp68s0"], rdma=["rocep68s0"])
    fake.add_pci_function("0000:45:00.0", driver="igb", netdevs=["eth1"])
    assert rdma.rdma_devices_of_pci("0000:44:00.0", str(tmp_path)) == ("rocep68s0",)
    assert rdma.rdma_devices_of_pci("0000:45:00.0", str(tmp_path)) == ()
    from hostdev._sysfs.errors import DeviceNotFound

    with pytest.raises(DeviceNotFound):
        rdma.rdma_devices_of_pci("0000:46:00.0", str(tmp_path))


def kernel_has_rdma() -> bool:
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 20).close()
    except OSError as exc:
        assert exc.errno == errno.EPROTONOSUPPORT, exc  # anything else is not "no RDMA"
        return False
    return True


def test_real_kernel_without_rdma_gives_rdma_unavailable() -> None:
    if kernel_has_rdma():  # e.g. run inside the qemu tier: then the handle must simply work
        assert rdma.rdma_available()
        with rdma.RdmaHandle() as handle:
            assert isinstance(handle.devices(), list)
        return
    with pytest.raises(RdmaUnavailable) as caught:
        rdma.RdmaHandle()
    exc = caught.value
    assert isinstance(exc, OSError) and isinstance(exc, HostdevError)
    assert exc.errno == errno.EPROTONOSUPPORT and "no RDMA subsystem" in str(exc)
    assert isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.EPROTONOSUPPORT
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)
    assert rdma.rdma_available() is False
    assert rdma.RdmaHandle.open_if_available() is None


def test_extack_of_an_rdma_refusal_survives_the_explanation() -> None:
    # Newer kernels answer a move onto a taken name with EEXIST and this extack text; build that
    # NLMSG_ERROR (capped, with TLVs) as the kernel lays it out and read it with the core's parse_ack.
    request = encode_message(NLDEV_SET, 0x5, 42, rdma_codec.move_device_body(3, 11))
    text = b"Device name already exists in the target net namespace\0"
    tlv = encode_attr(NLMSGERR_ATTR_MSG, text)
    payload = struct.pack("=i", -errno.EEXIST) + request[:16] + tlv
    reply = encode_message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 42, payload)
    (msg,) = list(iter_messages(reply))
    ack = parse_ack(reply, msg)
    assert (ack.error, ack.extack_message) == (errno.EEXIST, text[:-1].decode())
    kernel = NetlinkError(ack.error, "RDMA_NLDEV_CMD_SET index=3", ack.extack_message)
    explained = explain_move_error(kernel, 3)
    assert isinstance(explained, RdmaNetlinkError) and explained.errno == errno.EEXIST
    assert explained.extack == ack.extack_message and text[:-1].decode() in str(explained)
    assert "already exists in the target netns" in explained.hint
