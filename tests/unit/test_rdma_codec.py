"""RDMA codec: request bodies, reply decoders, GUIDs and names, round-tripped and fuzzed.

Replies are built here from the attribute table (``NLDEV.encode_one``), in any order, with the
kernel's PAD attributes and unknown attributes mixed in, and must decode to what was encoded.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostdev._netlink import rdma_codec
from hostdev._netlink.attrs import encode_attr
from hostdev._netlink.rdma_codec import RdmaDevice, RdmaPort, RdmaSystem
from hostdev._netlink.rdma_tables import (
    NLDEV,
    NLDEV_GET,
    NLDEV_PORT_GET,
    NLDEV_SET,
    NLDEV_SYS_GET,
    NetnsMode,
)
from hostdev._netlink.wire import NLM_F_MULTI, MessageHeader, encode_message, iter_messages
from hostdev.errors import DecodeError

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 0xFFFFFFFFFFFFFFFF)
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1, max_size=24)
maybe_text = st.none() | text
unknown_attr = st.builds(
    lambda number, payload: encode_attr(number, payload),
    st.integers(104, 0x3FFF),  # past every attribute we know
    st.binary(max_size=12),
)
pad_attr = st.just(encode_attr(0, b""))  # what nla_put_u64_64bit adds where u64s need alignment
SETTINGS = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def frame_of(msg_type: int, parts: list[bytes], order: list[int] | None = None) -> tuple[bytes, MessageHeader]:
    body = b"".join(parts if order is None else [parts[i] for i in order])
    data = encode_message(msg_type, NLM_F_MULTI, 7, body, pid=1234)
    (msg,) = list(iter_messages(data))
    return data, msg


def device_attrs(dev: RdmaDevice) -> list[bytes]:
    pairs: list[tuple[str, object]] = [
        ("ATTR_DEV_INDEX", dev.index), ("ATTR_DEV_NAME", dev.name), ("ATTR_PORT_INDEX", dev.port_count),
        ("ATTR_CAP_FLAGS", dev.cap_flags), ("ATTR_NODE_GUID", dev.node_guid),
        ("ATTR_SYS_IMAGE_GUID", dev.sys_image_guid), ("ATTR_DEV_NODE_TYPE", dev.node_type),
    ]  # fmt: skip
    optional: list[tuple[str, object]] = [
        ("ATTR_FW_VERSION", dev.fw_version), ("ATTR_DEV_PROTOCOL", dev.protocol),
        ("ATTR_DEV_DIM", None if dev.dim is None else int(dev.dim)), ("ATTR_DEV_TYPE", dev.dev_type),
        ("ATTR_PARENT_NAME", dev.parent_name), ("ATTR_NAME_ASSIGN_TYPE", dev.name_assign_type),
    ]  # fmt: skip
    return [NLDEV.encode_one(n, v) for n, v in pairs + [p for p in optional if p[1] is not None]]


devices = st.builds(
    RdmaDevice, index=u32, name=text, port_count=u32, node_guid=u64, sys_image_guid=u64, node_type=u8,
    cap_flags=u64, fw_version=maybe_text, protocol=maybe_text, dim=st.none() | st.booleans(),
    dev_type=st.none() | u8, parent_name=maybe_text, name_assign_type=st.none() | u8,
)  # fmt: skip


@SETTINGS
@given(devices, st.lists(pad_attr | unknown_attr, max_size=4), st.randoms())
def test_device_reply_round_trip(dev: RdmaDevice, extra: list[bytes], rnd: object) -> None:
    attrs = device_attrs(dev)
    order = list(range(len(attrs) + len(extra)))
    rnd.shuffle(order)  # type: ignore[attr-defined]  # reply order is not guaranteed
    data, msg = frame_of(NLDEV_GET, attrs + extra, order)
    assert rdma_codec.decode_device(data, msg) == dev


ports = st.builds(
    RdmaPort, dev_index=u32, dev_name=text, port_index=u32, state=u8, phys_state=u8,
    netdev_index=st.none() | u32, netdev_name=maybe_text, cap_flags=st.none() | u64,
    subnet_prefix=st.none() | u64, lid=st.none() | u32, sm_lid=st.none() | u32, lmc=st.none() | u8,
)  # fmt: skip


def port_attrs(p: RdmaPort) -> list[bytes]:
    pairs: list[tuple[str, object]] = [
        ("ATTR_DEV_INDEX", p.dev_index), ("ATTR_DEV_NAME", p.dev_name), ("ATTR_PORT_INDEX", p.port_index),
        ("ATTR_PORT_STATE", p.state), ("ATTR_PORT_PHYS_STATE", p.phys_state),
        ("ATTR_NDEV_INDEX", p.netdev_index), ("ATTR_NDEV_NAME", p.netdev_name),
        ("ATTR_CAP_FLAGS", p.cap_flags), ("ATTR_SUBNET_PREFIX", p.subnet_prefix), ("ATTR_LID", p.lid),
        ("ATTR_SM_LID", p.sm_lid), ("ATTR_LMC", p.lmc),
    ]  # fmt: skip
    return [NLDEV.encode_one(n, v) for n, v in pairs if v is not None]


@SETTINGS
@given(ports, st.sampled_from([NLDEV_GET, NLDEV_PORT_GET]), st.lists(pad_attr | unknown_attr, max_size=4), st.randoms())
def test_port_reply_round_trip(p: RdmaPort, msg_type: int, extra: list[bytes], rnd: object) -> None:
    attrs = port_attrs(p)
    order = list(range(len(attrs) + len(extra)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    data, msg = frame_of(msg_type, attrs + extra, order)  # doit replies come as GET, dumps as PORT_GET
    assert rdma_codec.decode_port(data, msg) == p


systems = st.builds(
    RdmaSystem, netns_mode=st.sampled_from(["exclusive", "shared"]), copy_on_fork=st.none() | st.booleans(),
    privileged_qkey=st.none() | st.booleans(), monitor_mode=st.none() | st.booleans(),
)  # fmt: skip


@SETTINGS
@given(systems, st.lists(unknown_attr, max_size=3))
def test_system_reply_round_trip(s: RdmaSystem, extra: list[bytes]) -> None:
    pairs: list[tuple[str, object]] = [
        ("SYS_ATTR_NETNS_MODE", 0 if s.netns_mode == "exclusive" else 1),
        ("SYS_ATTR_COPY_ON_FORK", s.copy_on_fork), ("SYS_ATTR_PRIVILEGED_QKEY_MODE", s.privileged_qkey),
        ("SYS_ATTR_MONITOR_MODE", s.monitor_mode),
    ]  # fmt: skip
    attrs = [NLDEV.encode_one(n, int(v)) for n, v in pairs if v is not None]  # type: ignore[call-overload]
    data, msg = frame_of(NLDEV_SYS_GET, attrs + extra)
    assert rdma_codec.decode_system(data, msg) == s


@pytest.mark.parametrize("mode", [2, 255])
def test_system_with_an_unknown_netns_mode_is_a_decode_error(mode: int) -> None:
    data, msg = frame_of(NLDEV_SYS_GET, [NLDEV.encode_one("SYS_ATTR_NETNS_MODE", mode)])
    with pytest.raises(DecodeError, match="neither exclusive"):
        rdma_codec.decode_system(data, msg)


@pytest.mark.parametrize(
    ("decode", "msg_type"),
    [(rdma_codec.decode_device, NLDEV_SET), (rdma_codec.decode_port, NLDEV_SYS_GET),
     (rdma_codec.decode_system, NLDEV_GET), (rdma_codec.decode_device, 0x0801)],  # 0x0801: client 2 (IWCM)
)  # fmt: skip
def test_decoders_refuse_other_message_types(decode: Callable[..., object], msg_type: int) -> None:
    data, msg = frame_of(msg_type, [])
    with pytest.raises(DecodeError, match="unexpected message type"):
        decode(data, msg)


def test_missing_required_attribute_is_named() -> None:
    dev = RdmaDevice(3, "mlx5_0", 1, 1, 1, 1, 0, None, None, None, None, None, None)
    attrs = [a for a in device_attrs(dev) if struct.unpack_from("=HH", a)[1] != NLDEV["ATTR_NODE_GUID"]]
    data, msg = frame_of(NLDEV_GET, attrs)
    with pytest.raises(DecodeError, match="RDMA_NLDEV_ATTR_NODE_GUID"):
        rdma_codec.decode_device(data, msg)


# --- arbitrary bytes: DecodeError or a value, never another exception, never a hang ---
DECODERS = (rdma_codec.decode_device, rdma_codec.decode_port, rdma_codec.decode_system)


def decode_everything(data: bytes) -> None:
    for msg in iter_messages(data):
        for decode in DECODERS:
            try:
                decode(data, msg)
            except DecodeError:
                pass


@SETTINGS
@given(st.binary(max_size=600))
def test_random_datagrams_raise_only_decode_errors(data: bytes) -> None:
    try:
        decode_everything(data)
    except DecodeError:
        pass


known_numbers = st.sampled_from(sorted(NLDEV.by_number))
wrong_sized_attr = st.builds(lambda n, p: encode_attr(n, p), known_numbers, st.binary(max_size=10))


@SETTINGS
@given(st.sampled_from([NLDEV_GET, NLDEV_PORT_GET, NLDEV_SYS_GET]), st.lists(wrong_sized_attr, max_size=12), st.binary(max_size=8))
def test_well_framed_garbage_raises_only_decode_errors(msg_type: int, attrs: list[bytes], tail: bytes) -> None:
    data = encode_message(msg_type, 0, 1, b"".join(attrs) + tail)
    try:
        decode_everything(data)
    except DecodeError:
        pass


# --- requests ---
def attrs_of(body: bytes) -> dict[int, object]:
    return NLDEV.decode(body, 0, len(body))


@given(u32)
def test_get_and_dump_bodies(index: int) -> None:
    assert rdma_codec.get_device_body(index) == struct.pack("=HHI", 8, 1, index)
    assert rdma_codec.dump_ports_body(index) == struct.pack("=HHI", 8, 1, index)
    assert rdma_codec.dump_devices_body() == rdma_codec.sys_get_body() == b""


@given(u32, u32)
def test_port_body_round_trip(dev_index: int, port_index: int) -> None:
    body = rdma_codec.get_port_body(dev_index, port_index)
    assert list(attrs_of(body).items()) == [(1, dev_index), (3, port_index)]


@given(u32, st.integers(0, 2**31 - 1))
def test_move_body_carries_only_index_and_netns_fd(index: int, fd: int) -> None:
    body = rdma_codec.move_device_body(index, fd)
    assert list(attrs_of(body).items()) == [(1, index), (68, fd)]
    assert len(body) == 16


names = st.text(st.characters(exclude_categories=["Cs", "Zs", "Zl", "Zp", "Cc"], exclude_characters="/%\0"), min_size=1, max_size=20).filter(
    lambda n: n not in (".", "..") and not any(c.isspace() for c in n) and len(n.encode()) < 64
)


@SETTINGS
@given(u32, names)
def test_rename_body_carries_only_index_and_name(index: int, name: str) -> None:
    body = rdma_codec.rename_device_body(index, name)
    assert list(attrs_of(body).items()) == [(1, index), (2, name)]
    assert len(body) % 4 == 0 and body.endswith(b"\0")


def test_move_and_rename_cannot_be_combined() -> None:
    # The kernel renames and ignores NET_NS_FD when both come together: no API may send both.
    assert list(inspect.signature(rdma_codec.move_device_body).parameters) == ["index", "netns_fd"]
    assert list(inspect.signature(rdma_codec.rename_device_body).parameters) == ["index", "name"]
    builders = [f for n, f in vars(rdma_codec).items() if n.endswith("_body") and callable(f)]
    for builder in builders:
        params = set(inspect.signature(builder).parameters)
        assert not ({"name", "netns_fd"} <= params), builder.__name__
    from hostdev.rdma import RdmaHandle

    assert list(inspect.signature(RdmaHandle.move_device).parameters) == ["self", "index", "target"]


@pytest.mark.parametrize(("mode", "value"), [("exclusive", 0), ("shared", 1), (NetnsMode.SHARED, 1)])
def test_netns_mode_body(mode: str | int, value: int) -> None:
    body = rdma_codec.set_netns_mode_body(mode)  # type: ignore[arg-type]
    assert body == struct.pack("=HHB3x", 5, 66, value)


@pytest.mark.parametrize(
    "call",
    [lambda: rdma_codec.get_device_body(-1), lambda: rdma_codec.get_device_body(2**32),
     lambda: rdma_codec.get_device_body(True), lambda: rdma_codec.move_device_body(0, -1),
     lambda: rdma_codec.move_device_body(0, 2**31), lambda: rdma_codec.set_netns_mode_body("off"),  # type: ignore[arg-type]
     lambda: rdma_codec.rename_device_body(0, ""), lambda: rdma_codec.rename_device_body(0, "a/b"),
     lambda: rdma_codec.rename_device_body(0, "mlx5_%d"), lambda: rdma_codec.rename_device_body(0, "a b"),
     lambda: rdma_codec.rename_device_body(0, ".."), lambda: rdma_codec.rename_device_body(0, "x" * 64)],
)  # fmt: skip
def test_bad_request_values_are_refused_before_sending(call: Callable[[], bytes]) -> None:
    with pytest.raises(ValueError):
        call()


def test_longest_name_the_kernel_keeps_whole() -> None:
    assert rdma_codec.check_device_name("x" * 63) == "x" * 63


# --- GUIDs and value names ---
@given(u64)
def test_guid_forms_round_trip(guid: int) -> None:
    hexed, grouped = rdma_codec.format_guid_hex(guid), rdma_codec.format_guid_text(guid)
    assert len(hexed) == 16 and len(grouped) == 19 and grouped.replace(":", "") == hexed
    assert rdma_codec.parse_guid(hexed) == rdma_codec.parse_guid(grouped) == rdma_codec.parse_guid(grouped.upper()) == guid


def test_guid_as_the_tools_print_it() -> None:
    # ibv_devices in the plugin's own documentation: "rocep68s0  069081fffe2c4f90".
    assert rdma_codec.format_guid_hex(0x069081FFFE2C4F90) == "069081fffe2c4f90"
    assert rdma_codec.format_guid_text(0x069081FFFE2C4F90) == "0690:81ff:fe2c:4f90"


@pytest.mark.parametrize("bad", ["", "0690:81ff:fe2c:4f9", "069081fffe2c4f9g", "0690-81ff-fe2c-4f90", "0690:81fffe2c:4f90:", "1" * 17])
def test_parse_guid_refuses_other_text(bad: str) -> None:
    with pytest.raises(ValueError):
        rdma_codec.parse_guid(bad)


def test_value_names() -> None:
    p = RdmaPort(0, "mlx5_0", 1, 4, 5, 7, "enp68s0", None, None, None, None, None)
    assert (p.state_name, p.phys_state_name) == ("ACTIVE", "LINK_UP")
    odd = RdmaPort(0, "x", 1, 9, 0, None, None, None, None, None, None, None)
    assert (odd.state_name, odd.phys_state_name) == ("UNKNOWN(9)", "UNKNOWN(0)")
    dev = RdmaDevice(0, "x", 1, 0, 0, 4, 0, None, None, None, None, None, None)
    assert dev.node_type_name == "RNIC"


def test_decoded_objects_are_frozen() -> None:
    p = RdmaPort(0, "x", 1, 4, 5, None, None, None, None, None, None, None)
    with pytest.raises(AttributeError):
        p.state = 1  # type: ignore[misc]
    assert not hasattr(p, "__dict__")
