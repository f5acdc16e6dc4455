"""Which host device a configuration names: the device-selection keys, validated and ranked.

Keys, in order of precedence:

1. ``runtimeConfig.deviceID`` (the CNI ``deviceID`` capability), top-level ``deviceID`` and
   ``pciBusID`` (Multus injects the allocated device under both names). ``pciBusID`` must be
   a PCI address; the ``deviceID`` keys may also name an auxiliary-bus device (e.g.
   ``mlx5_core.sf.4``). When several are given they must name the same device after
   normalisation, else code 7 naming the disagreeing keys.
2. ``device``: a host interface name.
3. ``hwaddr``: a MAC address (48-bit, ``:`` or ``-`` separated, normalised to lower case with
   ``:``).
4. ``kernelpath``: the device's directory under ``/sys/devices/``.

The first key present becomes the *primary* selector, the one to look the device up with.
Every other key present (from a different group) becomes a *cross-check*: the resolver must
confirm that it names the very same device and refuse the ADD (code 7) otherwise, so that a
stale ``device`` left in a NetworkAttachmentDefinition can never make the plugin move a
different NIC than the one the device plugin allocated.
"""

from __future__ import annotations

from hostdev._record import field, record
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal
    DeviceKind = Literal["pci", "auxiliary", "name", "hwaddr", "kernelpath"]

from hostdev.discover import InvalidAuxiliaryId, InvalidPciAddress, parse_auxiliary_id, parse_pci_address

from .errors import INVALID_CONFIG, CniError
from .names import interface_name_problem, path_problem, shorten


SELECTOR_KEYS = ("runtimeConfig.deviceID", "deviceID", "pciBusID", "device", "hwaddr", "kernelpath")

_HEX = frozenset("0123456789abcdefABCDEF")
_SYSFS_DEVICES = "/sys/devices/"


@record
class DeviceSelector:
    """One way of naming the host device: ``kind`` and the normalised ``value``.

    ``source`` is the configuration key it came from (for messages); it takes no part in
    equality, so two keys naming the same device compare equal.
    """

    kind: DeviceKind
    value: str
    source: str = field(default="", compare=False)


@record
class DeviceSelection:
    """The primary selector and the cross-checks that must resolve to the same device."""

    primary: DeviceSelector
    cross_checks: tuple[DeviceSelector, ...] = ()


def _bad(source: str, reason: str, value: object) -> CniError:
    shown = shorten(value) if isinstance(value, str) else type(value).__name__
    return CniError(INVALID_CONFIG, f"invalid {source}", f"{reason}: {shown}")


def _string(value: object, source: str) -> str:
    if not isinstance(value, str):
        raise CniError(INVALID_CONFIG, f"{source} must be a string", f"got {type(value).__name__}")
    if not value:
        raise CniError(INVALID_CONFIG, f"{source} must not be empty")
    return value


def _bus_selector(value: object, source: str, allow_auxiliary: bool) -> DeviceSelector:
    text = _string(value, source)
    try:
        return DeviceSelector("pci", parse_pci_address(text), source)
    except InvalidPciAddress as pci_exc:
        if not allow_auxiliary:
            raise _bad(source, f"not a PCI address ({pci_exc.reason})", text) from None
    try:
        return DeviceSelector("auxiliary", parse_auxiliary_id(text), source)
    except InvalidAuxiliaryId:
        raise _bad(
            source, "neither a PCI address (DDDD:BB:DD.F) nor an auxiliary device ID", text
        ) from None


def normalise_mac(text: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` for a 48-bit MAC written with ``:`` or ``-``, else ``None``."""
    for separator in ":-":
        octets = text.split(separator)
        if len(octets) == 6 and all(len(o) == 2 and o[0] in _HEX and o[1] in _HEX for o in octets):
            return ":".join(octets).lower()
    return None


def _kernelpath_selector(value: object) -> DeviceSelector:
    text = _string(value, "kernelpath")
    problem = path_problem(text, "kernelpath")
    if problem is not None:
        raise _bad("kernelpath", problem, text)
    if not text.startswith(_SYSFS_DEVICES):
        raise _bad("kernelpath", f"must lie under {_SYSFS_DEVICES}", text)
    trimmed = text.rstrip("/")
    components = trimmed.split("/")[3:]
    if not components or any(part in ("", ".") for part in components):
        raise _bad(
            "kernelpath", "must name a device directory without empty or '.' components", text
        )
    return DeviceSelector("kernelpath", trimmed, "kernelpath")


def select_device(
    conf: Mapping[str, object], runtime_config: Mapping[str, object]
) -> DeviceSelection | None:
    """The device selection of a configuration, or ``None`` when no selection key is present.

    Every key present is validated, whether primary or not. ``null`` counts as absent.
    """
    bus: list[DeviceSelector] = []
    for source, value, allow_auxiliary in (
        ("runtimeConfig.deviceID", runtime_config.get("deviceID"), True),
        ("deviceID", conf.get("deviceID"), True),
        ("pciBusID", conf.get("pciBusID"), False),
    ):
        if value is not None:
            bus.append(_bus_selector(value, source, allow_auxiliary))
    if any(selector != bus[0] for selector in bus[1:]):
        names = ", ".join(s.source for s in bus)
        shown = ", ".join(f"{s.source}={s.value}" for s in bus)
        raise CniError(INVALID_CONFIG, f"device selection keys disagree: {names}", shown)

    selectors = bus[:1]
    if conf.get("device") is not None:
        name = _string(conf["device"], "device")
        problem = interface_name_problem(name)
        if problem is not None:
            raise _bad("device", problem, name)
        selectors.append(DeviceSelector("name", name, "device"))
    if conf.get("hwaddr") is not None:
        text = _string(conf["hwaddr"], "hwaddr")
        mac = normalise_mac(text)
        if mac is None:
            raise _bad("hwaddr", "not a 48-bit MAC address (aa:bb:cc:dd:ee:ff)", text)
        selectors.append(DeviceSelector("hwaddr", mac, "hwaddr"))
    if conf.get("kernelpath") is not None:
        selectors.append(_kernelpath_selector(conf["kernelpath"]))

    if not selectors:
        return None
    return DeviceSelection(selectors[0], tuple(selectors[1:]))
