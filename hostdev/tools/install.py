"""``hostdev install``: put the ``amd-host-device`` launcher into a CNI bin directory.

The launcher is a three-line Python script whose ``#!`` names the real interpreter with ``-IS``
(isolated: no PYTHON* variables, no user site; no ``site`` scan at all) and which appends exactly
the directories it needs to ``sys.path``. No pyenv shim, no console-script wrapper, no
``importlib.metadata`` lookup: each pod event starts the interpreter, so start-up is the cost.

It runs as root on every pod event, so whoever can change its interpreter or its code runs code
as root: a launcher is written only when the interpreter, the standard library and every
directory it puts on ``sys.path`` — each with all its ancestors — are root's and writable by no
one else (a sticky directory like ``/tmp`` is fine as an ancestor: nobody but root can replace a
root-owned entry in it). Its directories come after the standard library's, so a module there
named like a standard one (``_json``, ``os``) cannot shadow it.
"""

from __future__ import annotations

import os
import sys

PLUGIN_NAME = "amd-host-device"
MARKER = "# hostdev-launcher v1"
DEFAULT_BIN_DIR = "/opt/cni/bin"


class InstallError(Exception):
    pass


def launcher_text(interpreter: str | None = None, settings: str | None = None) -> str:
    """The launcher's text; ``settings``: the node settings file it names (None: the default,
    /etc/cni/amd-host-device.conf), so the node's, not a configuration's, say where files go."""
    import _cffi_backend

    import cni_main
    import hostdev

    python = os.path.realpath(interpreter or sys.executable)
    paths: list[str] = []
    for module_file in (hostdev.__file__, cni_main.__file__, _cffi_backend.__file__):
        assert module_file is not None
        top = os.path.dirname(module_file)
        if module_file == hostdev.__file__:
            top = os.path.dirname(top)
        if top not in paths:
            paths.append(top)
    checked = [python, *paths]
    if interpreter is None or python == os.path.realpath(sys.executable):
        checked += _standard_library_paths()
    for path in checked:
        problem = trust_problem(path)
        if problem is not None:
            raise InstallError(f"refusing to write a launcher that runs {path} as root: {problem}")
    return (
        f"#!{python} -IS\n"  # one argument: the kernel passes everything after the path as one
        f"{MARKER}\n"
        "import sys\n"
        f"sys.path += {paths!r}\n"  # after the standard library: nothing of ours shadows it
        "from cni_main import run\n"
        f"run({settings!r})\n"
    )


def trust_problem(path: str, _hops: int = 0) -> str | None:
    """Why someone other than root could change what ``path`` holds, or None: ``path`` or one of
    its ancestors (and, for a symlink on the way, its target's) is not root's, or is writable by
    its group or by others (a sticky ancestor directory excepted)."""
    import stat

    if _hops > 40:
        return f"{path}: too many symbolic links"
    parts = [p for p in os.path.abspath(path).split("/") if p]
    current = "/"
    for depth in range(len(parts) + 1):
        if depth:
            current = os.path.join(current, parts[depth - 1])
        try:
            st = os.lstat(current)
        except OSError as exc:
            return f"{current}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):  # its own mode means nothing; its directory was checked
            problem = trust_problem(os.path.realpath(current), _hops + 1)
            if problem is not None:
                return problem
            continue
        if st.st_uid != 0:
            return f"{current} is owned by uid {st.st_uid}, not root"
        writable = st.st_mode & 0o022
        sticky_ancestor = depth < len(parts) and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        if writable and not sticky_ancestor:
            return f"{current} is writable by its group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _standard_library_paths() -> list[str]:
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    return [stdlib, os.path.join(stdlib, "lib-dynload")]


def install(bin_dir: str = DEFAULT_BIN_DIR, *, name: str = PLUGIN_NAME, force: bool = False, settings: str | None = None) -> str:
    """Write the launcher atomically (temp file + rename: a running copy keeps its inode).

    Idempotent; refuses to replace a file that is not one of our launchers unless ``force``.
    """
    target = os.path.join(bin_dir, name)
    if os.path.lexists(target) and not force and not _is_our_launcher(target):
        raise InstallError(f"{target} exists and is not a hostdev launcher; refusing to replace it (use --force)")
    os.makedirs(bin_dir, mode=0o755, exist_ok=True)
    if settings is not None and not os.path.isabs(settings):
        raise InstallError(f"--settings must be an absolute path, not {settings!r}")
    text = launcher_text(settings=settings)
    tmp = os.path.join(bin_dir, f".{name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o755)
    os.rename(tmp, target)
    return target


def _is_our_launcher(path: str) -> bool:
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return MARKER.encode() in head
