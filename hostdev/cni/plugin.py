"""The CNI entry: environment + stdin in, one JSON document on stdout, an exit code.

This is the one place where failures become CNI error codes: CniError as is; a kernel refusal
(NetlinkError) by its errno; a lock that timed out as 11 (try again later); anything else as
999 with its text, never a traceback on stdout.
"""

from __future__ import annotations

from hostdev import _json as json
import sys

from hostdev.cni.errors import INTERNAL, INVALID_ENVIRONMENT, IO_FAILURE, TRY_AGAIN_LATER, CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Mapping


def main(
    environ: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[str] | None = None,
    settings_path: str | None = None,
) -> int:
    """One plugin call. ``settings_path``: the node's settings file (see node_settings), as the
    installed launcher names it; None for the default."""
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    raw = b""
    command = _process_command() if environ is None else environ.get("CNI_COMMAND", "")
    try:
        if command == "VERSION":  # answered whatever the configuration says
            from hostdev.cni.versions import peek_cni_version, version_result

            raw = _read_stdin(stdin)
            _emit(stdout, version_result(peek_cni_version(raw)))
            return 0
        if environ is None:  # the plugin's own process (the launcher), not a caller's
            import os  # every other command needs it (so does the library)
            from gc import disable

            # A process that lives for one call needs no cyclic collector: the collections the
            # imports and the work trigger find nothing and cost ~2 ms per ADD (measured with
            # the ADD's modules alone, 80 alternating execs); the kernel frees it all at exit.
            disable()
            environ = os.environ
        from hostdev.cni.protocol import parse_env

        env = parse_env(environ)
        raw = _read_stdin(stdin)
        output = _run(env, raw, settings_path)
        if output is not None:
            _emit(stdout, output)
        return 0
    except CniError as exc:
        _emit(stdout, exc.to_json(_reply_version(raw)))
        return 1
    except Exception as exc:
        cni = _as_cni_error(exc)
        _log_fallback(f"{command}: {cni}")
        _emit(stdout, cni.to_json(_reply_version(raw)))
        return 1


def _process_command() -> str:
    """CNI_COMMAND of this process, read without importing ``os`` (and the six modules it pulls
    in, ~1 ms): VERSION needs nothing else from the environment. Decoded as ``os.environ`` does."""
    from posix import environ as raw_environ  # builtin, loaded with the interpreter

    return raw_environ.get(b"CNI_COMMAND", b"").decode(sys.getfilesystemencoding(), "surrogateescape")


def _run(env: object, raw: bytes, settings_path: str | None) -> dict[str, object] | None:
    from hostdev.cni.config import parse_plugin_config
    from hostdev.cni.log import Log
    from hostdev.cni.node_settings import DEFAULT_SETTINGS_FILE, load_node_settings
    from hostdev.cni.protocol import CniEnv, decode_config

    assert isinstance(env, CniEnv)
    conf_dict = decode_config(raw)
    node = load_node_settings(settings_path or DEFAULT_SETTINGS_FILE)
    conf = parse_plugin_config(conf_dict, env.command, node)
    context = f"[{(env.container_id or '-')[:12]} {env.ifname or '-'}] "
    log = Log(conf.log_level, conf.log_file, context)
    for note in conf.ignored:
        log.warn(note)
    log.info(f"{env.command} network={conf.name} device={conf.device.primary.value if conf.device else '-'}")
    ipam = None
    if conf.ipam_type is not None:  # only then: the IPAM modules stay off the plain path
        from hostdev.cni.ipam_step import plugin_for

        ipam = plugin_for(env, conf, raw)
    if env.command == "ADD":
        from hostdev.cni.add import add
        from hostdev.cni.result_json import format_result, parse_prev_result
        from hostdev.cni.results import merge

        result = add(env, conf, log, ipam)
        if conf.prev_result is not None:
            result = merge(parse_prev_result(conf.cni_version, conf.prev_result), result)
        return format_result(conf.cni_version, result)
    if env.command == "DEL":
        from hostdev.cni.detach import delete

        delete(env, conf, log, ipam)
        return None
    if env.command == "CHECK":
        from hostdev.cni.check import check

        check(env, conf, log, ipam)
        return None
    if env.command == "STATUS":
        from hostdev.cni.check import status

        status(conf, ipam)
        return None
    if env.command == "GC":
        from hostdev.cni.detach import garbage_collect
        from hostdev.cni.protocol import parse_valid_attachments

        garbage_collect(conf, parse_valid_attachments(conf_dict), log, ipam)
        return None
    raise CniError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND {env.command!r}")


def _read_stdin(stdin: IO[bytes]) -> bytes:
    """At most one byte more than a configuration may have: decode_config refuses the excess
    (VERSION answers all the same)."""
    from hostdev.cni.decode import MAX_CONFIG_BYTES

    return stdin.read(MAX_CONFIG_BYTES + 1)


def _reply_version(raw: bytes) -> str:
    from hostdev.cni.versions import peek_cni_version, reply_version

    return reply_version(peek_cni_version(raw)) if raw else reply_version(None)


def _as_cni_error(exc: Exception) -> CniError:
    from hostdev.errors import NetlinkError

    if isinstance(exc, NetlinkError):
        import errno

        transient = exc.errno in (errno.EBUSY, errno.EAGAIN)
        return CniError(TRY_AGAIN_LATER if transient else INTERNAL, "the kernel refused a request", str(exc))
    from hostdev.cni.lock import LockTimeout
    from hostdev.cni.securedir import StateError

    if isinstance(exc, LockTimeout):
        if exc.device_id is None:  # the store lock: a GC scanning, or ADDs in flight while GC waits
            return CniError(TRY_AGAIN_LATER, "state store is busy: another plugin call holds its lock", str(exc))
        return CniError(TRY_AGAIN_LATER, "device is busy: another plugin call holds its lock", str(exc))
    if isinstance(exc, StateError):
        return CniError(IO_FAILURE, "state store failure", str(exc))
    return CniError(INTERNAL, type(exc).__name__, str(exc))


def _emit(stdout: IO[str], obj: dict[str, object]) -> None:
    stdout.write(json.dumps(obj, indent=2) + "\n")
    stdout.flush()


def _log_fallback(msg: str) -> None:
    try:
        sys.stderr.write(f"amd-host-device: {msg}\n")
    except (OSError, ValueError):
        pass
