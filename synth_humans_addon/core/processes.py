"""Start a child process in its own process group (the project first on its PYTHONPATH) and
stop the whole group, on every platform the extension declares (Linux, macOS, Windows). No bpy.

POSIX: a new session (``start_new_session``), stopped with SIGTERM to the group, then
SIGKILL. Windows has no process groups in the POSIX sense (no ``os.killpg``): the child
gets ``CREATE_NEW_PROCESS_GROUP``, is asked to stop with CTRL_BREAK_EVENT (Python turns it
into KeyboardInterrupt, so the broker stops its workers), and if it does not stop, the
whole tree is ended with ``taskkill /T /F``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys


def env_with_pythonpath(root: str | os.PathLike) -> dict[str, str]:
    """This process's environment with `root` first on PYTHONPATH: a child `python -m headless …`
    then imports the project from `root` (not from whatever else is installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def group_popen_kwargs(platform: str = sys.platform) -> dict:
    """Keyword arguments of `subprocess.Popen` that give the child its own process group."""
    if platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0, platform: str = sys.platform) -> int:
    """Stop `process` and every process it started; returns its exit code."""
    if process.poll() is not None:
        return process.returncode
    if platform == "win32":
        try:
            process.send_signal(signal.CTRL_BREAK_EVENT)
        except (OSError, ValueError):
            pass
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True)
            return process.wait()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return process.wait()
