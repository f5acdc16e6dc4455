"""rtnetlink numbers and attribute tables (``linux/rtnetlink.h``, ``if_link.h``, ``if_addr.h``).

Every number here is checked against the installed kernel headers by
``tests/unit/test_header_numbers.py``; rows marked *newer uapi* are checked only when the
header has them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import struct
else:  # struct.py only re-exports the C module: one module less per plugin exec
    import _struct as struct

from hostdev._netlink.attrs import Attr, AttrSet, Kind, Operation

# --- message types ---
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
RTM_NEWNEIGHTBL = 64
RTM_GETNEIGHTBL = 66
RTM_SETNEIGHTBL = 67
RTM_NEWLINKPROP = 108
RTM_DELLINKPROP = 109

MESSAGE_NAMES = {
    RTM_NEWLINK: "RTM_NEWLINK", RTM_DELLINK: "RTM_DELLINK", RTM_GETLINK: "RTM_GETLINK",
    RTM_SETLINK: "RTM_SETLINK", RTM_NEWADDR: "RTM_NEWADDR", RTM_DELADDR: "RTM_DELADDR",
    RTM_GETADDR: "RTM_GETADDR", RTM_NEWROUTE: "RTM_NEWROUTE", RTM_DELROUTE: "RTM_DELROUTE",
    RTM_GETROUTE: "RTM_GETROUTE", RTM_NEWNEIGH: "RTM_NEWNEIGH", RTM_DELNEIGH: "RTM_DELNEIGH",
    RTM_GETNEIGH: "RTM_GETNEIGH", RTM_NEWNEIGHTBL: "RTM_NEWNEIGHTBL",
    RTM_GETNEIGHTBL: "RTM_GETNEIGHTBL", RTM_SETNEIGHTBL: "RTM_SETNEIGHTBL",
    RTM_NEWLINKPROP: "RTM_NEWLINKPROP", RTM_DELLINKPROP: "RTM_DELLINKPROP",
}  # fmt: skip

# --- multicast groups (bind(2) bitmask): link events, what ``ip monitor link`` listens to ---
RTMGRP_LINK = 0x1

# --- fixed family headers ---
IFINFOMSG = struct.Struct("=BxHiII")  # family, pad, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
IFA_CACHEINFO = struct.Struct("=IIII")  # preferred, valid, cstamp, tstamp
NDMSG = struct.Struct("=BxxxiHBB")  # family, pad1, pad2, ifindex, state, flags, type (linux/neighbour.h)
NDTMSG = struct.Struct("=Bxxx")  # family, pad1, pad2

AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000

IF_OPER_UNKNOWN = 0  # IFLA_OPERSTATE (RFC 2863), linux/if.h
IF_OPER_UP = 6


RTEXT_FILTER_VF = 1
RTEXT_FILTER_SKIP_STATS = 8

INFINITY_LIFE_TIME = 0xFFFFFFFF

IFA_F_SECONDARY = 0x01
IFA_F_TEMPORARY = IFA_F_SECONDARY
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
IFA_F_STABLE_PRIVACY = 0x800

IFAPROT_UNSPEC = 0
IFAPROT_KERNEL_LO = 1
IFAPROT_KERNEL_RA = 2
IFAPROT_KERNEL_LL = 3

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255

RT_TABLE_UNSPEC = 0
RT_TABLE_DEFAULT = 253
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255

RTPROT_UNSPEC = 0
RTPROT_REDIRECT = 1
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RTPROT_STATIC = 4
RTPROT_RA = 9

RTN_UNSPEC = 0
RTN_UNICAST = 1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RTN_ANYCAST = 4
RTN_MULTICAST = 5
RTN_BLACKHOLE = 6
RTN_UNREACHABLE = 7
RTN_PROHIBIT = 8

RTNH_F_DEAD = 1
RTNH_F_ONLINK = 4
RTNH_F_LINKDOWN = 16
RTM_F_CLONED = 0x200

# Neighbour states (ndm_state) and flags (ndm_flags), linux/neighbour.h.
NUD_NONE = 0x00
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

NTF_USE = 0x01
NTF_SELF = 0x02
NTF_MASTER = 0x04
NTF_PROXY = 0x08
NTF_EXT_LEARNED = 0x10
NTF_OFFLOADED = 0x20
NTF_STICKY = 0x40
NTF_ROUTER = 0x80

U8, U16, U32, S32, U64, UINT = Kind.U8, Kind.U16, Kind.U32, Kind.S32, Kind.U64, Kind.UINT
STRING, BINARY, NEST, FLAG = Kind.STRING, Kind.BINARY, Kind.NEST, Kind.FLAG

IFLA_INFO = AttrSet("IFLA_INFO_", [
    Attr(1, "KIND", STRING),
    Attr(2, "DATA", NEST),
    Attr(3, "XSTATS", BINARY),
    Attr(4, "SLAVE_KIND", STRING),
    Attr(5, "SLAVE_DATA", NEST),
])  # fmt: skip

IFLA_PROP = AttrSet("IFLA_", [Attr(53, "ALT_IFNAME", STRING, multi=True)])

IFLA = AttrSet("IFLA_", [
    Attr(1, "ADDRESS", BINARY),
    Attr(2, "BROADCAST", BINARY),
    Attr(3, "IFNAME", STRING),
    Attr(4, "MTU", U32),
    Attr(5, "LINK", U32),
    Attr(6, "QDISC", STRING),
    Attr(7, "STATS", BINARY),
    Attr(10, "MASTER", U32),
    Attr(13, "TXQLEN", U32),
    Attr(16, "OPERSTATE", U8),
    Attr(17, "LINKMODE", U8),
    Attr(18, "LINKINFO", NEST, IFLA_INFO),
    Attr(19, "NET_NS_PID", U32),
    Attr(20, "IFALIAS", STRING),
    Attr(21, "NUM_VF", U32),
    Attr(23, "STATS64", BINARY),
    Attr(26, "AF_SPEC", NEST),
    Attr(27, "GROUP", U32),
    Attr(28, "NET_NS_FD", U32),
    Attr(29, "EXT_MASK", U32),
    Attr(30, "PROMISCUITY", U32),
    Attr(31, "NUM_TX_QUEUES", U32),
    Attr(32, "NUM_RX_QUEUES", U32),
    Attr(33, "CARRIER", U8),
    Attr(34, "PHYS_PORT_ID", BINARY),
    Attr(35, "CARRIER_CHANGES", U32),
    Attr(36, "PHYS_SWITCH_ID", BINARY),
    Attr(37, "LINK_NETNSID", S32),
    Attr(38, "PHYS_PORT_NAME", STRING),
    Attr(39, "PROTO_DOWN", U8),
    Attr(40, "GSO_MAX_SEGS", U32),
    Attr(41, "GSO_MAX_SIZE", U32),
    Attr(44, "EVENT", U32),
    Attr(45, "NEW_NETNSID", S32),
    Attr(46, "TARGET_NETNSID", S32),
    Attr(47, "CARRIER_UP_COUNT", U32),
    Attr(48, "CARRIER_DOWN_COUNT", U32),
    Attr(49, "NEW_IFINDEX", S32),
    Attr(50, "MIN_MTU", U32),
    Attr(51, "MAX_MTU", U32),
    Attr(52, "PROP_LIST", NEST, IFLA_PROP),
    Attr(53, "ALT_IFNAME", STRING),
    Attr(54, "PERM_ADDRESS", BINARY),
    Attr(56, "PARENT_DEV_NAME", STRING),
    Attr(57, "PARENT_DEV_BUS_NAME", STRING),
    Attr(58, "GRO_MAX_SIZE", U32),
    Attr(59, "TSO_MAX_SIZE", U32),
    Attr(60, "TSO_MAX_SEGS", U32),
    Attr(61, "ALLMULTI", U32),
    Attr(67, "NETNS_IMMUTABLE", U8),  # newer uapi
])  # fmt: skip

IFA = AttrSet("IFA_", [
    Attr(1, "ADDRESS", BINARY),
    Attr(2, "LOCAL", BINARY),
    Attr(3, "LABEL", STRING),
    Attr(4, "BROADCAST", BINARY),
    Attr(5, "ANYCAST", BINARY),
    Attr(6, "CACHEINFO", BINARY),
    Attr(7, "MULTICAST", BINARY),
    Attr(8, "FLAGS", U32),
    Attr(9, "RT_PRIORITY", U32),
    Attr(10, "TARGET_NETNSID", S32),
    Attr(11, "PROTO", U8),
])  # fmt: skip

RTAX = AttrSet("RTAX_", [
    Attr(1, "LOCK", U32),
    Attr(2, "MTU", U32),
    Attr(3, "WINDOW", U32),
    Attr(4, "RTT", U32),
    Attr(5, "RTTVAR", U32),
    Attr(6, "SSTHRESH", U32),
    Attr(7, "CWND", U32),
    Attr(8, "ADVMSS", U32),
    Attr(9, "REORDERING", U32),
    Attr(10, "HOPLIMIT", U32),
    Attr(11, "INITCWND", U32),
    Attr(12, "FEATURES", U32),
    Attr(13, "RTO_MIN", U32),
    Attr(14, "INITRWND", U32),
    Attr(15, "QUICKACK", U32),
    Attr(16, "CC_ALGO", STRING),
    Attr(17, "FASTOPEN_NO_COOKIE", U32),
])  # fmt: skip

RTA = AttrSet("RTA_", [
    Attr(1, "DST", BINARY),
    Attr(2, "SRC", BINARY),
    Attr(3, "IIF", U32),
    Attr(4, "OIF", U32),
    Attr(5, "GATEWAY", BINARY),
    Attr(6, "PRIORITY", U32),
    Attr(7, "PREFSRC", BINARY),
    Attr(8, "METRICS", NEST, RTAX),
    Attr(9, "MULTIPATH", BINARY),
    Attr(11, "FLOW", U32),
    Attr(12, "CACHEINFO", BINARY),
    Attr(15, "TABLE", U32),
    Attr(16, "MARK", U32),
    Attr(18, "VIA", BINARY),
    Attr(19, "NEWDST", BINARY),
    Attr(20, "PREF", U8),
    Attr(21, "ENCAP_TYPE", U16),
    Attr(22, "ENCAP", NEST),
    Attr(23, "EXPIRES", U32),
    Attr(24, "PAD", Kind.PAD),
    Attr(25, "UID", U32),
    Attr(26, "TTL_PROPAGATE", U8),
    Attr(27, "IP_PROTO", U8),
    Attr(28, "SPORT", Kind.BE16),
    Attr(29, "DPORT", Kind.BE16),
    Attr(30, "NH_ID", U32),
])  # fmt: skip

NDA = AttrSet("NDA_", [
    Attr(1, "DST", BINARY),
    Attr(2, "LLADDR", BINARY),
    Attr(3, "CACHEINFO", BINARY),
    Attr(4, "PROBES", U32),
    Attr(5, "VLAN", U16),
    Attr(6, "PORT", Kind.BE16),
    Attr(7, "VNI", U32),
    Attr(8, "IFINDEX", U32),
    Attr(9, "MASTER", U32),
    Attr(10, "LINK_NETNSID", S32),
    Attr(11, "SRC_VNI", U32),
    Attr(12, "PROTOCOL", U8),
    Attr(13, "NH_ID", U32),
    Attr(14, "FDB_EXT_ATTRS", NEST),
    Attr(15, "FLAGS_EXT", U32),
    Attr(16, "NDM_STATE_MASK", U16),
    Attr(17, "NDM_FLAGS_MASK", U8),
])  # fmt: skip

# Neighbour-table parameters (per table, and per device: NDTPA_IFINDEX). Times are u64 msecs.
NDTPA = AttrSet("NDTPA_", [
    Attr(1, "IFINDEX", U32),
    Attr(2, "REFCNT", U32),
    Attr(3, "REACHABLE_TIME", U64),
    Attr(4, "BASE_REACHABLE_TIME", U64),
    Attr(5, "RETRANS_TIME", U64),
    Attr(6, "GC_STALETIME", U64),
    Attr(7, "DELAY_PROBE_TIME", U64),
    Attr(8, "QUEUE_LEN", U32),
    Attr(9, "APP_PROBES", U32),
    Attr(10, "UCAST_PROBES", U32),
    Attr(11, "MCAST_PROBES", U32),
    Attr(12, "ANYCAST_DELAY", U64),
    Attr(13, "PROXY_DELAY", U64),
    Attr(14, "PROXY_QLEN", U32),
    Attr(15, "LOCKTIME", U64),
    Attr(16, "QUEUE_LENBYTES", U32),
    Attr(17, "MCAST_REPROBES", U32),
    Attr(18, "PAD", Kind.PAD),
    Attr(19, "INTERVAL_PROBE_TIME_MS", U64),
])  # fmt: skip

NDTA = AttrSet("NDTA_", [
    Attr(1, "NAME", STRING),
    Attr(2, "THRESH1", U32),
    Attr(3, "THRESH2", U32),
    Attr(4, "THRESH3", U32),
    Attr(5, "CONFIG", BINARY),
    Attr(6, "PARMS", NEST, NDTPA),
    Attr(7, "STATS", BINARY),
    Attr(8, "GC_INTERVAL", U64),
    Attr(9, "PAD", Kind.PAD),
])  # fmt: skip


# --- operations: the requests handles build (message type, name, family header, attributes) ---
GETLINK = Operation(RTM_GETLINK, "RTM_GETLINK", IFINFOMSG, IFLA)
NEWLINK = Operation(RTM_NEWLINK, "RTM_NEWLINK", IFINFOMSG, IFLA)
NEWLINKPROP = Operation(RTM_NEWLINKPROP, "RTM_NEWLINKPROP", IFINFOMSG, IFLA)
DELLINKPROP = Operation(RTM_DELLINKPROP, "RTM_DELLINKPROP", IFINFOMSG, IFLA)
GETADDR = Operation(RTM_GETADDR, "RTM_GETADDR", IFADDRMSG, IFA)
NEWADDR = Operation(RTM_NEWADDR, "RTM_NEWADDR", IFADDRMSG, IFA)
DELADDR = Operation(RTM_DELADDR, "RTM_DELADDR", IFADDRMSG, IFA)
GETROUTE = Operation(RTM_GETROUTE, "RTM_GETROUTE", RTMSG, RTA)
NEWROUTE = Operation(RTM_NEWROUTE, "RTM_NEWROUTE", RTMSG, RTA)
DELROUTE = Operation(RTM_DELROUTE, "RTM_DELROUTE", RTMSG, RTA)
GETNEIGH = Operation(RTM_GETNEIGH, "RTM_GETNEIGH", NDMSG, NDA)
NEWNEIGH = Operation(RTM_NEWNEIGH, "RTM_NEWNEIGH", NDMSG, NDA)
DELNEIGH = Operation(RTM_DELNEIGH, "RTM_DELNEIGH", NDMSG, NDA)
GETNEIGHTBL = Operation(RTM_GETNEIGHTBL, "RTM_GETNEIGHTBL", NDTMSG, NDTA)
SETNEIGHTBL = Operation(RTM_SETNEIGHTBL, "RTM_SETNEIGHTBL", NDTMSG, NDTA)
