"""The sandbox ("pause") image, made here: nothing is pulled from a registry.

``FROM scratch`` plus one static binary that waits until it is killed, as the kubelet's pause
container does. Written as an OCI image layout in a tar archive (``oci-layout``, ``index.json``,
``blobs/sha256/...``) that ``ctr images import`` reads; the image's name travels in the index's
``io.containerd.image.name`` annotation.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

IMAGE = "hostdev.test/pause:local"

# PID 1 of the sandbox: it holds the pod's namespaces and exits on SIGTERM/SIGINT (a PID 1 gets
# no default action for them); containerd stops a sandbox with SIGKILL anyway.
PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
int main(void) {
    signal(SIGTERM, quit);
    signal(SIGINT, quit);
    for (;;) pause();
}
"""

_LAYER = "application/vnd.oci.image.layer.v1.tar"
_CONFIG = "application/vnd.oci.image.config.v1+json"
_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def build_pause_binary(work: Path) -> Path:
    source = work / "pause.c"
    source.write_text(PAUSE_C)
    binary = work / "pause"
    subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)], check=True, capture_output=True)
    return binary


def _tar_bytes(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar: fixed owner and mtime, entries in the given order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, 0, 0, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def oci_archive(binary: Path, out: Path, *, name: str = IMAGE) -> Path:
    """``binary`` as ``/pause`` in a one-layer image, written to ``out`` as an OCI archive."""
    layer = _tar_bytes({"pause": (binary.read_bytes(), 0o755)})
    layer_desc = _descriptor(_LAYER, layer)
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }).encode()  # fmt: skip
    config_desc = _descriptor(_CONFIG, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": _MANIFEST, "config": config_desc, "layers": [layer_desc]}).encode()
    manifest_desc = _descriptor(_MANIFEST, manifest)
    manifest_desc["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    index = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}).encode()
    files: dict[str, tuple[bytes, int]] = {"oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644), "index.json": (index, 0o644)}
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = (blob, 0o644)
    out.write_bytes(_tar_bytes(files))
    return out
