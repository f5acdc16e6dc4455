"""The one error type of the CNI layer and every error code the plugin answers with.

A :class:`CniError` is what the plugin prints (as JSON) when an operation fails; its ``code``
tells the runtime how to react (SPEC.md, "Error" and "Well-known Error Codes"). Codes 0-99 are
reserved by the spec; 100 and above are this plugin's own. Every code has its name here and is
used by that name only; README's table says what an admin does about each.
"""

from __future__ import annotations

INCOMPATIBLE_VERSION = 1
"""The configuration's ``cniVersion`` is not supported, or does not allow the command."""

UNSUPPORTED_FIELD = 2
"""A configuration field this plugin cannot honour; the message names the key and value."""

UNKNOWN_CONTAINER = 3
"""Container unknown or gone; the runtime needs no network cleanup (no DEL) after this."""

INVALID_ENVIRONMENT = 4
"""A ``CNI_*`` environment variable is missing or malformed; the message names it."""

IO_FAILURE = 5
"""I/O failed: here, the state store cannot be used safely (see hostdev/cni/state.py)."""

DECODE_FAILURE = 6
"""The configuration bytes are not a decodable JSON object."""

INVALID_CONFIG = 7
"""The configuration decoded but failed validation; the message names the field."""

TRY_AGAIN_LATER = 11
"""A transient condition (e.g. a lock held too long); the runtime should retry later."""

PLUGIN_NOT_AVAILABLE = 50
"""STATUS: the plugin cannot service ADD requests."""

LIMITED_CONNECTIVITY = 51
"""STATUS: the plugin cannot service ADD requests and existing attachments may be degraded."""

DEVICE_BUSY = 100
"""The device belongs to another attachment, or this attachment exists already."""

NAME_TAKEN_IN_POD = 101
"""The pod already has an interface of the name the device would get there."""

STATE_UNREADABLE = 102
"""The state record is valid JSON but not a record this plugin can use."""

CHECK_FAILED = 103
"""CHECK: the attachment is not as ADD left it."""

IPAM_CONFIG_REFUSED = 104
"""The kernel refused to put on the pod's interface what the IPAM plugin returned (an address, a
route whose gateway is not reachable, a duplicate IPv6 address). The ADD was undone."""

DEVICE_PROTECTED = 105
"""The node keeps this device (its default route, a bond or bridge, an SR-IOV PF whose VFs are in
use, its deny/allow lists: see node_protection.py); nothing was changed."""

RDMA_FAILED = 110
"""The RDMA device could not follow its netdev (or ``rdma: required`` and there is none)."""

INTERNAL = 999
"""libcni's convention for an unexpected failure that fits no other code."""


class CniError(Exception):
    """A failure to report to the runtime as a CNI error result.

    ``msg`` is short and names what went wrong (and the offending variable or field);
    ``details`` carries the longer explanation (values, the underlying OS or kernel error).
    """

    code: int
    msg: str
    details: str

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(code, msg, details)
        self.code = code
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        if self.details:
            return f"{self.msg}: {self.details}"
        return self.msg

    def __repr__(self) -> str:
        return f"CniError(code={self.code}, msg={self.msg!r}, details={self.details!r})"

    def to_json(self, cni_version: str) -> dict[str, object]:
        """The error result object of SPEC.md section 5, stamped with ``cni_version``.

        ``details`` is always present (possibly empty): the 1.x spec lists it as a key and older
        versions mark it optional, so an empty string satisfies every version.
        """
        return {
            "cniVersion": cni_version,
            "code": self.code,
            "msg": self.msg,
            "details": self.details,
        }
