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
from tests.vm.kernel_image import compressed_payload, decompress_payload
from tests.vm.prepare import GuestAssets, QemuInstall
from tests.vm.runner import qemu_command, preserved_paths


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
