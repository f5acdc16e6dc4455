"""Python stubs for the CRI v1 API, generated from the ``api.proto`` kept next to this file.

Generated at test setup (once per session, into a temp dir) rather than committed: the
generated modules are tied to the exact protobuf runtime they were made for (they check its
version at import), so generating them with the pinned grpcio-tools keeps stubs and runtime in
step and keeps ~10k lines of generated code out of the repo and its review. It takes ~1 s.

The ``.proto`` is kept byte for byte as upstream ships it (see README.md here). Its only
non-standard part is gogoproto: an import of ``gogo.proto`` and seven file-level options that
steer Go code generation only. They are dropped on the way to protoc (checked: exactly those
eight lines), so nothing else of upstream's text needs to be vendored.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

PROTO = Path(__file__).with_name("api.proto")
_GOGO_LINES = 8


def _without_gogo(text: str) -> str:
    kept = [line for line in text.splitlines(keepends=True) if "gogoproto" not in line]
    dropped = len(text.splitlines()) - len(kept)
    if dropped != _GOGO_LINES:
        raise RuntimeError(f"{PROTO}: expected {_GOGO_LINES} gogoproto lines, found {dropped}: not the proto this code was written for")
    return "".join(kept)


def generate(out: Path) -> tuple[ModuleType, ModuleType]:
    """Generate ``api_pb2`` and ``api_pb2_grpc`` into ``out`` and import them."""
    from grpc_tools import protoc  # only the test setup needs grpcio-tools

    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "api.proto").write_text(_without_gogo(PROTO.read_text()))
    include = Path(protoc.__file__).parent / "_proto"  # protobuf's own well-known types
    code = protoc.main(["protoc", f"-I{src}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", str(src / "api.proto")])
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")
    finally:
        sys.path.remove(str(out))
