"""ADD results: the JSON shape of each spec version, prevResult reading, chaining, /31 peers.

Expected JSON is written by hand from each version's SPEC.md (result template and examples),
never captured from this code's output.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CniError
from hostdev.cni.inet import format_ip, parse_cidr, parse_ip
from hostdev.cni.protocol import SUPPORTED_VERSIONS
from hostdev.cni.results import (
    DNS,
    Interface,
    IPConfig,
    Result,
    Route,
    format_result,
    ip_config_for,
    merge,
    parse_prev_result,
    peer_of_slash31,
)

# The plugin's own result for the seed's verification example: enp68s0 moved into the pod,
# keeping 55.1.1.56/24 and its link-local IPv6 address, plus a /31 and a default route.
OURS = Result(
    interfaces=(
        Interface(
            name="enp68s0",
            mac="04:90:81:2c:4f:90",
            mtu=1500,
            sandbox="/var/run/netns/pod",
            pci_id="0000:44:00.0",
        ),
    ),
    ips=(
        IPConfig("55.1.1.56/24", None, 0),
        IPConfig("fe80::690:81ff:fe2c:4f90/64", None, 0),
        IPConfig("10.10.0.3/31", "10.10.0.2", 0),
    ),
    routes=(
        Route("0.0.0.0/0", "55.1.1.1", mtu=9000, priority=100, table=254, scope=0),
        Route("2001:db8::/32"),
    ),
)

GOLDEN: dict[str, dict[str, object]] = {
    "0.1.0": {
        "cniVersion": "0.1.0",
        "ip4": {"ip": "55.1.1.56/24", "routes": [{"dst": "0.0.0.0/0", "gw": "55.1.1.1"}]},
        "ip6": {"ip": "fe80::690:81ff:fe2c:4f90/64", "routes": [{"dst": "2001:db8::/32"}]},
    },
    "0.3.1": {
        "cniVersion": "0.3.1",
        "interfaces": [
            {"name": "enp68s0", "mac": "04:90:81:2c:4f:90", "sandbox": "/var/run/netns/pod"}
        ],
        "ips": [
            {"version": "4", "address": "55.1.1.56/24", "interface": 0},
            {"version": "6", "address": "fe80::690:81ff:fe2c:4f90/64", "interface": 0},
            {"version": "4", "address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 0},
        ],
        "routes": [{"dst": "0.0.0.0/0", "gw": "55.1.1.1"}, {"dst": "2001:db8::/32"}],
    },
    "1.0.0": {
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "enp68s0", "mac": "04:90:81:2c:4f:90", "sandbox": "/var/run/netns/pod"}
        ],
        "ips": [
            {"address": "55.1.1.56/24", "interface": 0},
            {"address": "fe80::690:81ff:fe2c:4f90/64", "interface": 0},
            {"address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 0},
        ],
        "routes": [{"dst": "0.0.0.0/0", "gw": "55.1.1.1"}, {"dst": "2001:db8::/32"}],
    },
    "1.1.0": {
        "cniVersion": "1.1.0",
        "interfaces": [
            {
                "name": "enp68s0",
                "mac": "04:90:81:2c:4f:90",
                "mtu": 1500,
                "sandbox": "/var/run/netns/pod",
                "pciID": "0000:44:00.0",
            }
        ],
        "ips": [
            {"address": "55.1.1.56/24", "interface": 0},
            {"address": "fe80::690:81ff:fe2c:4f90/64", "interface": 0},
            {"address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 0},
        ],
        "routes": [
            {
                "dst": "0.0.0.0/0",
                "gw": "55.1.1.1",
                "mtu": 9000,
                "priority": 100,
                "table": 254,
                "scope": 0,
            },
            {"dst": "2001:db8::/32"},
        ],
    },
}
GOLDEN["0.2.0"] = dict(GOLDEN["0.1.0"], cniVersion="0.2.0")
GOLDEN["0.3.0"] = dict(GOLDEN["0.3.1"], cniVersion="0.3.0")
GOLDEN["0.4.0"] = dict(GOLDEN["0.3.1"], cniVersion="0.4.0")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_golden_shape_per_version(version: str) -> None:
    out = format_result(version, OURS)
    assert out == GOLDEN[version]
    assert list(out)[0] == "cniVersion"
    assert json.loads(json.dumps(out)) == out


def test_legacy_shape_keeps_only_the_first_address_of_each_family() -> None:
    result = Result(ips=(IPConfig("10.0.0.2/24", "10.0.0.1", 0), IPConfig("10.0.1.2/24", None, 0)))
    assert format_result("0.2.0", result) == {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"},
    }


def test_legacy_shape_drops_routes_of_a_family_without_address() -> None:
    result = Result(ips=(IPConfig("10.0.0.2/24"),), routes=(Route("2001:db8::/32", "2001:db8::1"),))
    assert format_result("0.1.0", result) == {"cniVersion": "0.1.0", "ip4": {"ip": "10.0.0.2/24"}}


def test_result_without_addresses() -> None:
    bare = Result(
        interfaces=(Interface("enp68s0", "04:90:81:2c:4f:90", sandbox="/var/run/netns/pod"),)
    )
    assert format_result("0.2.0", bare) == {"cniVersion": "0.2.0"}
    assert format_result("0.4.0", bare) == {
        "cniVersion": "0.4.0",
        "interfaces": [
            {"name": "enp68s0", "mac": "04:90:81:2c:4f:90", "sandbox": "/var/run/netns/pod"}
        ],
        "ips": [],
    }


def test_host_interface_and_empty_optional_fields_are_omitted() -> None:
    result = Result(
        interfaces=(Interface("cni0", None, None, None, None, None),),
        ips=(IPConfig("10.1.0.1/16"),),
    )
    assert format_result("1.1.0", result) == {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "cni0"}],
        "ips": [{"address": "10.1.0.1/16"}],
    }


def test_dns_is_written_only_when_set() -> None:
    dns = DNS(
        nameservers=("10.1.0.1", "fd00::1"),
        domain="example.net",
        search=("a.example.net",),
        options=("ndots:2",),
    )
    expected_dns = {
        "nameservers": ["10.1.0.1", "fd00::1"],
        "domain": "example.net",
        "search": ["a.example.net"],
        "options": ["ndots:2"],
    }
    for version in SUPPORTED_VERSIONS:
        assert format_result(version, Result(dns=dns))["dns"] == expected_dns
        assert "dns" not in format_result(version, Result())
    assert format_result("0.4.0", Result(dns=DNS(nameservers=("10.1.0.1",))))["dns"] == {
        "nameservers": ["10.1.0.1"]
    }


@pytest.mark.parametrize("version", ["", "0.5.0", "1.2.0"])
def test_format_refuses_unknown_versions(version: str) -> None:
    with pytest.raises(CniError) as info:
        format_result(version, OURS)
    assert info.value.code == INCOMPATIBLE_VERSION


# --- reading prevResult --------------------------------------------------------------------

# SPEC.md (1.1.0) appendix: the bridge plugin's result.
SPEC_110_BRIDGE = {
    "cniVersion": "1.1.0",
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "veth3243", "mac": "55:44:33:22:11:11"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
    ],
    "dns": {"nameservers": ["10.1.0.1"]},
}
SPEC_110_BRIDGE_MODEL = Result(
    interfaces=(
        Interface("cni0", "00:11:22:33:44:55"),
        Interface("veth3243", "55:44:33:22:11:11"),
        Interface("eth0", "99:88:77:66:55:44", sandbox="/var/run/netns/blue"),
    ),
    ips=(IPConfig("10.1.0.5/16", "10.1.0.1", 2),),
    routes=(Route("0.0.0.0/0"),),
    dns=DNS(nameservers=("10.1.0.1",)),
)

# SPEC.md (0.4.0) "Network configuration list runtime examples": the prevResult given to tuning.
SPEC_040_PREV = {
    "ips": [{"version": "4", "address": "10.0.0.5/32", "interface": 2}],
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "veth3243", "mac": "55:44:33:22:11:11"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
    ],
    "dns": {"nameservers": ["10.1.0.1"]},
}

# SPEC.md (0.2.0) IPAM/plugin result template, filled in.
SPEC_020_PREV = {
    "cniVersion": "0.2.0",
    "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
    "ip6": {
        "ip": "2001:db8::5/64",
        "gateway": "2001:db8::1",
        "routes": [{"dst": "::/0", "gw": "2001:db8::1"}],
    },
    "dns": {"nameservers": ["10.1.0.1"], "domain": "example.net"},
}


def test_reads_the_spec_110_example_and_writes_it_back_unchanged() -> None:
    parsed = parse_prev_result("1.1.0", SPEC_110_BRIDGE)
    assert parsed == SPEC_110_BRIDGE_MODEL
    assert format_result("1.1.0", parsed) == SPEC_110_BRIDGE


def test_reads_the_spec_040_example() -> None:
    parsed = parse_prev_result("0.4.0", SPEC_040_PREV)
    assert parsed.ips == (IPConfig("10.0.0.5/32", None, 2),)
    assert [i.name for i in parsed.interfaces] == ["cni0", "veth3243", "eth0"]
    assert format_result("0.4.0", parsed) == dict(SPEC_040_PREV, cniVersion="0.4.0")


def test_reads_the_legacy_shape() -> None:
    parsed = parse_prev_result("0.2.0", SPEC_020_PREV)
    assert parsed == Result(
        ips=(IPConfig("10.1.0.5/16", "10.1.0.1"), IPConfig("2001:db8::5/64", "2001:db8::1")),
        routes=(Route("0.0.0.0/0"), Route("::/0", "2001:db8::1")),
        dns=DNS(nameservers=("10.1.0.1",), domain="example.net"),
    )
    assert format_result("0.2.0", parsed) == SPEC_020_PREV


@pytest.mark.parametrize("claimed", SUPPORTED_VERSIONS)
def test_shape_is_read_from_the_keys_whatever_the_version_claims(claimed: str) -> None:
    assert parse_prev_result(claimed, SPEC_110_BRIDGE) == SPEC_110_BRIDGE_MODEL
    assert parse_prev_result(claimed, SPEC_020_PREV).ips[0] == IPConfig("10.1.0.5/16", "10.1.0.1")


def test_mixed_shapes_are_resolved_by_the_version() -> None:
    mixed = dict(SPEC_020_PREV, ips=[{"address": "192.0.2.1/24"}])
    assert parse_prev_result("1.0.0", mixed).ips == (IPConfig("192.0.2.1/24"),)
    assert parse_prev_result("0.2.0", mixed).ips[0] == IPConfig("10.1.0.5/16", "10.1.0.1")


def test_nulls_and_empty_strings_count_as_absent() -> None:
    prev = {
        "interfaces": [{"name": "eth0", "mac": None, "sandbox": "", "mtu": None}],
        "ips": [{"address": "10.0.0.2/24", "gateway": None, "interface": None}],
        "routes": None,
        "dns": None,
    }
    assert parse_prev_result("1.1.0", prev) == Result(
        interfaces=(Interface("eth0"),), ips=(IPConfig("10.0.0.2/24"),)
    )


def test_1_1_fields_are_read_from_prev_result() -> None:
    prev = {
        "interfaces": [
            {"name": "net1", "mtu": 9000, "socketPath": "/run/vhost.sock", "pciID": "0000:03:00.1"}
        ],
        "routes": [{"dst": "10.0.0.0/8", "advmss": 1400, "table": 100, "scope": 253}],
    }
    parsed = parse_prev_result("1.1.0", prev)
    assert parsed.interfaces == (
        Interface("net1", mtu=9000, pci_id="0000:03:00.1", socket_path="/run/vhost.sock"),
    )
    assert parsed.routes == (Route("10.0.0.0/8", advmss=1400, table=100, scope=253),)
    assert format_result("1.1.0", parsed) == dict(prev, cniVersion="1.1.0", ips=[])


@pytest.mark.parametrize(
    ("prev", "named"),
    [
        ([], "prevResult"),
        ({"interfaces": {}}, "interfaces"),
        ({"interfaces": [{"mac": "x"}]}, "interfaces[0].name"),
        ({"interfaces": [{"name": 5}]}, "interfaces[0].name"),
        ({"interfaces": [{"name": "a", "mtu": -1}]}, "interfaces[0].mtu"),
        ({"interfaces": [{"name": "a", "mtu": True}]}, "interfaces[0].mtu"),
        ({"interfaces": ["eth0"]}, "interfaces[0]"),
        ({"ips": [{"address": "10.0.0.1"}]}, "ips[0].address"),
        ({"ips": [{"address": "10.0.0.256/24"}]}, "ips[0].address"),
        ({"ips": [{"address": "10.0.0.1/33"}]}, "ips[0].address"),
        ({"ips": [{"address": "10.0.0.1/24", "gateway": "gw"}]}, "ips[0].gateway"),
        ({"ips": [{"address": "10.0.0.1/24", "interface": "0"}]}, "ips[0].interface"),
        ({"ips": [{"address": "10.0.0.1/24", "interface": 1.0}]}, "ips[0].interface"),
        ({"routes": [{"gw": "10.0.0.1"}]}, "routes[0].dst"),
        ({"routes": [{"dst": "::/0", "gw": "::g"}]}, "routes[0].gw"),
        ({"routes": [{"dst": "::/0", "table": "main"}]}, "routes[0].table"),
        ({"dns": {"nameservers": "10.0.0.1"}}, "dns.nameservers"),
        ({"dns": {"search": ["a", 1]}}, "dns.search[1]"),
        ({"dns": []}, "dns"),
        ({"ip4": {"gateway": "10.0.0.1"}}, "ip4.ip"),
        ({"ip6": {"ip": "fe80::1/64", "routes": [{"dst": "x"}]}}, "ip6.routes[0].dst"),
    ],
)
def test_malformed_prev_result_is_code_7_naming_the_field(prev: object, named: str) -> None:
    with pytest.raises(CniError) as info:
        parse_prev_result("1.0.0", prev)
    assert info.value.code == INVALID_CONFIG
    assert named in info.value.msg


# --- chaining ------------------------------------------------------------------------------

OUR_PART = Result(
    interfaces=(
        Interface("enp68s0", "04:90:81:2c:4f:90", 1500, "/var/run/netns/blue", "0000:44:00.0"),
    ),
    ips=(IPConfig("55.1.1.56/24", None, 0), IPConfig("10.10.0.3/31", "10.10.0.2", 0)),
    routes=(Route("55.2.0.0/16", "55.1.1.1"),),
)


def test_merge_onto_the_spec_110_example() -> None:
    merged = merge(parse_prev_result("1.1.0", SPEC_110_BRIDGE), OUR_PART)
    assert format_result("1.1.0", merged) == {
        "cniVersion": "1.1.0",
        "interfaces": [
            {"name": "cni0", "mac": "00:11:22:33:44:55"},
            {"name": "veth3243", "mac": "55:44:33:22:11:11"},
            {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
            {
                "name": "enp68s0",
                "mac": "04:90:81:2c:4f:90",
                "mtu": 1500,
                "sandbox": "/var/run/netns/blue",
                "pciID": "0000:44:00.0",
            },
        ],
        "ips": [
            {"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2},
            {"address": "55.1.1.56/24", "interface": 3},
            {"address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 3},
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "55.2.0.0/16", "gw": "55.1.1.1"}],
        "dns": {"nameservers": ["10.1.0.1"]},
    }


def test_merge_onto_the_spec_040_example() -> None:
    merged = merge(parse_prev_result("0.4.0", SPEC_040_PREV), OUR_PART)
    assert format_result("0.4.0", merged) == {
        "cniVersion": "0.4.0",
        "interfaces": [
            {"name": "cni0", "mac": "00:11:22:33:44:55"},
            {"name": "veth3243", "mac": "55:44:33:22:11:11"},
            {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue"},
            {"name": "enp68s0", "mac": "04:90:81:2c:4f:90", "sandbox": "/var/run/netns/blue"},
        ],
        "ips": [
            {"version": "4", "address": "10.0.0.5/32", "interface": 2},
            {"version": "4", "address": "55.1.1.56/24", "interface": 3},
            {"version": "4", "address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 3},
        ],
        "routes": [{"dst": "55.2.0.0/16", "gw": "55.1.1.1"}],
        "dns": {"nameservers": ["10.1.0.1"]},
    }


def test_merge_onto_a_legacy_result() -> None:
    merged = merge(parse_prev_result("0.2.0", SPEC_020_PREV), OUR_PART)
    # Written back as 0.2.0 only the previous first address per family fits.
    assert format_result("0.2.0", merged) == {
        "cniVersion": "0.2.0",
        "ip4": {
            "ip": "10.1.0.5/16",
            "gateway": "10.1.0.1",
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "55.2.0.0/16", "gw": "55.1.1.1"}],
        },
        "ip6": {
            "ip": "2001:db8::5/64",
            "gateway": "2001:db8::1",
            "routes": [{"dst": "::/0", "gw": "2001:db8::1"}],
        },
        "dns": {"nameservers": ["10.1.0.1"], "domain": "example.net"},
    }
    # Written as 0.3.1 the legacy addresses have no interface and ours are re-based onto index 0.
    assert format_result("0.3.1", merged)["ips"] == [
        {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1"},
        {"version": "6", "address": "2001:db8::5/64", "gateway": "2001:db8::1"},
        {"version": "4", "address": "55.1.1.56/24", "interface": 0},
        {"version": "4", "address": "10.10.0.3/31", "gateway": "10.10.0.2", "interface": 0},
    ]


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "1.0.0"])
def test_merge_in_other_versions_rebases_by_previous_interface_count(version: str) -> None:
    prev = {
        "interfaces": [{"name": "a"}, {"name": "b"}],
        "ips": [{"address": "192.0.2.1/24", "interface": 1}],
    }
    merged = json.loads(
        json.dumps(format_result(version, merge(parse_prev_result(version, prev), OUR_PART)))
    )
    assert [ip.get("interface") for ip in merged["ips"]] == [1, 2, 2]
    assert [i["name"] for i in merged["interfaces"]] == ["a", "b", "enp68s0"]


def test_merge_keeps_previous_dns_and_unindexed_ips() -> None:
    ours = Result(ips=(IPConfig("192.0.2.9/24"),), dns=DNS(nameservers=("192.0.2.53",)))
    assert merge(Result(interfaces=(Interface("x"),)), ours) == Result(
        interfaces=(Interface("x"),),
        ips=(IPConfig("192.0.2.9/24"),),
        dns=DNS(nameservers=("192.0.2.53",)),
    )
    prev_dns = DNS(domain="prev.example")
    assert merge(Result(dns=prev_dns), ours).dns == prev_dns
    assert merge(Result(), Result()) == Result()


# --- point-to-point peers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "peer"),
    [
        ("10.10.0.2/31", "10.10.0.3"),
        ("10.10.0.3/31", "10.10.0.2"),
        ("0.0.0.0/31", "0.0.0.1"),
        ("255.255.255.255/31", "255.255.255.254"),
        ("192.168.1.255/31", "192.168.1.254"),
        ("2001:db8::/127", "2001:db8::1"),
        ("2001:db8::1/127", "2001:db8::"),
        ("2001:db8:0:0:1:0:0:5/127", "2001:db8::1:0:0:4"),
        ("10.10.0.2/30", None),
        ("10.10.0.2/32", None),
        ("10.10.0.2/24", None),
        ("2001:db8::1/128", None),
        ("2001:db8::1/126", None),
        ("2001:db8::1/64", None),
    ],
)
def test_peer_of_point_to_point_prefixes(cidr: str, peer: str | None) -> None:
    assert peer_of_slash31(cidr) == peer


@pytest.mark.parametrize(
    "bad",
    [
        "10.0.0.1",
        "10.0.0.1/",
        "10.0.0.1/031",
        "10.0.0/31",
        "010.0.0.1/31",
        "x/31",
        "::g/127",
        "fe80::1%eth0/127",
    ],
)
def test_peer_of_malformed_text_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        peer_of_slash31(bad)


def test_ip_config_for_uses_the_peer_as_gateway() -> None:
    assert ip_config_for("10.10.0.3/31", 0) == IPConfig("10.10.0.3/31", "10.10.0.2", 0)
    assert ip_config_for("55.1.1.56/24", 2) == IPConfig("55.1.1.56/24", None, 2)
    assert ip_config_for("2001:db8::1/127", None) == IPConfig("2001:db8::1/127", "2001:db8::", None)


def test_results_do_not_import_ipaddress() -> None:
    import pathlib
    import subprocess
    import sys

    import hostdev

    # -S: without site, whose editable-install finder pulls in ipaddress via urllib.
    root = pathlib.Path(hostdev.__file__).parent.parent
    code = (
        "import sys, hostdev.cni.results as r\n"
        "ips = (r.ip_config_for('10.0.0.0/31', 0), r.ip_config_for('::/127', 0))\n"
        "r.format_result('0.4.0', r.Result(ips=ips))\n"
        "print('ipaddress' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0.0.0.0", (4, 0)),
        ("255.255.255.255", (4, 0xFFFFFFFF)),
        ("10.1.2.3", (4, 0x0A010203)),
        ("::", (6, 0)),
        ("::1", (6, 1)),
        ("2001:DB8::1", (6, 0x20010DB8 << 96 | 1)),
    ],
)
def test_ip_text_parsing(text: str, parsed: tuple[int, int]) -> None:
    assert parse_ip(text) == parsed


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1",
        "10.1",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.256",
        "0x1.2.3.4",
        "1.2.3.٤",
        " 1.2.3.4",
        ":::",
        "1::2::3",
    ],
)
def test_ip_text_parsing_is_strict(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_ip(bad)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_ipv4_text_round_trips(value: int, prefix: int) -> None:
    text = format_ip(4, value)
    assert parse_cidr(f"{text}/{prefix}") == (4, value, prefix)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**128 - 1))
def test_ipv6_text_round_trips_and_peers_are_mutual(value: int) -> None:
    text = format_ip(6, value)
    assert parse_ip(text) == (6, value)
    peer = peer_of_slash31(f"{text}/127")
    assert peer is not None and peer_of_slash31(f"{peer}/127") == text


# --- round trip over random results --------------------------------------------------------

_V4 = st.builds(
    lambda v, p: f"{format_ip(4, v)}/{p}", st.integers(0, 2**32 - 1), st.integers(0, 32)
)
_V6 = st.builds(
    lambda v, p: f"{format_ip(6, v)}/{p}", st.integers(0, 2**128 - 1), st.integers(0, 128)
)
_NAMES = st.text(alphabet="abcdefgh0123", min_size=1, max_size=15)
_OPT_UINT = st.none() | st.integers(0, 2**31)

_RESULTS = st.builds(
    Result,
    interfaces=st.lists(
        st.builds(
            Interface,
            _NAMES,
            st.none() | st.just("02:00:00:00:00:01"),
            _OPT_UINT,
            st.none() | st.just("/run/netns/p"),
        ),
        max_size=3,
    ).map(tuple),
    ips=st.lists(
        st.builds(IPConfig, _V4 | _V6, st.none() | st.just("192.0.2.1"), _OPT_UINT), max_size=4
    ).map(tuple),
    routes=st.lists(
        st.builds(Route, _V4 | _V6, st.none() | st.just("2001:db8::1"), _OPT_UINT), max_size=3
    ).map(tuple),
)


@settings(max_examples=50, deadline=None)
@given(_RESULTS, st.sampled_from(SUPPORTED_VERSIONS))
def test_written_results_read_back_to_the_same_json(result: Result, version: str) -> None:
    written = format_result(version, result)
    reread = parse_prev_result(version, json.loads(json.dumps(written)))
    assert format_result(version, reread) == written
    if version in ("1.0.0", "1.1.0", "0.4.0"):
        assert len(reread.ips) == len(result.ips)
