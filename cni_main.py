"""Entry point of the ``amd-host-device`` CNI plugin binary (see ``hostdev install``)."""

from __future__ import annotations

import sys


def main() -> int:
    from hostdev.cni.plugin import main as plugin_main

    return plugin_main()


if __name__ == "__main__":
    sys.exit(main())
