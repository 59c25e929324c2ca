"""Running the command lines as real processes, the way a user does (`python -m reid ...`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_cli(module: str, *args, cwd: Path, env: dict | None = None, timeout: float = 600
            ) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=environ, text=True,
                          capture_output=True, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """Exit code `code`, no traceback, and exactly one error line (the last) naming every needle."""
    err = result.stderr
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]
