"""An IPAM plugin's result read by its version: the shapes of SPEC.md section 5 per version,
0.1.0/0.2.0 converted to the current shape, and nothing but CniError for anything else.

The documents are written here from the spec's text (an abbreviated success result: no
``interfaces``, no ``interface`` index), never by the code under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostdev.cni.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CniError
from hostdev.cni.inet import family_of, format_ip
from hostdev.cni.ipam_result import parse_ipam_result
from hostdev.cni.protocol import SUPPORTED_VERSIONS
from hostdev.cni.results import DNS, IPConfig, Result, Route, format_result

LEGACY = ("0.1.0", "0.2.0")
MODERN = tuple(v for v in SUPPORTED_VERSIONS if v not in LEGACY)


def parse(doc: Any, conf_version: str = "1.0.0") -> Result:
    return parse_ipam_result(json.dumps(doc).encode(), conf_version, "host-local")


# --- what host-local and static print, per version (Debian's 1.1.1 binaries) -------------------


def test_reads_host_locals_0_3_1_result() -> None:
    doc = {
        "cniVersion": "0.3.1",
        "ips": [{"version": "4", "address": "10.7.0.2/24", "gateway": "10.7.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {},
    }
    assert parse(doc, "0.3.1") == Result(ips=(IPConfig("10.7.0.2/24", "10.7.0.1"),), routes=(Route("0.0.0.0/0"),))


def test_reads_the_spec_020_ipam_result_and_converts_it() -> None:
    """SPEC.md 0.2.0's IPAM example: both blocks become ips (with gateways), their routes one
    list (ip4's first), DNS kept — and written as 1.0.0 it is what libcni's converter gives."""
    doc = {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
        "ip6": {"ip": "2001:db8::5/64", "gateway": "2001:db8::1", "routes": [{"dst": "::/0", "gw": "2001:db8::1"}]},
        "dns": {"nameservers": ["10.1.0.1"], "domain": "example.net", "search": ["a.example"], "options": ["ndots:2"]},
    }
    parsed = parse(doc, "1.0.0")
    assert format_result("1.0.0", parsed) == {
        "cniVersion": "1.0.0",
        "interfaces": [],
        "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1"}, {"address": "2001:db8::5/64", "gateway": "2001:db8::1"}],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "2001:db8::1"}],
        "dns": {"nameservers": ["10.1.0.1"], "domain": "example.net", "search": ["a.example"], "options": ["ndots:2"]},
    }


def test_a_result_without_cni_version_is_of_the_configurations_version() -> None:
    """libcni's fixupResultVersion: an empty or missing version means the config's."""
    legacy_doc = {"ip4": {"ip": "10.1.0.5/16"}}
    assert parse(legacy_doc, "0.2.0").ips == (IPConfig("10.1.0.5/16"),)
    assert parse(dict(legacy_doc, cniVersion=""), "0.1.0").ips == (IPConfig("10.1.0.5/16"),)
    # Read as 1.0.0, the same document has no ips: ip4 is not a key of that version.
    assert parse(legacy_doc, "1.0.0").ips == ()


def test_a_result_of_another_supported_version_is_read_in_its_own_shape() -> None:
    assert parse({"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.5/16"}}, "1.1.0").ips == (IPConfig("10.1.0.5/16"),)
    assert parse({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/16"}]}, "0.3.1").ips == (IPConfig("10.1.0.5/16"),)


def test_interfaces_and_indexes_an_ipam_plugin_sends_anyway_are_dropped() -> None:
    doc = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0"}, {"name": "eth1"}],
        "ips": [{"address": "10.1.0.5/16", "interface": 1}],
    }
    assert parse(doc) == Result(ips=(IPConfig("10.1.0.5/16"),))


def test_1_1_route_fields_are_read() -> None:
    doc = {"cniVersion": "1.1.0", "ips": [{"address": "10.1.0.5/16"}], "routes": [{"dst": "10.0.0.0/8", "gw": "10.1.0.1", "mtu": 1400, "advmss": 1360, "priority": 5, "table": 100, "scope": 0}]}
    assert parse(doc, "1.1.0").routes == (Route("10.0.0.0/8", "10.1.0.1", mtu=1400, advmss=1360, priority=5, table=100, scope=0),)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, where",
    [
        (b"", "no JSON result"),
        (b"\xff\xfe", "no JSON result"),
        (b"not json", "no JSON result"),
        (b"[1, 2]", "no JSON object"),
        (b'{"cniVersion": "1.0.0", "ips": {"address": "10.0.0.1/8"}}', "ips"),
        (b'{"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}', "ips[0].address"),
        (b'{"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1/8", "gateway": "10.0.0"}]}', "ips[0].gateway"),
        (b'{"cniVersion": "0.3.1", "ips": [{"version": "6", "address": "10.0.0.1/8"}]}', "ips[0].version"),
        (b'{"cniVersion": "0.2.0", "ip4": {"ip": "2001:db8::1/64x"}}', "ip4.ip"),
        (b'{"cniVersion": "1.0.0", "routes": [{"dst": "0.0.0.0/0", "priority": -1}]}', "routes[0].priority"),
        (b'{"cniVersion": "1.0.0", "dns": {"nameservers": [1]}}', "dns.nameservers[0]"),
    ],
)
def test_output_that_is_not_a_result_is_code_6_naming_where(output: bytes, where: str) -> None:
    with pytest.raises(CniError) as info:
        parse_ipam_result(output, "1.0.0", "host-local")
    assert info.value.code == DECODE_FAILURE
    assert "IPAM plugin host-local returned" in info.value.msg and where in info.value.msg


@pytest.mark.parametrize("version", ["0.5.0", "1.2.0", "2.0.0", 1, True])
def test_an_unknown_result_version_is_code_1(version: object) -> None:
    with pytest.raises(CniError) as info:
        parse({"cniVersion": version, "ips": []})
    assert info.value.code == INCOMPATIBLE_VERSION


# --- every shape, random content -------------------------------------------------------------

_V4 = st.builds(lambda v, p: f"{format_ip(4, v)}/{p}", st.integers(0, 2**32 - 1), st.integers(0, 32))
_V6 = st.builds(lambda v, p: f"{format_ip(6, v)}/{p}", st.integers(0, 2**128 - 1), st.integers(0, 128))
_GW4 = st.none() | st.builds(lambda v: format_ip(4, v), st.integers(0, 2**32 - 1))
_GW6 = st.none() | st.builds(lambda v: format_ip(6, v), st.integers(0, 2**128 - 1))
_UINT = st.none() | st.integers(0, 2**31)
_WORDS = st.lists(st.text("abcdefgh.:-0123", min_size=1, max_size=12), max_size=3).map(tuple)
_DNS = st.builds(DNS, _WORDS, st.none() | st.text("abc.", min_size=1, max_size=10), _WORDS, _WORDS)


@st.composite
def _ip(draw: st.DrawFn) -> IPConfig:
    if draw(st.booleans()):
        return IPConfig(draw(_V4), draw(_GW4))
    return IPConfig(draw(_V6), draw(_GW6))


@st.composite
def _route(draw: st.DrawFn, extras: bool, family: int | None = None) -> Route:
    if family == 4 or (family is None and draw(st.booleans())):
        dst, gw = draw(_V4), draw(_GW4)
    else:
        dst, gw = draw(_V6), draw(_GW6)
    if not extras:
        return Route(dst, gw)
    return Route(dst, gw, mtu=draw(_UINT), advmss=draw(_UINT), priority=draw(_UINT), table=draw(_UINT), scope=draw(st.none() | st.sampled_from([0, 253, 254])))


def _route_doc(route: Route) -> dict[str, Any]:
    doc: dict[str, Any] = {"dst": route.dst}
    if route.gw is not None:
        doc["gw"] = route.gw
    for key in ("mtu", "advmss", "priority", "table", "scope"):
        if getattr(route, key) is not None:
            doc[key] = getattr(route, key)
    return doc


def _dns_doc(dns: DNS) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if dns.nameservers:
        doc["nameservers"] = list(dns.nameservers)
    if dns.domain is not None:
        doc["domain"] = dns.domain
    if dns.search:
        doc["search"] = list(dns.search)
    if dns.options:
        doc["options"] = list(dns.options)
    return doc


def _modern_doc(version: str, ips: list[IPConfig], routes: list[Route], dns: DNS) -> dict[str, Any]:
    """SPEC.md 0.3.0 … 1.1.0: ips (with "version" before 1.0.0), routes, dns."""
    doc: dict[str, Any] = {"cniVersion": version, "ips": [], "routes": [_route_doc(r) for r in routes], "dns": _dns_doc(dns)}
    for ip in ips:
        entry: dict[str, Any] = {"address": ip.address}
        if version in ("0.3.0", "0.3.1", "0.4.0"):
            entry["version"] = str(family_of(ip.address))
        if ip.gateway is not None:
            entry["gateway"] = ip.gateway
        doc["ips"].append(entry)
    return doc


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(MODERN),
    st.sampled_from(SUPPORTED_VERSIONS),
    st.lists(_ip(), max_size=4),
    st.lists(_route(extras=True), max_size=4),
    _DNS,
)
def test_modern_results_read_back_exactly(version: str, conf_version: str, ips: list[IPConfig], routes: list[Route], dns: DNS) -> None:
    doc = _modern_doc(version, ips, routes, dns)
    assert parse(doc, conf_version) == Result(ips=tuple(ips), routes=tuple(routes), dns=dns)
    # Without a version of its own, the same document is read as the configuration's version.
    del doc["cniVersion"]
    if conf_version in MODERN:
        assert parse(doc, conf_version) == Result(ips=tuple(ips), routes=tuple(routes), dns=dns)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(LEGACY),
    st.sampled_from(SUPPORTED_VERSIONS),
    st.none() | st.tuples(_V4, _GW4, st.lists(_route(extras=False, family=4), max_size=3)),
    st.none() | st.tuples(_V6, _GW6, st.lists(_route(extras=False, family=6), max_size=3)),
    _DNS,
)
def test_legacy_results_are_converted_to_the_current_shape(
    version: str,
    conf_version: str,
    ip4: tuple[str, str | None, list[Route]] | None,
    ip6: tuple[str, str | None, list[Route]] | None,
    dns: DNS,
) -> None:
    """0.1.0/0.2.0: ip4 then ip6, each with its gateway; ip4's routes, then ip6's; DNS as is."""
    doc: dict[str, Any] = {"cniVersion": version, "dns": _dns_doc(dns)}
    ips: list[IPConfig] = []
    routes: list[Route] = []
    for key, block in (("ip4", ip4), ("ip6", ip6)):
        if block is None:
            continue
        address, gateway, block_routes = block
        doc[key] = {"ip": address, "routes": [_route_doc(r) for r in block_routes]}
        if gateway is not None:
            doc[key]["gateway"] = gateway
        ips.append(IPConfig(address, gateway))
        routes += block_routes
    expected = Result(ips=tuple(ips), routes=tuple(routes), dns=dns)
    assert parse(doc, conf_version) == expected
    # Written in the configuration's version and read back, nothing of it is lost.
    assert parse(format_result(conf_version, expected), conf_version) == expected


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_KEYS = st.sampled_from(["cniVersion", "ips", "routes", "dns", "ip4", "ip6", "interfaces", "address", "gateway", "dst", "gw", "version", "ip", "interface", "nameservers", "mtu"])
_RESULTISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.sampled_from(["10.0.0.1/8", "::1/128", "10.0.0.1", "1.0.0", "0.2.0", "4", "6", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_JSON | _RESULTISH, st.sampled_from(SUPPORTED_VERSIONS))
def test_any_output_is_a_result_or_a_clean_cni_error(doc: Any, conf_version: str) -> None:
    try:
        parsed = parse(doc, conf_version)
    except CniError as exc:
        assert exc.code in (DECODE_FAILURE, INCOMPATIBLE_VERSION)
        return
    assert isinstance(parsed, Result) and parsed.interfaces == ()
    assert all(ip.interface is None for ip in parsed.ips)
