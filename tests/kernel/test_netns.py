"""The netns layer on a real kernel: opening and verifying namespaces, entering them on one
thread only, and sockets that stay in the namespace they were made in."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from hostdev._netlink.rtnl_link import decode_link, dump_links_body
from hostdev._netlink.rtnl_tables import IFINFOMSG, IFLA, RTM_GETLINK
from hostdev._netlink.socket import Request
from hostdev._netlink.wire import NETLINK_ROUTE
from hostdev.errors import NetnsError
from hostdev.handle import Handle
from hostdev.netns import THREAD_NETNS, NetNS, entered, new_netns, open_netns, socket_in
from tests.kernel.nsutil import TestNetns, veth_in

NetnsFactory = Callable[..., TestNetns]


def inode(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def thread_netns() -> tuple[int, int]:
    return inode(THREAD_NETNS)


@pytest.fixture
def ns(netns_factory: NetnsFactory) -> TestNetns:
    space = netns_factory()
    veth_in(space, "n0", "n1")
    return space


@pytest.fixture
def sleeper(ns: TestNetns) -> Iterator[int]:
    """A process living in ``ns``; its pid. (``ip netns exec`` setns()es and execs in place, so
    once the shell speaks, this pid is inside.)"""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns.name, "sh", "-c", "echo ready; exec sleep 60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_open_by_path_name_and_pid_reach_the_same_namespace(ns: TestNetns, sleeper: int) -> None:
    with NetNS.from_path(ns.path) as by_path, NetNS.from_name(ns.name) as by_name, NetNS.from_pid(sleeper) as by_pid:
        assert by_path.same_as(by_name) and by_path.same_as(by_pid)
        assert (by_path.dev, by_path.ino) == inode(ns.path)
    with open_netns(ns.path) as a, open_netns(ns.name) as b, open_netns(sleeper) as c:
        assert a.same_as(b) and a.same_as(c)


def test_current_is_this_threads_namespace() -> None:
    with NetNS.current() as here:
        assert (here.dev, here.ino) == thread_netns()


def test_closing_releases_the_fd(ns: TestNetns) -> None:
    handle = NetNS.from_path(ns.path)
    fd = handle.fd
    handle.close()
    assert handle.fd == -1
    with pytest.raises(OSError):
        os.fstat(fd)
    handle.close()  # twice is harmless


def test_a_regular_file_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-netns"
    plain.write_text("")
    with pytest.raises(NetnsError) as caught:
        NetNS.from_path(str(plain))
    assert caught.value.errno == errno.EINVAL


def test_another_namespace_type_is_refused() -> None:
    with pytest.raises(NetnsError, match="not a network namespace") as caught:
        NetNS.from_path("/proc/self/ns/uts")
    assert caught.value.errno == errno.EINVAL


@pytest.mark.parametrize("spec", ["/nonexistent/netns", "hdk-does-not-exist"])
def test_missing_namespaces_are_netns_errors_with_errno(spec: str) -> None:
    with pytest.raises(NetnsError) as caught:
        open_netns(spec)
    assert caught.value.errno == errno.ENOENT


@pytest.mark.parametrize("name", ["", ".", "..", "a\0b", "x" * 256])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(NetnsError):
        NetNS.from_name(name)
    with pytest.raises(NetnsError):
        NetNS.from_pid(0)


def test_entered_switches_this_thread_and_comes_back(ns: TestNetns) -> None:
    home = thread_netns()
    with NetNS.from_path(ns.path) as target:
        with entered(target):
            assert thread_netns() == inode(ns.path)
            with entered(target):  # already there: a no-op that still comes back right
                assert thread_netns() == inode(ns.path)
            assert thread_netns() == inode(ns.path)
        assert thread_netns() == home


def test_entered_returns_even_when_the_block_raises(ns: TestNetns) -> None:
    home = thread_netns()
    with NetNS.from_path(ns.path) as target:
        with pytest.raises(RuntimeError, match="inside"):
            with entered(target):
                assert thread_netns() == inode(ns.path)
                raise RuntimeError("inside")
    assert thread_netns() == home


def test_a_worker_threads_netns_does_not_move_the_main_thread(ns: TestNetns) -> None:
    home = thread_netns()
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, tuple[int, int]] = {}

    def worker() -> None:
        with NetNS.from_path(ns.path) as target, entered(target):
            seen["worker"] = thread_netns()
            inside.set()
            checked.wait(10)
        seen["worker_after"] = thread_netns()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        seen["main"] = thread_netns()  # read while the worker is still inside
        seen["process"] = inode("/proc/self/ns/net")
    finally:
        checked.set()
        thread.join(10)
    assert seen["worker"] == inode(ns.path)
    assert seen["main"] == home and seen["process"] == home
    assert seen["worker_after"] == home


def test_socket_in_stays_bound_after_leaving(ns: TestNetns) -> None:
    home = thread_netns()
    with NetNS.from_path(ns.path) as target:
        sock = socket_in(target, NETLINK_ROUTE)
    try:
        assert thread_netns() == home  # we are back, the socket is not
        links = sock.dump(RTM_GETLINK, dump_links_body(), Request("dump", IFINFOMSG.size, IFLA), decode_link)
        assert sorted(link.name for link in links) == sorted(e["ifname"] for e in ns.ip_json("link show"))
        assert {"n0", "n1"} <= {link.name for link in links}
    finally:
        sock.close()


def test_new_netns_is_fresh_and_this_thread_stays_home() -> None:
    home = thread_netns()
    with new_netns() as fresh:
        assert thread_netns() == home
        assert (fresh.dev, fresh.ino) != home
        with Handle(fresh) as handle:
            assert [link.name for link in handle.links()] == ["lo"]


def test_entering_a_closed_handle_fails_and_leaves_the_thread_home(ns: TestNetns) -> None:
    home = thread_netns()
    target = NetNS.from_path(ns.path)
    target.close()
    with pytest.raises(NetnsError) as caught:
        with entered(target):
            raise AssertionError("the block must not run")
    assert caught.value.errno == errno.EBADF
    assert thread_netns() == home
