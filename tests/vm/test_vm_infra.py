"""Host-side checks of the VM tier's own plumbing (these run on the host, not in a guest)."""

from __future__ import annotations

import lzma
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _pytest.junitxml import mangle_test_address

from tests.vm import junit_results
from tests.vm.debian_packages import _parse_deb822
from tests.vm.junit_results import CaseResult
from tests.vm.kernel_image import compressed_payload, decompress_payload
from tests.vm.plugin import judge_boot
from tests.vm.prepare import GuestAssets, QemuInstall
from tests.vm.runner import GuestResult, qemu_command, preserved_paths, run_in_guest


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/vm/test_a.py::test_b",
        "tests/vm/test_a.py::TestC::test_d[linux-6.12]",
        "tests/vm/test_a.py::test_e[a/b::c.py]",
    ],
)
def test_junit_address_matches_pytests_own_naming(nodeid: str) -> None:
    names = mangle_test_address(nodeid)
    assert junit_results.junit_address(nodeid) == (".".join(names[:-1]), names[-1])


def test_junit_results_read_back_a_real_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_ok():
                print("quiet")

            def test_bad():
                print("said before failing")
                assert 1 == 2, "one is not two"

            def test_skip():
                pytest.skip("not here")
            """
        )
    )
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "junit_logging=all",
         f"--junitxml={junit}", "test_sample.py"],
        cwd=tmp_path, capture_output=True, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    cases = junit_results.parse(junit)
    ok = cases[junit_results.junit_address("test_sample.py::test_ok")]
    bad = cases[junit_results.junit_address("test_sample.py::test_bad")]
    skip = cases[junit_results.junit_address("test_sample.py::test_skip")]
    assert (ok.outcome, ok.stdout) == ("passed", "quiet")
    assert bad.outcome == "failed" and "one is not two" in bad.message and "assert 1 == 2" in bad.text
    assert bad.stdout == "said before failing"
    assert (skip.outcome, skip.message) == ("skipped", "not here")


def _fake_bzimage(payload: bytes, setup_sectors: int = 4) -> bytes:
    header = bytearray((setup_sectors + 1) * 512)
    header[0x1F1] = setup_sectors
    header[0x202:0x206] = b"HdrS"
    struct.pack_into("<II", header, 0x248, 16, len(payload))
    return bytes(header) + b"\0" * 16 + payload + b"trailing"


def test_vmlinux_is_recovered_from_an_xz_bzimage_payload() -> None:
    elf = b"\x7fELF" + bytes(range(256)) * 40
    payload = lzma.compress(elf, format=lzma.FORMAT_XZ) + struct.pack("<I", len(elf))
    assert decompress_payload(compressed_payload(_fake_bzimage(payload)), None) == elf


def test_a_payload_whose_size_word_disagrees_is_rejected() -> None:
    elf = b"\x7fELF" + b"x" * 1000
    payload = lzma.compress(elf, format=lzma.FORMAT_XZ) + struct.pack("<I", len(elf) + 1)
    with pytest.raises(RuntimeError, match="expected ELF"):
        decompress_payload(compressed_payload(_fake_bzimage(payload)), None)


def test_deb822_sources_are_read_like_apt_does() -> None:
    text = textwrap.dedent(
        """
        Types: deb
        # a comment
        URIs: http://deb.debian.org/debian
        Suites: bookworm bookworm-updates
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Types: deb-src
        URIs: http://deb.debian.org/debian
        Suites: bookworm
        Components: main
        """
    )
    entries = _parse_deb822(text)
    assert [(e.suite, e.uri) for e in entries] == [
        ("bookworm", "http://deb.debian.org/debian"),
        ("bookworm-updates", "http://deb.debian.org/debian"),
    ]
    assert entries[0].one_line() == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main"
    )


def test_paths_hidden_by_the_guests_fresh_tmp_and_run_are_preserved_once() -> None:
    kept = preserved_paths([Path("/tmp/ci/clone"), Path("/tmp/ci"), Path("/work/main"), Path("/run/x"), Path("/tmp")])
    assert kept == ["/run/x", "/tmp/ci"]


def _assets(tmp_path: Path) -> GuestAssets:
    qemu = QemuInstall(tmp_path / "qemu", "", tmp_path / "modules", (tmp_path / "firmware",))
    return GuestAssets("6.1", "6.1.0-1-amd64", tmp_path / "vmlinux", tmp_path / "initrd", tmp_path / "lib",
                       tmp_path / "kmod", tmp_path / "busybox", None, qemu)  # fmt: skip


@pytest.mark.parametrize("nics", [("e1000", "virtio-net-pci"), ("e1000", "virtio-net-pci", "igb")])
def test_guest_nics_never_reach_the_host_network(tmp_path: Path, nics: tuple[str, ...]) -> None:
    argv = qemu_command(_assets(tmp_path), tmp_path, nics, [])
    netdevs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-netdev"]
    assert "-nodefaults" in argv
    assert len(netdevs) == len(nics)
    assert all(n.startswith("hubport,") and n.endswith(",hubid=0") for n in netdevs)
    assert not any(arg in ("-nic", "-net") for arg in argv)
    assert ("q35" in argv) == ("igb" in nics)


PASSED = {("tests.vm.test_x", "test_y"): CaseResult("passed", "", "", "", "", 1.0)}


@pytest.mark.vm(host=True)
def test_a_guest_kernel_panic_fails_its_whole_group_and_is_never_retried() -> None:
    # A real panic (sysrq "c"): with panic=-1 and -no-reboot qemu ends without an exit code,
    # which is exactly what qemu itself dying looks like from outside.
    result = run_in_guest("echo c > /proc/sysrq-trigger; echo survived", timeout_s=180)
    assert (result.exit_code, result.timed_out) == (None, False), result.describe_failure()
    assert "survived" not in result.output
    assert result.kernel_crash is not None and "Kernel panic - not syncing: sysrq triggered crash" in result.kernel_crash
    assert not result.ok
    for cases in ({}, PASSED):  # the junit file may even say the tests passed before the crash
        judged = judge_boot(result, cases)
        assert not judged.emulator_died  # never a second boot
        assert judged.cases == {}  # so every member of the group fails...
        assert judged.failure is not None and "the guest kernel crashed" in judged.failure  # ...saying why
        assert "sysrq triggered crash" in judged.failure


def test_qemu_dying_without_a_guest_crash_is_the_one_case_booted_again() -> None:
    quiet_console = "[    0.000000] Linux version 6.1.0-57-amd64\n[    3.1] random: crng init done\n"
    died = GuestResult(exit_code=None, output="", error="guest stopped without reporting an exit code", serial_log=quiet_console)
    assert died.kernel_crash is None
    assert judge_boot(died, {}).emulator_died
    timed_out = GuestResult(exit_code=None, output="", timed_out=True, serial_log=quiet_console)
    assert not judge_boot(timed_out, {}).emulator_died
    reported = GuestResult(exit_code=0, output="", serial_log=quiet_console)
    judged = judge_boot(reported, PASSED)
    assert (judged.cases, judged.failure, judged.emulator_died) == (PASSED, None, False)


@pytest.mark.parametrize(
    "line",
    [
        "[   14.233762] Kernel panic - not syncing: Fatal exception",
        "[    9.1] Oops: 0002 [#1] PREEMPT SMP NOPTI",
        "[    9.1] BUG: kernel NULL pointer dereference, address: 0000000000000010",
        "[    9.1] BUG: unable to handle page fault for address: ffffffffc0a01000",
        "[    9.1] kernel BUG at net/core/dev.c:11020!",
    ],
)
def test_every_kind_of_kernel_crash_is_recognised(line: str) -> None:
    log = f"[    1.0] booting\n{line}\n[    9.2] Call Trace:\n"
    crash = GuestResult(exit_code=0, output="", serial_log=log).kernel_crash
    assert crash is not None and crash.startswith(line) and "Call Trace" in crash


def test_a_soft_lockup_under_a_loaded_host_is_not_a_crash() -> None:
    log = "[   40.0] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [python3:212]\n"
    assert GuestResult(exit_code=0, output="", serial_log=log).kernel_crash is None
