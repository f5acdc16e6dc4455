"""The JSON shapes of the ADD result in each spec version, both ways.

Written (:func:`format_result`) exactly as each version's SPEC.md defines it, leaving out
optional keys that have no value:

- 0.1.0, 0.2.0: ``ip4`` / ``ip6`` objects (``ip``, ``gateway``, ``routes``), no interfaces.
  Only the first address of each family fits; routes go under the family of their ``dst``
  and are dropped when that family has no address (as libcni's converter does). A result
  without any address is written with neither key rather than refused: the plugin's work
  (moving the device) is done, and failing ADD over a missing optional block would undo it.
- 0.3.0, 0.3.1, 0.4.0: ``interfaces`` (name, mac, sandbox), ``ips`` with ``version``
  ``"4"``/``"6"`` and ``interface`` index, ``routes`` (dst, gw), ``dns``.
- 1.0.0: as 0.4.0 without the ``version`` key of ``ips``.
- 1.1.0: as 1.0.0 plus ``mtu``, ``socketPath`` and ``pciID`` on interfaces and ``mtu``,
  ``advmss``, ``priority``, ``table``, ``scope`` on routes. (libcni's Go types write these
  for 1.0.0 too; the 1.0.0 spec does not define them, so they are left out there.)

``interfaces`` and ``ips`` are always written for 0.3.0 and later (the spec lists them as
required keys; an empty list is valid), ``routes`` and ``dns`` only when non-empty.

Read (:func:`parse_prev_result`) from any of these shapes, whatever version the
configuration claims, because runtimes and earlier plugins are not always consistent.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

from .errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CniError
from .inet import family_of, parse_cidr, parse_ip
from .protocol import SUPPORTED_VERSIONS
from .result_model import DNS, Interface, IPConfig, Result, Route

_LEGACY = frozenset({"0.1.0", "0.2.0"})
_WITH_IP_VERSION = frozenset({"0.3.0", "0.3.1", "0.4.0"})
_RICH = frozenset({"1.1.0"})
_ROUTE_EXTRAS = ("mtu", "advmss", "priority", "table", "scope")


def format_result(version: str, result: Result) -> dict[str, object]:
    """``result`` as the JSON object spec ``version`` defines (see the module docstring)."""
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION, "cannot write a result for this CNI version", repr(version)
        )
    if version in _LEGACY:
        out = _legacy_result(version, result)
    else:
        out = {
            "cniVersion": version,
            "interfaces": [_interface_json(version, iface) for iface in result.interfaces],
            "ips": [_ip_json(version, ip) for ip in result.ips],
        }
        if result.routes:
            out["routes"] = [_route_json(version, route) for route in result.routes]
    if not result.dns.is_empty():
        out["dns"] = _dns_json(result.dns)
    if result.ipam_skipped:
        out["ipamSkipped"] = result.ipam_skipped
    return out


def _legacy_result(version: str, result: Result) -> dict[str, object]:
    out: dict[str, object] = {"cniVersion": version}
    blocks: dict[int, dict[str, object]] = {}
    for ip in result.ips:
        family = family_of(ip.address)
        if family in blocks:
            continue
        block: dict[str, object] = {"ip": ip.address}
        if ip.gateway:
            block["gateway"] = ip.gateway
        blocks[family] = block
    routes_by_family: dict[int, list[dict[str, object]]] = {}
    for route in result.routes:
        family = family_of(route.dst)
        if family in blocks:
            routes_by_family.setdefault(family, []).append(_route_json(version, route))
    for family, routes in routes_by_family.items():
        blocks[family]["routes"] = routes
    for family, key in ((4, "ip4"), (6, "ip6")):
        if family in blocks:
            out[key] = blocks[family]
    return out


def _interface_json(version: str, iface: Interface) -> dict[str, object]:
    out: dict[str, object] = {"name": iface.name}
    if iface.mac:
        out["mac"] = iface.mac
    if version in _RICH and iface.mtu is not None:
        out["mtu"] = iface.mtu
    if iface.sandbox:
        out["sandbox"] = iface.sandbox
    if version in _RICH:
        if iface.socket_path:
            out["socketPath"] = iface.socket_path
        if iface.pci_id:
            out["pciID"] = iface.pci_id
    return out


def _ip_json(version: str, ip: IPConfig) -> dict[str, object]:
    out: dict[str, object] = {}
    if version in _WITH_IP_VERSION:
        out["version"] = str(family_of(ip.address))
    out["address"] = ip.address
    if ip.gateway:
        out["gateway"] = ip.gateway
    if ip.interface is not None:
        out["interface"] = ip.interface
    return out


def _route_json(version: str, route: Route) -> dict[str, object]:
    out: dict[str, object] = {"dst": route.dst}
    if route.gw:
        out["gw"] = route.gw
    if version in _RICH:
        for key in _ROUTE_EXTRAS:
            value = getattr(route, key)
            if value is not None:
                out[key] = value
    return out


def _dns_json(dns: DNS) -> dict[str, object]:
    out: dict[str, object] = {}
    if dns.nameservers:
        out["nameservers"] = list(dns.nameservers)
    if dns.domain:
        out["domain"] = dns.domain
    if dns.search:
        out["search"] = list(dns.search)
    if dns.options:
        out["options"] = list(dns.options)
    return out


# --- reading -----------------------------------------------------------------------------


class MalformedResult(ValueError):
    """A result document that does not have the shape its version defines: where, and why.

    The reader raises this; each caller turns it into the error code that fits where the
    document came from (a ``prevResult`` in our configuration: 7; a delegated plugin's output: 6).
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def _bad(where: str, reason: str) -> MalformedResult:
    return MalformedResult(where, reason)


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _bad(where, f"expected an object, got {type(value).__name__}")
    return value


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _list(obj: Mapping[str, object], key: str, where: str) -> list[object]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(_at(where, key), f"expected a list, got {type(value).__name__}")
    return value


def _opt_str(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(_at(where, key), f"expected a string, got {type(value).__name__}")
    return value


def _opt_uint(obj: Mapping[str, object], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(_at(where, key), f"expected a non-negative integer, got {value!r:.40}")
    return value


def _cidr(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _bad(_at(where, key), "expected CIDR text")
    try:
        parse_cidr(value)
    except ValueError as exc:
        raise _bad(_at(where, key), str(exc)) from None
    return value


def _opt_ip(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = _opt_str(obj, key, where)
    if value is not None:
        try:
            parse_ip(value)
        except ValueError as exc:
            raise _bad(_at(where, key), str(exc)) from None
    return value


def _strings(obj: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    items = _list(obj, key, where)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise _bad(
                f"{_at(where, key)}[{index}]", f"expected a string, got {type(item).__name__}"
            )
    return tuple(item for item in items if isinstance(item, str))


def _items(root: Mapping[str, object], key: str) -> list[tuple[int, object]]:
    return list(enumerate(_list(root, key, "")))


def _read_interface(value: object, where: str) -> Interface:
    obj = _object(value, where)
    name = obj.get("name")
    if not isinstance(name, str):
        raise _bad(f"{where}.name", "expected a string")
    return Interface(
        name=name,
        mac=_opt_str(obj, "mac", where),
        mtu=_opt_uint(obj, "mtu", where),
        sandbox=_opt_str(obj, "sandbox", where),
        pci_id=_opt_str(obj, "pciID", where),
        socket_path=_opt_str(obj, "socketPath", where),
    )


def _read_ip(value: object, where: str) -> IPConfig:
    # "version" (0.3.x/0.4.0) is redundant (the address says which family it is), but when it
    # is there it must agree: a "4" on an IPv6 address means the writer confused something.
    obj = _object(value, where)
    address = _cidr(obj, "address", where)
    claimed = obj.get("version")
    if claimed is not None and claimed != "" and claimed != str(family_of(address)):
        raise _bad(f"{where}.version", f"{claimed!r:.20} does not match the address {address}")
    return IPConfig(
        address=address,
        gateway=_opt_ip(obj, "gateway", where),
        interface=_opt_uint(obj, "interface", where),
    )


def _read_route(value: object, where: str) -> Route:
    obj = _object(value, where)
    extras = {key: _opt_uint(obj, key, where) for key in _ROUTE_EXTRAS}
    return Route(dst=_cidr(obj, "dst", where), gw=_opt_ip(obj, "gw", where), **extras)


def _read_dns(value: object) -> DNS:
    if value is None:
        return DNS()
    obj = _object(value, "dns")
    return DNS(
        nameservers=_strings(obj, "nameservers", "dns"),
        domain=_opt_str(obj, "domain", "dns"),
        search=_strings(obj, "search", "dns"),
        options=_strings(obj, "options", "dns"),
    )


def _read_legacy(obj: Mapping[str, object]) -> tuple[list[IPConfig], list[Route]]:
    ips: list[IPConfig] = []
    routes: list[Route] = []
    for key in ("ip4", "ip6"):
        if obj.get(key) is None:
            continue
        block = _object(obj[key], key)
        ips.append(
            IPConfig(address=_cidr(block, "ip", key), gateway=_opt_ip(block, "gateway", key))
        )
        for index, route in enumerate(_list(block, "routes", key)):
            routes.append(_read_route(route, f"{key}.routes[{index}]"))
    return ips, routes


def read_result(root: Mapping[str, object], *, legacy: bool) -> Result:
    """The model of a result object in the 0.1/0.2 shape (``legacy``) or the 0.3+ shape.

    Values are validated (addresses must be CIDR or IP text, indexes non-negative integers);
    ``null`` counts as absent; keys of the other shape and unknown keys are ignored, as Go's
    decoder in libcni ignores them. Raises :class:`MalformedResult`.
    """
    if legacy:
        interfaces: list[Interface] = []
        ips, routes = _read_legacy(root)
    else:
        interfaces = [_read_interface(v, f"interfaces[{i}]") for i, v in _items(root, "interfaces")]
        ips = [_read_ip(v, f"ips[{i}]") for i, v in _items(root, "ips")]
        routes = [_read_route(v, f"routes[{i}]") for i, v in _items(root, "routes")]
    return Result(
        interfaces=tuple(interfaces),
        ips=tuple(ips),
        routes=tuple(routes),
        dns=_read_dns(root.get("dns")),
    )


def is_legacy_version(version: str) -> bool:
    """True for the versions whose results have the ``ip4``/``ip6`` shape (0.1.0, 0.2.0)."""
    return version in _LEGACY


def parse_prev_result(version: str, obj: object) -> Result:
    """Read a ``prevResult`` object of any version's shape; malformed content is code 7.

    The shape is taken from the keys present: ``interfaces``/``ips``/``routes`` mean the 0.3+
    shape, ``ip4``/``ip6`` the 0.1/0.2 shape. Only when both kinds are present does the
    configuration's ``version`` decide which is read.
    """
    if not isinstance(obj, dict):
        raise CniError(
            INVALID_CONFIG, "invalid prevResult", f"expected an object, got {type(obj).__name__}"
        )
    root: Mapping[str, object] = obj
    modern = any(root.get(key) is not None for key in ("interfaces", "ips", "routes"))
    legacy = any(root.get(key) is not None for key in ("ip4", "ip6"))
    if modern and legacy:
        modern = version not in _LEGACY
    try:
        return read_result(root, legacy=not modern)
    except MalformedResult as exc:
        raise CniError(INVALID_CONFIG, f"invalid prevResult: {exc.where}", exc.reason) from None
