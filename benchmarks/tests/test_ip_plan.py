from __future__ import annotations

from typing import Any

import pytest

from benchmarks.move.ip_plan import Unsupported, batch_text, plan_from_ip_json

# Trimmed from real `ip -j addr show dev nic0` / `ip -j route show table all dev nic0` (iproute2 6.1).
ADDR: list[dict[str, Any]] = [{
    "ifindex": 3, "ifname": "nic0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 9000,
    "addr_info": [
        {"family": "inet", "local": "10.91.0.2", "prefixlen": 24, "broadcast": "10.91.0.255", "scope": "global",
         "label": "nic0", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
        {"family": "inet", "local": "10.91.1.0", "prefixlen": 31, "scope": "global", "label": "nic0:x",
         "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
        {"family": "inet6", "local": "2001:db8:91:1::2", "prefixlen": 64, "scope": "global", "nodad": True,
         "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
        {"family": "inet6", "local": "2001:db8:91::2", "prefixlen": 64, "scope": "global",
         "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
        {"family": "inet6", "local": "fe80::34bd:b2ff:fe74:7e1d", "prefixlen": 64, "scope": "link",
         "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
    ],
}]  # fmt: skip
ROUTES: list[dict[str, Any]] = [
    {"dst": "10.91.0.0/24", "protocol": "kernel", "scope": "link", "prefsrc": "10.91.0.2", "flags": []},
    {"dst": "198.51.100.0/24", "gateway": "10.91.0.1", "metric": 100, "flags": []},
    {"type": "local", "dst": "10.91.0.2", "table": "local", "protocol": "kernel", "scope": "host", "prefsrc": "10.91.0.2", "flags": []},
    {"dst": "2001:db8:ff::/48", "gateway": "2001:db8:91::1", "metric": 1024, "flags": [], "pref": "medium"},
    {"dst": "203.0.113.0/24", "gateway": "10.91.0.9", "table": "100", "protocol": "static", "flags": ["onlink"],
     "metrics": [{"mtu": 1400}]},
    {"type": "multicast", "dst": "ff00::/8", "table": "local", "protocol": "kernel", "metric": 256, "flags": [], "pref": "medium"},
]  # fmt: skip


def test_plan_restores_static_config_in_kernel_order() -> None:
    plan = plan_from_ip_json(ADDR, ROUTES, "nic0")
    assert plan.apply_commands() == [
        ["addr", "add", "10.91.0.2/24", "broadcast", "10.91.0.255", "dev", "nic0"],
        ["addr", "add", "10.91.1.0/31", "label", "nic0:x", "dev", "nic0"],
        # IPv6 reversed: the kernel puts each new address ahead of the older ones.
        ["addr", "add", "2001:db8:91::2/64", "dev", "nic0"],
        ["addr", "add", "2001:db8:91:1::2/64", "nodad", "dev", "nic0"],
        ["link", "set", "dev", "nic0", "mtu", "9000", "up"],
        ["route", "add", "198.51.100.0/24", "via", "10.91.0.1", "dev", "nic0", "metric", "100"],
        ["route", "add", "2001:db8:ff::/48", "via", "2001:db8:91::1", "dev", "nic0", "metric", "1024", "pref", "medium"],
        ["route", "add", "203.0.113.0/24", "via", "10.91.0.9", "dev", "nic0", "table", "100", "proto", "static",
         "onlink", "mtu", "1400"],
    ]  # fmt: skip


def test_plan_refuses_what_it_cannot_carry_over() -> None:
    finite = [dict(ADDR[0], addr_info=[dict(ADDR[0]["addr_info"][0], valid_life_time=300)])]
    with pytest.raises(Unsupported):
        plan_from_ip_json(finite, [], "nic0")
    with pytest.raises(Unsupported):
        plan_from_ip_json(ADDR, [{"dst": "default", "flags": []}], "nic0")
    with pytest.raises(Unsupported):
        plan_from_ip_json(ADDR, [{"dst": "192.0.2.0/24", "nhid": 7, "flags": []}], "nic0")
    with pytest.raises(ValueError):
        plan_from_ip_json(ADDR, [], "eth9")


def test_batch_text_refuses_tokens_a_batch_line_would_split() -> None:
    assert batch_text([["link", "set", "dev", "nic0", "up"]]) == "link set dev nic0 up\n"
    with pytest.raises(Unsupported):
        batch_text([["addr", "add", "10.0.0.1/24", "label", "a b", "dev", "nic0"]])
