"""Run one command in a VM guest by hand.

    python -m tests.vm.run [--kernel 6.1|6.12] [--sriov] [--module-option ib_core=netns_mode=0] -- CMD...

The guest sees this machine's `/` read-only (writes go to a throw-away overlay) and starts
in the current directory; the command's output streams to this terminal and its exit
status becomes this command's. 124 means the guest timed out, 125 that it never reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tests.vm.prepare import KERNELS, PrepareError
from tests.vm.runner import DEFAULT_NICS, DEFAULT_TIMEOUT_S, NIC_MODELS, run_in_guest

EXIT_TIMEOUT = 124
EXIT_NO_STATUS = 125


def _module_options(values: Sequence[str]) -> dict[str, str]:
    options: dict[str, list[str]] = {}
    for value in values:
        module, separator, option = value.partition("=")
        if not separator or "=" not in option:
            raise SystemExit(f"--module-option wants MODULE=PARAM=VALUE, not {value!r}")
        options.setdefault(module, []).append(option)
    return {module: " ".join(opts) for module, opts in options.items()}


def _echo(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.vm.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kernel", choices=sorted(KERNELS), default="6.1")
    parser.add_argument("--sriov", action="store_true", help="add an igb PF with SR-IOV (q35 machine)")
    parser.add_argument(
        "--nic", action="append", choices=sorted(NIC_MODELS), help=f"NIC model, repeatable (default: {' '.join(DEFAULT_NICS)})"
    )
    parser.add_argument("--module-option", action="append", default=[], metavar="MODULE=PARAM=VALUE")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    try:
        result = run_in_guest(
            command,
            kernel=args.kernel,
            nics=args.nic,
            sriov=args.sriov,
            timeout_s=args.timeout,
            module_options=_module_options(args.module_option),
            echo=_echo,
        )
    except PrepareError as error:
        print(f"hostdev-vm: {error}", file=sys.stderr)
        return EXIT_NO_STATUS
    print(
        f"hostdev-vm: {result.kernel_release or 'guest'} finished in {result.boot_seconds:.1f}s, "
        f"exit {result.exit_code}",
        file=sys.stderr,
    )
    if result.exit_code is None:
        print(result.describe_failure(), file=sys.stderr)
        return EXIT_TIMEOUT if result.timed_out else EXIT_NO_STATUS
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
