"""Entry point of the ``amd-host-device`` CNI plugin binary (see ``hostdev install``), and the
reader of the code archive that install writes beside it.

Importing a module the ordinary way costs ~120-160 µs besides running its body (the path
finder's look-ups, a stat of the source, opening and reading its ``.pyc``: measured with 40
empty modules, ~40 µs from memory instead), and an ADD imports some 50 of hostdev's. So
``hostdev install`` also compiles hostdev's run-time modules into one file,
``__pycache__/hostdev.<cache tag>.code`` next to this module, and :func:`use_code_archive`
serves them from it: one open and one read for all of them. A module is served only while its
source has the size and mtime it was compiled from (else the ordinary import takes it, so an
edited or upgraded source never runs stale), only from a regular file owned by root (or the
caller) that nobody else can write, and only for names under ``hostdev``: it can shadow nothing.
"""

from __future__ import annotations

import sys
from posix import _exit  # os._exit itself: VERSION answers without importing os (six modules)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

ARCHIVE_PACKAGE = "hostdev"
# The archive: an 8-byte little-endian length N, then N bytes of a marshalled index (importlib's
# MAGIC_NUMBER, {module name: (is package, source path, source st_mtime_ns, source st_size,
# offset, length)}), then the modules' code objects, each marshalled at its offset in the file.
# Each is read when its module is imported: a command reads only what it runs.
ARCHIVE_HEADER = 8
_archive_in_use = False


def code_archive_path() -> str:
    """Where ``hostdev install`` writes the code archive for this interpreter."""
    return f"{__file__.rpartition('/')[0]}/__pycache__/{ARCHIVE_PACKAGE}.{sys.implementation.cache_tag}.code"


class _CodeArchive:
    """A meta path finder and loader for the modules of the code archive (see the docstring)."""

    def __init__(self, fd: int, index: dict[str, Any]) -> None:
        self.fd = fd  # open for the life of the process (O_CLOEXEC)
        self.index = index

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        entry = self.index.get(name)
        if entry is None:
            return None
        is_package, origin, mtime_ns, size, _offset, _length = entry
        from posix import stat

        try:
            st = stat(origin)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None  # edited or upgraded since install: the ordinary import reads the source
        from _frozen_importlib import ModuleSpec

        loader: Any = self  # a Loader by protocol (importlib.abc is not imported for it)
        spec = ModuleSpec(name, loader, origin=origin, is_package=is_package)
        spec.has_location = True  # __file__ is the source's, as with the ordinary import
        if is_package:
            spec.submodule_search_locations = [origin.rpartition("/")[0]]
        return spec

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        from marshal import loads
        from posix import pread

        offset, length = self.index[module.__name__][4:]
        data = pread(self.fd, length, offset)
        if len(data) != length:
            raise ImportError(f"{code_archive_path()} is truncated at {module.__name__}", name=module.__name__)
        exec(loads(data), module.__dict__)


def use_code_archive(path: str | None = None) -> bool:
    """Serve hostdev's modules from the code archive, if there is a usable one; True if so."""
    global _archive_in_use
    if _archive_in_use:
        return True
    from posix import O_CLOEXEC, O_NOFOLLOW, O_RDONLY, close, fstat, geteuid, open, pread

    try:
        fd = open(path or code_archive_path(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    except OSError:
        return False
    try:
        st = fstat(fd)
        if st.st_mode & 0o170000 != 0o100000 or st.st_uid not in (0, geteuid()) or st.st_mode & 0o022:
            raise ValueError("not a regular file, or someone else could have written it")
        from _frozen_importlib_external import MAGIC_NUMBER
        from marshal import loads

        size = int.from_bytes(pread(fd, ARCHIVE_HEADER, 0), "little")
        magic, index = loads(pread(fd, size, ARCHIVE_HEADER))
        if magic != MAGIC_NUMBER or not isinstance(index, dict):
            raise ValueError("written by another CPython version")
    except (OSError, EOFError, ValueError, TypeError):
        close(fd)
        return False
    for name in [n for n in index if n != ARCHIVE_PACKAGE and not n.startswith(ARCHIVE_PACKAGE + ".")]:
        del index[name]  # never anything but hostdev's own
    sys.meta_path.insert(0, _CodeArchive(fd, index))
    _archive_in_use = True
    return True


def main(settings_path: str | None = None) -> int:
    from hostdev.cni.plugin import main as plugin_main

    return plugin_main(settings_path=settings_path)


def run(settings_path: str | None = None) -> None:
    """Run the plugin and leave without interpreter finalization. ``settings_path``: the node's
    settings file the launcher was installed with (None: /etc/cni/amd-host-device.conf).

    A plugin process lives for one call; tearing down every module and object at exit cost
    ~6-15 ms per call (measured in benchmarks/cni) and frees nothing the kernel would not.
    Everything the plugin writes is flushed first; state files are fsync'd when written.
    """
    use_code_archive()
    code = main(settings_path)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        _exit(code)


if __name__ == "__main__":
    run()
