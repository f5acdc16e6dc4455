"""Resolve, download and unpack Debian packages through a private apt setup.

The machine's own apt configuration lists only the release it runs; qemu >= 8 (for igb
SR-IOV) lives in `<codename>-backports`. Rather than editing /etc/apt, every apt call here
points at a sources list, package lists and an archive cache inside the VM cache, built
from the same mirrors and keyrings as the system's sources. Nothing is ever installed:
packages are fetched with `apt-get download` and unpacked with `dpkg -x`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

Log = Callable[[str], None]

SYSTEM_SOURCES_DIR = Path("/etc/apt/sources.list.d")
SYSTEM_SOURCES_LIST = Path("/etc/apt/sources.list")


class FetchError(RuntimeError):
    """A package could not be resolved, downloaded or unpacked."""


@dataclass(frozen=True)
class SourceEntry:
    uri: str
    suite: str
    components: tuple[str, ...]
    signed_by: str | None
    kind: str = "deb"  # or "deb-src": source packages (apt-get source)

    def one_line(self) -> str:
        options = f" [signed-by={self.signed_by}]" if self.signed_by else ""
        return f"{self.kind}{options} {self.uri} {self.suite} {' '.join(self.components)}"


@dataclass(frozen=True)
class PackageRef:
    name: str
    version: str

    def deb_glob(self) -> str:
        # apt-get download names files NAME_VERSION_ARCH.deb with ':' escaped as %3a.
        return f"{self.name}_{self.version.replace(':', '%3a')}_*.deb"


def _parse_deb822(text: str) -> list[SourceEntry]:
    entries: list[SourceEntry] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                entries.append(
                    SourceEntry(
                        uri=uri.rstrip("/"),
                        suite=suite,
                        components=tuple(fields.get("components", "main").split()),
                        signed_by=fields.get("signed-by"),
                    )
                )
    return entries


def _parse_one_line(text: str) -> list[SourceEntry]:
    entries: list[SourceEntry] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        signed_by = None
        options = re.search(r"\[([^\]]*)\]", line)
        if options:
            for option in options.group(1).split():
                name, _, value = option.partition("=")
                if name == "signed-by":
                    signed_by = value
            line = line[: options.start()] + line[options.end() :]
        parts = line.split()
        if len(parts) >= 3:
            entries.append(SourceEntry(parts[1].rstrip("/"), parts[2], tuple(parts[3:]), signed_by))
    return entries


def system_sources() -> list[SourceEntry]:
    entries: list[SourceEntry] = []
    if SYSTEM_SOURCES_LIST.is_file():
        entries += _parse_one_line(SYSTEM_SOURCES_LIST.read_text())
    if SYSTEM_SOURCES_DIR.is_dir():
        for path in sorted(SYSTEM_SOURCES_DIR.iterdir()):
            if path.suffix == ".sources":
                entries += _parse_deb822(path.read_text())
            elif path.suffix == ".list":
                entries += _parse_one_line(path.read_text())
    return entries


def os_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise FetchError("cannot tell the Debian codename from /etc/os-release")


def private_sources(codename: str) -> list[SourceEntry]:
    """The system's Debian sources plus `<codename>-backports` on the same mirror."""
    entries = system_sources()
    mains = [e for e in entries if e.suite == codename]
    if not mains:
        raise FetchError(
            f"no apt source for suite {codename!r} in {SYSTEM_SOURCES_DIR} or {SYSTEM_SOURCES_LIST}; "
            "cannot derive a mirror for the VM test tier"
        )
    backports = [
        SourceEntry(e.uri, f"{codename}-backports", e.components, e.signed_by) for e in mains
    ]
    return entries + [b for b in backports if b not in entries]


class PrivateApt:
    """apt-get / apt-cache bound to a state directory of their own.

    ``status`` replaces the machine's dpkg status (what is installed here): ``/dev/null`` when
    the packages are for another system, so that this machine's versions do not count.
    """

    def __init__(self, root: Path, log: Log, status: Path | None = None) -> None:
        self.root = root
        self.log = log
        self.status = status
        self.sources_list = root / "sources.list"
        self.lists = root / "lists"
        self.cache = root / "cache"

    def _options(self) -> list[str]:
        options = [
            "-o", f"Dir::Etc::SourceList={self.sources_list}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={self.lists}",
            "-o", f"Dir::Cache={self.cache}",
            "-o", "APT::Sandbox::User=root",
            "-o", "Debug::NoLocking=true",
        ]  # fmt: skip
        if self.status is not None:
            options += ["-o", f"Dir::State::status={self.status}"]
        return options

    def _run(self, tool: str, args: Sequence[str], cwd: Path | None = None) -> str:
        command = [tool, *self._options(), *args]
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
        )
        if result.returncode != 0:
            raise FetchError(
                f"{' '.join([tool, *args])} failed ({result.returncode}):\n{result.stderr.strip()}"
            )
        return result.stdout

    def update(self, sources: Iterable[SourceEntry]) -> None:
        (self.lists / "partial").mkdir(parents=True, exist_ok=True)
        (self.cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        self.sources_list.write_text("".join(e.one_line() + "\n" for e in sources))
        self.log(f"apt-get update (private lists in {self.lists})")
        self._run("apt-get", ["update"])

    def candidate(self, package: str) -> str:
        out = self._run("apt-cache", ["policy", package])
        match = re.search(r"^\s*Candidate:\s*(\S+)", out, re.MULTILINE)
        if not match or match.group(1) == "(none)":
            raise FetchError(f"no installable candidate for Debian package {package!r}")
        return match.group(1)

    def depends(self, package: str) -> list[str]:
        out = self._run("apt-cache", ["depends", package])
        return re.findall(r"^\s*\|?Depends:\s*(\S+)", out, re.MULTILINE)

    def simulate_install(self, package_spec: str) -> list[PackageRef]:
        """What `apt-get install` would add or upgrade on this machine (nothing is installed)."""
        out = self._run("apt-get", ["install", "-s", "--no-install-recommends", package_spec])
        return [
            PackageRef(m.group(1), m.group(2))
            for m in re.finditer(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)", out, re.MULTILINE)
        ]

    def download(self, refs: Iterable[PackageRef], dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        wanted = list(refs)
        missing = [r for r in wanted if not list(dest.glob(r.deb_glob()))]
        if missing:
            self.log("apt-get download " + " ".join(f"{r.name}={r.version}" for r in missing))
            self._run("apt-get", ["download", *(f"{r.name}={r.version}" for r in missing)], cwd=dest)
        paths = []
        for ref in wanted:
            found = sorted(dest.glob(ref.deb_glob()))
            if not found:
                raise FetchError(f"apt-get download left no file for {ref.name}={ref.version}")
            paths.append(found[0])
        return paths


    def source_version(self, package: str) -> str:
        """The newest version of source package ``package`` in the deb-src lists."""
        versions = re.findall(r"^Version: (\S+)$", self._run("apt-cache", ["showsrc", "--only-source", package]), re.MULTILINE)
        if not versions:
            raise FetchError(f"no source package {package!r} in the deb-src lists")
        return _newest(versions)

    def download_source(self, ref: PackageRef, dest: Path) -> Path:
        """``apt-get source --download-only``: the .dsc and its files, checked against the signed
        lists; returns the .dsc (nothing is unpacked or built)."""
        dsc = dest / f"{ref.name}_{ref.version.split(':')[-1]}.dsc"
        if not dsc.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            self.log(f"apt-get source --download-only {ref.name}={ref.version}")
            self._run("apt-get", ["source", "--download-only", f"{ref.name}={ref.version}"], cwd=dest)
        if not dsc.is_file():
            raise FetchError(f"apt-get source left no {dsc.name}")
        return dsc


def _newest(versions: Sequence[str]) -> str:
    """The newest of Debian versions, compared by dpkg itself (epochs, ~, +debNuM...)."""
    newest = versions[0]
    for version in versions[1:]:
        if subprocess.run(["dpkg", "--compare-versions", version, "gt", newest]).returncode == 0:
            newest = version
    return newest


def unpack(debs: Iterable[Path], target: Path) -> None:
    """`dpkg -x` each package into a fresh directory that appears only when complete."""
    staging = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for deb in debs:
        result = subprocess.run(["dpkg", "-x", str(deb), str(staging)], capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise FetchError(f"dpkg -x {deb} failed: {result.stderr.strip()}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
