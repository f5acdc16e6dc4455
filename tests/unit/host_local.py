"""Reading what Debian's host-local IPAM plugin keeps on disk, to check allocations themselves,
not just exit codes.

host-local (containernetworking-plugins 1.1.1) keeps one file per allocated address in
``<dataDir>/<network name>/<address>``, holding ``<container ID>\\r\\n<ifname>``, next to its
``lock`` and ``last_reserved_ip.<range>`` bookkeeping files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

IPAM_BIN = Path("/usr/lib/cni")


def allocations(data_dir: Path, network: str) -> dict[str, tuple[str, str]]:
    """Allocated address -> (container ID, ifname), as host-local recorded them."""
    directory = data_dir / network
    if not directory.is_dir():
        return {}
    found = {}
    for path in directory.iterdir():
        if path.name == "lock" or path.name.startswith("last_reserved_ip"):
            continue
        container_id, _, ifname = path.read_bytes().decode().partition("\r\n")
        found[path.name] = (container_id, ifname)
    return found


def host_local(data_dir: Path, subnet: str = "10.7.0.0/24", **extra: Any) -> dict[str, Any]:
    """An ``ipam`` section for host-local with a private dataDir (never /var/lib/cni)."""
    return {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(data_dir), **extra}
