"""The plugin's own process runs without the cyclic garbage collector (it lives for one call; the
collections found nothing and cost ~2 ms per ADD), and a caller's process keeps its collector:
``main()`` switches it off only when it reads the process's own environment, never for VERSION."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostdev.cni.plugin import main

REPO = Path(__file__).resolve().parents[2]
CONF = json.dumps({"cniVersion": "1.0.0", "name": "net", "type": "amd-host-device"})


@pytest.mark.parametrize("command", ["VERSION", "DEL", "CHECK"])
def test_a_caller_that_passes_the_environment_keeps_its_collector(command: str) -> None:
    assert gc.isenabled()
    out = io.StringIO()
    main({"CNI_COMMAND": command}, io.BytesIO(CONF.encode()), out)
    assert out.getvalue()  # it answered (an error for the incomplete calls)
    assert gc.isenabled()


@pytest.mark.parametrize(("command", "enabled"), [("VERSION", True), ("DEL", False)])
def test_the_plugins_own_process_runs_without_it_except_for_version(command: str, enabled: bool) -> None:
    code = (
        f"import sys, gc; sys.path[:0] = [{str(REPO)!r}]\n"
        "from hostdev.cni.plugin import main\n"
        "main()\n"
        "print(gc.isenabled(), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")} | {"CNI_COMMAND": command}
    done = subprocess.run([sys.executable, "-I", "-c", code], input=CONF, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout  # its answer (DEL without CNI_CONTAINERID: an error, after reading the environment)
    assert done.stderr.strip().splitlines()[-1] == str(enabled), done.stderr
