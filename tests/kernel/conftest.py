"""Fixtures for the real-kernel tier: throwaway namespaces, handles inside them.

Every test here is marked ``kernel`` by tests/suite/tiers.py; without root the tier is skipped as
a whole (it cannot create namespaces), never partly, and CI refuses to run without root.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from hostdev.handle import Handle
from hostdev.netns import NetNS
from tests.kernel.nsutil import TestNetns, netns_pool

NetnsFactory = Callable[..., TestNetns]


@pytest.fixture
def netns_factory() -> Iterator[NetnsFactory]:
    """``netns_factory(lo_up=True, no_dad=True)`` makes a fresh ``hdk-<random>`` namespace;
    all of them are deleted when the test ends, whatever its outcome."""
    with netns_pool() as make:
        yield make


@pytest.fixture
def open_handle() -> Iterator[Callable[[TestNetns], Handle]]:
    """``open_handle(ns)``: a :class:`Handle` whose socket lives in ``ns``; closed at teardown
    (an open socket would keep the namespace and its veths alive)."""
    opened: list[tuple[NetNS, Handle]] = []

    def make(ns: TestNetns) -> Handle:
        netns = NetNS.from_path(ns.path)
        try:
            handle = Handle(netns)
        except BaseException:
            netns.close()
            raise
        opened.append((netns, handle))
        return handle

    try:
        yield make
    finally:
        for netns, handle in reversed(opened):
            handle.close()
            netns.close()
