"""VM tier: `@pytest.mark.vm` tests run inside qemu guests; see tests/vm/plugin.py and README.md."""

from tests.vm.plugin import pytest_generate_tests, pytest_runtest_protocol, pytest_runtest_setup, vm_kernel

__all__ = ["pytest_generate_tests", "pytest_runtest_protocol", "pytest_runtest_setup", "vm_kernel"]
