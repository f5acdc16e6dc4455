"""Throwaway network namespaces and veth pairs for real-kernel tests.

Every namespace is named ``hdk-<random>`` so a leak is easy to spot (``ip netns list``) and can
never collide with anything on the machine. Nothing here touches the machine's own
interfaces: each command runs inside a namespace the test created.

Typical use (the ``netns_factory`` fixture in ``tests/kernel/conftest.py`` removes everything at
teardown)::

    def test_mtu(netns_factory):
        ns = netns_factory()
        index = veth_in(ns, "a0", "a1")
        ns.run("ip link set dev a0 mtu 9000")
        assert ns.ip_json("link show dev a0")[0]["mtu"] == 9000

Elsewhere, the same fixture is three lines::

    @pytest.fixture
    def netns_factory():
        with netns_pool() as make:
            yield make
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

PREFIX = "hdk-"
NETNS_DIR = "/run/netns"

# Kernel DAD makes fresh IPv6 addresses "tentative" for about a second; tests that compare
# address flags turn it off rather than wait for it.
NO_DAD_SYSCTLS = ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")


class CommandFailed(AssertionError):
    """A command run in a test namespace failed; carries its stderr."""


class TestNetns:
    """One named network namespace (``ip netns add``), for the duration of one test."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"{NETNS_DIR}/{name}"

    def run(self, command: str | list[str], *, check: bool = True) -> str:
        """Run a command inside this namespace; return stdout.

        ``ip`` commands get ``-n NAME`` (no extra process); anything else goes through
        ``ip netns exec``. With ``check`` a nonzero exit raises :class:`CommandFailed`.
        """
        done = self.try_run(command)
        if check and done.returncode != 0:
            raise CommandFailed(f"{shlex.join(done.args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def try_run(self, command: str | list[str]) -> subprocess.CompletedProcess[str]:
        """Like :meth:`run` but returns the completed process, whatever its exit code."""
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if argv and argv[0] == "ip":
            argv = ["ip", "-n", self.name, *argv[1:]]
        else:
            argv = ["ip", "netns", "exec", self.name, *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def ip_batch(self, commands: list[str]) -> None:
        """Many ``ip`` commands (without the leading ``ip``) in one process: ``ip -batch -``."""
        argv = ["ip", "-n", self.name, "-batch", "-"]
        done = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CommandFailed(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.strip()}")

    def ip_json(self, args: str) -> Any:
        """``ip -j ARGS`` in this namespace, parsed (``[]`` when ip prints nothing)."""
        out = self.run(["ip", "-j", *shlex.split(args)])
        return json.loads(out) if out.strip() else []

    def sysctl(self, *assignments: str) -> None:
        """``sysctl -w key=value ...`` inside this namespace (net.* sysctls are per netns)."""
        self.run(["sysctl", "-q", "-w", *assignments])

    def ifindex(self, name: str) -> int:
        return int(self.ip_json(f"link show dev {name}")[0]["ifindex"])

    def __repr__(self) -> str:
        return f"TestNetns({self.name!r})"


def new_name() -> str:
    return PREFIX + secrets.token_hex(4)


def create_netns(*, lo_up: bool = True, no_dad: bool = True) -> TestNetns:
    """``ip netns add hdk-<random>`` (caller must :func:`delete_netns` it)."""
    ns = TestNetns(new_name())
    subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
    try:
        if lo_up:
            ns.run("ip link set dev lo up")
        if no_dad:
            ns.sysctl(*NO_DAD_SYSCTLS)
    except BaseException:
        delete_netns(ns)
        raise
    return ns


def delete_netns(ns: TestNetns) -> None:
    """Remove the name; the kernel destroys the namespace (and its veths) once unreferenced."""
    subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)


@contextmanager
def netns_pool() -> Iterator[Callable[..., TestNetns]]:
    """A ``make(lo_up=True, no_dad=True)`` that creates namespaces; on exit, whatever happened,
    every one of them is deleted (and checked gone from /run/netns)."""
    made: list[TestNetns] = []

    def make(*, lo_up: bool = True, no_dad: bool = True) -> TestNetns:
        ns = create_netns(lo_up=lo_up, no_dad=no_dad)
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in reversed(made):
            delete_netns(ns)
        left = set(leftover_namespaces()) & {ns.name for ns in made}
        assert not left, f"namespaces survived teardown: {sorted(left)}"


def veth_in(ns: TestNetns, name: str, peer_name: str, *, peer_ns: TestNetns | None = None) -> int:
    """Create a veth pair ``name``/``peer_name`` in ``ns`` (the peer in ``peer_ns`` if given);
    return the ifindex of ``name`` in ``ns``."""
    command = ["ip", "link", "add", name, "type", "veth", "peer", "name", peer_name]
    if peer_ns is not None:
        command += ["netns", peer_ns.name]
    ns.run(command)
    return ns.ifindex(name)


def leftover_namespaces() -> list[str]:
    """Names under /run/netns that this module made (for leak checks)."""
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=False).stdout
    entries = json.loads(out) if out.strip() else []
    return sorted(e["name"] for e in entries if e["name"].startswith(PREFIX))


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe()`` until ``done(value)``, for kernel work that finishes asynchronously (IPv6
    DAD runs from a workqueue, so an address's local route appears a moment after the add).
    Raises AssertionError with the last value on timeout; never used to hide our own races."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"kernel did not settle within {timeout}s{': ' + what if what else ''}; last: {value!r}")
        time.sleep(0.01)
