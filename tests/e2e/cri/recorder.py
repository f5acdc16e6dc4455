"""A chained CNI plugin for the tests that writes down what the runtime passed to the list.

libcni hands every plugin of a list the same ``CNI_*`` environment, so what this plugin sees
(``CNI_ARGS`` with the pod's ``K8S_POD_*`` metadata, ``CNI_IFNAME``, ``CNI_NETNS``) is what
``amd-host-device`` saw in the same call. It appends one JSON line per call to the file named
by ``recordTo`` in its config and passes ``prevResult`` through unchanged.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import PYTHON

NAME = "cni-args-recorder"

_SOURCE = """\
import json, os, sys
conf = json.load(sys.stdin)
command = os.environ.get("CNI_COMMAND", "")
if command == "VERSION":
    print(json.dumps({"cniVersion": conf.get("cniVersion", "1.0.0"), "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}))
    sys.exit(0)
seen = {key: os.environ.get(key, "") for key in ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_ARGS")}
with open(conf["recordTo"], "a") as out:
    out.write(json.dumps(seen) + "\\n")
if command == "ADD":
    print(json.dumps(dict(conf["prevResult"], cniVersion=conf["cniVersion"])))
"""


def install(bin_dir: Path) -> Path:
    path = bin_dir / NAME
    path.write_text(f"#!{PYTHON} -I\n{_SOURCE}")
    path.chmod(0o755)
    return path


def cni_args(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(";") if pair)
