"""RDMA netlink against what real kernels (6.1, 6.12, 7.2) and iproute2 actually exchanged.

Expected values below were written from the captures' strace views (the hex dumps under each
``recvmsg``), not from our decoder: e.g. rxe0's NODE_GUID is the attribute ``0c 00 06 00`` with
payload ``10 00 00 fe ff 00 54 50``, a little-endian u64 = 0x505400fffe000010.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterator

import pytest

from hostdev import rdma

from hostdev._netlink import rdma_codec
from hostdev._netlink.rdma_codec import RdmaDevice, RdmaPort, RdmaSystem
from hostdev._netlink.rdma_tables import (
    NLDEV_GET,
    NLDEV_PORT_GET,
    NLDEV_SET,
    NLDEV_SYS_GET,
    NLDEV_SYS_SET,
)
from hostdev._netlink.wire import (
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HDRLEN,
    encode_message,
    iter_attrs,
    iter_messages,
    parse_ack,
)
from hostdev._netlink.socket import Request
from hostdev._netlink.wire import MessageHeader
from hostdev.errors import NetlinkError
from hostdev.netns import NetNS
from hostdev.rdma_errors import RdmaDeviceNotFound, RdmaNetnsModeBusy, RdmaNetnsNotSupported
from tests.unit import golden

OLD, NEW = golden.KERNELS[0], golden.KERNELS[1:]
RDMA = "NETLINK_RDMA"

GUID_10 = 0x505400FFFE000010  # 10 00 00 fe ff 00 54 50
GUID_12 = 0x505400FFFE000012  # 12 00 00 fe ff 00 54 50
RXE_CAPS_6_1 = 0x01223C76  # 76 3c 22 01 00 00 00 00
RXE_CAPS_6_12 = 0x000001C001223C76  # 76 3c 22 01 c0 01 00 00


_DEV_INDEX, _DEV_NAME, _NET_NS_FD = 1, 2, 68
_U32 = struct.Struct("=I")


def net_ns_fd_of(request: bytes) -> int | None:
    """The value of ``RDMA_NLDEV_NET_NS_FD`` in an RDMA request (no family header)."""
    for number, start, end in iter_attrs(request, NLMSG_HDRLEN, len(request)):
        if number == _NET_NS_FD and end - start == 4:
            return int(_U32.unpack_from(request, start)[0])
    return None


def masked_request(request: bytes) -> bytes:
    """``request`` with seq, port id and the fd inside NET_NS_FD zeroed: all that differ by run."""
    out = bytearray(request)
    out[8:16] = bytes(8)
    for number, start, end in iter_attrs(request, NLMSG_HDRLEN, len(request)):
        if number == _NET_NS_FD:
            out[start:end] = bytes(end - start)
    return bytes(out)


def rxe0(kernel: str, index: int = 0) -> RdmaDevice:
    new = kernel != OLD
    return RdmaDevice(
        index=index, name="rxe0", port_count=1, node_guid=GUID_10, sys_image_guid=GUID_10,
        node_type=1, cap_flags=RXE_CAPS_6_12 if new else RXE_CAPS_6_1, fw_version=None,
        protocol="roce", dim=False, dev_type=None, parent_name=None,
        name_assign_type=1 if new else None,  # 05 00 65 00 01: only 6.12 and 7.2 send it
    )  # fmt: skip


def fake(index: int) -> RdmaDevice:
    guid = GUID_10 if index == 0 else GUID_12
    return RdmaDevice(
        index=index, name=f"fake{index}", port_count=1, node_guid=guid, sys_image_guid=guid,
        node_type=1, cap_flags=0, fw_version=None, protocol="roce", dim=False, dev_type=None,
        parent_name=None, name_assign_type=None,
    )  # fmt: skip


def port(dev_index: int, dev_name: str, ndev_index: int, ndev_name: str) -> RdmaPort:
    # 05 00 0c 00 01 (state DOWN), 05 00 0d 00 03 (phys DISABLED); RoCE ports carry no IB fields.
    return RdmaPort(
        dev_index=dev_index, dev_name=dev_name, port_index=1, state=1, phys_state=3,
        netdev_index=ndev_index, netdev_name=ndev_name, cap_flags=None, subnet_prefix=None,
        lid=None, sm_lid=None, lmc=None,
    )  # fmt: skip


def system(kernel: str, mode: str) -> RdmaSystem:
    # 6.1: attrs 66 (mode), 96 (privileged qkey 0), 93 (copy-on-fork 1); 6.12+: also 103 = 1.
    return RdmaSystem(
        netns_mode=mode,  # type: ignore[arg-type]
        copy_on_fork=True,
        privileged_qkey=False,
        monitor_mode=None if kernel == OLD else True,
    )


Replies = Callable[[str], list[object]]

# name -> (decoded replies in order, the errno of every NLMSG_DONE / NLMSG_ERROR in order)
EXPECTED: dict[str, tuple[Replies, list[int]]] = {
    "rdma_dev_show": (lambda k: [rxe0(k), rxe0(k)], [0, 0]),
    "rdma_dev_show_rxe0_details": (lambda k: [rxe0(k), rxe0(k)], [0, 0]),
    "rdma_link_show": (lambda k: [rxe0(k), port(0, "rxe0", 2, "eth0")], [0, 0]),
    "rdma_link_add_rxe0": (lambda k: [], [0, 0]),
    "rdma_system_show_shared": (lambda k: [system(k, "shared")], [0, 0]),
    "rdma_system_show_exclusive": (lambda k: [rxe0(k), system(k, "exclusive")], [0, 0]),
    "rdma_system_set_netns_exclusive": (lambda k: [rxe0(k)], [0, 0]),
    "rdma_system_set_netns_exclusive_busy": (lambda k: [rxe0(k)], [0, errno.EBUSY]),
    "rdma_system_set_netns_shared_busy": (lambda k: [rxe0(k)], [0, errno.EBUSY]),
    "rdma_dev_set_netns_pod": (lambda k: [rxe0(k)], [0, errno.EOPNOTSUPP]),
    "rdma_dev_set_netns_shared_mode": (lambda k: [rxe0(k)], [0, errno.EOPNOTSUPP]),
    "rdma_dev_set_rxe0_name": (lambda k: [rxe0(k, index=2)], [0, 0]),
    "rdma_dev_set_rxe1_netns_init": (lambda k: [], [0]),
    "fake_rdma_dev_show": (lambda k: [fake(0), fake(1), fake(0), fake(1)], [0, 0, 0]),
    "fake_rdma_link_show": (
        lambda k: [fake(0), fake(1), port(0, "fake0", 2, "eth0"), port(1, "fake1", 4, "eth2")],
        [0, 0, 0],
    ),
    "fake_rdma_dev_set_netns_pod": (lambda k: [fake(0), fake(1)], [0, 0]),
    "fake_rdma_dev_set_netns_pod_again": (lambda k: [fake(1)], [0, 0]),
    "fake_rdma_dev_set_netns_init": (lambda k: [fake(1)], [0, 0]),
}

DUMP = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP
DO = NLM_F_REQUEST | NLM_F_ACK
Built = tuple[int, int, bytes]
ALL_DEVICES: Built = (NLDEV_GET, DUMP, rdma_codec.dump_devices_body())


def get(i: int) -> Built:
    return (NLDEV_GET, DO, rdma_codec.get_device_body(i))


def port_of(i: int) -> Built:
    return (NLDEV_PORT_GET, DO, rdma_codec.get_port_body(i, 1))


def move(i: int) -> Built:
    return (NLDEV_SET, DO, rdma_codec.move_device_body(i, 0))  # the fd is masked


SYS_SHOW: Built = (NLDEV_SYS_GET, DO, rdma_codec.sys_get_body())
NOT_OURS = None  # RDMA_NLDEV_CMD_NEWLINK (rdma link add): hostdev never creates devices

# name -> what our builders produce for each request iproute2 sent, in order
REQUESTS: dict[str, list[Built | None]] = {
    "rdma_dev_show": [ALL_DEVICES, get(0)],
    "rdma_dev_show_rxe0_details": [ALL_DEVICES, get(0)],
    "rdma_link_show": [ALL_DEVICES, port_of(0)],
    "rdma_link_add_rxe0": [ALL_DEVICES, NOT_OURS],
    "rdma_system_show_shared": [ALL_DEVICES, SYS_SHOW],
    "rdma_system_show_exclusive": [ALL_DEVICES, SYS_SHOW],
    "rdma_system_set_netns_exclusive": [ALL_DEVICES, (NLDEV_SYS_SET, DO, rdma_codec.set_netns_mode_body("exclusive"))],
    "rdma_system_set_netns_exclusive_busy": [ALL_DEVICES, (NLDEV_SYS_SET, DO, rdma_codec.set_netns_mode_body("exclusive"))],
    "rdma_system_set_netns_shared_busy": [ALL_DEVICES, (NLDEV_SYS_SET, DO, rdma_codec.set_netns_mode_body("shared"))],
    "rdma_dev_set_netns_pod": [ALL_DEVICES, move(0)],
    "rdma_dev_set_netns_shared_mode": [ALL_DEVICES, move(0)],
    "rdma_dev_set_rxe0_name": [ALL_DEVICES, (NLDEV_SET, DO, rdma_codec.rename_device_body(2, "rxe_renamed"))],
    "rdma_dev_set_rxe1_netns_init": [ALL_DEVICES],
    "fake_rdma_dev_show": [ALL_DEVICES, get(0), get(1)],
    "fake_rdma_link_show": [ALL_DEVICES, port_of(0), port_of(1)],
    "fake_rdma_dev_set_netns_pod": [ALL_DEVICES, move(1)],
    "fake_rdma_dev_set_netns_pod_again": [ALL_DEVICES, move(1)],
    "fake_rdma_dev_set_netns_init": [ALL_DEVICES, move(1)],
}  # fmt: skip


def cases() -> list[tuple[str, str]]:
    out = [(k, n) for k in golden.KERNELS for n in EXPECTED if not n.startswith("fake_")]
    return out + [(OLD, n) for n in EXPECTED if n.startswith("fake_")]


CASES = cases()
IDS = [f"{k.split('-')[0]}-{n}" for k, n in CASES]

DECODERS: dict[int, Callable[..., object]] = {
    NLDEV_GET: rdma_codec.decode_device,
    NLDEV_PORT_GET: rdma_codec.decode_port,
    NLDEV_SYS_GET: rdma_codec.decode_system,
}


@pytest.mark.parametrize("kernel", golden.KERNELS)
def test_every_rdma_capture_has_expectations(kernel: str) -> None:
    names = golden.capture_names(kernel, "rdma_") + golden.capture_names(kernel, "fake_rdma_")
    assert sorted(names) == sorted(n for k, n in CASES if k == kernel)
    assert set(REQUESTS) == set(EXPECTED)


@pytest.mark.parametrize(("kernel", "name"), CASES, ids=IDS)
def test_replies_decode_to_the_values_in_the_strace(kernel: str, name: str) -> None:
    cap = golden.load(kernel, name)
    decoded: list[object] = []
    statuses: list[int] = []
    for tx in cap.sent(RDMA):
        (request,) = tx.nlmsgs
        for rx in cap.answers_to(tx):
            for msg in iter_messages(rx.data):
                assert msg.seq == request.seq
                if msg.type in (NLMSG_ERROR, NLMSG_DONE):
                    statuses.append(parse_ack(rx.data, msg).error)
                else:
                    decoded.append(DECODERS[request.type](rx.data, msg))
    replies, acks = EXPECTED[name]
    assert decoded == replies(kernel)
    assert statuses == acks


@pytest.mark.parametrize(("kernel", "name"), CASES, ids=IDS)
def test_our_requests_are_iproute2s_bytes(kernel: str, name: str) -> None:
    cap = golden.load(kernel, name)
    sent = cap.sent(RDMA)
    assert len(sent) == len(REQUESTS[name])
    for tx, ours in zip(sent, REQUESTS[name]):
        if ours is NOT_OURS:
            continue
        msg_type, flags, body = ours
        (hdr,) = tx.nlmsgs
        frame = encode_message(msg_type, flags, hdr.seq, body)
        assert masked_request(frame) == masked_request(tx.data)


MOVES = {"rdma_dev_set_netns_pod", "rdma_dev_set_netns_shared_mode", "fake_rdma_dev_set_netns_pod",
         "fake_rdma_dev_set_netns_pod_again", "fake_rdma_dev_set_netns_init"}  # fmt: skip


@pytest.mark.parametrize(("kernel", "name"), [c for c in CASES if c[1] in MOVES])
def test_net_ns_fd_is_the_fd_iproute2_opened(kernel: str, name: str) -> None:
    cap = golden.load(kernel, name)
    moves = [tx for tx in cap.sent(RDMA) if tx.nlmsgs[0].type == NLDEV_SET]
    netns_fds = [fd for path, fd in cap.opened() if path.startswith("/run/netns/")]
    (tx,) = moves
    assert net_ns_fd_of(tx.data) == netns_fds[-1]


@pytest.mark.parametrize("kernel", golden.KERNELS)
@pytest.mark.parametrize(
    ("name", "code"),
    [("rdma_system_set_netns_exclusive_busy", errno.EBUSY), ("rdma_dev_set_netns_pod", errno.EOPNOTSUPP),
     ("rdma_dev_set_netns_shared_mode", errno.EOPNOTSUPP), ("rdma_system_set_netns_exclusive", 0)],
)  # fmt: skip
def test_acks_decode_through_parse_ack(kernel: str, name: str, code: int) -> None:
    cap = golden.load(kernel, name)
    last = cap.received(RDMA)[-1]
    (msg,) = list(iter_messages(last.data))
    assert msg.type == NLMSG_ERROR
    assert msg.flags == 0x100  # NLM_F_CAPPED: iproute2 set NETLINK_CAP_ACK, as we do
    ack = parse_ack(last.data, msg)
    assert (ack.error, ack.extack_message, ack.bad_attr_offset, ack.missing_type) == (code, None, None, None)
    assert last.nlmsgs[0].error == -code  # the capture tool's own reading agrees


# --- the library's own operations, answered by the kernels' recorded replies ---
class ReplaySocket:
    """Stands in for the RDMA socket: each request must be byte-identical to one iproute2 sent
    (seq, port id and the NET_NS_FD value masked); it is answered with what the kernel answered."""

    def __init__(self, *captures: golden.Capture) -> None:
        self.captures = captures
        self.sent: list[bytes] = []
        self.closed = False

    def request(self, msg_type: int, body: bytes, what: Request, *, flags: int = 0,
                decode: Callable[[memoryview, MessageHeader], object] | None = None) -> list[object]:  # fmt: skip
        return self._exchange(encode_message(msg_type, flags | DO, 0, body), what, decode)

    def dump(self, msg_type: int, body: bytes, what: Request,
             decode: Callable[[memoryview, MessageHeader], object]) -> list[object]:  # fmt: skip
        return self._exchange(encode_message(msg_type, DUMP, 0, body), what, decode)

    def close(self) -> None:
        self.closed = True

    def _exchange(self, frame: bytes, what: Request, decode: Callable[[memoryview, MessageHeader], object] | None) -> list[object]:
        self.sent.append(frame)
        for cap in self.captures:
            for tx in cap.sent(RDMA):
                if masked_request(tx.data) == masked_request(frame):
                    return self._answer(cap, tx, what, decode)
        raise AssertionError(f"iproute2 never sent this request: {frame.hex()}")

    @staticmethod
    def _answer(cap: golden.Capture, tx: golden.Buffer, what: Request,
                decode: Callable[[memoryview, MessageHeader], object] | None) -> list[object]:  # fmt: skip
        results: list[object] = []
        for rx in cap.answers_to(tx):
            view = memoryview(rx.data)
            for msg in iter_messages(view):
                if msg.type in (NLMSG_ERROR, NLMSG_DONE):
                    ack = parse_ack(view, msg)
                    if ack.error:
                        raise NetlinkError(ack.error, what.name, ack.extack_message)
                    return results
                if decode is not None:
                    results.append(decode(view, msg))
        raise AssertionError(f"{cap.name}: no ACK after the request")


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ReplaySocket]:
    def install(kernel: str, *names: str) -> ReplaySocket:
        sock = ReplaySocket(*(golden.load(kernel, n) for n in names))
        monkeypatch.setattr(rdma, "_open_socket", lambda netns: sock)
        return sock

    return install


@pytest.fixture
def target() -> Iterator[NetNS]:
    ns = NetNS.current()  # only its fd goes into the request; the replayed kernel never sees it
    yield ns
    ns.close()


@pytest.mark.parametrize("kernel", golden.KERNELS)
def test_handle_lists_and_looks_up_devices(kernel: str, replay: Callable[..., ReplaySocket]) -> None:
    replay(kernel, "rdma_dev_show")
    with rdma.RdmaHandle() as handle:
        assert handle.devices() == [rxe0(kernel)]
        assert handle.device(index=0) == rxe0(kernel)
        assert handle.device(name="rxe0") == rxe0(kernel)
        with pytest.raises(RdmaDeviceNotFound):
            handle.device(name="mlx5_0")
    assert rxe0(kernel).node_guid_hex == "505400fffe000010"
    assert rxe0(kernel).node_guid_text == "5054:00ff:fe00:0010"


@pytest.mark.parametrize("kernel", golden.KERNELS)
def test_handle_reads_port_and_system(kernel: str, replay: Callable[..., ReplaySocket]) -> None:
    replay(kernel, "rdma_link_show", "rdma_system_show_exclusive")
    handle = rdma.RdmaHandle()
    found = handle.port(0, 1)
    assert found == port(0, "rxe0", 2, "eth0")
    assert (found.state_name, found.phys_state_name) == ("DOWN", "DISABLED")
    assert handle.system() == system(kernel, "exclusive")


@pytest.mark.parametrize("kernel", golden.KERNELS)
def test_handle_sets_netns_mode_and_explains_ebusy(kernel: str, replay: Callable[..., ReplaySocket]) -> None:
    replay(kernel, "rdma_system_set_netns_exclusive")
    rdma.RdmaHandle().set_netns_mode("exclusive")
    replay(kernel, "rdma_system_set_netns_shared_busy")
    with pytest.raises(RdmaNetnsModeBusy) as caught:
        rdma.RdmaHandle().set_netns_mode("shared")
    exc = caught.value
    assert isinstance(exc, NetlinkError) and exc.errno == errno.EBUSY
    assert "ib_core netns_mode=0" in str(exc) and "before pods exist" in str(exc)
    assert isinstance(exc.__cause__, NetlinkError) and exc.__cause__.errno == errno.EBUSY


@pytest.mark.parametrize("kernel", golden.KERNELS)
@pytest.mark.parametrize("name", ["rdma_dev_set_netns_pod", "rdma_dev_set_netns_shared_mode"])
def test_refused_move_explains_eopnotsupp(kernel: str, name: str, replay: Callable[..., ReplaySocket], target: NetNS) -> None:
    sock = replay(kernel, name)
    with pytest.raises(RdmaNetnsNotSupported) as caught:
        rdma.RdmaHandle().move_device(0, target)
    text = str(caught.value)
    assert caught.value.errno == errno.EOPNOTSUPP
    assert "rdma system set netns exclusive" in text and "netns_mode=0" in text
    assert "disassociate_ucontext" in text
    assert net_ns_fd_of(sock.sent[-1]) == target.fd


@pytest.mark.parametrize("name", ["fake_rdma_dev_set_netns_pod", "fake_rdma_dev_set_netns_pod_again", "fake_rdma_dev_set_netns_init"])
def test_move_of_a_capable_device_is_acked(name: str, replay: Callable[..., ReplaySocket], target: NetNS) -> None:
    sock = replay(OLD, name)
    rdma.RdmaHandle().move_device(1, target)
    (frame,) = sock.sent
    assert {n for n, _, _ in iter_attrs(frame, NLMSG_HDRLEN, len(frame))} == {1, _NET_NS_FD}


@pytest.mark.parametrize("kernel", golden.KERNELS)
def test_rename_is_acked(kernel: str, replay: Callable[..., ReplaySocket]) -> None:
    sock = replay(kernel, "rdma_dev_set_rxe0_name")
    assert rdma.RdmaHandle().rename_device(2, "rxe_renamed") is None  # the kernel's ACK (error 0)
    (frame,) = sock.sent  # one request, no lookup first: the caller gives the index
    (iproute2,) = [tx for tx in golden.load(kernel, "rdma_dev_set_rxe0_name").sent(RDMA) if tx.nlmsgs[0].type == NLDEV_SET]
    assert masked_request(frame) == masked_request(iproute2.data)
    attrs = {n: frame[start:end] for n, start, end in iter_attrs(frame, NLMSG_HDRLEN, len(frame))}
    assert attrs == {_DEV_INDEX: _U32.pack(2), _DEV_NAME: b"rxe_renamed\0"}

