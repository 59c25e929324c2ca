"""A farm worker's command line: its options, their checks, and running it.

`python -m headless worker ...` comes here through `headless/cli.py`; Blender's
`blender -b -P headless/worker.py -- ...` through that launcher and `main`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from synth_humans_addon.core.renderer import RENDERERS

from . import protocol as P
from .worker_config import DEFAULT_GIVE_UP_S, DEFAULT_GRACE_S, EXIT_USAGE, WorkerConfig

log = logging.getLogger("headless.worker")

DESCRIPTION = "A farm worker: takes one job (one character) at a time, renders it, uploads it, reports it."


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="headless worker", description=DESCRIPTION)
    p.add_argument("--connect", required=True, help="broker address, e.g. tcp://10.0.0.5:5555")
    p.add_argument("--name", default="", help="worker label in status (default: host-pid)")
    p.add_argument("--renderer", choices=RENDERERS, default="bpy")
    p.add_argument("--standin-sleep", type=float, default=0.0, help="stand-in renderer: seconds per image")
    p.add_argument("--shared-root", type=Path, default=None,
                   help="shared-filesystem mode: the dataset folder as mounted on this machine")
    p.add_argument("--curve-secret", type=Path, help="this worker's *.key_secret (CURVE)")
    p.add_argument("--curve-server", type=Path, help="the broker's public key file broker.key (CURVE)")
    p.add_argument("--give-up", type=float, default=DEFAULT_GIVE_UP_S, metavar="S",
                   help="exit (status 1) after the broker was unreachable this many seconds, even mid-render "
                   f"(default {DEFAULT_GIVE_UP_S:.0f}; inf: keep trying)")
    p.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, metavar="S",
                   help="on SIGTERM/SIGINT: seconds to finish uploads before handing the rest back and exiting "
                   f"with status 143/130 (default {DEFAULT_GRACE_S:.0f})")
    p.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors (no INFO log lines)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def config_from_args(a: argparse.Namespace) -> WorkerConfig:
    """Check the options; raises ValueError naming the bad one (the CLI exits with status 2)."""
    problem = P.endpoint_problem(a.connect, bind=False)
    if problem:
        raise ValueError(f"--connect {a.connect}: {problem}")
    if (a.curve_secret is None) != (a.curve_server is None):
        raise ValueError("--curve-secret and --curve-server go together")
    for option, path in (("--curve-secret", a.curve_secret), ("--curve-server", a.curve_server)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file")
    if not a.give_up > 0:
        raise ValueError(f"--give-up {a.give_up}: must be more than 0 seconds (inf: keep trying)")
    if not 0 <= a.grace < float("inf"):
        raise ValueError(f"--grace {a.grace}: must be 0 seconds or more")
    if a.max_jobs is not None and a.max_jobs < 1:
        raise ValueError(f"--max-jobs {a.max_jobs}: must be at least 1")
    if not a.standin_sleep >= 0:
        raise ValueError(f"--standin-sleep {a.standin_sleep}: must be 0 or more")
    return WorkerConfig(connect=a.connect, name=a.name, renderer=a.renderer, standin_sleep_s=a.standin_sleep,
                        shared_root=a.shared_root, curve_secret=a.curve_secret, curve_server_public=a.curve_server,
                        give_up_s=None if a.give_up == float("inf") else a.give_up, max_jobs=a.max_jobs,
                        grace_s=a.grace)


def run(a: argparse.Namespace) -> int:
    """Run a worker with parsed options; a bad option exits 2 naming it (no traceback)."""
    try:
        cfg = config_from_args(a)
    except ValueError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .worker_render import run_worker  # imported to run: parsing options (every command's) needs no ZeroMQ

    outcome = run_worker(cfg)
    log.info("worker finished after %d jobs (status %d)", outcome.jobs, outcome.exit_code)
    return outcome.exit_code


def log_level(a: argparse.Namespace) -> int:
    """-v: debug; -q: warnings and errors only; otherwise what the worker does (INFO)."""
    return logging.DEBUG if a.verbose else logging.WARNING if a.quiet else logging.INFO


def main(argv: list[str] | None = None) -> int:
    """The script entry: Blender passes the worker's arguments after `--`."""
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=log_level(a),
                        format="%(asctime)s worker %(levelname)s %(message)s")
    return run(a)
