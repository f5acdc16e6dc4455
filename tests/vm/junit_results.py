"""Read a pytest junit XML file back into per-node-id outcomes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CaseResult:
    outcome: str  # "passed", "failed" or "skipped"
    message: str  # one line: the failure's or skip's message, empty when passed
    text: str  # details (traceback), empty when passed
    stdout: str
    stderr: str
    seconds: float


def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) pytest's junitxml writes for `nodeid` (no junit_prefix)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


_BANNER = re.compile(r"^-+ Captured (Log|Out|Err) -+$")


def _captured(text: str | None) -> str:
    """junit_logging output without pytest's section banners; empty if nothing was captured."""
    lines = [line for line in (text or "").splitlines() if not _BANNER.match(line)]
    return "\n".join(lines).strip()


def parse(path: Path) -> dict[tuple[str, str], CaseResult]:
    results: dict[tuple[str, str], CaseResult] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error")]
        skipped = [c for c in case if c.tag == "skipped"]
        if problems:
            outcome = "failed"
            message = problems[0].get("message", "")
            text = "\n\n".join(f"[{c.tag}] {(c.text or '').strip() or c.get('message', '')}" for c in problems)
        elif skipped:
            outcome = "skipped"
            message, text = skipped[0].get("message", ""), (skipped[0].text or "").strip()
        else:
            outcome, message, text = "passed", "", ""
        results[(case.get("classname", ""), case.get("name", ""))] = CaseResult(
            outcome=outcome,
            message=message.splitlines()[0] if message else "",
            text=text,
            stdout=_captured(case.findtext("system-out")),
            stderr=_captured(case.findtext("system-err")),
            seconds=float(case.get("time", "0") or 0),
        )
    return results
