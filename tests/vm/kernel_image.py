"""Turn a Debian bzImage (vmlinuz) into the uncompressed ELF vmlinux qemu boots via PVH.

Booting the ELF directly skips the in-guest decompressor, which under TCG costs seconds
per boot. The compressed payload's position and length are read from the x86 boot
protocol header (`payload_offset` at 0x248, `payload_length` at 0x24c, both relative
to the protected-mode code that starts after the setup sectors); the payload ends with
the 4-byte uncompressed size, which is used to check the result.
"""

from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
from pathlib import Path

XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ELF_MAGIC = b"\x7fELF"


class KernelImageError(RuntimeError):
    pass


def compressed_payload(bzimage: bytes) -> bytes:
    if bzimage[0x202:0x206] != b"HdrS":
        raise KernelImageError("not an x86 bzImage (no HdrS boot header)")
    setup_sectors = bzimage[0x1F1] or 4
    offset, length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sectors + 1) * 512 + offset
    payload = bzimage[start : start + length]
    if len(payload) != length or length < 8:
        raise KernelImageError("bzImage payload is truncated")
    return payload


def decompress_payload(payload: bytes, zstd_binary: str | None) -> bytes:
    expected_size = struct.unpack("<I", payload[-4:])[0]
    if payload.startswith(XZ_MAGIC):
        decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        image = decompressor.decompress(payload)
    elif payload.startswith(ZSTD_MAGIC):
        if zstd_binary is None:
            raise KernelImageError("kernel payload is zstd-compressed and no zstd binary is available")
        # The trailing size word is not part of the zstd frame.
        result = subprocess.run([zstd_binary, "-dc"], input=payload[:-4], capture_output=True)
        if result.returncode != 0:
            raise KernelImageError(f"zstd -d failed: {result.stderr.decode(errors='replace')}")
        image = result.stdout
    else:
        raise KernelImageError(f"unknown kernel compression (magic {payload[:6].hex()})")
    if not image.startswith(ELF_MAGIC) or len(image) != expected_size:
        raise KernelImageError(
            f"decompressed kernel is not the expected ELF ({len(image)} bytes, want {expected_size})"
        )
    return image


def extract_vmlinux(vmlinuz: Path, target: Path, zstd_binary: str | None) -> None:
    image = decompress_payload(compressed_payload(vmlinuz.read_bytes()), zstd_binary)
    staging = target.with_name(target.name + ".partial")
    staging.write_bytes(image)
    staging.rename(target)


def find_zstd() -> str | None:
    return shutil.which("zstd")
