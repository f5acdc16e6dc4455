"""CNI spec versions and the VERSION reply: kept apart so VERSION imports almost nothing.

VERSION runs before every ADD/DEL in some runtimes (podman): its cost is interpreter start-up
plus this module, ``json`` and the config decoder.
"""

from __future__ import annotations

from .decode import decode_config
from .errors import CniError

SUPPORTED_VERSIONS: tuple[str, ...] = (
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
)
LATEST_VERSION = "1.1.0"


def reply_version(conf_version: object) -> str:
    """The ``cniVersion`` to stamp on a reply: the configuration's if supported, else latest."""
    if isinstance(conf_version, str) and conf_version in SUPPORTED_VERSIONS:
        return conf_version
    return LATEST_VERSION


def peek_cni_version(raw: bytes) -> object:
    """The ``cniVersion`` value in raw configuration bytes, or ``None``; never raises.

    For the places that must answer even when the configuration is broken: VERSION, and
    choosing the version to stamp on an error about the configuration itself.
    """
    try:
        return decode_config(raw).get("cniVersion")
    except CniError:
        return None


def version_result(requested: object = None) -> dict[str, object]:
    """The VERSION reply.

    SPEC.md says its ``cniVersion`` is the one given on input; libcni's skel ignores the input
    and answers with its latest. Both are honoured: a supported requested version is echoed,
    anything else (absent, garbage, a future version) gets :data:`LATEST_VERSION`.
    """
    return {"cniVersion": reply_version(requested), "supportedVersions": list(SUPPORTED_VERSIONS)}
