"""Delegated plugin execution: lookup in CNI_PATH, what the delegate gets, how it ends.

The delegates here are small shell scripts, each doing one thing a real plugin can do (answer,
fail with an error result, die, hang with a child, flood stdout); the real IPAM plugins are
driven in tests/unit/test_ipam_plugin.py and the e2e tier.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hostdev.cni import delegate
from hostdev.cni.errors import INTERNAL, INVALID_CONFIG, INVALID_ENVIRONMENT, TRY_AGAIN_LATER, CniError
from hostdev.cni.ipam import IpamPlugin

ENV = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "net1", "CNI_NETNS": "/run/netns/p", "CNI_PATH": "/x"}


def script(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


CEILING_S = 30.0  # "it did not hang": far above any healthy run on a loaded 2-core machine


def ipam(directory: Path, name: str = "fake", timeout_s: float = CEILING_S, stdin: bytes = b"{}") -> IpamPlugin:
    return IpamPlugin(name, cni_path=(str(directory),), stdin=stdin, cni_version="1.0.0", timeout_s=timeout_s, environ=ENV)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- finding the plugin ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../host-local", "/usr/lib/cni/host-local", "..", ".", ".hidden", "a/b", "a\\b", "host local", "x\x00y", "", "-rf", "x" * 256, "hôst"],
)
def test_names_that_are_not_plain_file_names_are_refused_before_any_lookup(tmp_path: Path, name: str) -> None:
    with pytest.raises(CniError) as info:
        delegate.find_plugin(name, (str(tmp_path),), "ipam.type")
    assert info.value.code == INVALID_CONFIG and info.value.msg == "invalid ipam.type"


def test_first_directory_with_an_executable_file_wins(tmp_path: Path) -> None:
    (tmp_path / "a" / "host-local").mkdir(parents=True)  # a directory of that name
    script(tmp_path / "b", "host-local", "", mode=0o644)  # not executable
    wanted = script(tmp_path / "c", "host-local", "")
    script(tmp_path / "d", "host-local", "")
    dirs = tuple(str(tmp_path / d) for d in "abcd")
    assert delegate.find_plugin("host-local", dirs, "ipam.type") == str(wanted)


def test_symlinks_are_followed_as_libcni_does(tmp_path: Path) -> None:
    real = script(tmp_path / "real", "host-local-1.6", "")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "host-local").symlink_to(real)
    assert delegate.find_plugin("host-local", (str(tmp_path / "bin"),), "ipam.type") == str(tmp_path / "bin" / "host-local")


def test_a_missing_plugin_names_the_key_and_the_directories(tmp_path: Path) -> None:
    with pytest.raises(CniError) as info:
        delegate.find_plugin("whereabouts", (str(tmp_path), "/nowhere"), "ipam.type")
    assert info.value.code == INVALID_CONFIG
    assert "whereabouts" in info.value.msg and "ipam.type" in info.value.msg
    assert str(tmp_path) in info.value.details and "/nowhere" in info.value.details


def test_no_cni_path_is_code_4_naming_it() -> None:
    with pytest.raises(CniError) as info:
        delegate.find_plugin("host-local", (), "ipam.type")
    assert info.value.code == INVALID_ENVIRONMENT and "CNI_PATH" in info.value.msg


# --- what the delegate gets ------------------------------------------------------------------


def test_it_gets_our_environment_with_the_command_set_per_call(tmp_path: Path) -> None:
    out = tmp_path / "env"
    plugin = ipam(tmp_path / "bin")
    script(tmp_path / "bin", "fake", f"env > {out}.$CNI_COMMAND\necho '{{}}'\n")
    plugin.add()
    plugin.delete()
    plugin.delete(CNI_CONTAINERID="other", CNI_NETNS=None)
    for command in ("ADD", "DEL"):
        seen = dict(line.split("=", 1) for line in (tmp_path / f"env.{command}").read_text().splitlines())
        assert seen["CNI_COMMAND"] == command
        assert seen["CNI_IFNAME"] == "net1" and seen["CNI_PATH"] == "/x"
    last = dict(line.split("=", 1) for line in (tmp_path / "env.DEL").read_text().splitlines())
    assert last["CNI_CONTAINERID"] == "other" and "CNI_NETNS" not in last


def test_stdin_arrives_byte_for_byte_even_beyond_a_pipe_buffer(tmp_path: Path) -> None:
    stdin = b'{"cniVersion":"1.0.0","runtimeConfig":{"ips":["10.0.0.5/24"]},"pad":"' + b"x" * 900_000 + b'"}'
    script(tmp_path / "bin", "fake", f"cat > {tmp_path}/stdin\necho '{{}}'\n")
    ipam(tmp_path / "bin", stdin=stdin).add()
    assert hashlib.sha256((tmp_path / "stdin").read_bytes()).digest() == hashlib.sha256(stdin).digest()


def test_a_delegate_that_reads_no_stdin_is_no_problem(tmp_path: Path) -> None:
    script(tmp_path / "bin", "fake", "echo '{\"ips\": [{\"address\": \"10.0.0.5/24\"}]}'\n")
    assert ipam(tmp_path / "bin", stdin=b"y" * 500_000).add().ips[0].address == "10.0.0.5/24"


def test_it_runs_in_its_own_process_group_with_sigpipe_at_its_default(tmp_path: Path) -> None:
    # /proc/<pid>/stat field 5 is the process group; SigIgn bit 12 is SIGPIPE (Python ignores it).
    script(tmp_path / "bin", "fake", f"cut -d' ' -f5 /proc/$$/stat > {tmp_path}/pgid; echo $$ > {tmp_path}/pid; grep SigIgn /proc/$$/status > {tmp_path}/sigign; echo '{{}}'\n")
    ipam(tmp_path / "bin").add()
    assert (tmp_path / "pgid").read_text() == (tmp_path / "pid").read_text()
    ignored = int((tmp_path / "sigign").read_text().split()[1], 16)
    assert not ignored & (1 << 12)


def test_its_stderr_goes_to_ours(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    script(tmp_path / "bin", "fake", "echo 'allocating from 10.0.0.0/24' >&2\necho '{}'\n")
    ipam(tmp_path / "bin").add()
    assert "allocating from 10.0.0.0/24" in capfd.readouterr().err


# --- how it ends -----------------------------------------------------------------------------


def test_its_error_result_is_ours_code_msg_and_details(tmp_path: Path) -> None:
    script(tmp_path / "bin", "fake", """echo '{"cniVersion": "1.0.0", "code": 11, "msg": "no IP addresses available in range set", "details": "10.0.0.2-10.0.0.3"}'; exit 1\n""")
    with pytest.raises(CniError) as info:
        ipam(tmp_path / "bin").add()
    assert (info.value.code, info.value.msg, info.value.details) == (11, "no IP addresses available in range set", "10.0.0.2-10.0.0.3")


@pytest.mark.parametrize(
    "body, said",
    [
        ("echo 'disk on fire' >&2; exit 3", ["exit status 3", "disk on fire"]),
        ("echo 'panic: nil map' ; exit 2", ["exit status 2", "panic: nil map"]),
        ("echo '{\"code\": \"x\", \"msg\": 5}'; exit 1", ["exit status 1", "stdout"]),
        ("kill -9 $$", ["killed by signal 9"]),
    ],
)
def test_a_failure_without_an_error_result_says_how_it_ended(tmp_path: Path, body: str, said: list[str]) -> None:
    script(tmp_path / "bin", "fake", body + "\n")
    with pytest.raises(CniError) as info:
        ipam(tmp_path / "bin").delete()
    assert info.value.code == INTERNAL and "IPAM plugin fake failed on DEL" in info.value.msg
    for text in said:
        assert text in info.value.details


def test_a_hang_is_killed_with_everything_it_started_and_is_code_11(tmp_path: Path) -> None:
    script(tmp_path / "bin", "fake", f"sleep 600 & echo $! > {tmp_path}/child\nexec sleep 600\n")
    started = time.monotonic()
    with pytest.raises(CniError) as info:
        # Long enough for the fake to have started its child even on a loaded machine (0.5 s was
        # not always: then there was no child file to read); still far below the ceiling.
        ipam(tmp_path / "bin", timeout_s=3).add()
    elapsed = time.monotonic() - started
    assert info.value.code == TRY_AGAIN_LATER and "did not answer ADD within 3 s" in info.value.msg
    assert 3 <= elapsed < 3 + CEILING_S
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + CEILING_S
    while alive(child) and time.monotonic() < deadline:  # SIGKILL is delivered asynchronously
        time.sleep(0.01)
    assert not alive(child)


def test_a_delegate_that_exits_leaving_a_child_on_its_stdout_is_not_waited_for(tmp_path: Path) -> None:
    script(tmp_path / "bin", "fake", f"sleep 600 & echo $! > {tmp_path}/child\necho '{{\"ips\": []}}'\n")
    started = time.monotonic()
    try:
        assert ipam(tmp_path / "bin", timeout_s=2 * CEILING_S).add().ips == ()
        assert time.monotonic() - started < CEILING_S  # the exit is seen on its pidfd, not at EOF
    finally:
        os.kill(int((tmp_path / "child").read_text()), 9)


def test_flooding_stdout_is_stopped(tmp_path: Path) -> None:
    script(tmp_path / "bin", "fake", "exec yes\n")
    with pytest.raises(CniError) as info:
        ipam(tmp_path / "bin").add()
    assert info.value.code == INTERNAL and "more than 1 MiB" in info.value.msg


def test_a_file_that_cannot_be_executed_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bin" / "fake"
    path.parent.mkdir()
    path.write_bytes(b"\x7fELF garbage")
    path.chmod(0o755)
    with pytest.raises(CniError) as info:
        ipam(tmp_path / "bin").add()
    assert info.value.code == INTERNAL and "cannot run IPAM plugin fake" in info.value.msg
