"""VM tier: `@pytest.mark.vm` tests run inside qemu guests; see tests/vm/plugin.py and README.md.

The fixtures every VM test module shares: the installed plugin (once per module) and a real NIC
borrowed from the guest and returned to its boot state afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm.guest_tools import borrowed_nic, install_plugin
from tests.vm.plugin import pytest_generate_tests, pytest_runtest_protocol, pytest_runtest_setup, vm_kernel

__all__ = ["pytest_generate_tests", "pytest_runtest_protocol", "pytest_runtest_setup", "vm_kernel"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_plugin(tmp_path_factory.mktemp("cni-bin"))


@pytest.fixture(params=["e1000", "virtio"])
def nic(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(BDF, ifname) of a real NIC of either model, returned to its boot state afterwards."""
    yield from borrowed_nic(request.param)


@pytest.fixture
def e1000() -> Iterator[tuple[str, str]]:
    yield from borrowed_nic("e1000")
