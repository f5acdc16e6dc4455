"""CNI ADD results: the version-neutral model, its JSON shapes, and the rules for building one.

The model (:class:`Result` and its parts) holds every field any supported spec version
defines; :func:`format_result` writes the exact shape one version expects and
:func:`parse_prev_result` reads any shape back. :func:`merge` appends this plugin's part to a
chain's previous result; :func:`ip_config_for` and :func:`peer_of_slash31` say how an address
the plugin kept on a moved interface is reported.
"""

from __future__ import annotations

from hostdev._record import replace

from .inet import format_ip, parse_cidr
from .result_json import format_result, parse_prev_result
from .result_model import DNS, Interface, IPConfig, Result, Route

__all__ = [
    "DNS",
    "IPConfig",
    "Interface",
    "Result",
    "Route",
    "format_result",
    "ip_config_for",
    "merge",
    "parse_prev_result",
    "peer_of_slash31",
]


def peer_of_slash31(cidr: str) -> str | None:
    """The other address of a point-to-point prefix, or ``None`` for any other prefix.

    For an IPv4 /31 (RFC 3021) the only other host on the link is the address with the last
    bit flipped, and the plugin reports it as the ``gateway`` so that a chained ``sbr`` plugin
    can build its per-interface default route. IPv6 /127 (RFC 6164) is the same kind of link
    and gets the same rule, for the same reason; the peer is written in RFC 5952 form.
    Raises ``ValueError`` if ``cidr`` is not ``address/prefix`` text.
    """
    family, value, prefix = parse_cidr(cidr)
    if (family, prefix) in ((4, 31), (6, 127)):
        return format_ip(family, value ^ 1)
    return None


def ip_config_for(cidr: str, interface: int | None) -> IPConfig:
    """The result entry for an address the plugin found on (and kept with) a moved interface.

    The gateway is the point-to-point peer (see :func:`peer_of_slash31`) and otherwise unset:
    an address preserved from the host implies no gateway of its own.
    """
    return IPConfig(address=cidr, gateway=peer_of_slash31(cidr), interface=interface)


def merge(prev: Result, ours: Result) -> Result:
    """``ours`` added to a chain's ``prev`` result.

    Our interfaces go after the previous ones, so our IP entries' ``interface`` indexes are
    shifted by the number of previous interfaces (an entry without an index keeps none).
    IPs and routes are appended in order. The previous DNS settings win; ours are used only
    when the previous result had none.
    """
    offset = len(prev.interfaces)
    shifted = tuple(
        ip if ip.interface is None else replace(ip, interface=ip.interface + offset)
        for ip in ours.ips
    )
    return Result(
        interfaces=prev.interfaces + ours.interfaces,
        ips=prev.ips + shifted,
        routes=prev.routes + ours.routes,
        dns=ours.dns if prev.dns.is_empty() else prev.dns,
        ipam_skipped=ours.ipam_skipped,
    )
