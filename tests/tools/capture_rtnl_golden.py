"""Record what iproute2's ``ip`` sends and what this machine's kernel answers, as codec test data.

Run as root: ``.venv/bin/python tests/tools/capture_rtnl_golden.py [OUTDIR] [--only PREFIX,...]``
(default ``tests/data/golden_rtnl``; ``--only`` records just the cases whose names start with one
of the prefixes, e.g. ``--only neigh_,ntable_`` when adding cases that need nothing earlier). Everything happens in two throwaway network namespaces
(``hdg-<random>`` and ``hdg-<random>t``) holding one veth pair; they are deleted on exit, also
on failure. Each traced command is run under
``strace -f -xx -e trace=sendmsg,sendto,recvmsg,recvfrom,openat -e write=all -e read=all`` and
written to ``OUTDIR/<case>.json``::

    {"case", "command", "kernel", "iproute2", "ifindex": {name: index}, "netns_fd": fd | null,
     "exit_code", "oracle": {"<ip -j command>": parsed JSON},
     "messages": [{"dir": "tx"|"rx", "syscall", "fd", "ret", "hex", "strace"}]}

``strace`` is strace's own decode of the call, kept so the tests can check our decoder against
an independent one. Cases run in order and build on each other (the addresses that the dump
case lists are the ones the earlier cases added).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STRACE = [
    "strace", "-f", "-xx", "-s", "4096",
    "-e", "trace=sendmsg,sendto,recvmsg,recvfrom,openat",
    "-e", "write=all", "-e", "read=all",
]  # fmt: skip

_CALL = re.compile(r"^(?:\[pid\s+)?(?:\d+\]?\s+)?(sendmsg|sendto|recvmsg|recvfrom|openat)\((.*)\)\s+=\s+(-?\d+)")
_DUMP = re.compile(r"^\s*\|\s+([0-9a-f]{5})\s+((?:[0-9a-f]{2}\s{1,2})+)")
_OPENAT_PATH = re.compile(r'^AT_FDCWD, "((?:\\x[0-9a-f]{2})*)"')


@dataclass
class Case:
    name: str
    command: str  # run inside the namespace; {T} is the target namespace's name
    oracles: list[str] = field(default_factory=list)  # ip -j commands recorded after the command
    setup: list[str] = field(default_factory=list)  # untraced commands run before it
    expect_failure: bool = False


def cases() -> list[Case]:
    dev = "ip -j -d link show dev gv0"
    addrs = "ip -j -d addr show dev gv0"
    return [
        Case("link_get", "ip link show dev gv0", [dev]),
        Case("link_get_altname", "ip link show dev gv0-alternative-name", [dev],
             setup=["ip link property add dev gv0 altname gv0-alternative-name"]),
        Case("link_set_mtu", "ip link set dev gv0 mtu 9000", [dev]),
        Case("link_set_up", "ip link set dev gv0 up", [dev], setup=["ip link set dev gv1 up"]),
        Case("link_set_alias", "ip link set dev gv0 alias 'golden alias'", [dev]),
        Case("addr_add_v4", "ip addr add 10.1.2.3/24 dev gv0", [addrs]),
        Case("addr_add_v4_secondary_label",
             "ip addr add 10.1.2.4/24 broadcast 10.1.2.255 label gv0:sec dev gv0", [addrs]),
        Case("addr_add_v4_31", "ip addr add 10.9.0.0/31 dev gv0", [addrs]),
        Case("addr_add_v4_eexist", "ip addr add 10.1.2.3/24 dev gv0", [addrs], expect_failure=True),
        Case("addr_replace_v4", "ip addr replace 10.9.0.0/31 dev gv0", [addrs]),
        Case("addr_add_v6_nodad", "ip addr add 2001:db8::1/64 dev gv0 nodad", [addrs]),
        Case("addr_add_v6_nodad_noprefixroute",
             "ip addr add 2001:db8:1::1/64 dev gv0 nodad noprefixroute", [addrs]),
        Case("addr_show", "ip addr show dev gv0", [addrs]),
        Case("route_add_v4_main", "ip route add 192.0.2.0/24 via 10.1.2.254 dev gv0",
             ["ip -j route show table all dev gv0"]),
        Case("route_add_v4_table", "ip route add 198.51.100.0/24 via 10.1.2.254 dev gv0 table 100",
             ["ip -j route show table all dev gv0"]),
        Case("route_add_v6_table", "ip -6 route add 2001:db8:5::/64 via fe80::1 dev gv0 table 100",
             ["ip -j -6 route show table all dev gv0"]),
        Case("route_show_v4", "ip -4 route show table all dev gv0", ["ip -j -4 route show table all dev gv0"]),
        Case("route_show_v6", "ip -6 route show table all dev gv0", ["ip -j -6 route show table all dev gv0"]),
        Case("addr_del_v4", "ip addr del 10.1.2.4/24 dev gv0", [addrs]),
        Case("addr_del_v6", "ip addr del 2001:db8::1/64 dev gv0", [addrs]),
        Case("link_move_eexist", "ip link set dev gv0 netns {T}", [dev],
             setup=["ip -n {T} link add gv0 type veth peer name gvt"], expect_failure=True),
        Case("link_move_fd_rename", "ip link set dev gv0 netns {T} name gm0", ["ip -j -n {T} -d link show dev gm0"]),
    ] + neighbour_cases()  # fmt: skip


def neighbour_cases() -> list[Case]:
    """Neighbours and neighbour-table parameters: need only gv0 (run with ``--only neigh_,ntable_``)."""
    neigh = "ip -j neigh show dev gv0"
    proxies = "ip -j neigh show proxy dev gv0"
    return [
        Case("neigh_add_v4_permanent", "ip neigh add 10.1.2.50 lladdr 02:00:00:00:00:01 dev gv0 nud permanent", [neigh]),
        Case("neigh_add_v6_router_proto",
             "ip -6 neigh add 2001:db8::50 lladdr 02:00:00:00:00:02 dev gv0 router protocol static", [neigh]),
        Case("neigh_replace_v4", "ip neigh replace 10.1.2.50 lladdr 02:00:00:00:00:03 dev gv0 nud permanent", [neigh]),
        Case("neigh_add_proxy_v4", "ip neigh add proxy 10.1.2.60 dev gv0", [proxies]),
        Case("neigh_add_v4_eexist", "ip neigh add 10.1.2.50 lladdr 02:00:00:00:00:01 dev gv0 nud permanent", [neigh],
             expect_failure=True),
        Case("neigh_show", "ip neigh show dev gv0", [neigh]),
        Case("neigh_show_proxy", "ip neigh show proxy dev gv0", [proxies]),
        Case("neigh_del_v4", "ip neigh del 10.1.2.50 dev gv0", [neigh]),
        Case("neigh_del_proxy_v4", "ip neigh del proxy 10.1.2.60 dev gv0", [proxies]),
        Case("ntable_change_v4", "ip ntable change name arp_cache dev gv0 delay_probe 1500 locktime 250 app_probes 2"),
        Case("ntable_show", "ip ntable show dev gv0"),
    ]  # fmt: skip


def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def in_ns(ns: str, command: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *shlex.split(command)]


def parse_strace(text: str) -> tuple[list[dict[str, object]], list[tuple[str, int]]]:
    """The netlink calls with their buffers, and the ``(path, fd)`` of every successful openat."""
    messages: list[dict[str, object]] = []
    opened: list[tuple[str, int]] = []
    current: dict[str, object] | None = None
    for line in text.splitlines():
        call = _CALL.match(line)
        if call:
            syscall, args, ret = call.group(1), call.group(2), int(call.group(3))
            current = None
            if syscall == "openat":
                path = _OPENAT_PATH.match(args)
                if path and ret >= 0:
                    opened.append((bytes.fromhex(path.group(1).replace("\\x", "")).decode(), ret))
                continue
            if ret <= 0 or "MSG_PEEK" in args:
                continue
            current = {
                "dir": "tx" if syscall.startswith("send") else "rx",
                "syscall": syscall,
                "fd": int(args.split(",", 1)[0]),
                "ret": ret,
                "hex": "",
                "strace": line,
            }
            messages.append(current)
            continue
        dump = _DUMP.match(line)
        if dump and current is not None:
            current["hex"] = str(current["hex"]) + "".join(dump.group(2).split())
    for msg in messages:
        if len(str(msg["hex"])) != 2 * int(str(msg["ret"])):
            raise RuntimeError(f"incomplete hex dump for {str(msg['strace'])[:120]}")
    return messages, opened


def ifindexes(ns: str) -> dict[str, int]:
    out = run(in_ns(ns, "ip -j link show")).stdout
    return {link["ifname"]: link["ifindex"] for link in json.loads(out)}


def capture(outdir: Path, only: tuple[str, ...] = ()) -> None:
    base = "hdg-" + secrets.token_hex(4)
    target = base + "t"
    kernel = os.uname().release
    iproute2 = run(["ip", "-V"]).stdout.strip()
    created: list[str] = []
    try:
        for ns in (base, target):
            run(["ip", "netns", "add", ns])
            created.append(ns)
        run(in_ns(base, "ip link add gv0 type veth peer name gv1"))
        outdir.mkdir(parents=True, exist_ok=True)
        for case in cases():
            if only and not case.name.startswith(only):
                continue
            for step in case.setup:
                run(in_ns(base, step.format(T=target)))
            command = case.command.format(T=target)
            before = ifindexes(base)
            log = outdir / f".{case.name}.strace"
            traced = run(["ip", "netns", "exec", base, *STRACE, "-o", str(log), *shlex.split(command)], check=False)
            failed = traced.returncode != 0
            if failed != case.expect_failure:
                raise RuntimeError(f"{case.name}: {command!r} exited {traced.returncode}: {traced.stderr[-2000:]}")
            messages, opened = parse_strace(log.read_text())
            log.unlink()
            netns_fds = [fd for path, fd in opened if path == f"/run/netns/{target}"]
            oracle = {}
            for query in case.oracles:
                query = query.format(T=target)
                oracle[query] = json.loads(run(in_ns(base, query)).stdout or "null")
            record = {
                "case": case.name,
                "command": command.replace(target, "TARGET"),
                "kernel": kernel,
                "iproute2": iproute2,
                "ifindex": before,
                "netns_fd": netns_fds[-1] if netns_fds else None,
                "exit_code": traced.returncode,
                "oracle": {q.replace(target, "TARGET"): v for q, v in oracle.items()},
                "messages": [m for m in messages if _is_netlink(m)],
            }
            text = json.dumps(record, indent=1).replace(target, "TARGET").replace(base, "SOURCE")
            (outdir / f"{case.name}.json").write_text(text + "\n")
    finally:
        for ns in reversed(created):
            run(["ip", "netns", "del", ns], check=False)


def _is_netlink(message: dict[str, object]) -> bool:
    return "AF_NETLINK" in str(message["strace"]) or str(message["syscall"]) in ("sendto", "recvfrom")


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("capture_rtnl_golden: run as root (it creates network namespaces)")
    args = sys.argv[1:]
    only: tuple[str, ...] = ()
    if "--only" in args:
        at = args.index("--only")
        only = tuple(p for p in args[at + 1].split(",") if p)
        del args[at : at + 2]
    default = Path(__file__).resolve().parents[1] / "data" / "golden_rtnl"
    capture(Path(args[0]) if args else default, only)


if __name__ == "__main__":
    main()
