"""The code archive ``hostdev install`` writes and the launcher imports hostdev's modules from
(``cni_main.use_code_archive``): the same code as the sources, never a stale or foreign module.

Each case runs a fresh ``python -I -S`` (as the launcher does) over a copy of the package, so the
archive is the only thing that differs from an ordinary import.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a launcher would import, and where each module came from.
PROBE = """
import sys, json
sys.path += [{root!r}]
import cni_main
used = cni_main.use_code_archive({path!r})
import hostdev.cni.plugin, hostdev.cni.add, hostdev.cni.log, hostdev.handle
modules = {{n: m for n, m in sys.modules.items() if n == "hostdev" or n.startswith("hostdev.")}}
print(json.dumps({{"used": used, "loaders": {{n: type(m.__spec__.loader).__name__ for n, m in modules.items()}},
                  "files": {{n: m.__file__ for n, m in modules.items()}}, "edited": getattr(hostdev.cni.log, "EDITED", None)}}))
"""


def probe(root: Path, path: Path | None = None) -> dict[str, object]:
    code = PROBE.format(root=str(root), path=str(path) if path else None)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of cni_main and the package with its archive written, as ``hostdev install`` does."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy2(REPO / "cni_main.py", root / "cni_main.py")
    shutil.copytree(REPO / "hostdev", root / "hostdev", ignore=shutil.ignore_patterns("__pycache__"))
    write = "import sys; sys.path[:0] = [sys.argv[1]]; from hostdev.tools.install import write_code_archive; print(write_code_archive())"
    written = subprocess.run([sys.executable, "-I", "-c", write, str(root)], capture_output=True, text=True, check=True)
    assert Path(written.stdout.strip()) == root / "__pycache__" / f"hostdev.{sys.implementation.cache_tag}.code"
    return root


def archive_of(root: Path) -> Path:
    return root / "__pycache__" / f"hostdev.{sys.implementation.cache_tag}.code"


def test_the_plugins_modules_come_from_the_archive_under_their_source_names(tree: Path) -> None:
    seen = probe(tree)
    loaders, files = seen["loaders"], seen["files"]
    assert isinstance(loaders, dict) and isinstance(files, dict)
    assert seen["used"] is True and len(loaders) > 20
    assert set(loaders.values()) == {"_CodeArchive"}
    for name, file in files.items():
        relative = name.replace(".", "/") + ("/__init__.py" if file.endswith("__init__.py") else ".py")
        assert file == str(tree / relative)


def test_an_edited_module_is_imported_from_its_source_the_others_from_the_archive(tree: Path) -> None:
    log = tree / "hostdev" / "cni" / "log.py"
    log.write_text(log.read_text() + "\nEDITED = True\n")
    seen = probe(tree)
    loaders = seen["loaders"]
    assert isinstance(loaders, dict)
    assert seen["edited"] is True and loaders["hostdev.cni.log"] == "SourceFileLoader"
    assert loaders["hostdev.cni.plugin"] == "_CodeArchive"


def test_a_module_whose_source_is_gone_is_not_served(tree: Path) -> None:
    (tree / "hostdev" / "cni" / "log.py").unlink()
    with pytest.raises(subprocess.CalledProcessError) as failed:
        probe(tree)
    assert "No module named 'hostdev.cni.log'" in failed.value.stderr


@pytest.mark.parametrize("mode", [0o666, 0o664])
def test_an_archive_others_could_write_is_not_used(tree: Path, mode: int) -> None:
    archive_of(tree).chmod(mode)
    seen = probe(tree)
    assert seen["used"] is False and set(seen["loaders"].values()) == {"SourceFileLoader"}  # type: ignore[union-attr]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_an_archive_owned_by_someone_else_is_not_used(tree: Path) -> None:
    os.chown(archive_of(tree), 54321, 54321)
    assert probe(tree)["used"] is False


def test_a_symlinked_archive_is_not_used(tree: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.code"
    archive_of(tree).rename(real)
    archive_of(tree).symlink_to(real)
    assert probe(tree)["used"] is False


def write_archive(path: Path, magic: bytes, modules: dict[str, tuple[bool, str, int, int, bytes]]) -> None:
    """An archive in cni_main's layout, by hand (to hold what install never writes)."""
    header = 8
    index, offset, blobs = {}, header + 4096, b""
    for name, (is_package, origin, mtime_ns, size, code) in modules.items():
        index[name] = (is_package, origin, mtime_ns, size, offset + len(blobs), len(code))
        blobs += code
    head = marshal.dumps((magic, index)).ljust(4096, b"\0")
    path.write_bytes((4096).to_bytes(header, "little") + head + blobs)
    path.chmod(0o644)


def test_names_outside_hostdev_are_never_served(tmp_path: Path) -> None:
    """An archive cannot shadow a standard module (or a package merely named like ours)."""
    source = tmp_path / "planted.py"
    source.write_text("PLANTED = True\n")
    st = source.stat()
    code = marshal.dumps(compile("PLANTED = True\n", str(source), "exec"))
    archive = tmp_path / "foreign.code"
    write_archive(archive, MAGIC_NUMBER, {name: (False, str(source), st.st_mtime_ns, st.st_size, code) for name in ("json", "hostdevil")})
    check = (
        f"import sys; sys.path += [{str(REPO)!r}, {str(tmp_path)!r}]; import cni_main; "
        f"assert cni_main.use_code_archive({str(archive)!r}); import json; "
        "assert not hasattr(json, 'PLANTED') and json.__spec__.loader.__class__.__name__ != '_CodeArchive'; "
        "import importlib.util; assert importlib.util.find_spec('hostdevil') is None; print('ok')"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_an_archive_of_another_python_version_is_not_used(tmp_path: Path) -> None:
    archive = tmp_path / "other.code"
    write_archive(archive, b"\x00\x00\r\n", {})
    check = f"import sys; sys.path += [{str(REPO)!r}]; import cni_main; print(cni_main.use_code_archive({str(archive)!r}))"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
