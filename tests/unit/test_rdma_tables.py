"""Every number in rdma_tables.py against the installed ``rdma/rdma_netlink.h``, via gcc.

A small C program prints each enum value the header defines; names newer than the installed
header (``NEWER_UAPI_*``) are checked only when the header has them (Debian 12's 6.1 header
has none of them), and every member of ``enum rdma_nldev_attr`` the header has must be in our
table under its own name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hostdev._netlink import rdma_tables as t

HEADER = Path("/usr/include/rdma/rdma_netlink.h")
_EXPR_SAFE = re.compile(r"^[A-Za-z0-9_(), ]+$")


def header_text() -> str:
    assert HEADER.is_file(), f"{HEADER} is missing (Debian: linux-libc-dev)"
    return HEADER.read_text()


def present(name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", header_text()) is not None


def compile_and_print(exprs: dict[str, str], tmp: Path) -> dict[str, int]:
    """Value of each C expression (keyed by label), as compiled against the header."""
    lines = ["#include <stdio.h>", "#include <rdma/rdma_netlink.h>", "int main(void) {"]
    for label, expr in exprs.items():
        assert _EXPR_SAFE.match(expr) and _EXPR_SAFE.match(label), expr
        lines.append(f'    printf("%s %lld\\n", "{label}", (long long)({expr}));')
    lines += ["    return 0;", "}"]
    src, exe = tmp / "rdma_numbers.c", tmp / "rdma_numbers"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run(["gcc", "-Wall", "-Werror", "-o", str(exe), str(src)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {label: int(value) for label, value in (line.split() for line in out.splitlines())}


def attr_enum_members() -> list[str]:
    body = header_text().split("enum rdma_nldev_attr {", 1)[1].split("};", 1)[0]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return re.findall(r"^\s*(RDMA_NLDEV_\w+)", body, flags=re.M)


@pytest.fixture(scope="module")
def numbers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    exprs: dict[str, str] = {}
    for attr in t.NLDEV.by_number.values():
        name = t.NLDEV.prefix + attr.name
        if present(name):
            exprs[name] = name
    for name in t.COMMANDS:
        if present(name):
            exprs[name] = name
    for name in ("RDMA_NL_IWCM", "RDMA_NL_RSVD", "RDMA_NL_LS", "RDMA_NL_NLDEV", "RDMA_NLDEV_ATTR_MAX", "RDMA_NLDEV_NUM_OPS"):
        exprs[name] = name
    for name in t.NODE_TYPE_NAMES.values():
        exprs[f"RDMA_NODE_{name}"] = f"RDMA_NODE_{name}"
    for cmd in ("GET", "SET", "PORT_GET", "SYS_GET", "SYS_SET"):
        exprs[f"TYPE_{cmd}"] = f"RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_{cmd})"
    for value in (0x1401, 0x1407, 0xFC3FF, 0x7FFF):
        exprs[f"CLIENT_{value}"] = f"RDMA_NL_GET_CLIENT({value})"
        exprs[f"OP_{value}"] = f"RDMA_NL_GET_OP({value})"
    return compile_and_print(exprs, tmp_path_factory.mktemp("rdma_header"))


def test_every_attribute_number_matches_the_header(numbers: dict[str, int]) -> None:
    checked = 0
    for attr in t.NLDEV.by_number.values():
        name = t.NLDEV.prefix + attr.name
        if name in numbers:
            assert numbers[name] == attr.number, name
            checked += 1
        else:
            assert attr.number in t.NEWER_UAPI_ATTRS, f"{name} is not in {HEADER} and not marked newer uapi"
    assert checked >= 96  # 0..95: all of the 6.1 header


def test_every_header_attribute_is_in_the_table(numbers: dict[str, int]) -> None:
    members = attr_enum_members()
    assert "RDMA_NLDEV_ATTR_DEV_INDEX" in members and len(members) > 90
    for name in members:
        if name in ("RDMA_NLDEV_ATTR_UNSPEC", "RDMA_NLDEV_ATTR_MAX"):
            continue  # UNSPEC is PAD's other name; MAX is the end marker
        assert name.startswith(t.NLDEV.prefix)
        assert name[len(t.NLDEV.prefix) :] in t.NLDEV.by_name, f"{name} missing from rdma_tables.NLDEV"
    # The table covers the header's whole range, and what lies past it is marked newer.
    assert set(range(numbers["RDMA_NLDEV_ATTR_MAX"])) <= set(t.NLDEV.by_number)
    assert {n for n in t.NLDEV.by_number if n >= numbers["RDMA_NLDEV_ATTR_MAX"]} <= t.NEWER_UAPI_ATTRS


def test_commands_clients_and_message_types(numbers: dict[str, int]) -> None:
    for name, value in t.COMMANDS.items():
        if name in numbers:
            assert numbers[name] == value, name
        else:
            assert name in t.NEWER_UAPI_COMMANDS, f"{name} is not in {HEADER} and not marked newer uapi"
    assert {n for n, v in t.COMMANDS.items() if v >= numbers["RDMA_NLDEV_NUM_OPS"]} <= t.NEWER_UAPI_COMMANDS
    assert (numbers["RDMA_NL_IWCM"], numbers["RDMA_NL_RSVD"], numbers["RDMA_NL_LS"], numbers["RDMA_NL_NLDEV"]) == (
        t.RDMA_NL_IWCM, t.RDMA_NL_RSVD, t.RDMA_NL_LS, t.RDMA_NL_NLDEV)  # fmt: skip
    assert numbers["TYPE_GET"] == t.NLDEV_GET == 0x1401
    assert numbers["TYPE_SET"] == t.NLDEV_SET == 0x1402
    assert numbers["TYPE_PORT_GET"] == t.NLDEV_PORT_GET == 0x1405
    assert numbers["TYPE_SYS_GET"] == t.NLDEV_SYS_GET == 0x1406
    assert numbers["TYPE_SYS_SET"] == t.NLDEV_SYS_SET == 0x1407
    for value in (0x1401, 0x1407, 0xFC3FF, 0x7FFF):
        assert t.rdma_nl_get_client(value) == numbers[f"CLIENT_{value}"]
        assert t.rdma_nl_get_op(value) == numbers[f"OP_{value}"]


def test_node_types_match_the_header(numbers: dict[str, int]) -> None:
    assert t.NODE_TYPE_NAMES
    for value, name in t.NODE_TYPE_NAMES.items():
        assert numbers[f"RDMA_NODE_{name}"] == value, name


def test_value_sets_outside_the_uapi_header() -> None:
    # enum ib_port_state / ib_port_phys_state live in the kernel's include/rdma/ib_verbs.h, not
    # in uapi; the golden captures show rxe's port as state 1 (DOWN), phys state 3 (DISABLED).
    assert sorted(t.PORT_STATE_NAMES) == list(range(6))
    assert (t.PortState.DOWN, t.PortState.ACTIVE) == (1, 4)
    assert sorted(t.PORT_PHYS_STATE_NAMES) == list(range(1, 8))
    assert (t.PortPhysState.DISABLED, t.PortPhysState.LINK_UP) == (3, 5)
    assert (t.NetnsMode.EXCLUSIVE, t.NetnsMode.SHARED) == (0, 1)


def test_messages_we_send_have_names() -> None:
    assert set(t.MESSAGE_NAMES) == {t.NLDEV_GET, t.NLDEV_SET, t.NLDEV_PORT_GET, t.NLDEV_SYS_GET, t.NLDEV_SYS_SET}
    for msg_type, name in t.MESSAGE_NAMES.items():
        assert t.COMMANDS[name] == t.rdma_nl_get_op(msg_type)
        assert t.rdma_nl_get_client(msg_type) == t.RDMA_NL_NLDEV
