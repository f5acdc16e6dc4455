"""The version-neutral result model: what an ADD result says, whatever version it is written in.

Addresses stay text as the kernel or the previous plugin wrote them; they are validated on the
way in (:func:`hostdev.cni.result_json.parse_prev_result`), not rewritten.
"""

from __future__ import annotations

from hostdev._record import field, record


@record
class Interface:
    """An interface the attachment created or moved.

    ``sandbox`` is the ``CNI_NETNS`` path for an interface inside the container and ``None``
    for one on the host. ``mtu``, ``pci_id`` and ``socket_path`` exist in results from spec
    1.1.0 on and are dropped when writing older versions.
    """

    name: str
    mac: str | None = None
    mtu: int | None = None
    sandbox: str | None = None
    pci_id: str | None = None
    socket_path: str | None = None


@record
class IPConfig:
    """An address (CIDR text, host bits kept) applied to ``interfaces[interface]``."""

    address: str
    gateway: str | None = None
    interface: int | None = None


@record
class Route:
    """A route of the attachment; the fields after ``gw`` exist from spec 1.1.0 on."""

    dst: str
    gw: str | None = None
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None


@record
class DNS:
    """Resolver settings; empty fields are omitted from the JSON."""

    nameservers: tuple[str, ...] = ()
    domain: str | None = None
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)


@record
class Result:
    """An ADD result, independent of the spec version it will be written in."""

    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = field(default_factory=DNS)
    # Why the configuration's IPAM plugin was not called (DPDK mode: no netdev to configure);
    # written as the non-standard key "ipamSkipped", which libcni's decoders ignore.
    ipam_skipped: str | None = None
