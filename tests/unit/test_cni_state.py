"""The per-attachment state store: layout, atomicity, refusal of unsafe paths, corrupt files."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from hostdev.cni.state import (
    STATE_VERSION,
    AttachmentKey,
    CorruptState,
    InvalidName,
    InvalidRecord,
    StateError,
    StateStore,
    UnsafePath,
    UnsupportedStateVersion,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = AttachmentKey("rdma-net", "0f3c2a9b8e7d", "eth1")
OTHER_UID = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


def record(device_id: str = "0000:03:00.0", **extra: object) -> dict[str, object]:
    return {"device": {"id": device_id, "kind": "pf"}, "original_name": "enp3s0", **extra}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(root: Path) -> StateStore:
    return StateStore(str(root))


def state_file(root: Path, key: AttachmentKey = KEY) -> Path:
    return root / "networks" / key.network / f"{key.container_id}:{key.ifname}.json"


def write_raw(root: Path, content: bytes, key: AttachmentKey = KEY) -> Path:
    path = state_file(root, key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(content)
    path.chmod(0o600)
    return path


def valid_document(key: AttachmentKey = KEY, **overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "version": STATE_VERSION, "attachment": key._asdict(), "record": record(),
    }
    document.update(overrides)
    return document


def snapshot_tree(path: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(path.rglob("*"))
    }


# --- layout and round trip ----------------------------------------------------------------------


def test_save_then_load_returns_the_record_and_writes_readable_json(
    store: StateStore, root: Path
) -> None:
    saved = record(addresses=["192.0.2.1/24"], mtu=9000, up=True)
    path = store.save(KEY, saved)

    assert path == str(state_file(root))
    assert store.load(KEY) == saved
    text = state_file(root).read_text()
    document = json.loads(text)
    assert document == {"version": 1, "attachment": KEY._asdict(), "record": saved}
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_files_are_0600_and_directories_0700(store: StateStore, root: Path) -> None:
    old_umask = os.umask(0)  # the store must not depend on a sane umask
    try:
        store.save(KEY, record())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state_file(root).stat().st_mode) == 0o600
    for directory in (root, root / "networks", root / "networks" / KEY.network):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_load_and_delete_of_absent_state_do_not_create_anything(
    store: StateStore, root: Path
) -> None:
    assert store.load(KEY) is None
    assert store.delete(KEY) is False
    assert store.keys() == []
    assert not root.exists()


def test_missing_ancestors_are_created_only_when_saving(tmp_path: Path) -> None:
    root = tmp_path / "var" / "lib" / "cni" / "amd-host-device"
    store = StateStore(str(root))
    assert store.load(KEY) is None and store.keys() == [] and store.purge_temp_files(0) == 0
    assert not (tmp_path / "var").exists()
    store.save(KEY, record())
    assert store.load(KEY) == record()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_root_cannot_be_the_filesystem_root() -> None:
    with pytest.raises(StateError):
        StateStore("/")


def test_save_replaces_and_delete_removes(store: StateStore, root: Path) -> None:
    store.save(KEY, record(generation=1))
    store.save(KEY, record(generation=2))
    assert store.load(KEY) == record(generation=2)
    assert store.delete(KEY) is True
    assert store.load(KEY) is None
    assert store.delete(KEY) is False
    assert os.listdir(root / "networks" / KEY.network) == []


def test_an_update_fsyncs_the_new_content_before_the_rename_but_not_the_directory(
    store: StateStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first save makes file and directory durable; an update (``sync_dir=False``) makes its
    content durable before the rename, so a power loss leaves the old record or the new one."""
    synced: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def rename(*args: object, **kwargs: object) -> None:
        synced.append("rename")
        real_rename(*args, **kwargs)  # type: ignore[arg-type]

    store.save(KEY, record(generation=1))  # creates the directories too: each one fsynced
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    store.save(KEY, record(generation=2))
    assert synced == ["file", "rename", "dir"]
    synced.clear()
    store.save(KEY, record(generation=3), sync_dir=False)
    assert synced == ["file", "rename"]
    monkeypatch.undo()
    assert store.load(KEY) == record(generation=3)


def test_attachments_differing_in_one_part_are_separate(store: StateStore) -> None:
    keys = [
        KEY,
        KEY._replace(network="other-net"),
        KEY._replace(container_id="0f3c2a9b8e7e"),
        KEY._replace(ifname="eth2"),
    ]
    for n, key in enumerate(keys):
        store.save(key, record(n=n))
    assert [store.load(key) for key in keys] == [record(n=n) for n in range(len(keys))]
    assert store.keys() == sorted(keys)


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        AttachmentKey("", "cid", "eth0"),
        AttachmentKey("-net", "cid", "eth0"),
        AttachmentKey("net/../..", "cid", "eth0"),
        AttachmentKey("net work", "cid", "eth0"),
        AttachmentKey("nét", "cid", "eth0"),
        AttachmentKey("n" * 201, "cid", "eth0"),
        AttachmentKey("net", "", "eth0"),
        AttachmentKey("net", ".hidden", "eth0"),
        AttachmentKey("net", "c:id", "eth0"),
        AttachmentKey("net", "../cid", "eth0"),
        AttachmentKey("net", "c" * 201, "eth0"),
        AttachmentKey("net", "cid", ""),
        AttachmentKey("net", "cid", "."),
        AttachmentKey("net", "cid", ".."),
        AttachmentKey("net", "cid", "eth/0"),
        AttachmentKey("net", "cid", "eth:0"),
        AttachmentKey("net", "cid", "eth 0"),
        AttachmentKey("net", "cid", "eth\t0"),
        AttachmentKey("net", "cid", "eth\x7f"),
        AttachmentKey("net", "cid", "ethé"),
        AttachmentKey("net", "cid", "e" * 16),
        AttachmentKey("net", "cid", "eth%d"),  # a kernel name template: never a CNI_IFNAME
    ],
)
def test_invalid_names_are_rejected_before_touching_the_disk(
    store: StateStore, root: Path, key: AttachmentKey
) -> None:
    with pytest.raises(InvalidName):
        store.save(key, record())
    with pytest.raises(InvalidName):
        store.load(key)
    with pytest.raises(InvalidName):
        store.delete(key)
    assert not root.exists()


def test_unusual_but_valid_names_round_trip(store: StateStore) -> None:
    keys = [
        AttachmentKey("a", "0", "e"),
        AttachmentKey("n" * 200, "c" * 200, "e" * 15),
        AttachmentKey("my_net.v2-x", "pod.sandbox_1-x", "eth0.100"),
        AttachmentKey("net", "cid", "x.json"),
        AttachmentKey("net", "cid", "@+=#!~"),
    ]
    for key in keys:
        store.save(key, record(name=key.ifname))
    assert store.keys() == sorted(keys)
    assert all(store.load(key) == record(name=key.ifname) for key in keys)


_name_char = st.sampled_from("abcXYZ019_.-")
_container_ids = st.builds(
    lambda first, rest: first + rest, st.sampled_from("aZ09"), st.text(_name_char, max_size=20)
)
_ifnames = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/:%"),  # CNI_IFNAME's rule
    min_size=1, max_size=15,
).filter(lambda name: name not in (".", ".."))


@given(cid1=_container_ids, if1=_ifnames, cid2=_container_ids, if2=_ifnames)
def test_file_names_decode_back_to_their_key_and_never_collide(
    cid1: str, if1: str, cid2: str, if2: str
) -> None:
    key1, key2 = AttachmentKey("net", cid1, if1), AttachmentKey("net", cid2, if2)
    assert AttachmentKey.from_filename("net", key1.filename()) == key1
    assert (key1.filename() == key2.filename()) == (key1 == key2)


# --- records ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"original_name": "enp3s0"},
        {"device": "0000:03:00.0"},
        {"device": {"id": 3}},
        {"device": {"id": "../../x"}},
        {"device": {"id": "0000:03:00.0"}, "when": {1, 2}},
        {"device": {"id": "0000:03:00.0"}, "mtu": float("nan")},
        {"device": {"id": "0000:03:00.0"}, "by_index": {1: "a", "b": 2}},
    ],
)
def test_records_the_store_cannot_honour_are_refused(
    store: StateStore, root: Path, bad: dict[str, object]
) -> None:
    with pytest.raises(InvalidRecord):
        store.save(KEY, bad)
    assert store.load(KEY) is None


# --- versions -----------------------------------------------------------------------------------


def test_file_from_a_newer_plugin_is_rejected_and_left_in_place(
    store: StateStore, root: Path
) -> None:
    content = json.dumps(valid_document(version=STATE_VERSION + 1, record={"new": "shape"}))
    path = write_raw(root, content.encode())
    with pytest.raises(UnsupportedStateVersion) as caught:
        store.load(KEY)
    assert caught.value.version == STATE_VERSION + 1
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert path.read_text() == content
    assert store.keys() == [KEY]


# --- corrupt files ------------------------------------------------------------------------------

_GOOD = json.dumps(valid_document(), indent=2, sort_keys=True).encode()
_CORRUPT_CONTENTS = {
    "empty": b"",
    "truncated": _GOOD[: len(_GOOD) // 2],
    "garbage": bytes(range(256)),
    "not utf-8": _GOOD.replace(b"enp3s0", b"enp\xff\xfe0"),
    "json list": b"[1, 2, 3]",
    "no version": json.dumps({"attachment": KEY._asdict(), "record": record()}).encode(),
    "version zero": json.dumps(valid_document(version=0)).encode(),
    "version as text": json.dumps(valid_document(version="1")).encode(),
    "version as bool": json.dumps(valid_document(version=True)).encode(),
    "extra field": json.dumps(valid_document(extra=1)).encode(),
    "record not an object": json.dumps(valid_document(record=[1])).encode(),
    "record without device": json.dumps(valid_document(record={"x": 1})).encode(),
    "bad device id": json.dumps(valid_document(record={"device": {"id": "a/b"}})).encode(),
    "other attachment": json.dumps(valid_document(KEY._replace(ifname="eth9"))).encode(),
    "NaN": _GOOD.replace(b'"enp3s0"', b"NaN"),
    "deep nesting": b'{"version": 1, "record": ' + b"[" * 100000 + b"]" * 100000 + b"}",
}


@pytest.mark.parametrize("content", _CORRUPT_CONTENTS.values(), ids=_CORRUPT_CONTENTS.keys())
def test_corrupt_file_is_set_aside_kept_and_reported(
    store: StateStore, root: Path, content: bytes
) -> None:
    path = write_raw(root, content)
    with pytest.raises(CorruptState) as caught:
        store.load(KEY)

    corrupt = caught.value
    assert corrupt.key == KEY
    assert corrupt.path == str(path)
    assert corrupt.set_aside_path is not None
    aside = Path(corrupt.set_aside_path)
    assert aside.parent == path.parent
    prefix = path.name + ".corrupt-"
    assert aside.name.startswith(prefix) and aside.name[len(prefix):].isdigit()
    assert aside.read_bytes() == content
    assert not path.exists()
    assert str(path) in str(corrupt) and str(aside) in str(corrupt)
    assert store.load(KEY) is None
    assert store.keys() == []


@needs_root
def test_state_file_owned_by_someone_else_is_corrupt(store: StateStore, root: Path) -> None:
    store.save(KEY, record())
    os.chown(state_file(root), OTHER_UID, OTHER_UID)
    with pytest.raises(CorruptState, match="owned by uid 54321"):
        store.load(KEY)


def test_state_file_writable_by_others_is_corrupt(store: StateStore, root: Path) -> None:
    store.save(KEY, record())
    state_file(root).chmod(0o666)
    with pytest.raises(CorruptState, match="writable"):
        store.load(KEY)


def test_fifo_or_directory_in_place_of_a_state_file_is_corrupt(
    store: StateStore, root: Path
) -> None:
    store.save(KEY, record())
    state_file(root).unlink()
    os.mkfifo(state_file(root), 0o600)  # opening must not block waiting for a writer
    with pytest.raises(CorruptState, match="not a regular file"):
        store.load(KEY)
    state_file(root).mkdir(mode=0o700)
    with pytest.raises(CorruptState, match="not a regular file"):
        store.load(KEY)
    assert store.load(KEY) is None


# --- symlinks and unsafe directories ------------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A directory an attacker would like us to write into; it must stay exactly as it is."""
    target = tmp_path / "canary"
    target.mkdir(mode=0o700)
    (target / "precious").write_text("do not touch")
    return target


def exercise_every_operation(store: StateStore) -> None:
    for operation in (
        lambda: store.save(KEY, record()),
        lambda: store.load(KEY),
        lambda: store.delete(KEY),
        lambda: store.keys(),
        lambda: store.scan(),
        lambda: store.find_by_device("0000:03:00.0"),
    ):
        with pytest.raises(UnsafePath) as caught:
            operation()
        assert "symlink" in str(caught.value)


def test_symlinked_root_is_refused(store: StateStore, root: Path, canary: Path) -> None:
    before = snapshot_tree(canary)
    root.symlink_to(canary)
    exercise_every_operation(store)
    assert snapshot_tree(canary) == before


def test_symlinked_root_given_with_trailing_slash_is_refused(root: Path, canary: Path) -> None:
    before = snapshot_tree(canary)
    root.symlink_to(canary)
    exercise_every_operation(StateStore(str(root) + "/"))
    assert snapshot_tree(canary) == before


def test_dangling_symlinked_root_is_not_created(store: StateStore, root: Path, tmp_path: Path) -> None:
    root.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(UnsafePath):
        store.save(KEY, record())
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.parametrize("link", ["networks", f"networks/{KEY.network}"])
def test_symlinked_subdirectory_is_refused(
    store: StateStore, root: Path, canary: Path, link: str
) -> None:
    (root / link).parent.mkdir(mode=0o700, parents=True)
    (root / link).symlink_to(canary)
    before = snapshot_tree(canary)
    exercise_every_operation(store)
    assert snapshot_tree(canary) == before


def test_symlinked_state_file_is_never_read_or_written_through(
    store: StateStore, root: Path, canary: Path
) -> None:
    precious = canary / "precious"
    target_content = json.dumps(valid_document()).encode()
    precious.write_bytes(target_content)  # valid content: reading through it would "work"
    path = state_file(root)
    path.parent.mkdir(parents=True, mode=0o700)
    path.symlink_to(precious)

    with pytest.raises(CorruptState, match="symlink") as caught:
        store.load(KEY)
    aside = caught.value.set_aside_path
    assert aside is not None and os.readlink(aside) == str(precious)

    path.symlink_to(precious)
    store.save(KEY, record(n=1))
    assert not path.is_symlink() and store.load(KEY) == record(n=1)

    os.unlink(path)
    path.symlink_to(precious)
    assert store.delete(KEY) is True
    assert precious.read_bytes() == target_content
    assert not path.exists() and not path.is_symlink()


@needs_root
@pytest.mark.parametrize("which", ["root", "networks", "network"])
def test_directory_owned_by_someone_else_is_refused(
    store: StateStore, root: Path, which: str
) -> None:
    store.save(KEY, record())
    directory = {"root": root, "networks": root / "networks",
                 "network": root / "networks" / KEY.network}[which]
    os.chown(directory, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafePath, match="owned by uid 54321") as caught:
        store.save(KEY, record(n=2))
    assert caught.value.path == str(directory)
    with pytest.raises(UnsafePath):
        store.load(KEY)
    os.chown(directory, 0, 0)
    assert store.load(KEY) == record()  # the refused save wrote nothing


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_directory_writable_by_others_is_refused(store: StateStore, root: Path, mode: int) -> None:
    store.save(KEY, record())
    (root / "networks").chmod(mode)
    with pytest.raises(UnsafePath, match="writable"):
        store.save(KEY, record(n=2))
    with pytest.raises(UnsafePath, match="writable"):
        store.keys()


def test_regular_file_in_place_of_root_is_refused(store: StateStore, root: Path) -> None:
    root.write_text("not a directory")
    with pytest.raises(UnsafePath, match="not a directory"):
        store.save(KEY, record())
    assert root.read_text() == "not a directory"


# --- listing, scanning, finding -----------------------------------------------------------------


def test_keys_ignore_temp_files_corrupt_copies_and_strays(store: StateStore, root: Path) -> None:
    other = AttachmentKey("other-net", "abc", "net1")
    store.save(KEY, record())
    store.save(other, record("0000:04:00.1"))
    network_dir = state_file(root).parent
    for stray in (
        ".tmp-123-abcdef",
        f"{state_file(root).name}.corrupt-1700000000000000000",
        "no-separator.json",
        "cid:eth0.txt",
        "cid:bad:ifname.json",
        ".hidden:eth0.json",
    ):
        (network_dir / stray).write_text("{}")
    (root / "networks" / "stray-file").write_text("x")
    (root / "networks" / ".not-a-network").mkdir()

    assert store.keys() == sorted([KEY, other])
    assert store.keys(KEY.network) == [KEY]
    assert store.keys("absent-net") == []
    with pytest.raises(InvalidName):
        store.keys("../etc")


def test_scan_returns_records_and_sets_aside_corrupt_ones(store: StateStore, root: Path) -> None:
    broken = KEY._replace(container_id="broken")
    store.save(KEY, record())
    write_raw(root, b"{", broken)

    scan = store.scan()

    assert scan.records == [(KEY, record())]
    assert [c.key for c in scan.corrupt] == [broken]
    assert scan.corrupt[0].set_aside_path is not None
    assert Path(scan.corrupt[0].set_aside_path).read_bytes() == b"{"
    assert store.scan() == ([(KEY, record())], [])


def test_find_by_device_returns_every_holder_of_that_device(store: StateStore, root: Path) -> None:
    pod_a = AttachmentKey("net-a", "pod-a", "eth1")
    pod_b = AttachmentKey("net-b", "pod-b", "eth1")
    pod_c = AttachmentKey("net-a", "pod-c", "eth1")
    store.save(pod_a, record("0000:03:00.0"))
    store.save(pod_b, record("0000:03:00.0", stale=True))
    store.save(pod_c, record("0000:03:00.1"))
    write_raw(root, b"garbage", AttachmentKey("net-a", "pod-d", "eth1"))

    holders = store.find_by_device("0000:03:00.0")

    assert holders == [(pod_a, record("0000:03:00.0")), (pod_b, record("0000:03:00.0", stale=True))]
    assert store.find_by_device("0000:03:00.1") == [(pod_c, record("0000:03:00.1"))]
    assert store.find_by_device("0000:99:00.0") == []
    with pytest.raises(InvalidName):
        store.find_by_device("0000:03:00.0/../x")


def test_purge_removes_only_old_temp_files(store: StateStore, root: Path) -> None:
    store.save(KEY, record())
    network_dir = state_file(root).parent
    old, fresh = network_dir / ".tmp-1-old", network_dir / ".tmp-2-fresh"
    old.write_text("partial")
    fresh.write_text("in flight")
    os.utime(old, (0, 0))

    assert store.purge_temp_files(older_than_s=3600) == 1
    assert not old.exists() and fresh.exists()
    assert store.load(KEY) == record()


def test_state_errors_share_one_base() -> None:
    for error in (InvalidName, InvalidRecord, UnsafePath, UnsupportedStateVersion, CorruptState):
        assert issubclass(error, StateError)
    assert issubclass(InvalidName, ValueError) and issubclass(InvalidRecord, ValueError)


# --- atomicity under SIGKILL --------------------------------------------------------------------

_WRITER = """
import sys
from hostdev.cni.state import AttachmentKey, StateStore
store = StateStore(sys.argv[1])
key = AttachmentKey("rdma-net", "0f3c2a9b8e7d", "eth1")
seq = int(sys.argv[2])
while True:
    pad = "x" * ((seq * 7919) % 300000)  # sizes from empty to many pages
    store.save(key, {"device": {"id": "0000:03:00.0"}, "seq": seq, "pad": pad, "pad_len": len(pad)})
    print(seq, flush=True)
    seq += 1
"""


def test_state_file_is_never_torn_when_the_writer_is_killed(store: StateStore, root: Path) -> None:
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for round_number in range(12):
        first_seq = round_number * 1_000_000
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(first_seq)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        assert writer.stdout is not None
        try:
            # Kill after a random number of completed saves: it lands somewhere in the next one.
            completed = [int(writer.stdout.readline()) for _ in range(rng.randint(1, 4))]
            writer.send_signal(signal.SIGKILL)
        finally:
            writer.kill()
            writer.wait()
            writer.stdout.close()
        assert writer.returncode == -signal.SIGKILL

        loaded = store.load(KEY)  # CorruptState here would mean a torn file
        assert loaded is not None
        assert isinstance(loaded["seq"], int) and loaded["seq"] >= completed[-1]
        assert loaded["pad_len"] == len(str(loaded["pad"]))
        assert store.keys() == [KEY]

    network_dir = state_file(root).parent
    assert set(os.listdir(network_dir)) - {state_file(root).name} <= {
        name for name in os.listdir(network_dir) if name.startswith(".tmp-")
    }
    store.purge_temp_files(older_than_s=-1)
    assert os.listdir(network_dir) == [state_file(root).name]


def test_scan_reads_every_record_in_directories_opened_once(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ADD scans the store for the device's holders, so a node with many attachments pays
    this per record: one open per record file, the directories once (not once per record)."""
    keys = [AttachmentKey(net, f"pod{i:02d}", "eth1") for net in ("net-a", "net-b") for i in range(10)]
    for i, key in enumerate(keys):
        store.save(key, record(f"0000:{0x10 + i:02x}:00.0"))
    opened: list[object] = []
    real_open = os.open

    def counting_open(path: object, *args: object, **kwargs: object) -> int:
        opened.append(path)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting_open)
    scan = store.scan()
    assert [found.key for found in scan.records] == sorted(keys) and scan.corrupt == []
    record_files = [p for p in opened if isinstance(p, str) and p.endswith(".json")]
    assert len(record_files) == len(keys)
    assert len(opened) - len(record_files) <= 2 * 4  # per network: the root, networks and its own directory, at most
