"""Rerunning `generate` repairs what `status --verify` finds; Ctrl-C says "interrupted" (exit 130)
and never prints a finished run's summary. Real processes, the stand-in renderer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cli_process import REPO, run_cli

SPEC = REPO / "examples/presets/tiny.toml"


@pytest.mark.slow
def test_rerunning_generate_renders_again_what_verification_finds_missing(tmp_path):
    ds = tmp_path / "ds"
    first = run_cli("headless", "generate", SPEC, "-o", ds, "--renderer", "standin", "--workers", "2", "-q",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    victim = sorted((ds / "bounding_box_train").glob("*.jpg"))[0]
    victim.unlink()
    corrupt = sorted((ds / "masks").glob("*.png"))[-1]
    corrupt.write_bytes(b"not the mask that was stored")
    audit = run_cli("headless", "status", ds, "--verify", cwd=tmp_path)
    assert audit.returncode == 1 and f"{victim.name} missing" in audit.stdout and "checksum mismatch" in audit.stdout
    again = run_cli("headless", "generate", SPEC, "-o", ds, "--renderer", "standin", "--workers", "2", "-q",
                    cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert victim.is_file()
    assert run_cli("headless", "status", "--data", ds, "--verify", cwd=tmp_path).returncode == 0


def test_ctrl_c_during_generate_exits_130_and_says_how_to_resume(tmp_path):
    ds = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "headless", "generate", str(SPEC), "-o", str(ds), "--renderer",
                             "standin", "--standin-sleep", "0.5", "--workers", "1", "-q"], cwd=tmp_path, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not ((ds / "metadata").is_dir() and any((ds / "metadata").glob("*.json"))):
        time.sleep(0.2)  # until the first character is stored
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "interrupted with" in err and "rerun the same command to resume" in err and "Traceback" not in err
    assert "contact sheet:" not in out and "dataset:" not in out
