"""An IPAM plugin's ADD result, read by its spec version into the version-neutral model.

SPEC.md section 5 ("Delegated plugins (IPAM)"): an IPAM result is an abbreviated success result
— no ``interfaces``, no ``interface`` index in ``ips`` — in the version of the configuration it
was given. Like libcni (``invoke.ExecPluginWithResult``), a result without ``cniVersion`` is
taken to be of the configuration's version, and a result of another supported version is read
in its own shape: 0.1.0/0.2.0 (``ip4``/``ip6`` blocks with their ``routes``) are converted to
the current shape — addresses with their gateways, the routes of both blocks in order, DNS kept
— as libcni's 0.2.0 → 0.4.0 → 1.0.0 converters do. ``interfaces`` and ``interface`` indexes
an IPAM plugin sends anyway are dropped: the caller says which interface the addresses are for.

Failures are :class:`~hostdev.cni.errors.CniError`: code 6 for output that is not a result
(not JSON, wrong shape, bad addresses), code 1 for a ``cniVersion`` this plugin does not speak.
"""

from __future__ import annotations

from hostdev import _json as json
from hostdev._record import replace

from .errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CniError
from .names import shorten
from .result_json import MalformedResult, is_legacy_version, read_result
from .result_model import Result
from .versions import SUPPORTED_VERSIONS


def parse_ipam_result(output: bytes, conf_version: str, plugin: str) -> Result:
    """The model of ``output``, an IPAM plugin's ADD stdout; see the module docstring."""
    what = f"IPAM plugin {plugin} returned"
    try:
        obj = json.loads(output.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CniError(DECODE_FAILURE, f"{what} no JSON result", f"{exc}; output: {_quote(output)}") from None
    if not isinstance(obj, dict):
        raise CniError(DECODE_FAILURE, f"{what} no JSON object", f"output: {_quote(output)}")
    version = obj.get("cniVersion")
    if version is None or version == "":
        version = conf_version
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
        shown = shorten(version) if isinstance(version, str) else type(version).__name__
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"{what} a result of an unsupported cniVersion",
            f"result is {shown}, this plugin reads {', '.join(SUPPORTED_VERSIONS)}",
        )
    try:
        result = read_result(obj, legacy=is_legacy_version(version))
    except MalformedResult as exc:
        raise CniError(DECODE_FAILURE, f"{what} an invalid {version} result: {exc.where}", exc.reason) from None
    return Result(ips=tuple(replace(ip, interface=None) for ip in result.ips), routes=result.routes, dns=result.dns)


def _quote(output: bytes) -> str:
    return shorten(output.decode("utf-8", "replace"), 200)
