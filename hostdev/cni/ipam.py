"""Delegated IPAM (SPEC.md section 4): run the plugin named by ``ipam.type`` for one command.

The plugin gets what we got: the same environment with ``CNI_COMMAND`` set for the call, and
the whole network configuration exactly as it came on our stdin (so ``runtimeConfig`` — Multus'
``ips`` and ``mac`` capabilities for ``static`` — and every key of ``ipam`` reach it untouched).
Its error result becomes ours, code, msg and details as it wrote them. A plugin that does not
answer within the timeout is killed and reported with code 11 (try again later); one that dies
without an error result is reported with its exit status and the end of its stderr.

Imported only for a configuration that has an ``ipam`` section with a ``type``.
"""

from __future__ import annotations

import os

from . import delegate
from .errors import INTERNAL, TRY_AGAIN_LATER, CniError
from .names import shorten

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from .result_model import Result


class DelegateError(CniError):
    """An error result the IPAM plugin itself printed: code, msg and details as it wrote them.

    Kept apart from the errors of running it at all (not found, killed, no answer), which STATUS
    reports as "not available" (code 50) rather than as the plugin's own verdict.
    """


class IpamPlugin:
    """One configuration's IPAM plugin: ``add`` returns its result, the others only succeed or
    raise :class:`CniError`."""

    __slots__ = ("name", "cni_path", "stdin", "cni_version", "timeout_s", "environ")

    def __init__(
        self,
        name: str,
        *,
        cni_path: tuple[str, ...],
        stdin: bytes,
        cni_version: str,
        timeout_s: float,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.cni_path = cni_path
        self.stdin = stdin
        self.cni_version = cni_version
        self.timeout_s = timeout_s
        self.environ = os.environ if environ is None else environ

    def add(self) -> Result:
        from .ipam_result import parse_ipam_result

        return parse_ipam_result(self._call("ADD"), self.cni_version, self.name)

    def delete(self, **overrides: str | None) -> None:
        """DEL; ``overrides`` set (or, with None, remove) ``CNI_*`` variables, for a DEL of
        another attachment than the one in our environment (GC)."""
        self._call("DEL", overrides)

    def check(self) -> None:
        self._call("CHECK")

    def gc(self) -> None:
        self._call("GC")

    def status(self) -> None:
        self._call("STATUS")

    def _call(self, command: str, overrides: Mapping[str, str | None] | None = None) -> bytes:
        path = delegate.find_plugin(self.name, self.cni_path, "ipam.type")
        environ = dict(self.environ)
        environ["CNI_COMMAND"] = command
        for key, value in (overrides or {}).items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        try:
            finished = delegate.run(path, self.stdin, environ, self.timeout_s)
        except delegate.TimedOut:
            raise CniError(
                TRY_AGAIN_LATER,
                f"IPAM plugin {self.name} did not answer {command} within {self.timeout_s:g} s",
                f"it was killed ({path}); ipamTimeoutSeconds sets the limit",
            ) from None
        except OSError as exc:
            raise CniError(INTERNAL, f"cannot run IPAM plugin {self.name}", f"{path}: {exc.strerror or exc}") from None
        if finished.status != 0:
            raise self._failure(command, path, finished)
        return finished.stdout

    def _failure(self, command: str, path: str, finished: delegate.Finished) -> CniError:
        from hostdev import _json as json

        try:
            reply = json.loads(finished.stdout.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            reply = None
        if isinstance(reply, dict):
            code, msg, details = reply.get("code"), reply.get("msg"), reply.get("details")
            if isinstance(code, int) and not isinstance(code, bool) and code > 0 and isinstance(msg, str):
                return DelegateError(code, msg, details if isinstance(details, str) else "")
        how = f"exit status {finished.status}" if finished.status > 0 else f"killed by signal {-finished.status}"
        said = []
        if finished.stdout.strip():
            said.append("stdout: " + shorten(finished.stdout.decode("utf-8", "replace"), 300))
        if finished.stderr_tail.strip():
            said.append("stderr: " + shorten(finished.stderr_tail.decode("utf-8", "replace").strip(), 300))
        return CniError(
            INTERNAL,
            f"IPAM plugin {self.name} failed on {command} without an error result",
            "; ".join([f"{path}: {how}", *said]),
        )
