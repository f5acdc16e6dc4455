"""RDMA netlink numbers and the ``enum rdma_nldev_attr`` table (``rdma/rdma_netlink.h``).

RDMA netlink (``NETLINK_RDMA``) has no family header: attributes follow the ``nlmsghdr``
directly. The message type packs a client and an operation: ``(client << 10) + op``; every
request hostdev sends is for the device client ``RDMA_NL_NLDEV``.

Every number here is checked against ``/usr/include/rdma/rdma_netlink.h`` by
``tests/unit/test_rdma_tables.py``; the names in :data:`NEWER_UAPI_ATTRS` and
:data:`NEWER_UAPI_COMMANDS` are newer than the 6.1 header and are checked only when the
installed header has them.
"""

from __future__ import annotations


from hostdev._netlink.attrs import Attr, AttrSet, Kind, Operation, value_names

# --- clients (the anonymous first enum of rdma_netlink.h) ---
RDMA_NL_IWCM = 2
RDMA_NL_RSVD = 3
RDMA_NL_LS = 4
RDMA_NL_NLDEV = 5

_CLIENT_SHIFT = 10
_OP_MASK = (1 << _CLIENT_SHIFT) - 1
_CLIENT_MASK = (1 << 6) - 1


def rdma_nl_get_type(client: int, op: int) -> int:
    """``RDMA_NL_GET_TYPE(client, op)``: the ``nlmsg_type`` of an RDMA netlink message."""
    return (client << _CLIENT_SHIFT) + op


def rdma_nl_get_client(msg_type: int) -> int:
    """``RDMA_NL_GET_CLIENT(type)``"""
    return (msg_type >> _CLIENT_SHIFT) & _CLIENT_MASK


def rdma_nl_get_op(msg_type: int) -> int:
    """``RDMA_NL_GET_OP(type)``"""
    return msg_type & _OP_MASK


# --- enum rdma_nldev_command ---
RDMA_NLDEV_CMD_GET = 1  # can dump
RDMA_NLDEV_CMD_SET = 2
RDMA_NLDEV_CMD_NEWLINK = 3
RDMA_NLDEV_CMD_DELLINK = 4
RDMA_NLDEV_CMD_PORT_GET = 5  # can dump (the dump needs DEV_INDEX: it lists one device's ports)
RDMA_NLDEV_CMD_SYS_GET = 6
RDMA_NLDEV_CMD_SYS_SET = 7

COMMANDS: dict[str, int] = {
    "RDMA_NLDEV_CMD_UNSPEC": 0,
    "RDMA_NLDEV_CMD_GET": RDMA_NLDEV_CMD_GET,
    "RDMA_NLDEV_CMD_SET": RDMA_NLDEV_CMD_SET,
    "RDMA_NLDEV_CMD_NEWLINK": RDMA_NLDEV_CMD_NEWLINK,
    "RDMA_NLDEV_CMD_DELLINK": RDMA_NLDEV_CMD_DELLINK,
    "RDMA_NLDEV_CMD_PORT_GET": RDMA_NLDEV_CMD_PORT_GET,
    "RDMA_NLDEV_CMD_SYS_GET": RDMA_NLDEV_CMD_SYS_GET,
    "RDMA_NLDEV_CMD_SYS_SET": RDMA_NLDEV_CMD_SYS_SET,
    # 8 is free
    "RDMA_NLDEV_CMD_RES_GET": 9,
    "RDMA_NLDEV_CMD_RES_QP_GET": 10,
    "RDMA_NLDEV_CMD_RES_CM_ID_GET": 11,
    "RDMA_NLDEV_CMD_RES_CQ_GET": 12,
    "RDMA_NLDEV_CMD_RES_MR_GET": 13,
    "RDMA_NLDEV_CMD_RES_PD_GET": 14,
    "RDMA_NLDEV_CMD_GET_CHARDEV": 15,
    "RDMA_NLDEV_CMD_STAT_SET": 16,
    "RDMA_NLDEV_CMD_STAT_GET": 17,
    "RDMA_NLDEV_CMD_STAT_DEL": 18,
    "RDMA_NLDEV_CMD_RES_QP_GET_RAW": 19,
    "RDMA_NLDEV_CMD_RES_CQ_GET_RAW": 20,
    "RDMA_NLDEV_CMD_RES_MR_GET_RAW": 21,
    "RDMA_NLDEV_CMD_RES_CTX_GET": 22,
    "RDMA_NLDEV_CMD_RES_SRQ_GET": 23,
    "RDMA_NLDEV_CMD_STAT_GET_STATUS": 24,
    "RDMA_NLDEV_CMD_RES_SRQ_GET_RAW": 25,  # newer uapi
    "RDMA_NLDEV_CMD_NEWDEV": 26,  # newer uapi
    "RDMA_NLDEV_CMD_DELDEV": 27,  # newer uapi
    "RDMA_NLDEV_CMD_MONITOR": 28,  # newer uapi
}
NEWER_UAPI_COMMANDS = frozenset(
    {"RDMA_NLDEV_CMD_RES_SRQ_GET_RAW", "RDMA_NLDEV_CMD_NEWDEV", "RDMA_NLDEV_CMD_DELDEV", "RDMA_NLDEV_CMD_MONITOR"}
)

# --- message types of the requests hostdev sends ---
NLDEV_GET = rdma_nl_get_type(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET)  # 0x1401
NLDEV_SET = rdma_nl_get_type(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SET)  # 0x1402
NLDEV_PORT_GET = rdma_nl_get_type(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_PORT_GET)  # 0x1405
NLDEV_SYS_GET = rdma_nl_get_type(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_GET)  # 0x1406
NLDEV_SYS_SET = rdma_nl_get_type(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_SYS_SET)  # 0x1407

IB_DEVICE_NAME_MAX = 64  # include/rdma/ib_verbs.h; the kernel keeps at most 63 bytes + NUL


# --- value sets (classes of int constants, not IntEnum: enum costs the plugin's start-up) ---
class NodeType:
    """``RDMA_NLDEV_ATTR_DEV_NODE_TYPE`` (uapi ``RDMA_NODE_*``)."""

    IB_CA = 1
    IB_SWITCH = 2
    IB_ROUTER = 3
    RNIC = 4
    USNIC = 5
    USNIC_UDP = 6
    UNSPECIFIED = 7


class PortState:
    """``RDMA_NLDEV_ATTR_PORT_STATE`` (kernel ``enum ib_port_state``; not in the uapi header)."""

    NOP = 0
    DOWN = 1
    INIT = 2
    ARMED = 3
    ACTIVE = 4
    ACTIVE_DEFER = 5


class PortPhysState:
    """``RDMA_NLDEV_ATTR_PORT_PHYS_STATE`` (kernel ``enum ib_port_phys_state``; not in uapi)."""

    SLEEP = 1
    POLLING = 2
    DISABLED = 3
    PORT_CONFIGURATION_TRAINING = 4
    LINK_UP = 5
    LINK_ERROR_RECOVERY = 6
    PHY_TEST = 7


class NetnsMode:
    """``RDMA_NLDEV_SYS_ATTR_NETNS_MODE``: the values ``nldev_set_sys_set_netns_doit`` accepts."""

    EXCLUSIVE = 0  # a device lives in one netns and is seen only there
    SHARED = 1  # every netns sees every device (the kernel's default); devices cannot move


NODE_TYPE_NAMES = value_names(NodeType)
PORT_STATE_NAMES = value_names(PortState)
PORT_PHYS_STATE_NAMES = value_names(PortPhysState)


# --- enum rdma_nldev_attr ---
# The table's prefix is "RDMA_NLDEV_" so that prefix + name is the header's own macro: three
# members do not start with RDMA_NLDEV_ATTR_ (SYS_ATTR_NETNS_MODE, NET_NS_FD, SYS_ATTR_*).
U8, U32, U64, UINT = Kind.U8, Kind.U32, Kind.U64, Kind.UINT
STRING, BINARY, NEST, PAD = Kind.STRING, Kind.BINARY, Kind.NEST, Kind.PAD
S32 = Kind.S32

NLDEV = AttrSet("RDMA_NLDEV_", [
    Attr(0, "ATTR_PAD", PAD),  # = ATTR_UNSPEC; put before u64s on arches that need alignment
    Attr(1, "ATTR_DEV_INDEX", U32),
    Attr(2, "ATTR_DEV_NAME", STRING),
    Attr(3, "ATTR_PORT_INDEX", U32),  # in a GET reply: the number of ports
    Attr(4, "ATTR_CAP_FLAGS", U64),
    Attr(5, "ATTR_FW_VERSION", STRING),
    Attr(6, "ATTR_NODE_GUID", U64),  # host byte order
    Attr(7, "ATTR_SYS_IMAGE_GUID", U64),  # host byte order
    Attr(8, "ATTR_SUBNET_PREFIX", U64),
    Attr(9, "ATTR_LID", U32),
    Attr(10, "ATTR_SM_LID", U32),
    Attr(11, "ATTR_LMC", U8),
    Attr(12, "ATTR_PORT_STATE", U8),
    Attr(13, "ATTR_PORT_PHYS_STATE", U8),
    Attr(14, "ATTR_DEV_NODE_TYPE", U8),
    Attr(15, "ATTR_RES_SUMMARY", NEST),
    Attr(16, "ATTR_RES_SUMMARY_ENTRY", NEST),
    Attr(17, "ATTR_RES_SUMMARY_ENTRY_NAME", STRING),
    Attr(18, "ATTR_RES_SUMMARY_ENTRY_CURR", U64),
    Attr(19, "ATTR_RES_QP", NEST),
    Attr(20, "ATTR_RES_QP_ENTRY", NEST),
    Attr(21, "ATTR_RES_LQPN", U32),
    Attr(22, "ATTR_RES_RQPN", U32),
    Attr(23, "ATTR_RES_RQ_PSN", U32),
    Attr(24, "ATTR_RES_SQ_PSN", U32),
    Attr(25, "ATTR_RES_PATH_MIG_STATE", U8),
    Attr(26, "ATTR_RES_TYPE", U8),
    Attr(27, "ATTR_RES_STATE", U8),
    Attr(28, "ATTR_RES_PID", U32),
    Attr(29, "ATTR_RES_KERN_NAME", STRING),
    Attr(30, "ATTR_RES_CM_ID", NEST),
    Attr(31, "ATTR_RES_CM_ID_ENTRY", NEST),
    Attr(32, "ATTR_RES_PS", U32),
    Attr(33, "ATTR_RES_SRC_ADDR", BINARY),  # struct __kernel_sockaddr_storage
    Attr(34, "ATTR_RES_DST_ADDR", BINARY),
    Attr(35, "ATTR_RES_CQ", NEST),
    Attr(36, "ATTR_RES_CQ_ENTRY", NEST),
    Attr(37, "ATTR_RES_CQE", U32),
    Attr(38, "ATTR_RES_USECNT", U64),
    Attr(39, "ATTR_RES_POLL_CTX", U8),
    Attr(40, "ATTR_RES_MR", NEST),
    Attr(41, "ATTR_RES_MR_ENTRY", NEST),
    Attr(42, "ATTR_RES_RKEY", U32),
    Attr(43, "ATTR_RES_LKEY", U32),
    Attr(44, "ATTR_RES_IOVA", U64),
    Attr(45, "ATTR_RES_MRLEN", U64),
    Attr(46, "ATTR_RES_PD", NEST),
    Attr(47, "ATTR_RES_PD_ENTRY", NEST),
    Attr(48, "ATTR_RES_LOCAL_DMA_LKEY", U32),
    Attr(49, "ATTR_RES_UNSAFE_GLOBAL_RKEY", U32),
    Attr(50, "ATTR_NDEV_INDEX", U32),  # only when the port's netdev is in the requester's netns
    Attr(51, "ATTR_NDEV_NAME", STRING),
    Attr(52, "ATTR_DRIVER", NEST),
    Attr(53, "ATTR_DRIVER_ENTRY", NEST),
    Attr(54, "ATTR_DRIVER_STRING", STRING),
    Attr(55, "ATTR_DRIVER_PRINT_TYPE", U8),
    Attr(56, "ATTR_DRIVER_S32", S32),
    Attr(57, "ATTR_DRIVER_U32", U32),
    Attr(58, "ATTR_DRIVER_S64", BINARY),  # s64: the core codec has no signed 64-bit kind
    Attr(59, "ATTR_DRIVER_U64", U64),
    Attr(60, "ATTR_RES_PDN", U32),
    Attr(61, "ATTR_RES_CQN", U32),
    Attr(62, "ATTR_RES_MRN", U32),
    Attr(63, "ATTR_RES_CM_IDN", U32),
    Attr(64, "ATTR_RES_CTXN", U32),
    Attr(65, "ATTR_LINK_TYPE", STRING),  # e.g. "rxe"
    Attr(66, "SYS_ATTR_NETNS_MODE", U8),  # NetnsMode
    Attr(67, "ATTR_DEV_PROTOCOL", STRING),  # ib / roce / iw / opa / usnic
    Attr(68, "NET_NS_FD", U32),
    Attr(69, "ATTR_CHARDEV_TYPE", STRING),
    Attr(70, "ATTR_CHARDEV_NAME", STRING),
    Attr(71, "ATTR_CHARDEV_ABI", U64),
    Attr(72, "ATTR_CHARDEV", U64),
    Attr(73, "ATTR_UVERBS_DRIVER_ID", UINT),  # u64 in the header, NLA_U32 in nldev_policy
    Attr(74, "ATTR_STAT_MODE", U32),
    Attr(75, "ATTR_STAT_RES", U32),
    Attr(76, "ATTR_STAT_AUTO_MODE_MASK", U32),
    Attr(77, "ATTR_STAT_COUNTER", NEST),
    Attr(78, "ATTR_STAT_COUNTER_ENTRY", NEST),
    Attr(79, "ATTR_STAT_COUNTER_ID", U32),
    Attr(80, "ATTR_STAT_HWCOUNTERS", NEST),
    Attr(81, "ATTR_STAT_HWCOUNTER_ENTRY", NEST),
    Attr(82, "ATTR_STAT_HWCOUNTER_ENTRY_NAME", STRING),
    Attr(83, "ATTR_STAT_HWCOUNTER_ENTRY_VALUE", U64),
    Attr(84, "ATTR_DEV_DIM", U8),
    Attr(85, "ATTR_RES_RAW", BINARY),
    Attr(86, "ATTR_RES_CTX", NEST),
    Attr(87, "ATTR_RES_CTX_ENTRY", NEST),
    Attr(88, "ATTR_RES_SRQ", NEST),
    Attr(89, "ATTR_RES_SRQ_ENTRY", NEST),
    Attr(90, "ATTR_RES_SRQN", U32),
    Attr(91, "ATTR_MIN_RANGE", U32),
    Attr(92, "ATTR_MAX_RANGE", U32),
    Attr(93, "SYS_ATTR_COPY_ON_FORK", U8),  # read-only: the kernel always reports 1
    Attr(94, "ATTR_STAT_HWCOUNTER_INDEX", U32),
    Attr(95, "ATTR_STAT_HWCOUNTER_DYNAMIC", U8),
    Attr(96, "SYS_ATTR_PRIVILEGED_QKEY_MODE", U8),  # newer uapi (backported into Debian 6.1)
    Attr(97, "ATTR_DRIVER_DETAILS", U8),  # newer uapi
    Attr(98, "ATTR_RES_SUBTYPE", STRING),  # newer uapi
    Attr(99, "ATTR_DEV_TYPE", U8),  # newer uapi
    Attr(100, "ATTR_PARENT_NAME", STRING),  # newer uapi
    Attr(101, "ATTR_NAME_ASSIGN_TYPE", U8),  # newer uapi
    Attr(102, "ATTR_EVENT_TYPE", U8),  # newer uapi
    Attr(103, "SYS_ATTR_MONITOR_MODE", U8),  # newer uapi
])  # fmt: skip

NEWER_UAPI_ATTRS = frozenset(range(96, 104))


# --- operations: the requests RdmaHandle builds (no family header: attributes follow nlmsghdr) ---
DEV_GET = Operation(NLDEV_GET, "RDMA_NLDEV_CMD_GET", None, NLDEV)
DEV_SET = Operation(NLDEV_SET, "RDMA_NLDEV_CMD_SET", None, NLDEV)
PORT_GET = Operation(NLDEV_PORT_GET, "RDMA_NLDEV_CMD_PORT_GET", None, NLDEV)
SYS_GET = Operation(NLDEV_SYS_GET, "RDMA_NLDEV_CMD_SYS_GET", None, NLDEV)
SYS_SET = Operation(NLDEV_SYS_SET, "RDMA_NLDEV_CMD_SYS_SET", None, NLDEV)

MESSAGE_NAMES = {op.type: op.name for op in (DEV_GET, DEV_SET, PORT_GET, SYS_GET, SYS_SET)}
