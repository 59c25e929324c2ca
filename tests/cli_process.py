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


# Runs many command lines in one interpreter (each `python -m reid` start imports torch: ~2 s):
# every case calls the program's real `main(argv)` with its own stdout/stderr, working folder
# and fresh logging handlers, exactly as `python -m <program>` would, and reports the exit
# code and stderr (a traceback is printed to that stderr, as it would be).
_BATCH_DRIVER = r"""
import contextlib, importlib, io, json, logging, os, sys, traceback
cases = json.load(sys.stdin)
results = []
for module, argv, cwd in cases:
    os.chdir(cwd)
    err, out = io.StringIO(), io.StringIO()
    logging.getLogger().handlers.clear()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = importlib.import_module(module + ".cli").main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "exception"
    results.append({"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
sys.__stdout__.write(json.dumps(results))
"""


def run_batch(cases: list[tuple[str, list[str], Path]], timeout: float = 600) -> list[dict]:
    """[(program, argv, cwd)] → [{"code", "stderr", "stdout"}], all in one `python` process."""
    import json

    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1"}
    payload = json.dumps([[m, [str(a) for a in argv], str(cwd)] for m, argv, cwd in cases])
    r = subprocess.run([sys.executable, "-c", _BATCH_DRIVER], input=payload, env=environ, text=True,
                       capture_output=True, timeout=timeout, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)
