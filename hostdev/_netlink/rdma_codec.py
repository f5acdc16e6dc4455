"""RDMA device-client (``RDMA_NL_NLDEV``) messages: request bodies and reply decoders. Pure.

Requests mirror what iproute2's ``rdma`` sends, so our bytes can be compared with its bytes.
A device SET carries exactly one change: the kernel (``nldev_set_doit``) renames and returns
when ``DEV_NAME`` is present, silently ignoring a ``NET_NS_FD`` beside it. So there is no
general "set" builder here: :func:`move_device_body` and :func:`rename_device_body` are the
only ways to build a SET, and neither can carry the other's attribute.

Copy-on-fork is reported by ``SYS_GET`` but is not settable (the kernel always reports 1 and
``nldev_set_sys_set_doit`` handles only the netns mode and the privileged-qkey mode), so there
is no builder for it.
"""

from __future__ import annotations

from hostdev._record import record
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    NetnsModeName = Literal["exclusive", "shared"]

from hostdev._netlink.attrs import Attrs, Buffer
from hostdev._netlink.rdma_tables import (
    IB_DEVICE_NAME_MAX,
    NLDEV,
    RDMA_NL_NLDEV,
    RDMA_NLDEV_CMD_GET,
    RDMA_NLDEV_CMD_PORT_GET,
    RDMA_NLDEV_CMD_SYS_GET,
    NODE_TYPE_NAMES,
    PORT_PHYS_STATE_NAMES,
    PORT_STATE_NAMES,
    NetnsMode,
    rdma_nl_get_client,
    rdma_nl_get_op,
)
# The operations the requests below go out as, for callers that import only the codec.
from hostdev._netlink.rdma_tables import DEV_GET as DEV_GET
from hostdev._netlink.rdma_tables import DEV_SET as DEV_SET
from hostdev._netlink.rdma_tables import PORT_GET as PORT_GET
from hostdev._netlink.rdma_tables import SYS_GET as SYS_GET
from hostdev._netlink.rdma_tables import SYS_SET as SYS_SET
from hostdev._netlink.wire import MessageHeader
from hostdev.errors import DecodeError


_DEV_INDEX = NLDEV["ATTR_DEV_INDEX"]
_DEV_NAME = NLDEV["ATTR_DEV_NAME"]
_PORT_INDEX = NLDEV["ATTR_PORT_INDEX"]
_CAP_FLAGS = NLDEV["ATTR_CAP_FLAGS"]
_FW_VERSION = NLDEV["ATTR_FW_VERSION"]
_NODE_GUID = NLDEV["ATTR_NODE_GUID"]
_SYS_IMAGE_GUID = NLDEV["ATTR_SYS_IMAGE_GUID"]
_SUBNET_PREFIX = NLDEV["ATTR_SUBNET_PREFIX"]
_LID = NLDEV["ATTR_LID"]
_SM_LID = NLDEV["ATTR_SM_LID"]
_LMC = NLDEV["ATTR_LMC"]
_PORT_STATE = NLDEV["ATTR_PORT_STATE"]
_PORT_PHYS_STATE = NLDEV["ATTR_PORT_PHYS_STATE"]
_NODE_TYPE = NLDEV["ATTR_DEV_NODE_TYPE"]
_NDEV_INDEX = NLDEV["ATTR_NDEV_INDEX"]
_NDEV_NAME = NLDEV["ATTR_NDEV_NAME"]
_NETNS_MODE = NLDEV["SYS_ATTR_NETNS_MODE"]
_PROTOCOL = NLDEV["ATTR_DEV_PROTOCOL"]
_DIM = NLDEV["ATTR_DEV_DIM"]
_COPY_ON_FORK = NLDEV["SYS_ATTR_COPY_ON_FORK"]
_PRIVILEGED_QKEY = NLDEV["SYS_ATTR_PRIVILEGED_QKEY_MODE"]
_DEV_TYPE = NLDEV["ATTR_DEV_TYPE"]
_PARENT_NAME = NLDEV["ATTR_PARENT_NAME"]
_NAME_ASSIGN_TYPE = NLDEV["ATTR_NAME_ASSIGN_TYPE"]
_MONITOR_MODE = NLDEV["SYS_ATTR_MONITOR_MODE"]

DEVICE_ATTRS = frozenset(
    {_DEV_INDEX, _DEV_NAME, _PORT_INDEX, _CAP_FLAGS, _FW_VERSION, _NODE_GUID, _SYS_IMAGE_GUID,
     _NODE_TYPE, _PROTOCOL, _DIM, _DEV_TYPE, _PARENT_NAME, _NAME_ASSIGN_TYPE}
)  # fmt: skip
PORT_ATTRS = frozenset(
    {_DEV_INDEX, _DEV_NAME, _PORT_INDEX, _CAP_FLAGS, _SUBNET_PREFIX, _LID, _SM_LID, _LMC,
     _PORT_STATE, _PORT_PHYS_STATE, _NDEV_INDEX, _NDEV_NAME}
)  # fmt: skip
SYSTEM_ATTRS = frozenset({_NETNS_MODE, _COPY_ON_FORK, _PRIVILEGED_QKEY, _MONITOR_MODE})

_U32_MAX = 0xFFFFFFFF


# --- GUIDs ---
def format_guid_hex(guid: int) -> str:
    """16 lowercase hex digits, as ``ibv_devices`` prints a node GUID (``505400fffe000010``)."""
    return f"{guid:016x}"


def format_guid_text(guid: int) -> str:
    """Four groups of four hex digits, as ``rdma dev`` prints a GUID (``5054:00ff:fe00:0010``)."""
    digits = f"{guid:016x}"
    return ":".join(digits[i : i + 4] for i in range(0, 16, 4))


def parse_guid(text: str) -> int:
    """Either printed form back to the number; ValueError for anything else."""
    digits = text.replace(":", "") if len(text) == 19 and text[4::5] == ":::" else text
    if len(digits) != 16 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"not a GUID: {text[:40]!r}")
    return int(digits, 16)


def _value_name(names: dict[int, str], value: int) -> str:
    return names.get(value, f"UNKNOWN({value})")


# --- decoded objects ---
@record
class RdmaDevice:
    """An RDMA device as ``RDMA_NLDEV_CMD_GET`` reports it (``rdma dev show -d``)."""

    index: int
    name: str
    port_count: int
    node_guid: int  # host order: format with node_guid_hex / node_guid_text
    sys_image_guid: int
    node_type: int  # NodeType
    cap_flags: int
    fw_version: str | None  # omitted by the kernel when the driver has none
    protocol: str | None  # "ib", "roce", "iw", "opa", "usnic"
    dim: bool | None  # CQ adaptive moderation
    dev_type: int | None  # newer kernels: 1 = SMI sub-device
    parent_name: str | None  # newer kernels: the parent of a sub-device
    name_assign_type: int | None  # newer kernels: 1 = name given by user space

    @property
    def node_guid_hex(self) -> str:
        return format_guid_hex(self.node_guid)

    @property
    def node_guid_text(self) -> str:
        return format_guid_text(self.node_guid)

    @property
    def sys_image_guid_text(self) -> str:
        return format_guid_text(self.sys_image_guid)

    @property
    def node_type_name(self) -> str:
        return _value_name(NODE_TYPE_NAMES, self.node_type)


@record
class RdmaPort:
    """One port as ``RDMA_NLDEV_CMD_PORT_GET`` reports it (``rdma link show DEV/PORT``)."""

    dev_index: int
    dev_name: str
    port_index: int
    state: int  # PortState
    phys_state: int  # PortPhysState
    netdev_index: int | None  # None when the netdev is not in the requester's netns (or none)
    netdev_name: str | None
    cap_flags: int | None  # IB ports only on current kernels
    subnet_prefix: int | None  # IB ports only
    lid: int | None
    sm_lid: int | None
    lmc: int | None

    @property
    def state_name(self) -> str:
        return _value_name(PORT_STATE_NAMES, self.state)

    @property
    def phys_state_name(self) -> str:
        return _value_name(PORT_PHYS_STATE_NAMES, self.phys_state)


@record
class RdmaSystem:
    """``rdma system show``: the RDMA subsystem's global settings."""

    netns_mode: NetnsModeName
    copy_on_fork: bool | None
    privileged_qkey: bool | None  # newer kernels (backported into Debian's 6.1)
    monitor_mode: bool | None  # newer kernels


# --- decoders ---
def _attrs_of(buf: Buffer, msg: MessageHeader, ops: tuple[int, ...], wanted: frozenset[int], what: str) -> Attrs:
    """The attributes of a reply whose operation is one of ``ops`` (else DecodeError)."""
    if rdma_nl_get_client(msg.type) != RDMA_NL_NLDEV or rdma_nl_get_op(msg.type) not in ops:
        raise DecodeError(f"{what}: unexpected message type {msg.type:#x}")
    return NLDEV.decode(buf, msg.payload, msg.end, wanted)


def decode_device(buf: Buffer, msg: MessageHeader) -> RdmaDevice:
    """A ``RDMA_NLDEV_CMD_GET`` reply (dump or by index)."""
    what = "RDMA device"
    attrs = _attrs_of(buf, msg, (RDMA_NLDEV_CMD_GET,), DEVICE_ATTRS, what)
    return RdmaDevice(
        index=attrs.required_integer(_DEV_INDEX, what),
        name=attrs.required_text(_DEV_NAME, what),
        port_count=attrs.required_integer(_PORT_INDEX, what),
        node_guid=attrs.required_integer(_NODE_GUID, what),
        sys_image_guid=attrs.required_integer(_SYS_IMAGE_GUID, what),
        node_type=attrs.required_integer(_NODE_TYPE, what),
        cap_flags=attrs.required_integer(_CAP_FLAGS, what),
        fw_version=attrs.text(_FW_VERSION),
        protocol=attrs.text(_PROTOCOL),
        dim=attrs.boolean(_DIM),
        dev_type=attrs.integer(_DEV_TYPE),
        parent_name=attrs.text(_PARENT_NAME),
        name_assign_type=attrs.integer(_NAME_ASSIGN_TYPE),
    )


def decode_port(buf: Buffer, msg: MessageHeader) -> RdmaPort:
    """A ``RDMA_NLDEV_CMD_PORT_GET`` reply: a dump answers with type PORT_GET, a request for
    one port with type GET (``nldev_port_get_doit``)."""
    what = "RDMA port"
    attrs = _attrs_of(buf, msg, (RDMA_NLDEV_CMD_PORT_GET, RDMA_NLDEV_CMD_GET), PORT_ATTRS, what)
    return RdmaPort(
        dev_index=attrs.required_integer(_DEV_INDEX, what),
        dev_name=attrs.required_text(_DEV_NAME, what),
        port_index=attrs.required_integer(_PORT_INDEX, what),
        state=attrs.required_integer(_PORT_STATE, what),
        phys_state=attrs.required_integer(_PORT_PHYS_STATE, what),
        netdev_index=attrs.integer(_NDEV_INDEX),
        netdev_name=attrs.text(_NDEV_NAME),
        cap_flags=attrs.integer(_CAP_FLAGS),
        subnet_prefix=attrs.integer(_SUBNET_PREFIX),
        lid=attrs.integer(_LID),
        sm_lid=attrs.integer(_SM_LID),
        lmc=attrs.integer(_LMC),
    )


def decode_system(buf: Buffer, msg: MessageHeader) -> RdmaSystem:
    """A ``RDMA_NLDEV_CMD_SYS_GET`` reply."""
    attrs = _attrs_of(buf, msg, (RDMA_NLDEV_CMD_SYS_GET,), SYSTEM_ATTRS, "RDMA system")
    mode = attrs.required_integer(_NETNS_MODE, "RDMA system")
    if mode not in (NetnsMode.EXCLUSIVE, NetnsMode.SHARED):
        raise DecodeError(f"RDMA system: netns mode {mode} is neither exclusive (0) nor shared (1)")
    return RdmaSystem(
        netns_mode="exclusive" if mode == NetnsMode.EXCLUSIVE else "shared",
        copy_on_fork=attrs.boolean(_COPY_ON_FORK),
        privileged_qkey=attrs.boolean(_PRIVILEGED_QKEY),
        monitor_mode=attrs.boolean(_MONITOR_MODE),
    )


# --- requests ---
def _u32(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32_MAX:
        raise ValueError(f"{what} must be an integer in 0..{_U32_MAX}, not {value!r}")
    return value


def _index(index: int) -> bytes:
    return NLDEV.encode_one("ATTR_DEV_INDEX", _u32(index, "device index"))


def dump_devices_body() -> bytes:
    """``rdma dev show`` (a dump; the kernel lists the devices visible from the socket's netns)."""
    return b""


def get_device_body(index: int) -> bytes:
    """``rdma dev show`` for one device; the kernel looks devices up only by index."""
    return _index(index)


def get_port_body(dev_index: int, port_index: int) -> bytes:
    """``rdma link show DEV/PORT`` (what iproute2 sends: one request per port)."""
    return _index(dev_index) + NLDEV.encode_one("ATTR_PORT_INDEX", _u32(port_index, "port index"))


def dump_ports_body(dev_index: int) -> bytes:
    """Every port of one device (the kernel's PORT_GET dump needs the device index)."""
    return _index(dev_index)


def sys_get_body() -> bytes:
    """``rdma system show``"""
    return b""


def netns_mode_value(mode: NetnsModeName | int) -> int:
    """A NetnsMode value from its name or itself."""
    if isinstance(mode, int) and mode in (NetnsMode.EXCLUSIVE, NetnsMode.SHARED):
        return mode
    if mode == "exclusive":
        return NetnsMode.EXCLUSIVE
    if mode == "shared":
        return NetnsMode.SHARED
    raise ValueError(f"netns mode must be 'exclusive' or 'shared', not {mode!r}")


def set_netns_mode_body(mode: NetnsModeName | int) -> bytes:
    """``rdma system set netns exclusive|shared``"""
    return NLDEV.encode_one("SYS_ATTR_NETNS_MODE", netns_mode_value(mode))


def move_device_body(index: int, netns_fd: int) -> bytes:
    """``rdma dev set DEV netns NS``: ``DEV_INDEX`` + ``NET_NS_FD`` and nothing else."""
    if not isinstance(netns_fd, int) or isinstance(netns_fd, bool) or not 0 <= netns_fd < 2**31:
        raise ValueError(f"netns fd must be a non-negative int, not {netns_fd!r}")
    return _index(index) + NLDEV.encode_one("NET_NS_FD", netns_fd)


def rename_device_body(index: int, name: str) -> bytes:
    """``rdma dev set DEV name NEW``: ``DEV_INDEX`` + ``DEV_NAME`` and nothing else."""
    return _index(index) + NLDEV.encode_one("ATTR_DEV_NAME", check_device_name(name))


def check_device_name(name: str) -> str:
    """An RDMA device name the kernel will keep whole (it truncates at 63 bytes) and that is a
    valid sysfs entry; ``%`` is refused because the kernel treats it as a name template."""
    if not isinstance(name, str):
        raise ValueError(f"RDMA device name must be a str, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogateescape")
    if (
        not raw
        or len(raw) >= IB_DEVICE_NAME_MAX
        or name in (".", "..")
        or any(c in name for c in "/%\0")
        or any(c.isspace() for c in name)
    ):
        raise ValueError(f"invalid RDMA device name {name[:IB_DEVICE_NAME_MAX]!r}")
    return name
