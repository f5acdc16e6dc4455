"""Kernel refusals reach the caller as NetlinkError with the kernel's errno, its extended-ack
text and the attribute it pointed at."""

from __future__ import annotations

import errno
from typing import Callable

import pytest

from hostdev._netlink.attrs import encode_attr
from hostdev._netlink.rtnl_addr import Address
from hostdev._netlink.rtnl_link import Link, decode_link, dump_links_body
from hostdev._netlink.rtnl_tables import AF_INET, IFINFOMSG, IFLA, RTM_GETLINK, RTM_NEWLINK
from hostdev._netlink.socket import Request
from hostdev._netlink.wire import MessageHeader
from hostdev.errors import DecodeError, LinkNotFound, NetlinkError
from hostdev.handle import Handle
from hostdev.netns import NetNS
from tests.kernel.nsutil import TestNetns, veth_in

NetnsFactory = Callable[..., TestNetns]
OpenHandle = Callable[[TestNetns], Handle]

SAME_NAME = "An interface with the same name exists in the target netns"


@pytest.fixture
def pair(netns_factory: NetnsFactory) -> tuple[TestNetns, TestNetns]:
    source, target = netns_factory(), netns_factory()
    veth_in(source, "e0", "e0p")
    veth_in(target, "e0", "t0p")  # the name e0 is taken in the target
    return source, target


def test_moving_a_missing_ifindex_is_enodev(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    source, target = pair
    with NetNS.from_path(target.path) as target_ns, pytest.raises(NetlinkError) as caught:
        open_handle(source).move_link(99999, target_ns)
    assert caught.value.errno == errno.ENODEV
    assert "ifindex=99999" in caught.value.request and "ifindex=99999" in str(caught.value)


def test_a_name_taken_in_the_target_is_eexist_with_the_kernels_words(
    pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle
) -> None:
    source, target = pair
    handle = open_handle(source)
    index = handle.link(name="e0").index
    with NetNS.from_path(target.path) as target_ns:
        with pytest.raises(NetlinkError) as caught:
            handle.move_link(index, target_ns)
        assert caught.value.errno == errno.EEXIST
        assert caught.value.extack == SAME_NAME
        assert SAME_NAME in str(caught.value)
        assert source.ifindex("e0") == index  # nothing moved
        handle.move_link(index, target_ns, name="e1")  # a new name in the same request succeeds
    assert {e["ifname"] for e in target.ip_json("link show")} >= {"e0", "e1"}


def test_an_altname_taken_in_the_target_is_eexist(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    source, target = pair
    source.run("ip link property add dev e0p altname clash-alt")
    target.run("ip link property add dev t0p altname clash-alt")
    handle = open_handle(source)
    with NetNS.from_path(target.path) as target_ns, pytest.raises(NetlinkError) as caught:
        handle.move_link(handle.link(name="e0p").index, target_ns, name="fresh0")
    assert caught.value.errno == errno.EEXIST
    assert caught.value.extack == "An interface with the altname clash-alt exists in the target netns"


def test_mtu_beyond_the_device_maximum_carries_the_extack(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    source, _target = pair
    handle = open_handle(source)
    with pytest.raises(NetlinkError) as caught:
        handle.set_link(handle.link(name="e0").index, mtu=70000)
    assert caught.value.errno == errno.EINVAL
    assert caught.value.extack and "mtu" in caught.value.extack.lower()


def test_a_malformed_attribute_is_named_from_the_kernels_offset(
    pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle
) -> None:
    source, _target = pair
    handle = open_handle(source)
    index = handle.link(name="e0").index
    # IFLA_MTU must be a u32: two bytes fail policy validation, and the kernel points at it
    body = IFINFOMSG.pack(0, 0, index, 0, 0) + IFLA.encode_one("IFALIAS", "fine") + encode_attr(IFLA["MTU"], b"\x00\x10")
    with pytest.raises(NetlinkError) as caught:
        handle.sock.request(RTM_NEWLINK, body, Request("RTM_NEWLINK raw", IFINFOMSG.size, IFLA))
    assert caught.value.errno in (errno.EINVAL, errno.ERANGE)
    assert caught.value.attribute == "IFLA_MTU"


def test_strict_checking_is_on(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    """NETLINK_GET_STRICT_CHK: a get with a nonzero ifi_type is refused, not silently accepted."""
    source, _target = pair
    handle = open_handle(source)
    body = IFINFOMSG.pack(0, 1, 0, 0, 0) + IFLA.encode_one("IFNAME", "e0")
    with pytest.raises(NetlinkError) as caught:
        handle.sock.request(RTM_GETLINK, body, Request("RTM_GETLINK raw", IFINFOMSG.size, IFLA))
    assert caught.value.errno == errno.EINVAL
    assert caught.value.extack == "Invalid values in header for get link request"


def test_address_refusals(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    source, _target = pair
    handle = open_handle(source)
    index = handle.link(name="e0").index
    with pytest.raises(NetlinkError) as caught:
        handle.delete_address(index, Address(AF_INET, "10.44.0.1", 24))
    assert caught.value.errno == errno.EADDRNOTAVAIL
    assert caught.value.extack == "ipv4: Address not found"
    with pytest.raises(NetlinkError) as caught:
        handle.add_address(99999, Address(AF_INET, "10.44.0.1", 24))
    assert caught.value.errno == errno.ENODEV


def test_missing_link_lookups_keep_the_kernels_error_as_cause(
    pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle
) -> None:
    source, _target = pair
    with pytest.raises(LinkNotFound) as caught:
        open_handle(source).link(name="absent0")
    cause = caught.value.__cause__
    assert isinstance(cause, NetlinkError) and cause.errno == errno.ENODEV


def test_socket_stays_usable_after_a_refusal(pair: tuple[TestNetns, TestNetns], open_handle: OpenHandle) -> None:
    source, _target = pair
    handle = open_handle(source)
    for _ in range(3):
        with pytest.raises(NetlinkError):
            handle.set_link(99999, mtu=1500)
        assert handle.link(name="e0").name == "e0"


def test_a_dump_abandoned_by_its_decoder_leaves_the_handle_usable(
    netns_factory: NetnsFactory, open_handle: OpenHandle
) -> None:
    """The kernel refuses a socket's next dump (EBUSY) while an earlier one is half-read."""
    ns = netns_factory()
    ns.ip_batch([f"link add m{i} type veth peer name m{i}p" for i in range(30)])  # several datagrams
    handle = open_handle(ns)
    seen: list[str] = []

    def fails_on_the_second(buf: memoryview, msg: MessageHeader) -> Link:
        link = decode_link(buf, msg)
        seen.append(link.name)
        if len(seen) == 2:
            raise DecodeError("refusing the second link")
        return link

    with pytest.raises(DecodeError):
        handle.sock.dump(RTM_GETLINK, dump_links_body(), Request("RTM_GETLINK dump", IFINFOMSG.size, IFLA), fails_on_the_second)
    assert len(handle.links()) == 61  # the very next dump works
    assert [a.address for a in handle.addresses(1)] == ["127.0.0.1", "::1"]
