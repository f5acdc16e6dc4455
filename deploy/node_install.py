"""Put the node bundle of ``amd-host-device`` into a node's CNI bin directory.

This is the DaemonSet's install step; it runs from the bundle itself (``amd-host-device
install ...``) because the image is ``FROM scratch``: no shell, no ``cp``.

Layout it leaves in the bin directory ``B``::

    B/amd-host-device -> .amd-host-device/<build>/amd-host-device    what runtimes execute
    B/.amd-host-device/<build>/                                       one complete bundle per build

A bundle is a directory (the executable next to its libraries), so it cannot be swapped with a
single rename; the link can. The new build is copied under a temporary name and renamed into
place whole, then the link is replaced by ``rename(2)``: a runtime sees the old plugin or the new
one, never a half-copied one, and a plugin already running keeps its own build's files, because
a replaced build is only deleted by an install that runs ``keep_replaced_seconds`` later (plugin
runs are bounded well below that by the runtimes' timeouts).

The installer replaces only what it recognises as its own: its link, or the Python launcher that
``hostdev install`` writes. Anything else of the same name is left alone unless ``force``.

It also writes the node's settings for the plugin (``/etc/cni/amd-host-device.conf``, see
``hostdev/cni/node_settings.py``) from its flags: where state and device locks live
(``--state-dir``) and the one directory a NetworkAttachmentDefinition may put a log file in
(``--log-dir``). These are the node admin's decisions, so they come from here, not from a NAD.
Paths given are the node's; run in a container with the node's root mounted elsewhere, pass
``--host-root`` (the DaemonSet: ``/host``) and the installer works below it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_NAME = "amd-host-device"
STORE_NAME = ".amd-host-device"
MANIFEST_NAME = "hostdev-bundle.json"
REPLACED_MARK = ".replaced"
DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_STATE_DIR = "/var/lib/cni/amd-host-device"
DEFAULT_SETTINGS_FILE = "/etc/cni/amd-host-device.conf"
DEFAULT_KEEP_REPLACED_SECONDS = 600.0
# The first line of the launcher that hostdev.tools.install writes; not imported from there so that
# this module stays independent of the package it installs.
LAUNCHER_MARKER = b"# hostdev-launcher v1"
_HEX = frozenset("0123456789abcdef")


class InstallError(Exception):
    pass


@dataclass(frozen=True)
class Bundle:
    """A built bundle: its directory, build id (from the manifest) and manifest bytes."""

    root: Path
    build_id: str
    manifest: bytes


@dataclass
class InstallReport:
    target: Path
    build_id: str
    changed: bool
    previous: str | None = None
    removed: list[str] = field(default_factory=list)


def read_bundle(source: str | os.PathLike[str]) -> Bundle:
    """The bundle at ``source``; InstallError unless it has a valid manifest and executable."""
    root = Path(source)
    try:
        manifest = (root / MANIFEST_NAME).read_bytes()
    except OSError as exc:
        raise InstallError(f"{root} is not a hostdev bundle: cannot read {MANIFEST_NAME}: {exc.strerror}") from exc
    try:
        meta = json.loads(manifest)
    except ValueError as exc:
        raise InstallError(f"{root / MANIFEST_NAME} is not JSON: {exc}") from exc
    build_id = meta.get("build") if isinstance(meta, dict) else None
    # The build id becomes a directory name on the node: nothing but a hex digest.
    if not isinstance(build_id, str) or not 8 <= len(build_id) <= 64 or not set(build_id) <= _HEX:
        raise InstallError(f"{root / MANIFEST_NAME} has no valid build id")
    if meta.get("name") != PLUGIN_NAME:
        raise InstallError(f"{root} is a bundle of {meta.get('name')!r}, not {PLUGIN_NAME}")
    executable = root / PLUGIN_NAME
    if not executable.is_file() or not os.access(executable, os.X_OK):
        raise InstallError(f"{root} has no executable {PLUGIN_NAME}")
    return Bundle(root, build_id, manifest)


def install(
    bundle: Bundle,
    bin_dir: str | os.PathLike[str] = DEFAULT_BIN_DIR,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    keep_replaced_seconds: float = DEFAULT_KEEP_REPLACED_SECONDS,
    settings_file: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    host_root: str | os.PathLike[str] = "/",
    protection: dict[str, object] | None = None,
) -> InstallReport:
    """Install ``bundle`` as ``<bin_dir>/amd-host-device``; idempotent. See the module docstring.

    Paths are the node's, worked on below ``host_root``. With ``settings_file``, the node
    settings there name ``state_dir`` (default /var/lib/cni/amd-host-device) and ``log_dir``,
    plus ``protection`` (``apiServers``, ``deny``, ``allow``: see hostdev/cni/node_settings.py).
    """
    bin_path = _below(host_root, bin_dir)
    bin_path.mkdir(mode=0o755, parents=True, exist_ok=True)
    if state_dir is not None:
        ensure_state_dir(_below(host_root, state_dir))
    if log_dir is not None:
        ensure_state_dir(_below(host_root, log_dir), what="log directory")
    if settings_file is not None:
        settings: dict[str, object] = {"stateDir": os.fspath(state_dir or DEFAULT_STATE_DIR)}
        if log_dir:
            settings["logDir"] = os.fspath(log_dir)
        write_settings(_below(host_root, settings_file), settings | (protection or {}))
    store = bin_path / STORE_NAME
    store.mkdir(mode=0o755, exist_ok=True)
    if store.is_symlink() or not store.is_dir():
        raise InstallError(f"{store} is not a directory")
    target = bin_path / PLUGIN_NAME
    with _locked(store / ".lock"):
        previous = _current_build(target)
        if previous is None and os.path.lexists(target) and not force and not _is_launcher(target):
            raise InstallError(
                f"{target} exists and was not installed by hostdev; refusing to replace it (use --force)"
            )
        if os.path.isdir(target) and not os.path.islink(target):
            raise InstallError(f"{target} is a directory; refusing to replace it")
        _place_build(bundle, store)
        link = f"{STORE_NAME}/{bundle.build_id}/{PLUGIN_NAME}"
        changed = not (target.is_symlink() and os.readlink(target) == link)
        if changed:
            _replace_with_symlink(target, link)
            _fsync_dir(bin_path)
        if previous is not None and previous != bundle.build_id:
            _mark_replaced(store / previous)
        removed = _prune(store, keep=bundle.build_id, keep_replaced_seconds=keep_replaced_seconds)
    return InstallReport(target, bundle.build_id, changed, previous, removed)


def _below(host_root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """The node's ``path`` as seen from here, where the node's root is ``host_root``."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        raise InstallError(f"{text} must be an absolute path (on the node)")
    return Path(os.fspath(host_root)) / text.lstrip("/")


def ensure_state_dir(path: Path, *, what: str = "state directory") -> None:
    """Create the plugin's state (or log) directory (0700) if missing; refuse one the plugin
    would refuse."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise InstallError(f"{what} {path} is not a directory (or is a symlink)")
    if st.st_uid != os.geteuid():
        raise InstallError(f"{what} {path} is owned by uid {st.st_uid}, not {os.geteuid()}")
    if st.st_mode & 0o022:
        raise InstallError(f"{what} {path} is group- or world-writable (mode {stat.S_IMODE(st.st_mode):o})")
    if stat.S_IMODE(st.st_mode) != 0o700:  # e.g. 0755 from kubelet's DirectoryOrCreate hostPath
        os.chmod(path, 0o700)


def write_settings(path: Path, settings: dict[str, object]) -> None:
    """Write the node settings file (root, 0644) atomically; unchanged content is left alone."""
    text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
    if path.is_symlink():
        raise InstallError(f"settings file {path} is a symlink; refusing to write through it")
    try:
        if path.read_text() == text:
            return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o644)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(path.parent)


class _locked:
    """flock on a file: two installers on one node (a rollout overlap) take turns."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def _current_build(target: Path) -> str | None:
    """The build id our link points at, or None if ``target`` is not our link."""
    if not target.is_symlink():
        return None
    parts = os.readlink(target).split("/")
    if len(parts) == 3 and parts[0] == STORE_NAME and parts[2] == PLUGIN_NAME and parts[1] and set(parts[1]) <= _HEX:
        return parts[1]
    return None


def _is_launcher(target: Path) -> bool:
    if target.is_symlink() or not target.is_file():
        return False
    with open(target, "rb") as f:
        return LAUNCHER_MARKER in f.read(4096)


def _place_build(bundle: Bundle, store: Path) -> None:
    """Make ``store/<build>`` a complete copy of the bundle, reusing an intact earlier copy."""
    final = store / bundle.build_id
    if final.is_dir() and not final.is_symlink():
        try:
            if (final / MANIFEST_NAME).read_bytes() == bundle.manifest and (final / PLUGIN_NAME).is_file():
                _clear_replaced(final)  # installed again: it is current, not a leftover
                return
        except OSError:
            pass
        _remove(final, store)  # not what the manifest promises: replace it whole
    elif os.path.lexists(final):
        os.unlink(final)
    staging = store / f".tmp-{bundle.build_id}-{os.getpid()}"
    if os.path.lexists(staging):
        _remove(staging, store)
    shutil.copytree(bundle.root, staging, symlinks=True, copy_function=_copy_durably)
    _fsync_dir(staging)
    os.rename(staging, final)
    _fsync_dir(store)


def _copy_durably(src: str, dst: str) -> str:
    # A node that loses power right after the switch must not come back with empty files.
    shutil.copy2(src, dst)
    fd = os.open(dst, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return dst


def _replace_with_symlink(target: Path, link: str) -> None:
    tmp = target.with_name(f".{PLUGIN_NAME}.tmp-{os.getpid()}")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(link, tmp)
    os.rename(tmp, target)  # atomic: the old file stays intact for whoever has it open


def _mark_replaced(build_dir: Path) -> None:
    if build_dir.is_dir() and not build_dir.is_symlink():
        (build_dir / REPLACED_MARK).write_text(f"{time.time():.0f}\n")


def _clear_replaced(build_dir: Path) -> None:
    try:
        (build_dir / REPLACED_MARK).unlink()
    except FileNotFoundError:
        pass


def _replaced_since(build_dir: Path) -> float | None:
    try:
        return os.stat(build_dir / REPLACED_MARK).st_mtime
    except FileNotFoundError:
        return None


def _prune(store: Path, *, keep: str, keep_replaced_seconds: float) -> list[str]:
    """Remove builds replaced long enough ago and leftovers of interrupted installs."""
    removed = []
    now = time.time()
    for entry in sorted(os.listdir(store)):
        path = store / entry
        if entry == keep or entry == ".lock":
            continue
        if entry.startswith(".tmp-"):  # an install that died mid-copy (we hold the lock)
            _remove(path, store)
            removed.append(entry)
            continue
        if not path.is_dir() or path.is_symlink():
            continue
        since = _replaced_since(path)
        if since is None:
            # Not current and never marked (an install interrupted before its switch, or the
            # link was replaced by hand): start its grace period now.
            _mark_replaced(path)
        elif now - since >= keep_replaced_seconds:
            _remove(path, store)
            removed.append(entry)
    return removed


def _remove(path: Path, store: Path) -> None:
    # Rename first so that a half-deleted tree never sits under a build id's name.
    trash = store / f".tmp-trash-{os.getpid()}-{path.name}"
    os.rename(path, trash)
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash)
    else:
        os.unlink(trash)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def wait_for_termination() -> int:
    """Block until SIGTERM or SIGINT: the DaemonSet pod's long-running container, which has
    nothing to do once the init container installed the plugin. As PID 1 of a container a
    signal without a handler is ignored, so the handlers are what makes ``kubectl delete`` quick."""
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop:
        signal.pause()
    return 0


RULE_KINDS = ("pci", "driver", "vendorDevice", "netdev")  # as hostdev/cni/node_settings.py reads them


def _protection(api_servers: list[str], deny: list[str], allow: list[str]) -> dict[str, object]:
    """The node settings' apiServers/deny/allow from the command line (the plugin validates the
    values themselves when it reads the file; here only their shape)."""
    out: dict[str, object] = {}
    if api_servers:
        out["apiServers"] = list(api_servers)
    for key, entries in (("deny", deny), ("allow", allow)):
        if not entries:
            continue
        rules: dict[str, list[str]] = {}
        for entry in entries:
            kind, equals, value = entry.partition("=")
            if not equals or kind not in RULE_KINDS or not value:
                raise InstallError(f"--{key} {entry!r}: expected KIND=VALUE with KIND one of {', '.join(RULE_KINDS)}")
            rules.setdefault(kind, []).append(value)
        out[key] = rules
    return out


def _default_source() -> str:
    # In the bundle, sys.executable is the bundle's own executable.
    return os.path.dirname(os.path.realpath(sys.executable))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PLUGIN_NAME,
        description="Without arguments: the amd-host-device CNI plugin. With a command: the node installer.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="install this bundle into a CNI bin directory")
    inst.add_argument("--host-root", default="/", help="where the node's root is mounted here (default %(default)s)")
    inst.add_argument("--bin-dir", default=DEFAULT_BIN_DIR, help="the node's CNI bin directory (default %(default)s)")
    inst.add_argument(
        "--state-dir", default=DEFAULT_STATE_DIR,
        help="where the plugin keeps records and device locks, created 0700 (default %(default)s)",
    )  # fmt: skip
    inst.add_argument("--no-state-dir", action="store_true", help="do not create the state directory")
    inst.add_argument(
        "--log-dir", default=None, help="the one directory a NAD's logFile may name a file in, created 0700 (default: none)"
    )
    inst.add_argument(
        "--settings", default=DEFAULT_SETTINGS_FILE, help="the node settings file to write (default %(default)s)"
    )
    inst.add_argument("--no-settings", action="store_true", help="do not write the node settings file")
    inst.add_argument(
        "--api-server", action="append", default=[], metavar="ADDRESS",
        help="an API server address of this node: the NIC that reaches it is never moved (repeatable)",
    )  # fmt: skip
    for verdict in ("deny", "allow"):
        inst.add_argument(
            f"--{verdict}", action="append", default=[], metavar="KIND=VALUE",
            help=f"{verdict} devices by pci, driver, vendorDevice or netdev, e.g. driver=e1000e (repeatable)",
        )  # fmt: skip
    inst.add_argument("--source", default=None, help="the bundle to install (default: the running one)")
    inst.add_argument("--force", action="store_true", help="replace an amd-host-device that hostdev did not install")
    inst.add_argument(
        "--keep-replaced-seconds",
        type=float,
        default=DEFAULT_KEEP_REPLACED_SECONDS,
        help="delete a replaced build only this long after it was replaced (default %(default)s)",
    )
    sub.add_parser("wait", help="do nothing until SIGTERM (the DaemonSet's long-running container)")
    args = parser.parse_args(argv)
    if args.command == "wait":
        return wait_for_termination()
    try:
        protection = _protection(args.api_server, args.deny, args.allow)
        bundle = read_bundle(args.source or _default_source())
        report = install(
            bundle,
            args.bin_dir,
            state_dir=None if args.no_state_dir else args.state_dir,
            force=args.force,
            keep_replaced_seconds=args.keep_replaced_seconds,
            settings_file=None if args.no_settings else args.settings,
            log_dir=args.log_dir,
            host_root=args.host_root,
            protection=protection,
        )
    except (InstallError, OSError) as exc:
        print(f"{PLUGIN_NAME} install: {exc}", file=sys.stderr)
        return 1
    what = "installed" if report.changed else "already installed"
    print(f"{what}: {report.target} -> build {report.build_id}", flush=True)
    for name in report.removed:
        print(f"removed replaced build {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
