"""The Generate panel's child process group: started and stopped as a whole (real processes)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from synth_humans_addon.core.processes import group_popen_kwargs, stop_process_group

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")
def test_stop_ends_the_process_and_the_workers_it_started():
    p = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, **group_popen_kwargs())
    child = int(p.stdout.readline())
    assert _alive(child)
    code = stop_process_group(p, timeout=5)
    assert code != 0 and p.poll() is not None
    for _ in range(100):  # the grandchild got SIGTERM too; give it a moment to go
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child)


def test_windows_gets_a_new_process_group_instead_of_a_session(monkeypatch):
    # os.killpg does not exist there; the constant exists only on Windows (its value there: 0x200)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert group_popen_kwargs("win32") == {"creationflags": 0x200}
    assert group_popen_kwargs("linux") == {"start_new_session": True}
