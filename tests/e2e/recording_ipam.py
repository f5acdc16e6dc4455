#!/usr/bin/python3
"""A stand-in IPAM plugin for the e2e tier: it records every call, then lets a real one work.

Installed by ``tests/e2e/ipam_world.py`` as an executable in a directory of its own (first in
``CNI_PATH``). Its ``ipam`` section names the real plugin to hand ADD, DEL and CHECK to::

    "ipam": {"type": "rec-ipam", "delegate": "host-local", "speaks": "1.0.0", ...host-local keys}

``speaks``: the newest version the real plugin knows. A configuration of a newer version (1.1.0:
Debian's plugins stop at 1.0.0) is handed over as that version and the answer stamped back with
the configuration's, so the real allocator works under a 1.1.0 configuration. GC and STATUS,
which Debian's plugins do not implement, are answered here. Each call appends one JSON line to
``calls.jsonl`` beside this file: command, CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS and the
configuration it got. Files beside it steer it: ``fail-<COMMAND>.json`` is printed as its error
result (exit 1), ``hang-<COMMAND>`` makes it sleep until killed.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_PLUGINS = "/usr/lib/cni"


def main() -> int:
    command = os.environ.get("CNI_COMMAND", "")
    raw = sys.stdin.buffer.read()
    if command == "VERSION":
        print(json.dumps({"cniVersion": "1.1.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]}))
        return 0
    conf = json.loads(raw)
    call = {key: os.environ.get(var) for key, var in (("containerID", "CNI_CONTAINERID"), ("ifname", "CNI_IFNAME"), ("netns", "CNI_NETNS"))}
    with open(os.path.join(HERE, "calls.jsonl"), "a") as log:
        log.write(json.dumps({"command": command, **call, "stdin": conf}) + "\n")
    if os.path.exists(os.path.join(HERE, f"hang-{command}")):
        time.sleep(3600)
    failure = os.path.join(HERE, f"fail-{command}.json")
    if os.path.exists(failure):
        sys.stdout.write(open(failure).read())
        return 1
    if command in ("GC", "STATUS"):
        return 0
    ipam = conf["ipam"]
    asked = conf["cniVersion"]
    speaks = ipam.get("speaks", asked)
    if asked == "1.1.0" and speaks != "1.1.0":
        conf["cniVersion"] = speaks
    real = subprocess.run([os.path.join(REAL_PLUGINS, ipam["delegate"])], input=json.dumps(conf).encode(), capture_output=True)
    out = real.stdout
    if real.returncode == 0 and out.strip():
        answer = json.loads(out)
        answer["cniVersion"] = asked
        out = json.dumps(answer).encode()
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(real.stderr)
    return real.returncode


if __name__ == "__main__":
    sys.exit(main())
