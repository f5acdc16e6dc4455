"""Per-device and store-wide flock locks: exclusion across processes, bounded waits, unsafe paths."""

from __future__ import annotations

import math
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostdev.cni.lock import DeviceLock, StoreLock
from hostdev.cni.lock import LockTimeout
from hostdev.cni.state import InvalidName, StateError, UnsafePath

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICE = "0000:03:00.0"
# A ceiling no healthy wait comes near, even on a loaded 2-core CI machine, but which a wait that
# ignored its timeout (the holder never lets go) would pass. Not a measure of precision: the
# lock's own deadline arithmetic is what waited_s reports and is asserted exactly below.
CEILING_S = 30.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state"


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def finish(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


_HOLDER = """
import sys
from hostdev.cni.lock import DeviceLock
with DeviceLock(sys.argv[1], sys.argv[2], timeout_s=5):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder_process(root: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding DEVICE's lock until its stdin gets a line (or it is killed)."""
    process = spawn(_HOLDER, str(root), DEVICE)
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield process
    finally:
        finish(process)


# --- basics -------------------------------------------------------------------------------------


def test_lock_file_names_the_device_and_is_never_written(root: Path) -> None:
    lock_file = root / "locks" / f"{DEVICE}.lock"
    with DeviceLock(str(root), DEVICE, timeout_s=1) as lock:
        assert lock.held and lock.device_id == DEVICE
        assert lock.path == str(lock_file)
        assert lock_file.read_text() == ""  # the holder is in /proc/locks, not in the file
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((root / "locks").stat().st_mode) == 0o700
    assert not lock.held
    assert lock_file.exists()  # never unlinked: a waiter may hold it open


def test_an_existing_lock_file_keeps_its_content(root: Path) -> None:
    """Issue 16 H2: lock files were truncated (and a pid written) on every exclusive lock."""
    (root / "locks").mkdir(mode=0o700, parents=True)
    lock_file = root / "locks" / f"{DEVICE}.lock"
    lock_file.write_text("content that must survive\n")
    lock_file.chmod(0o600)
    with DeviceLock(str(root), DEVICE, timeout_s=0):
        pass
    assert lock_file.read_text() == "content that must survive\n"


def test_a_hard_linked_lock_file_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "locks").mkdir(mode=0o700, parents=True)
    precious = tmp_path / "precious"
    precious.write_text("do not touch")
    precious.chmod(0o600)
    os.link(precious, root / "locks" / f"{DEVICE}.lock")
    with pytest.raises(UnsafePath, match="hard-linked"):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    assert precious.read_text() == "do not touch"


@pytest.mark.parametrize("device_id", ["mlx5_core.sf.2", "netdev-eth0@x+1", "d" * 64])
def test_auxiliary_and_netdev_identities_are_lockable(root: Path, device_id: str) -> None:
    with DeviceLock(str(root), device_id, timeout_s=0):
        assert (root / "locks" / f"{device_id}.lock").is_file()


@pytest.mark.parametrize(
    "device_id",
    ["", ".store", "../x", "a/b", "0000:03:00.0 ", "a\tb", "-0000", "d" * 65, "pcié", "a\x00"],
)
def test_device_ids_outside_the_charset_are_rejected(root: Path, device_id: str) -> None:
    with pytest.raises(InvalidName):
        DeviceLock(str(root), device_id, timeout_s=1)
    assert not root.exists()


@pytest.mark.parametrize("timeout_s", [-1.0, math.nan, math.inf])
def test_timeout_must_be_finite_and_not_negative(root: Path, timeout_s: float) -> None:
    with pytest.raises(ValueError):
        DeviceLock(str(root), DEVICE, timeout_s=timeout_s)


def test_lock_is_released_when_the_block_raises(root: Path) -> None:
    with pytest.raises(KeyError):
        with DeviceLock(str(root), DEVICE, timeout_s=1):
            raise KeyError("boom")
    with DeviceLock(str(root), DEVICE, timeout_s=0):
        pass


def test_one_lock_object_cannot_be_entered_twice(root: Path) -> None:
    lock = DeviceLock(str(root), DEVICE, timeout_s=1)
    with lock:
        with pytest.raises(RuntimeError):
            lock.__enter__()
        assert lock.held
    with lock:  # reusable once released
        assert lock.held


def test_different_devices_do_not_block_each_other(root: Path) -> None:
    with DeviceLock(str(root), DEVICE, timeout_s=0):
        with DeviceLock(str(root), "0000:03:00.1", timeout_s=0) as other:
            assert other.held


# --- bounded waiting ----------------------------------------------------------------------------


@pytest.mark.parametrize("timeout_s", [0.0, 0.3])
def test_contended_lock_times_out_within_its_bound(root: Path, timeout_s: float) -> None:
    with DeviceLock(str(root), DEVICE, timeout_s=1):
        start = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            with DeviceLock(str(root), DEVICE, timeout_s=timeout_s):
                pytest.fail("a second open of a held lock must not acquire it")
        elapsed = time.monotonic() - start

    assert timeout_s <= elapsed < timeout_s + CEILING_S
    error = caught.value
    assert timeout_s <= error.waited_s <= elapsed
    assert error.device_id == DEVICE
    assert error.holder_pid == os.getpid()
    assert error.path == str(root / "locks" / f"{DEVICE}.lock")
    assert DEVICE in str(error) and str(error.path) in str(error)
    assert isinstance(error, StateError)


def test_timeout_names_the_holding_process(
    root: Path, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockTimeout) as caught:
        with DeviceLock(str(root), DEVICE, timeout_s=0.05):
            pass
    assert caught.value.holder_pid == holder_process.pid
    assert f"held by pid {holder_process.pid}" in str(caught.value)


def test_lock_of_a_killed_holder_is_free_at_once(
    root: Path, holder_process: subprocess.Popen[str]
) -> None:
    holder_process.send_signal(signal.SIGKILL)
    holder_process.wait()
    with DeviceLock(str(root), DEVICE, timeout_s=0) as lock:
        assert lock.held


def test_waiter_gets_the_lock_when_the_holder_releases(
    root: Path, holder_process: subprocess.Popen[str]
) -> None:
    assert holder_process.stdin is not None
    with pytest.raises(LockTimeout):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    holder_process.stdin.write("release\n")
    holder_process.stdin.flush()
    # Whether the release lands before or during our wait, the lock must come to us in time.
    with DeviceLock(str(root), DEVICE, timeout_s=CEILING_S) as lock:
        assert lock.held
    assert holder_process.wait(timeout=CEILING_S) == 0


# --- mutual exclusion across processes ----------------------------------------------------------

_COUNTER_WORKER = """
import os, sys
from hostdev.cni.lock import DeviceLock
root, counter, log, iterations = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
log_fd = os.open(log, os.O_WRONLY | os.O_APPEND)
print("ready", flush=True)
sys.stdin.readline()  # start line: all workers begin together
for _ in range(iterations):
    with DeviceLock(root, "0000:03:00.0", timeout_s=30):
        os.write(log_fd, f"enter {os.getpid()}\\n".encode())
        with open(counter) as f:
            value = int(f.read())
        os.sched_yield()  # invite another process in between read and write
        with open(counter, "w") as f:
            f.write(str(value + 1))
        os.write(log_fd, f"exit {os.getpid()}\\n".encode())
"""


def test_only_one_process_at_a_time_holds_a_device_lock(root: Path, tmp_path: Path) -> None:
    workers_count, iterations = 4, 100
    counter, log = tmp_path / "counter", tmp_path / "log"
    counter.write_text("0")
    log.write_text("")
    workers = [
        spawn(_COUNTER_WORKER, str(root), str(counter), str(log), str(iterations))
        for _ in range(workers_count)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        assert [worker.wait(timeout=30) for worker in workers] == [0] * workers_count
    finally:
        for worker in workers:
            finish(worker)

    assert int(counter.read_text()) == workers_count * iterations  # no lost update
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 2 * workers_count * iterations
    for enter, leave in zip(events[::2], events[1::2]):  # never two holders at once
        assert enter[0] == "enter" and leave == ["exit", enter[1]]
    assert {pid for _, pid in events} == {str(worker.pid) for worker in workers}


# --- store-wide lock ----------------------------------------------------------------------------


def test_shared_store_locks_coexist_and_exclude_the_exclusive_one(root: Path) -> None:
    with StoreLock(str(root), 0, shared=True), StoreLock(str(root), 0, shared=True):
        with pytest.raises(LockTimeout, match="exclusive store lock") as caught:
            with StoreLock(str(root), 0):
                pass
        assert caught.value.device_id is None
        assert caught.value.holder_pid == os.getpid()  # a shared holder, from /proc/locks
    with StoreLock(str(root), 0):
        with pytest.raises(LockTimeout, match="shared store lock") as caught:
            with StoreLock(str(root), 0.05, shared=True):
                pass
        assert caught.value.holder_pid == os.getpid()


def test_store_lock_and_device_locks_are_independent(root: Path) -> None:
    with StoreLock(str(root), 0):
        with DeviceLock(str(root), DEVICE, timeout_s=0) as lock:
            assert lock.held
    assert (root / "locks" / ".store.lock").is_file()


# --- unsafe paths -------------------------------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    target = tmp_path / "canary"
    target.mkdir(mode=0o700)
    (target / "precious").write_text("do not touch")
    return target


def test_symlinked_root_is_refused(root: Path, canary: Path) -> None:
    root.symlink_to(canary)
    with pytest.raises(UnsafePath, match="symlink"):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    assert os.listdir(canary) == ["precious"]


def test_symlinked_locks_directory_is_refused(root: Path, canary: Path) -> None:
    root.mkdir(mode=0o700)
    (root / "locks").symlink_to(canary)
    with pytest.raises(UnsafePath, match="symlink"):
        with StoreLock(str(root), 0):
            pass
    assert os.listdir(canary) == ["precious"]


def test_symlinked_lock_file_is_never_opened_through(root: Path, canary: Path) -> None:
    (root / "locks").mkdir(mode=0o700, parents=True)
    lock_file = root / "locks" / f"{DEVICE}.lock"
    lock_file.symlink_to(canary / "precious")
    with pytest.raises(UnsafePath, match="symlink") as caught:
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    assert caught.value.path == str(lock_file)
    assert (canary / "precious").read_text() == "do not touch"  # not truncated, no pid written

    lock_file.unlink()
    lock_file.symlink_to(canary / "absent")  # dangling: O_CREAT must not create the target
    with pytest.raises(UnsafePath):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    assert os.listdir(canary) == ["precious"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_lock_file_owned_by_someone_else_is_refused(root: Path) -> None:
    with DeviceLock(str(root), DEVICE, timeout_s=0):
        pass
    os.chown(root / "locks" / f"{DEVICE}.lock", 54321, 54321)
    with pytest.raises(UnsafePath, match="owned by uid 54321"):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass


def test_lock_file_or_directory_writable_by_others_is_refused(root: Path) -> None:
    with DeviceLock(str(root), DEVICE, timeout_s=0):
        pass
    lock_file = root / "locks" / f"{DEVICE}.lock"
    lock_file.chmod(0o666)
    with pytest.raises(UnsafePath, match="writable"):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
    lock_file.chmod(0o600)
    (root / "locks").chmod(0o777)
    with pytest.raises(UnsafePath, match="writable"):
        with DeviceLock(str(root), DEVICE, timeout_s=0):
            pass
