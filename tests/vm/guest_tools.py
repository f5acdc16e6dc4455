"""Helpers for tests that run inside the VM guest: commands, sysfs lookups, bounded waits."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PCI_DEVICES = Path("/sys/bus/pci/devices")
PCI_DRIVERS = Path("/sys/bus/pci/drivers")
CLASS_NET = Path("/sys/class/net")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until predicate() holds; fail after timeout_s (TCG guests are slow, not stuck)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def functions_bound_to(driver: str) -> list[str]:
    """PCI addresses (BDFs) bound to a driver, sorted."""
    directory = PCI_DRIVERS / driver
    if not directory.is_dir():
        return []
    return sorted(entry.name for entry in directory.iterdir() if entry.name.count(":") == 2)


def netdevs_directly_under(bdf: str) -> list[str]:
    net = PCI_DEVICES / bdf / "net"
    return sorted(os.listdir(net)) if net.is_dir() else []


def pci_function_of(ifname: str) -> str:
    """The PCI function a netdev belongs to, walking up past e.g. a virtio device."""
    device = (CLASS_NET / ifname / "device").resolve()
    for candidate in (device, *device.parents):
        if (candidate / "subsystem").resolve().name == "pci" and (candidate / "config").is_file():
            return candidate.name
    raise AssertionError(f"{ifname} has no PCI function above {device}")


def e1000_netdev() -> tuple[str, str]:
    """(BDF, ifname) of the guest's first e1000."""
    for bdf in functions_bound_to("e1000"):
        names = netdevs_directly_under(bdf)
        if names:
            return bdf, names[0]
    raise AssertionError("the guest has no e1000 netdev")


@contextmanager
def network_namespace() -> Iterator[str]:
    """A named netns (`ip netns add`) that is deleted afterwards if the test did not."""
    name = f"hd-{secrets.token_hex(4)}"
    run("ip", "netns", "add", name)
    try:
        yield name
    finally:
        if Path("/run/netns", name).exists():
            run("ip", "netns", "del", name, check=False)


@contextmanager
def fake_rdma(*netdevs: str) -> Iterator[list[str]]:
    """Load the test-only fake_rdma module on netdevs; yields the RDMA device names."""
    module = os.environ.get("HOSTDEV_VM_FAKE_RDMA_KO")
    if not module:
        raise AssertionError("HOSTDEV_VM_FAKE_RDMA_KO is not set: fake_rdma was not built for this kernel")
    run("insmod", module, f"netdevs={','.join(netdevs)}")
    try:
        yield [f"fakerdma{index}" for index in range(len(netdevs))]
    finally:
        run("rmmod", "fake_rdma", check=False)
