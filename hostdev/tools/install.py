"""``hostdev install``: put the ``amd-host-device`` launcher into a CNI bin directory.

The launcher is a three-line Python script whose ``#!`` names the real interpreter with ``-IS``
(isolated: no PYTHON* variables, no user site; no ``site`` scan at all) and which appends exactly
the directories it needs to ``sys.path``. No pyenv shim, no console-script wrapper, no
``importlib.metadata`` lookup: each pod event starts the interpreter, so start-up is the cost.

Beside it, install compiles hostdev's run-time modules into one code archive that the launcher
imports them from (``cni_main.use_code_archive``: one file instead of one look-up and one
``.pyc`` per module: an ADD's imports 2-5 ms faster, the more the busier the machine); it is
written where ``cni_main``'s own compiled code goes, inside the directories checked below, and
each module in it is used only while its source is unchanged.

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
    try:
        write_code_archive()
    except OSError as exc:  # e.g. a read-only package directory: the plugin works, starts slower
        print(f"hostdev install: no code archive ({exc}): the plugin imports its modules file by file", file=sys.stderr)
    return target


# Not in the archive: the tools (never on the plugin's path), the build-time cffi generator and
# the test-only fault injection (the node bundle leaves both out too).
ARCHIVE_EXCLUDES = ("hostdev.tools", "hostdev._netns_build", "hostdev.cni.fault_injection")


def archive_modules() -> dict[str, tuple[bool, str, int, int, bytes]]:
    """hostdev's run-time modules, compiled: {name: (is package, source path, source
    st_mtime_ns, source st_size, the code object marshalled)}."""
    import marshal

    import hostdev

    assert hostdev.__file__ is not None
    top = os.path.dirname(os.path.dirname(os.path.abspath(hostdev.__file__)))
    modules = {}
    for directory, subdirs, files in os.walk(os.path.join(top, "hostdev")):
        subdirs[:] = sorted(d for d in subdirs if d.isidentifier())
        for file in sorted(files):
            if not file.endswith(".py") or not file[:-3].isidentifier():
                continue
            path = os.path.join(directory, file)
            parts = os.path.relpath(path, top)[:-3].split(os.sep)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            if any(name == ex or name.startswith(ex + ".") for ex in ARCHIVE_EXCLUDES):
                continue
            with open(path, "rb") as source:
                st = os.fstat(source.fileno())
                code = compile(source.read(), path, "exec", dont_inherit=True, optimize=0)
            modules[name] = (is_package, path, st.st_mtime_ns, st.st_size, marshal.dumps(code))
    return modules


def code_archive() -> bytes:
    """The code archive's bytes, in the layout ``cni_main`` reads (see ``ARCHIVE_HEADER`` there)."""
    import marshal
    from importlib.util import MAGIC_NUMBER

    from cni_main import ARCHIVE_HEADER

    modules = archive_modules()
    # The index's size depends on the offsets it holds: lay the code out after a first guess,
    # and again if the index came out longer than the room left for it.
    room = 0
    while True:
        index, offset = {}, ARCHIVE_HEADER + room
        for name, (is_package, path, mtime_ns, size, code) in modules.items():
            index[name] = (is_package, path, mtime_ns, size, offset, len(code))
            offset += len(code)
        head = marshal.dumps((MAGIC_NUMBER, index))
        if len(head) <= room:
            break
        room = len(head) + 64
    head = head.ljust(room, b"\0")  # marshal.loads stops at the end of its value
    return len(head).to_bytes(ARCHIVE_HEADER, "little") + head + b"".join(code for *_, code in modules.values())


def write_code_archive() -> str:
    """Compile hostdev's run-time modules into the one file ``cni_main.use_code_archive`` reads
    (atomically, 0644, beside ``cni_main``'s compiled code); returns its path."""
    import cni_main

    path = cni_main.code_archive_path()
    data = code_archive()
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)
    return path


def _is_our_launcher(path: str) -> bool:
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return MARKER.encode() in head
