"""``hostdev install`` writes a launcher only over code nobody but root can change (issue 16, item 7).

The launcher runs as root on every pod event. If its interpreter, or any directory it puts on
``sys.path``, can be written by another user, that user's code runs as root: so ``hostdev
install`` refuses, naming the path. And the launcher appends its directories after the standard
library's, so a module there named like a standard one (``_json``, ``os``) can never shadow it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import PYTHON, REPO


def _code_copy(where: Path) -> Path:
    """The plugin's code (hostdev, cni_main) copied to ``where``, as a dev or package install
    would put it somewhere."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "hostdev", where / "hostdev", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "cni_main.py", where / "cni_main.py")
    return where


def _install_from(code: Path, bin_dir: Path, interpreter: str | None = None) -> subprocess.CompletedProcess[str]:
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(code)!r})\n"
        "from hostdev.tools.install import InstallError, install, launcher_text\n"
        "try:\n"
        f"    install({str(bin_dir)!r}) if {interpreter!r} is None else launcher_text({interpreter!r})\n"
        "except InstallError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    return subprocess.run([str(PYTHON), "-I", "-c", script], capture_output=True, text=True, cwd="/")


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "foreign-owner", "writable-parent"])
def test_a_launcher_over_code_others_can_write_is_refused(tmp_path: Path, how: str) -> None:
    base = tmp_path / "base"
    base.mkdir(mode=0o755)
    code = _code_copy(base / "code")
    weak = base if how == "writable-parent" else code
    if how == "foreign-owner":
        os.chown(weak, 4242, 4242)
    else:
        weak.chmod(0o757 if how != "group-writable" else 0o775)
        if how == "group-writable":
            os.chown(weak, 0, 4242)
    bin_dir = tmp_path / "bin"
    done = _install_from(code, bin_dir)
    assert done.returncode == 3, done.stdout + done.stderr
    assert str(weak) in done.stdout, done.stdout
    assert not (bin_dir / "amd-host-device").exists()


def test_an_interpreter_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared-bin"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    fake = shared / "python3"
    fake.write_text("")
    fake.chmod(0o755)
    code = _code_copy(tmp_path / "code")
    done = _install_from(code, tmp_path / "bin", interpreter=str(fake))
    assert done.returncode == 3 and str(shared) in done.stdout, done.stdout + done.stderr


def test_a_sticky_world_writable_ancestor_like_tmp_is_fine(tmp_path: Path) -> None:
    """/tmp is 1777: nobody but root can replace a root-owned directory in it."""
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    code = _code_copy(sticky / "code")
    code.chmod(0o755)
    done = _install_from(code, tmp_path / "bin")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "bin" / "amd-host-device").exists()


def test_the_launchers_directories_come_after_the_standard_library(tmp_path: Path) -> None:
    code = _code_copy(tmp_path / "code")
    shadow = tmp_path / "shadowed"
    (code / "_json.py").write_text(f"open({str(shadow)!r}, 'w').close()\nraise ImportError('a shadow of _json')\n")
    bin_dir = tmp_path / "bin"
    done = _install_from(code, bin_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    run = subprocess.run(
        [str(bin_dir / "amd-host-device")], input=b'{"cniVersion":"1.0.0"}', env={"CNI_COMMAND": "ADD"},
        capture_output=True, cwd="/",
    )  # fmt: skip
    assert not shadow.exists(), "the code directory's _json.py shadowed the standard library's"
    assert b'"code"' in run.stdout  # an ordinary CNI error (no environment): the plugin ran


def test_code_reached_through_a_symlink_others_can_replace_is_refused(tmp_path: Path) -> None:
    code = _code_copy(tmp_path / "code")
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # anyone may replace the link below
    (open_dir / "plugin").symlink_to(code)
    done = _install_from(open_dir / "plugin", tmp_path / "bin")
    assert done.returncode == 3 and str(open_dir) in done.stdout, done.stdout + done.stderr
