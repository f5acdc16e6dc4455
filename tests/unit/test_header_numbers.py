"""Every netlink number and layout in hostdev's rtnetlink tables, checked against the installed
kernel headers by compiling a generated C program with gcc.

Names the installed headers do not have yet (newer uapi) are checked only when present; each
such name must be listed in NEWER_UAPI, so a misspelt name cannot slip through as "newer".
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from hostdev import netns
from hostdev._netlink import rtnl_link, rtnl_tables, wire
from hostdev._netlink.attrs import AttrSet

HEADERS = [
    "sys/socket.h",  # SOL_NETLINK, AF_*
    "linux/netlink.h",
    "linux/rtnetlink.h",
    "linux/if_link.h",
    "linux/if_addr.h",
    "linux/neighbour.h",
    "linux/if.h",
    "linux/sched.h",
    "linux/nsfs.h",
]
INCLUDE_DIRS = [Path("/usr/include"), Path("/usr/include/x86_64-linux-gnu")]

# Numbers hostdev knows that the oldest headers we build on (Debian 12, 6.1) lack.
NEWER_UAPI = {"IFLA_NETNS_IMMUTABLE"}

# Module constants that are netlink numbers, by prefix (their C name is the Python name).
NUMBER_PREFIXES = re.compile(
    r"^(IFLA_|IFA_|RTA_|RTAX_|RTM_|RTMGRP_|NLM_F_|NLMSG|NETLINK_|SOL_NETLINK$|IFA_F_|IFAPROT_|RT_SCOPE_|RT_TABLE_|RTPROT_"
    r"|RTN_|RTNH_F_|NDA_|NDTA_|NDTPA_|NUD_|NTF_|IFF_|IF_OPER_|RTEXT_FILTER_|AF_|NLA_|NLMSGERR_ATTR_|CLONE_NEW|NS_GET_|IFNAMSIZ$|ALTIFNAMSIZ$|IFALIASZ$)"
)
# Searched for names, not included: where glibc defines SOL_NETLINK and AF_*.
TEXT_ONLY = ["bits/socket.h"]

# C types of values whose C expression is wider than the field they apply to.
C_TYPES = {"NLA_TYPE_MASK": "__u16"}  # ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER), applied to nla_type

# (struct.Struct in hostdev, C struct, C field names in the order the Struct packs them)
LAYOUTS = [
    (wire.HEADER, "nlmsghdr", ["nlmsg_len", "nlmsg_type", "nlmsg_flags", "nlmsg_seq", "nlmsg_pid"]),
    (wire.ATTR_HEADER, "nlattr", ["nla_len", "nla_type"]),
    (rtnl_tables.IFINFOMSG, "ifinfomsg", ["ifi_family", "ifi_type", "ifi_index", "ifi_flags", "ifi_change"]),
    (rtnl_tables.IFADDRMSG, "ifaddrmsg", ["ifa_family", "ifa_prefixlen", "ifa_flags", "ifa_scope", "ifa_index"]),
    (rtnl_tables.RTMSG, "rtmsg", ["rtm_family", "rtm_dst_len", "rtm_src_len", "rtm_tos", "rtm_table",
                                   "rtm_protocol", "rtm_scope", "rtm_type", "rtm_flags"]),
    (rtnl_tables.IFA_CACHEINFO, "ifa_cacheinfo", ["ifa_prefered", "ifa_valid", "cstamp", "tstamp"]),
    (rtnl_tables.NDMSG, "ndmsg", ["ndm_family", "ndm_ifindex", "ndm_state", "ndm_flags", "ndm_type"]),
    (rtnl_tables.NDTMSG, "ndtmsg", ["ndtm_family"]),
]  # fmt: skip


def module_numbers(module: ModuleType) -> dict[str, int]:
    return {
        name: value
        for name, value in vars(module).items()
        if NUMBER_PREFIXES.match(name) and isinstance(value, int) and not isinstance(value, bool)
    }


def table_numbers(table: AttrSet) -> dict[str, int]:
    return {f"{table.prefix}{attr.name}": number for number, attr in table.by_number.items()}


def our_numbers() -> dict[str, int]:
    numbers: dict[str, int] = {}
    for module in (wire, rtnl_tables, rtnl_link, netns):
        numbers.update(module_numbers(module))
    for table in (rtnl_tables.IFLA, rtnl_tables.IFLA_INFO, rtnl_tables.IFLA_PROP, rtnl_tables.IFA,
                  rtnl_tables.RTAX, rtnl_tables.RTA, rtnl_tables.NDA, rtnl_tables.NDTA,
                  rtnl_tables.NDTPA):  # fmt: skip
        for name, number in table_numbers(table).items():
            assert numbers.setdefault(name, number) == number, f"{name} differs between tables"
    return numbers


def header_text() -> str:
    texts = []
    for header in HEADERS + TEXT_ONLY:
        for base in INCLUDE_DIRS:
            if (base / header).is_file():
                texts.append((base / header).read_text(errors="replace"))
                break
        else:
            raise AssertionError(f"kernel header {header} is not installed (Debian: linux-libc-dev)")
    return "\n".join(texts)


def compiled_values(names: tuple[str, ...], workdir: str) -> dict[str, int]:
    lines = [f"#include <{h}>" for h in HEADERS]
    lines += ["#include <stdio.h>", "#include <stddef.h>", "int main(void) {"]
    lines += [f'    printf("%s %lld\\n", "{n}", (long long)({C_TYPES.get(n, "long long")})({n}));' for n in names]
    for _s, c_struct, fields in LAYOUTS:
        lines.append(f'    printf("sizeof:{c_struct} %zu\\n", sizeof(struct {c_struct}));')
        for field in fields:
            lines.append(f'    printf("offsetof:{c_struct}.{field} %zu\\n", offsetof(struct {c_struct}, {field}));')
            lines.append(f'    printf("sizeof:{c_struct}.{field} %zu\\n", sizeof(((struct {c_struct} *)0)->{field}));')
    lines += ["    return 0;", "}"]
    source = Path(workdir) / "numbers.c"
    binary = Path(workdir) / "numbers"
    source.write_text("\n".join(lines) + "\n")
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to check netlink numbers against the kernel headers"
    built = subprocess.run([gcc, "-w", "-o", str(binary), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


@pytest.fixture(scope="module")
def c_values(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    text = header_text()
    present = tuple(sorted(n for n in our_numbers() if re.search(rf"\b{n}\b", text)))
    return compiled_values(present, str(tmp_path_factory.mktemp("hdrs")))


def test_every_number_matches_the_kernel_headers(c_values: dict[str, int]) -> None:
    ours = our_numbers()
    assert len(ours) > 200  # the prefixes really found the tables
    wrong = {n: (v, c_values[n]) for n, v in ours.items() if n in c_values and c_values[n] != v}
    assert not wrong, f"(ours, header) differ: {wrong}"


def test_names_missing_from_the_headers_are_known_newer_uapi(c_values: dict[str, int]) -> None:
    missing = {n for n in our_numbers() if n not in c_values}
    assert missing <= NEWER_UAPI, f"not in the installed headers and not declared newer: {sorted(missing - NEWER_UAPI)}"


@pytest.mark.parametrize(("layout", "c_struct", "fields"), LAYOUTS, ids=[c for _l, c, _f in LAYOUTS])
def test_struct_layouts_match_the_kernel_headers(
    c_values: dict[str, int], layout: struct.Struct, c_struct: str, fields: list[str]
) -> None:
    assert layout.size == c_values[f"sizeof:{c_struct}"]
    # offsets and sizes of each packed field, from the format string itself
    offset = 0
    codes = re.findall(r"x|[BHiIQ]", layout.format.lstrip("=!<>@"))
    packed = []
    for code in codes:
        size = struct.calcsize("=" + code)
        if code != "x":
            packed.append((offset, size))
        offset += size
    assert [(c_values[f"offsetof:{c_struct}.{f}"], c_values[f"sizeof:{c_struct}.{f}"]) for f in fields] == packed


def test_infinite_lifetime_is_all_ones() -> None:
    # Not uapi (include/net/addrconf.h; iproute2 has its own copy): the u32 "forever" of ifa_cacheinfo.
    assert rtnl_tables.INFINITY_LIFE_TIME == 0xFFFFFFFF
