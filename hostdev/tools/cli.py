"""The ``hostdev`` command: ``install`` (the CNI launcher) and ``show`` (node inventory)."""

from __future__ import annotations

import argparse
import sys

from hostdev.cni.state import DEFAULT_STATE_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hostdev", description="hostdev: hand a pod a whole physical NIC")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="install the amd-host-device CNI launcher into a CNI bin dir")
    inst.add_argument("--bin-dir", default="/opt/cni/bin")
    inst.add_argument("--name", default="amd-host-device")
    inst.add_argument("--force", action="store_true", help="replace a file that is not a hostdev launcher")
    inst.add_argument(
        "--settings", default=None, help="the node settings file the plugin reads (default /etc/cni/amd-host-device.conf)"
    )
    show = sub.add_parser("show", help="inventory of the node's NICs and which attachment holds each")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--sysfs", default="/sys", help=argparse.SUPPRESS)
    show.add_argument("--state-dir", default=None, help="default: the node settings' stateDir")
    show.add_argument("--settings", default=None, help="the node settings file (default /etc/cni/amd-host-device.conf)")
    args = parser.parse_args(argv)
    if args.command == "show":
        import json

        from hostdev.tools.show import collect, format_table

        state_dir = args.state_dir
        if state_dir is None:
            from hostdev.cni.errors import CniError
            from hostdev.cni.node_settings import DEFAULT_SETTINGS_FILE, load_node_settings

            try:
                state_dir = load_node_settings(args.settings or DEFAULT_SETTINGS_FILE).state_dir
            except CniError as exc:
                print(f"hostdev show: {exc}", file=sys.stderr)
                return 1
        data = collect(args.sysfs, state_dir)
        print(json.dumps(data, indent=2) if args.json else format_table(data))
        return 0
    if args.command == "install":
        from hostdev.tools.install import InstallError, install

        try:
            path = install(args.bin_dir, name=args.name, force=args.force, settings=args.settings)
        except (InstallError, OSError) as exc:
            print(f"hostdev install: {exc}", file=sys.stderr)
            return 1
        print(path)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
