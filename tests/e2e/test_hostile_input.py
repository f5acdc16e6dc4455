"""Hostile and malformed input, through the installed binary.

Each refusal must carry the right code, as exactly one error JSON document on stdout, with no
traceback anywhere, no change to the host or the pod, and no state file. Device IDs are checked
against canaries: PCI-function look-alikes, each with a netdev that really exists on the host,
planted where a traversal, a stripped newline or a lax digit parser would land. The plugin must
never move one, and (per strace) never even read sysfs for a device ID it refuses.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Node, Result, netns_view, seed_rich_nic, sh, state_view

BDF = "0000:44:00.0"
NIC = "enp68s0"
CANARY_BDF = "0000:45:00.0"  # a real, valid function: where a lax parser's stripped ID lands
NETWORK_DIR = "networks/amd-host-device-nad-nic"
ERROR_KEYS = {"cniVersion", "code", "msg", "details"}


@dataclass
class World:
    node: Node
    pod: str
    host: dict[str, Any]
    pod_view: dict[str, Any]

    def conf(self, **extra: Any) -> dict[str, Any]:
        return self.node.conf(deviceID=BDF, rdma="auto", **extra)

    def add(self, conf: dict[str, Any] | bytes, **kw: Any) -> Result:
        kw.setdefault("netns", self.node.pod_path(self.pod))
        return self.node.run(kw.pop("command", "ADD"), conf, **kw)

    def assert_unchanged(self) -> None:
        assert netns_view(self.node) == self.host
        assert netns_view(self.node, self.pod) == self.pod_view


def _run_all(world: World, jobs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Result]]:
    """Run refused-input cases side by side (none may change anything, so order is free)."""

    def one(job: tuple[str, dict[str, Any]]) -> tuple[str, Result]:
        case, kw = job
        kw = dict(kw)
        return case, world.add(kw.pop("conf"), **kw)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, jobs))


def _refused(r: Result, code: int, case: str) -> None:
    where = f"{case}: rc={r.code} stdout={r.stdout!r} stderr={r.stderr[-400:]!r}"
    assert r.code == 1, where
    assert r.out is not None and set(r.out) == ERROR_KEYS, where  # one JSON document, nothing else
    assert r.out["code"] == code, where
    assert "Traceback" not in r.stdout + r.stderr, where


def _no_state(node: Node) -> None:
    assert state_view(node) == {}


@pytest.fixture
def world(node: Node) -> World:
    seed_rich_nic(node, NIC, BDF)
    node.add_nic("canary1", CANARY_BDF, addrs=("55.9.9.1/24",))
    _plant_traversal_canary(node)
    pod = node.add_pod()
    return World(node, pod, netns_view(node), netns_view(node, pod))


def _plant_traversal_canary(node: Node) -> None:
    """``<sysfs>/devices/canary`` looks like a PCI function with netdev ``canary0`` (a real
    interface), and odd names in ``bus/pci/devices`` lead to it."""
    peer = "canary0p"
    node.ip(f"link add canary0 type veth peer name {peer}")
    node.ip(f"link set {peer} up")
    node.ip("link set canary0 up")
    node.ip("addr add 55.8.8.1/24 dev canary0")
    root = node.sysfs.root
    canary = root / "devices" / "canary"
    canary.mkdir(parents=True)
    for attr, value in (("vendor", "0x8086"), ("device", "0x10c9"), ("class", "0x020000")):
        (canary / attr).write_text(value + "\n")
    (canary / "driver").symlink_to("../../bus/pci/drivers/ionic")
    node.sysfs.add_netdev(canary, "canary0")
    devices = root / "bus" / "pci" / "devices"
    for odd in ("0000:45:00.0\n", "0000:45:00.0 ", "\uff10000:45:00.0", "0000:45:00.\u0660", "0000:45:00.0\u200b"):
        (devices / odd).symlink_to("../../../devices/canary")


# --- stdin -------------------------------------------------------------------------------------


def _stdin_cases(good: dict[str, Any]) -> list[tuple[str, bytes]]:
    raw = json.dumps(good).encode()
    pad = {**good, "padding": "x"}
    return [
        ("empty", b""),
        ("whitespace", b" \n\t "),
        ("not JSON", b"{not json"),
        ("truncated", raw[:-7]),
        ("trailing garbage", raw + b"{}"),
        ("NUL after the document", raw + b"\x00"),
        ("invalid UTF-8", raw.replace(b'"amd-host-device"', b'"amd-host-\xff\xfedevice"', 1)),
        ("overlong UTF-8 encoding", raw.replace(b'"type": "', b'"type": "\xc0\xaf', 1)),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + raw),
        ("UTF-16 with BOM", json.dumps(good).encode("utf-16")),
        ("UTF-16-LE", json.dumps(good).encode("utf-16-le")),
        ("UTF-32", json.dumps(good).encode("utf-32")),
        ("Latin-1", json.dumps({**good, "note": "d\u00e9j\u00e0"}, ensure_ascii=False).encode("latin-1")),
        ("lone surrogate escape", raw.replace(b'"amd-host-device"', b'"amd-host-\\ud800"', 1)),
        ("nested past the limit", json.dumps({**good, "x": json.loads("[" * 70 + "]" * 70)}).encode()),
        ("nested to blow the stack", b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
        ("2 MiB", json.dumps({**pad, "padding": "x" * (2 << 20)}).encode()),
        ("6 MiB", json.dumps({**pad, "padding": "x" * (6 << 20)}).encode()),
        ("duplicate name, different values", raw[:-1] + b', "name": "other-net"}'),
        ("duplicate deviceID, different values", raw[:-1] + f', "deviceID": "{CANARY_BDF}"}}'.encode()),
        # Go's encoding/json (libcni, Multus) matches struct fields case-insensitively: either copy may be theirs.
        ("cniVersion and CNIVERSION", raw[:-1] + b', "CNIVERSION": "1.1.0"}'),
        ("deviceID and DeviceID, same value", raw[:-1] + f', "DeviceID": "{good["deviceID"]}"}}'.encode()),
        ("NaN", raw[:-1] + b', "x": NaN}'),
        ("Infinity", raw[:-1] + b', "x": -Infinity}'),
        ("number overflowing a float", raw[:-1] + b', "x": 1e999}'),
        ("integer past the digit limit", raw[:-1] + b', "x": ' + b"9" * 5000 + b"}"),
        ("top-level array", b"[" + raw + b"]"),
        ("top-level string", json.dumps(json.dumps(good)).encode()),
        ("top-level number", b"42"),
        ("top-level null", b"null"),
        ("top-level true", b"true"),
    ]


def test_malformed_stdin_is_code_6_for_add_and_del(world: World) -> None:
    node = world.node
    for case, r in _run_all(world, [(case, {"conf": stdin}) for case, stdin in _stdin_cases(world.conf())]):
        _refused(r, 6, f"ADD {case}")
    _no_state(node)
    world.assert_unchanged()

    assert world.add(world.conf()).ok
    attached, pod_attached, state_attached = netns_view(node), netns_view(node, world.pod), state_view(node)
    jobs = [(case, {"conf": stdin, "command": "DEL"}) for case, stdin in _stdin_cases(world.conf())]
    for case, r in _run_all(world, jobs):
        _refused(r, 6, f"DEL {case}")
    assert netns_view(node) == attached and netns_view(node, world.pod) == pod_attached
    assert state_view(node) == state_attached
    assert world.add(world.conf(), command="DEL").ok
    world.assert_unchanged()
    _no_state(node)


# Each key of the configuration with the type it must have; every other JSON type is refused.
FIELD_TYPES: dict[str, str] = {
    "cniVersion": "str", "name": "str", "type": "str", "deviceID": "str", "pciBusID": "str",
    "device": "str", "hwaddr": "str", "kernelpath": "str", "runtimeConfig": "dict",
    "runtimeConfig.deviceID": "str", "renameToIfname": "bool", "rdma": "str", "stateDir": "str",
    "logLevel": "str", "logFile": "str", "lockTimeoutSeconds": "num", "returnTimeoutSeconds": "num",
    "prevResult": "dict", "ipam": "dict", "ipamTimeoutSeconds": "num", "keepHostAddresses": "bool",
}  # fmt: skip
SAMPLES: dict[str, object] = {"num": 42, "str": "text", "bool": True, "list": ["0000:44:00.0"], "dict": {"a": 1}}


def test_wrong_type_for_every_field(world: World) -> None:
    jobs: list[tuple[str, dict[str, Any]]] = []
    for key, kind in FIELD_TYPES.items():
        for wrong_kind, value in SAMPLES.items():
            if wrong_kind == kind:
                continue
            conf = world.conf()
            if key.startswith("runtimeConfig."):
                conf["runtimeConfig"] = {key.split(".", 1)[1]: value}
            else:
                conf[key] = value
            jobs.append((key, {"conf": conf}))
    for required in ("cniVersion", "name", "type"):
        conf = world.conf()
        del conf[required]
        jobs += [(required, {"conf": conf}), (required, {"conf": {**conf, required: None}})]
    for key, r in _run_all(world, jobs):
        _refused(r, 1 if key == "cniVersion" else 7, f"{key}: {r.out}")
        if key != "cniVersion":  # code 1 says it all; every other error names its key
            assert r.out is not None and key.split(".")[-1] in r.out["msg"] + r.out["details"], (key, r.out)
    world.assert_unchanged()
    _no_state(world.node)


# --- device IDs --------------------------------------------------------------------------------

HOSTILE_DEVICE_IDS = [
    "../../../devices/canary",
    "0000:44:00.0/../../../../devices/canary",
    "0000:44:00.0/../0000:45:00.0",
    "/sys/devices/canary",
    "/sys/bus/pci/devices/0000:45:00.0",
    "0000:45:00.0\n",
    "0000:45:00.0\r\n",
    "\n0000:45:00.0",
    "0000:45:00.0 ",
    " 0000:45:00.0",
    "0000:45:00.0\t",
    "0000:45:00.0\x00",
    "0000:45:00.0\x00/../../../devices/canary",
    "\x00",
    "\uff10000:45:00.0",  # fullwidth digit
    "0000:45:00.\u0660",  # Arabic-Indic zero
    "0000:\u0664" + "5:00.0",  # Arabic-Indic four
    "0000:45:00.0\u200b",  # zero-width space
    "0000:45:00.0" * 40,
    "a" * 5000,
    "",
    ".",
    "..",
    "0000:45:00.8",
    "0000:45:20.0",
    "10000:45:00.0",
    "0000:45:00.00",
    "0000:45:00.0/",
    "0000:45:00.0;reboot",
    "%2e%2e/devices/canary",
    "mlx5_core.sf.4/../../../../devices/canary",
    "mlx5_core.sf.04",
    "mlx5_core..4",
    "..sf.4",
    "mlx5_core.sf.4\n",
]
ID_KEYS = ("deviceID", "pciBusID", "runtimeConfig.deviceID")
TRACE = ("strace", "-f", "-qq", "-e", "trace=%file")


def _with_id(conf: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    conf = {k: v for k, v in conf.items() if k != "deviceID"}
    if key == "runtimeConfig.deviceID":
        conf["runtimeConfig"] = {"deviceID": value}
    else:
        conf[key] = value
    return conf


def _sysfs_paths(trace: Path) -> list[str]:
    return re.findall(r'"(/sys(?:/[^"]*)?)"', trace.read_text())


def test_hostile_device_ids_never_reach_sysfs_nor_move_a_canary(world: World) -> None:
    node = world.node
    trace = node.work / "strace.out"
    for i, value in enumerate(HOSTILE_DEVICE_IDS):
        key = ID_KEYS[i % len(ID_KEYS)]
        r = world.add(_with_id(world.conf(), key, value), wrapper=(*TRACE, "-o", str(trace)))
        _refused(r, 7, f"{key}={value!r}")
        assert _sysfs_paths(trace) == [], f"{key}={value!r} read sysfs: {_sysfs_paths(trace)}"
        _no_state(node)
    world.assert_unchanged()

    # The control: a valid ID reads sysfs, and only below bus/pci/devices/<that BDF>.
    r = world.add(world.conf(), wrapper=(*TRACE, "-o", str(trace)))
    assert r.ok, r.stdout + r.stderr
    paths = _sysfs_paths(trace)
    assert paths and all(p == f"/sys/bus/pci/devices/{BDF}" or p.startswith(f"/sys/bus/pci/devices/{BDF}/") for p in paths), paths
    assert world.add(world.conf(), command="DEL").ok
    world.assert_unchanged()
    _no_state(node)


def test_disagreeing_selectors_are_refused(world: World) -> None:
    node = world.node
    canary_mac = node.ip_json("link show dev canary1")[0]["address"]
    cases: list[dict[str, Any]] = [
        {"deviceID": BDF, "pciBusID": CANARY_BDF},
        {"deviceID": BDF, "runtimeConfig": {"deviceID": CANARY_BDF}},
        {"runtimeConfig": {"deviceID": BDF}, "pciBusID": CANARY_BDF},
        {"deviceID": BDF, "device": "canary1"},
        {"deviceID": BDF, "device": "canary0"},
        {"deviceID": BDF, "hwaddr": canary_mac},
        {"deviceID": BDF, "kernelpath": "/sys/devices/canary"},
        {"device": "../canary0"},
        {"device": "canary0/.."},
        {"kernelpath": "/sys/devices/../devices/canary"},
        {"kernelpath": "/sys/bus/pci/devices/0000:45:00.0"},
        {"kernelpath": "sys/devices/canary"},
        {"hwaddr": "aa:bb:cc:dd:ee:ff\n"},
    ]
    base = {k: v for k, v in world.conf().items() if k != "deviceID"}
    for extra in cases:
        r = world.add(base | extra)
        _refused(r, 7, str(extra))
        _no_state(node)
    world.assert_unchanged()


# --- environment -------------------------------------------------------------------------------


def _env_cases(node: Node, pod: str) -> list[tuple[str, dict[str, str], tuple[str, ...]]]:
    fifo = node.work / "netns-fifo"
    os.mkfifo(fifo)
    plain = node.work / "netns-file"
    plain.write_text("not a namespace\n")
    cases: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
    for var in ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"):
        cases += [(f"{var} missing", {}, (var,)), (f"{var} empty", {var: ""}, ())]
    bad = {
        "CNI_COMMAND": ["DELETE", "add", "ADD\n", "ADD" * 2000, "\udcff"],
        "CNI_CONTAINERID": ["c" * 256, "../../etc", "a b", "-leading", "caf\u00e9", "\udcff"],
        "CNI_IFNAME": ["a" * 16, "a/b", "a:b", "eth%d", "..", "\u00e9th0", "a\tb", "net\udcff", "net\u202e1"],
        "CNI_NETNS": [
            "/" + "a" * 5000, "run/netns/x", "/run/netns/x\n", str(fifo), "/dev/null", "/", str(plain),
            "/proc/self/ns/net", "/proc/thread-self/ns/net", f"/run/netns/{node.host}", "/proc/self/ns/uts",
            f"/run/netns/{pod}-gone",
        ],
        "CNI_ARGS": ["x" * 70000, "=b", "a=b=c", "a=\x01", "K=1;K=2", "K=\udcff", "K=a\x85b"],
        "CNI_PATH": ["/opt/cni/bin:" * 6000, "/opt/\udcff/bin", "/opt/cni\u200b/bin"],  # a non-UTF-8 byte: 4, not 999
    }
    for var, values in bad.items():
        cases += [(f"{var}={value[:40]!r}", {var: value}, ()) for value in values]
    return cases


def test_bad_environment_is_code_4(world: World) -> None:
    node = world.node
    jobs = [(case, {"conf": world.conf(), "env": env, "unset": unset}) for case, env, unset in _env_cases(node, world.pod)]
    for case, r in _run_all(world, jobs):
        _refused(r, 4, case)
    r = node.run("GC", node.conf(cniVersion="1.1.0"), unset=("CNI_PATH",))
    _refused(r, 4, "GC without CNI_PATH")
    world.assert_unchanged()
    _no_state(node)

    # DEL: the attachment stays as it is.
    assert world.add(world.conf()).ok
    attached, pod_attached, state_attached = netns_view(node), netns_view(node, world.pod), state_view(node)
    for case, env, unset in _env_cases_del():
        _refused(world.add(world.conf(), command="DEL", env=env, unset=unset), 4, f"DEL {case}")
    assert netns_view(node) == attached and netns_view(node, world.pod) == pod_attached
    assert state_view(node) == state_attached


@pytest.mark.parametrize(
    "char", [os.fsdecode(b"\xff"), "\x85", "\u200b", "\u202e"], ids=["non-UTF-8 byte", "U+0085", "U+200B", "U+202E"]
)
def test_netns_path_with_a_non_printable_character_is_code_4_even_when_it_is_a_netns(world: World, char: str) -> None:
    """A real network namespace reached through a path no record, log or reply can hold
    faithfully: refused up front (it used to be ADDed, and a non-UTF-8 byte then ended in 999)."""
    node = world.node
    path = node.work / f"pod{char}ns"
    path.touch()
    sh(["mount", "--bind", node.pod_path(world.pod), str(path)])  # subprocess fsencodes: the byte comes back
    try:
        for command in ("ADD", "CHECK", "DEL"):
            r = world.add(world.conf(), command=command, netns=str(path))
            _refused(r, 4, f"{command} {char!r}")
            assert r.out is not None and r.out["msg"] == "invalid CNI_NETNS", r.out
            assert f"U+{ord(char):04X}" in r.out["details"], r.out
    finally:
        sh(["umount", str(path)])
    world.assert_unchanged()
    _no_state(node)


def _env_cases_del() -> list[tuple[str, dict[str, str], tuple[str, ...]]]:
    return [
        ("CNI_CONTAINERID missing", {}, ("CNI_CONTAINERID",)),
        ("CNI_IFNAME missing", {}, ("CNI_IFNAME",)),
        ("CNI_COMMAND unknown", {"CNI_COMMAND": "DELETE"}, ()),
        ("CNI_CONTAINERID traversal", {"CNI_CONTAINERID": "../c0ffee"}, ()),
        ("CNI_IFNAME traversal", {"CNI_IFNAME": "../net1"}, ()),
        ("CNI_NETNS relative", {"CNI_NETNS": "run/netns/x"}, ()),
    ]


# --- the state directory -----------------------------------------------------------------------


def _snapshot_tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): (b"dir" if p.is_dir() else p.read_bytes()) for p in sorted(path.rglob("*"))}


@pytest.mark.parametrize(
    "attack",
    ["root-symlink", "root-world-writable", "root-foreign-owner", "root-is-a-file", "networks-symlink", "network-dir-symlink", "locks-symlink", "lock-file-symlink"],
)
def test_unsafe_state_directory_is_refused_and_never_written_through(world: World, attack: str) -> None:
    node = world.node
    decoy = node.work / "decoy"
    decoy.mkdir()
    (decoy / "precious").write_text("must stay as it is\n")
    root = node.state_dir
    if attack == "root-symlink":
        root.symlink_to(decoy)
    elif attack == "root-is-a-file":
        root.write_text("not a directory\n")
    else:
        root.mkdir(mode=0o700)
        if attack == "root-world-writable":
            root.chmod(0o777)
        elif attack == "root-foreign-owner":
            os.chown(root, 4242, 4242)
        elif attack == "networks-symlink":
            (root / "networks").symlink_to(decoy)
        elif attack == "network-dir-symlink":
            (root / "networks").mkdir(mode=0o700)
            (root / "networks" / "amd-host-device-nad-nic").symlink_to(decoy)
        elif attack == "locks-symlink":
            (root / "locks").symlink_to(decoy)
        else:
            (root / "locks").mkdir(mode=0o700)
            (root / "locks" / f"{BDF}.lock").symlink_to(decoy / "precious")
    decoy_before = _snapshot_tree(decoy)
    r = world.add(world.conf())
    _refused(r, 5, attack)
    assert r.out is not None and "state" in r.out["msg"], r.out
    assert _snapshot_tree(decoy) == decoy_before
    world.assert_unchanged()


def test_del_with_an_unsafe_state_directory_leaves_the_device_in_the_pod(world: World) -> None:
    node = world.node
    assert world.add(world.conf()).ok
    pod_attached, state_attached = netns_view(node, world.pod), state_view(node)
    node.state_dir.chmod(0o777)
    r = world.add(world.conf(), command="DEL")
    _refused(r, 5, "DEL with a world-writable state dir")
    assert "world-writable" in r.out["details"] if r.out else False
    assert netns_view(node, world.pod) == pod_attached and state_view(node) == state_attached
    node.state_dir.chmod(0o700)  # the admin repairs it; the runtime's retry finishes
    assert world.add(world.conf(), command="DEL").ok
    world.assert_unchanged()
    _no_state(node)


# --- a corrupt or missing record: set aside, and DEL touches only what it can prove -------------
# These veth stand-ins have no PCI parent, the only thing that proves which interface in a pod is
# the configured device without a record (issue 16): DEL leaves them where they are and says so.
# The real-NIC path, where the device comes home, is in tests/vm/test_vm_record_loss.py.

CORRUPTIONS = ["truncated", "garbage", "empty", "not-utf8", "symlink", "foreign-owner", "world-writable", "fifo", "directory"]


def _corrupt(node: Node, path: Path, how: str) -> bytes | None:
    """Damage the state file; returns the bytes the set-aside copy must keep (None: not a file)."""
    good = path.read_bytes()
    if how in ("truncated", "garbage", "empty", "not-utf8"):
        data = {"truncated": good[: len(good) // 2], "garbage": os.urandom(300), "empty": b"", "not-utf8": good.replace(b'"c0ffee"', b'"c0\xff"')}[how]
        path.write_bytes(data)
        return data
    if how in ("foreign-owner", "world-writable"):
        os.chown(path, 4242, 4242) if how == "foreign-owner" else path.chmod(0o666)
        return good
    path.unlink()
    if how == "symlink":
        target = node.work / "decoy-record.json"
        target.write_bytes(good)  # even a perfect record is not trusted through a symlink
        path.symlink_to(target)
    elif how == "fifo":
        os.mkfifo(path, 0o600)
    else:
        path.mkdir(mode=0o700)
    return None


def _set_aside(node: Node) -> list[Path]:
    return sorted((node.state_dir / NETWORK_DIR).glob("c0ffee:net1.json.corrupt-*"))


def _left_in_the_pod(world: World, r: Result, pod_attached: dict[str, Any]) -> None:
    assert r.ok and r.stdout == "", r.stdout + r.stderr
    assert "PCI or auxiliary parent" in r.stderr, r.stderr  # said why nothing was taken
    assert netns_view(world.node, world.pod) == pod_attached


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_record_is_set_aside_and_del_touches_nothing_it_cannot_prove(world: World, how: str) -> None:
    node = world.node
    assert world.add(world.conf()).ok
    pod_attached = netns_view(node, world.pod)
    state_file = node.state_dir / NETWORK_DIR / "c0ffee:net1.json"
    kept = _corrupt(node, state_file, how)
    decoy = node.work / "decoy-record.json"
    decoy_before = decoy.read_bytes() if decoy.exists() else None

    r = world.add(world.conf(), command="DEL")
    assert "corrupt" in r.stderr and "set aside" in r.stderr, r.stderr
    _left_in_the_pod(world, r, pod_attached)
    aside = _set_aside(node)
    assert len(aside) == 1 and not state_file.exists()  # set aside, never silently dropped
    if kept is not None:
        assert aside[0].read_bytes() == kept
    if decoy_before is not None:
        assert aside[0].is_symlink() and decoy.read_bytes() == decoy_before  # moved, not followed
    # The runtime repeats DEL: still fine, nothing changes.
    _left_in_the_pod(world, world.add(world.conf(), command="DEL"), pod_attached)


@pytest.mark.parametrize("selection", ["renamed-in-pod", "name-selector"])
def test_without_a_record_a_name_proves_nothing_in_the_pod(world: World, selection: str) -> None:
    """Before issue 16 the fallback took the interface of the expected name: one a pod can make."""
    node = world.node
    if selection == "renamed-in-pod":
        conf = world.conf(renameToIfname=True)
    else:
        conf = {k: v for k, v in world.conf().items() if k != "deviceID"} | {"device": NIC}
    assert world.add(conf).ok
    pod_attached = netns_view(node, world.pod)
    _corrupt(node, node.state_dir / NETWORK_DIR / "c0ffee:net1.json", "garbage")
    r = world.add(conf, command="DEL")
    _left_in_the_pod(world, r, pod_attached)
    assert len(_set_aside(node)) == 1


def test_corrupt_record_with_the_pod_gone_is_logged_and_kept(world: World) -> None:
    node = world.node
    assert world.add(world.conf()).ok
    _corrupt(node, node.state_dir / NETWORK_DIR / "c0ffee:net1.json", "garbage")
    node.emulate_nic_return(world.pod, NIC)
    node.delete_pod(world.pod)
    r = node.run("DEL", world.conf(), netns="")
    assert r.ok, r.stdout + r.stderr
    assert "corrupt" in r.stderr and "no CNI_NETNS" in r.stderr, r.stderr
    assert node.has_link(NIC) and len(_set_aside(node)) == 1  # back, bare, as the kernel left it


def test_add_and_gc_meeting_a_corrupt_record(world: World) -> None:
    node = world.node
    state_file = node.state_dir / NETWORK_DIR / "c0ffee:net1.json"
    state_file.parent.mkdir(mode=0o700, parents=True)
    state_file.write_bytes(b"{half a rec")
    state_file.chmod(0o600)
    r = world.add(world.conf())
    _refused(r, 5, "ADD over a corrupt record")
    assert "corrupt" in r.out["details"] if r.out else False
    world.assert_unchanged()
    assert len(_set_aside(node)) == 1 and not state_file.exists()

    other = node.state_dir / NETWORK_DIR / "gone:net1.json"
    other.write_bytes(b"\x00\x01garbage")
    other.chmod(0o600)
    r = node.run("GC", node.conf(cniVersion="1.1.0", **{"cni.dev/valid-attachments": []}))
    assert r.ok, r.stdout + r.stderr
    assert "corrupt state set aside" in r.stderr
    assert not other.exists() and list((node.state_dir / NETWORK_DIR).glob("gone:net1.json.corrupt-*"))
    world.assert_unchanged()


def test_unusable_record_is_code_102_until_the_admin_sets_it_aside(world: World) -> None:
    node = world.node
    assert world.add(world.conf()).ok
    pod_attached = netns_view(node, world.pod)
    state_file = node.state_dir / NETWORK_DIR / "c0ffee:net1.json"
    document = json.loads(state_file.read_bytes())
    document["record"]["snapshot"] = "not a snapshot"  # well-formed store file, unusable record
    state_file.write_text(json.dumps(document))
    r = world.add(world.conf(), command="DEL")
    _refused(r, 102, "unusable record")
    assert netns_view(node, world.pod) == pod_attached and state_file.exists()
    # The documented way out: set it aside by hand; DEL then looks for the device by its selector
    # (a real NIC by its PCI parent: tests/vm/test_vm_record_loss.py; a stand-in has none).
    state_file.rename(state_file.with_name(state_file.name + ".corrupt-manual"))
    _left_in_the_pod(world, world.add(world.conf(), command="DEL"), pod_attached)
