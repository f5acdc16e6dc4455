"""Entry point of the ``amd-host-device`` CNI plugin binary (see ``hostdev install``)."""

from __future__ import annotations

import sys
from posix import _exit  # os._exit itself: VERSION answers without importing os (six modules)


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
    code = main(settings_path)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        _exit(code)


if __name__ == "__main__":
    run()
