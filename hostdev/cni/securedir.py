"""Directories and files only we may have written: the primitives the state store and the
locks share.

Every path is opened relative to a directory fd with ``O_NOFOLLOW`` (``O_DIRECTORY`` for
directories), and what is opened is checked before it is used: a directory or file that is a
symlink, not ours, or writable by group or others is refused (:class:`UnsafePath`). Only the last
component of the root path is checked: its ancestors (``/var/lib/cni``) are the admin's. Names
that go into those paths are validated first (:func:`checked_name`, :class:`InvalidName`).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class StateError(Exception):
    """Base of every state-store and lock error; ``path`` names the file or directory involved."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class InvalidName(StateError, ValueError):
    """A network name, container ID, interface name or device ID outside its allowed charset."""


class UnsafePath(StateError):
    """A state/lock directory or lock file that is a symlink, not ours, or writable by others."""


def checked_name(value: object, problem: Callable[[str], str | None], what: str) -> str:
    """``value`` if ``problem`` (a rule of hostdev/cni/names.py) finds none, else InvalidName."""
    reason = problem(value) if isinstance(value, str) else f"{what} must be a string, got {type(value).__name__}"
    if reason is not None:
        raise InvalidName(f"{reason}: {value!r:.80}")
    assert isinstance(value, str)
    return value


# --- directories ----------------------------------------------------------


def unsafe_reason(st: os.stat_result, *, directory: bool) -> str | None:
    """Why a state directory, state file or lock file must not be trusted, or None: not the
    expected kind, not ours, or writable by others."""
    if directory and not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by us (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"group- or world-writable (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _check_dir(fd: int, path: str) -> None:
    problem = unsafe_reason(os.fstat(fd), directory=True)
    if problem:
        os.close(fd)
        raise UnsafePath(f"refusing state directory {path}: it is {problem}", path)


def _refusal(exc: OSError, path: str, name: str, parent_fd: int | None) -> StateError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            is_link = stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        what = "is a symlink" if is_link else "is not a directory"
        return UnsafePath(f"refusing state directory {path}: it {what}", path)
    return StateError(f"cannot open state directory {path}: {exc.strerror}", path)


def _open_dir(
    parent_fd: int | None, name: str, path: str, *, create: bool, sync_fd: int | None
) -> int | None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
            if sync_fd is not None:
                os.fsync(sync_fd)  # make the new directory entry durable before files go in
        except FileExistsError:
            pass  # created concurrently; the checks below apply to it all the same
        except OSError as exc:
            raise StateError(f"cannot create state directory {path}: {exc.strerror}", path) from exc
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            raise _refusal(exc, path, name, parent_fd) from exc
    except OSError as exc:
        raise _refusal(exc, path, name, parent_fd) from exc
    _check_dir(fd, path)
    return fd


def open_secure_root(root: str, *, create: bool) -> int | None:
    """fd of the checked state root (None if absent and not ``create``); caller closes it.

    ``root`` must be normalised (``normalize_root``). Its ancestors are trusted and followed.
    """
    parent = os.path.dirname(root)
    try:
        if create:
            os.makedirs(parent, 0o755, exist_ok=True)  # /var/lib/cni may not exist yet
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot open {parent}: {exc.strerror}", parent) from exc
    try:
        return _open_dir(parent_fd, os.path.basename(root), root, create=create, sync_fd=parent_fd)
    finally:
        os.close(parent_fd)


def open_secure_subdir(parent_fd: int, parent_path: str, name: str, *, create: bool) -> int | None:
    """fd of checked directory ``name`` below ``parent_fd`` (None if absent and not ``create``)."""
    path = os.path.join(parent_path, name)
    return _open_dir(parent_fd, name, path, create=create, sync_fd=parent_fd)


def normalize_root(root: str) -> str:
    # A trailing slash would make the kernel follow a symlinked root despite O_NOFOLLOW.
    normalized = os.path.normpath(os.path.abspath(root))
    if normalized == "/":
        raise StateError("the state root cannot be /", root)
    return normalized
