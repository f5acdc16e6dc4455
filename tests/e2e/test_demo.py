"""The README's first command must keep working."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.harness import REPO


def test_demo_reproduces_seed_verification_and_shows_the_vnic_nad_with_ipam() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.e2e.demo"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seed, vnic = proc.stdout.split("======== the vnic NAD with an ipam section (host-local) ========")
    assert "enp68s0: error fetching interface information: Device not found" in seed  # host, after ADD
    assert seed.count("inet 55.1.1.56/24 brd 55.1.1.255 scope global enp68s0") == 3  # before, pod, after DEL
    assert seed.rstrip().endswith("identical to before (name, MTU, state, addresses, routes): True")
    # The VF has no address on the host, host-local's in the pod, and none again after DEL.
    assert vnic.count("inet 10.56.1.2/24 brd 10.56.1.255 scope global enp69s0v0") == 1
    assert '"address": "10.56.1.2/24"' in vnic and '"gateway": "10.56.1.1"' in vnic
    assert "default via 10.56.1.1" in vnic
    assert "10.56.1.2: workload-app-vnic net1" in vnic  # the allocation file while attached
    assert vnic.count("inet ") == 1
    assert vnic.rstrip().endswith("without the IPAM address, allocation released: True")
