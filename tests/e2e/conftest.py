from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.harness import Node, install_plugin


@pytest.fixture(scope="session")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The launcher as `hostdev install` writes it; HOSTDEV_PLUGIN tests another build (a bundle;
    a developer's run only: CI=true refuses it, see tests/suite/tiers.py)."""
    other = os.environ.get("HOSTDEV_PLUGIN")
    if other:
        return Path(other)
    return install_plugin(tmp_path_factory.mktemp("cni-bin"))


@pytest.fixture
def node(plugin: Path) -> Iterator[Node]:
    n = Node(plugin)
    try:
        yield n
    finally:
        n.cleanup()
