"""Farm tests start real processes: make sure none outlives its test, even one that fails."""
from __future__ import annotations

import pytest

import farmkit


@pytest.fixture(autouse=True)
def _stop_leftover_processes():
    yield
    while farmkit.LIVE:
        proc = farmkit.LIVE.pop()
        proc.signal(__import__("signal").SIGCONT)  # a stopped process cannot act on SIGTERM
        proc.stop()
