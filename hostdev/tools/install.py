"""``hostdev install``: put the ``amd-host-device`` launcher into a CNI bin directory.

The launcher is a three-line Python script whose ``#!`` names the real interpreter with ``-IS``
(isolated: no PYTHON* variables, no user site; no ``site`` scan at all) and which puts exactly
the directories it needs on ``sys.path``. No pyenv shim, no console-script wrapper, no
``importlib.metadata`` lookup: each pod event starts the interpreter, so start-up is the cost.
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
    paths = []
    for module_file in (hostdev.__file__, cni_main.__file__, _cffi_backend.__file__):
        assert module_file is not None
        top = os.path.dirname(module_file)
        if module_file == hostdev.__file__:
            top = os.path.dirname(top)
        if top not in paths:
            paths.append(top)
    return (
        f"#!{python} -IS\n"  # one argument: the kernel passes everything after the path as one
        f"{MARKER}\n"
        "import sys\n"
        f"sys.path[:0] = {paths!r}\n"
        "from cni_main import run\n"
        f"run({settings!r})\n"
    )


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
