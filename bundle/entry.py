"""Main script of the node bundle: the CNI plugin, or the node installer when given a command.

A runtime executes a CNI plugin without arguments (everything comes through the environment and
stdin), so any argument selects the installer (``amd-host-device install ...``, ``... wait``):
the DaemonSet's image is ``FROM scratch`` and has nothing else to run it with.
"""

from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) > 1:
        from deploy.node_install import main as node_install_main

        return node_install_main(sys.argv[1:])
    from cni_main import run as plugin_run

    plugin_run()  # never returns: flushes and leaves without finalization
    return 0


if __name__ == "__main__":
    sys.exit(main())
