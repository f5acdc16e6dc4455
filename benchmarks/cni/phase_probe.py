"""Run the plugin's own ``main()`` with per-phase timers, as a stand-alone script.

Executed in place of the launcher, the same way: ``<real python> -I -S phase_probe.py OUT SETTINGS
PATH...`` (isolated, no ``site``; SETTINGS is the node settings file the launcher names, or empty
for the default; PATH... are the launcher's ``sys.path`` entries). It must not import
anything but the standard library and hostdev, and nothing before the first clock read.

Timing is exclusive: each wrapped call charges the time since the last event to the phase on top
of a stack, so nested phases never count twice and the phases add up to the whole run. Per phase
it keeps wall time and this thread's CPU time (the difference is time off the CPU: waiting in the
kernel or preempted). Imports are caught through ``builtins.__import__`` (every ``import``
statement, including the plugin's lazy ones); functions of modules that are imported lazily are
wrapped right after their import completes, before anything can call them.

Writes ``{"t0_ns", "t_main_ns", "t_end_ns", "phases": {name: [wall_ns, cpu_ns, calls]}}`` to OUT.
All times are CLOCK_MONOTONIC (``perf_counter_ns``), the spawner's clock. It leaves the way the
launcher does, through ``cni_main.run`` (flush, ``os._exit``): an exit through ``sys.exit`` would
time the interpreter's finalization, which the plugin never runs (~15-25 ms on this machine, which
is what an earlier version of this probe reported as "interpreter exit").
"""

import time

T0 = time.perf_counter_ns()

import builtins  # noqa: E402  (builtin modules, already loaded: no import cost to speak of)
import sys  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

perf_ns = time.perf_counter_ns
cpu_ns = time.thread_time_ns

IMPORT_ENTRY = "imports: entry (cni_main → hostdev.cni.plugin)"
IMPORT_LAZY = "imports: lazy, during the command"
MOVE = "netlink: netns move requests (kernel: RTNL + RCU)"
NETLINK = "netlink: other requests and dumps"
NETNS = "netns open/enter + netlink socket setup"
RESOLVE = "device resolve (sysfs + checks)"
STATE = "state store (JSON files, fsync)"
LOCK = "device lock (flock)"
RDMA = "RDMA step (probe)"
SNAPSHOT = "snapshot/apply/move logic (Python)"
CONFIG = "CNI env + config decode/validate"
RESULT = "result format + print"
LOG = "logging"
PLUGIN = "plugin: other Python"
PROBE = "outside main (probe, top level)"

# module -> [(dotted attribute, phase)], applied as soon as the module has been imported.
PATCHES: "dict[str, list[tuple[str, str]]]" = {
    "hostdev._netlink.socket": [("NetlinkSocket.request", NETLINK), ("NetlinkSocket.dump", NETLINK),
                                ("NetlinkSocket.__init__", NETNS)],
    "hostdev.netns": [("NetNS.from_path", NETNS), ("NetNS.current", NETNS), ("NetNS.close", NETNS)],
    "hostdev.handle": [("socket_in", NETNS)],
    "hostdev.cni.protocol": [("parse_env", CONFIG), ("decode_config", CONFIG)],
    "hostdev.cni.config": [("parse_plugin_config", CONFIG)],
    "hostdev.cni.state": [("StateStore.save", STATE), ("StateStore.load", STATE), ("StateStore.delete", STATE),
                          ("StateStore.find_by_device", STATE)],
    "hostdev.cni.lock": [("DeviceLock.__enter__", LOCK), ("_FileLock.__exit__", LOCK)],
    "hostdev.rdma": [("netdev_rdma", RDMA), ("RdmaHandle.move_device", RDMA), ("move_device_back", RDMA)],
    "hostdev.cni.add": [("resolve", RESOLVE), ("take_snapshot", SNAPSHOT)],
    "hostdev.cni.steps": [("move_link", SNAPSHOT), ("apply_snapshot", SNAPSHOT), ("return_link", SNAPSHOT)],
    "hostdev.cni.result_json": [("format_result", RESULT)],
    "hostdev.cni.log": [("Log._emit", LOG)],
    "hostdev.cni.plugin": [("_emit", RESULT)],
}  # fmt: skip

totals: "dict[str, list[int]]" = {}
missing: "list[str]" = []
stack: "list[str]" = [PROBE]
last = [T0, cpu_ns()]


def _charge() -> None:
    now, cpu = perf_ns(), cpu_ns()
    entry = totals.setdefault(stack[-1], [0, 0, 0])
    entry[0] += now - last[0]
    entry[1] += cpu - last[1]
    last[0], last[1] = now, cpu


def _enter(phase: str) -> None:
    _charge()
    stack.append(phase)
    totals.setdefault(phase, [0, 0, 0])[2] += 1


def _leave() -> None:
    _charge()
    stack.pop()


def timed(phase: str, fn: "Callable[..., Any]") -> "Callable[..., Any]":
    def wrapper(*args: "Any", **kwargs: "Any") -> "Any":
        _enter(phase)
        try:
            return fn(*args, **kwargs)
        finally:
            _leave()

    return wrapper


def timed_request(fn: "Callable[..., Any]") -> "Callable[..., Any]":
    """NetlinkSocket.request: a netns move is the kernel's big cost, kept apart from the rest."""

    def wrapper(self: "Any", msg_type: int, body: bytes, what: "Any", **kwargs: "Any") -> "Any":
        _enter(MOVE if " netns=" in what.name else NETLINK)
        try:
            return fn(self, msg_type, body, what, **kwargs)
        finally:
            _leave()

    return wrapper


def _apply_patches() -> None:
    for module_name in [m for m in PATCHES if m in sys.modules]:
        module = sys.modules[module_name]
        for dotted, phase in PATCHES.pop(module_name):
            owner: "Any" = module
            *path, attr = dotted.split(".")
            try:
                for part in path:
                    owner = getattr(owner, part)
                original = getattr(owner, attr)
            except AttributeError:  # the plugin changed shape: report it rather than fail the run
                missing.append(f"{module_name}.{dotted}")
                continue
            wrapped = timed_request(original) if dotted == "NetlinkSocket.request" else timed(phase, original)
            setattr(owner, attr, wrapped)


original_import = builtins.__import__
import_depth = [0]
import_phase = [IMPORT_ENTRY]


def timed_import(name: str, globals: "Any" = None, locals: "Any" = None, fromlist: "Any" = (), level: int = 0) -> "Any":
    _enter(import_phase[0])
    import_depth[0] += 1
    try:
        return original_import(name, globals, locals, fromlist, level)
    finally:
        import_depth[0] -= 1
        _leave()
        if import_depth[0] == 0 and PATCHES:
            _apply_patches()  # outside the timer: the probe's own cost, charged to PROBE


def main() -> None:
    """Run the plugin the way the launcher does (``cni_main.run``: flush, then ``os._exit``
    without interpreter finalization), with the timers around ``cni_main.main``."""
    out = open(sys.argv[1], "w", encoding="utf-8")  # opened before the clocks matter (charged to PROBE)
    settings = sys.argv[2] or None
    sys.path += sys.argv[3:]  # after the standard library, as the launcher puts them
    builtins.__import__ = timed_import
    import cni_main  # what the launcher imports first

    cni_main.use_code_archive()  # as cni_main.run does first, before the imports below
    from hostdev.cni import plugin

    def probed_main(settings_path: "str | None" = None) -> int:
        import_phase[0] = IMPORT_LAZY
        t_main = perf_ns()
        code: int = timed(PLUGIN, plugin.main)(settings_path=settings_path)
        _charge()
        t_end = perf_ns()
        builtins.__import__ = original_import
        phases = ", ".join(f'"{name}": [{v[0]}, {v[1]}, {v[2]}]' for name, v in totals.items())
        unpatched = ", ".join(f'"{name}"' for name in missing)
        out.write(f'{{"t0_ns": {T0}, "t_main_ns": {t_main}, "t_end_ns": {t_end}, "phases": {{{phases}}}, "unpatched": [{unpatched}]}}\n')
        out.close()
        return code

    cni_main.main = probed_main
    cni_main.run(settings)


if __name__ == "__main__":
    main()
