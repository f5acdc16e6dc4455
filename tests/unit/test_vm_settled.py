"""The VM tier's notion of a settled NIC, on the views CI14 recorded (tests/vm/guest_tools.py).

A test compares the NIC after DEL with a "before" view, so "before" must be one the NIC will not
drift from by itself. CI14's was taken with operstate still UP (linkwatch reports it up to a second
late) while the carrier had dropped again: no LOWER_UP, the routes flagged linkdown, no ff00::/8
route yet. After DEL the carrier was back and the views differed, through no fault of the plugin.
"""

from __future__ import annotations

from typing import Any

from tests.vm.guest_tools import is_settled


def view(flags: list[str], operstate: str = "UP", tentative: bool = False) -> dict[str, Any]:
    address: dict[str, Any] = {"family": "inet6", "local": "fd03:1::5", "prefixlen": 64}
    if tentative:
        address["tentative"] = True
    return {"link": {"ifname": "eth0", "flags": flags, "operstate": operstate}, "addrs": [address], "routes": []}


def test_operstate_up_without_carrier_is_not_settled() -> None:
    assert not is_settled(view(["BROADCAST", "MULTICAST", "UP"]))  # CI14's "before"


def test_carrier_and_operstate_up_with_every_address_past_dad_is_settled() -> None:
    assert is_settled(view(["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]))  # CI14's "after"


def test_an_address_in_dad_or_operstate_lagging_behind_the_carrier_is_not_settled() -> None:
    assert not is_settled(view(["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], tentative=True))
    assert not is_settled(view(["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], operstate="DOWN"))
