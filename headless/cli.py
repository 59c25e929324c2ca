"""`python -m headless <command>` (console script `synth-humans`): the single entry point.

Commands: validate, generate, broker, worker, status, certs, and preview / experiment / fit,
which dispatch lazily to `headless.preview`, `headless.experiment` and `headless.fit`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _load_spec(path: Path):
    from synth_humans_addon.core.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_validate(a: argparse.Namespace) -> int:
    from synth_humans_addon.core.sampling import expand_dataset, summarize

    spec = _load_spec(a.spec)
    summary = summarize(spec, list(expand_dataset(spec)))
    if a.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{a.spec}: valid. Dataset {spec.dataset.name!r}, seed {spec.dataset.seed}")
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        elif isinstance(value, float):
            value = f"{value:.3g}"
        print(f"  {key.replace('_', ' '):<16} {value}")
    return 0


def _add_broker_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats (default 1)")
    p.add_argument("--liveness", type=int, default=3, help="missed heartbeats before a peer is dead (default 3)")
    p.add_argument("--max-failures", type=int, default=3, help="errors before a job is parked as failed")
    p.add_argument("--max-lost", type=int, default=10, help="leases lost to dead workers before a job is parked")
    p.add_argument("--job-timeout", type=float, default=6 * 3600.0, help="longest one attempt may take (s)")
    p.add_argument("--retry-failed", action="store_true", help="put parked (failed) jobs back in the queue")
    p.add_argument("--chunk-size", type=int, default=256 * 1024, help="upload chunk size in bytes")
    p.add_argument("--window", type=int, default=8, help="upload chunks in flight per worker (flow control)")
    p.add_argument("--store-threads", type=int, default=1, help="threads verifying and storing results (1: more contend for the GIL)")
    p.add_argument("--no-fsync", action="store_true",
                   help="do not fsync stored files (faster; a power cut, not a crash, may lose recent images)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _broker_options(a: argparse.Namespace) -> dict:
    return dict(heartbeat_s=a.heartbeat, liveness=a.liveness, max_failures=a.max_failures, max_lost=a.max_lost,
                job_timeout_s=a.job_timeout, retry_failed=a.retry_failed,
                chunk_size=max(1024, min(a.chunk_size, 1024 * 1024)), window=max(1, a.window),
                store_threads=max(1, a.store_threads), durable=not a.no_fsync)


def _finish_report(out: Path, stats, sheet: bool) -> int:
    from .jobs import JobTable
    from .storage import db_path

    table = JobTable(db_path(out), readonly=True)
    counts = table.counts()
    done, total = table.image_counts()
    table.close()
    print(f"{done}/{total} images ({counts['done']} characters done, {counts['failed']} failed, "
          f"{counts['pending'] + counts['leased']} left) in {stats.wall_s:.1f} s")
    if sheet and done:
        from .generate import save_samples_sheet

        path = save_samples_sheet(out)
        if path:
            print(f"contact sheet: {path.resolve()}")
    print(f"dataset: {out.resolve()}")
    if counts["failed"]:
        print(f"{counts['failed']} characters failed; see `python -m headless status {out}`", file=sys.stderr)
        return 1
    return 0 if counts["pending"] + counts["leased"] == 0 else 3


def cmd_generate(a: argparse.Namespace) -> int:
    from .generate import generate

    spec = _load_spec(a.spec)
    try:
        stats = generate(spec, a.out, workers=a.workers, renderer=a.renderer, standin_sleep_s=a.standin_sleep,
                         progress=not a.no_progress, **_broker_options(a))
    except (RuntimeError, ValueError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    return _finish_report(a.out, stats, sheet=True)


def cmd_broker(a: argparse.Namespace) -> int:
    from .broker import BrokerConfig, run_broker
    from .security import SecurityError

    spec = _load_spec(a.spec) if a.spec else None
    if a.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    if (a.curve_secret is None) != (a.curve_authorized is None):
        print("broker: --curve-secret and --curve-authorized go together", file=sys.stderr)
        return 2
    cfg = BrokerConfig(out=a.out, spec=spec, bind=a.bind, shared=a.shared, curve_secret=a.curve_secret,
                       curve_authorized=a.curve_authorized, insecure=a.insecure, progress=not a.no_progress,
                       exit_when_done=not a.keep_running, **_broker_options(a))

    def ready(endpoint: str) -> None:
        print(f"broker listening on {endpoint}; workers: python -m headless worker --connect {endpoint}",
              file=sys.stderr, flush=True)

    try:
        stats = run_broker(cfg, ready_callback=ready)
    except (SecurityError, ValueError, FileNotFoundError) as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"broker_stats": stats.as_dict()}), file=sys.stderr)
    return _finish_report(a.out, stats, sheet=a.contact_sheet)


def cmd_worker(a: argparse.Namespace) -> int:
    from .worker import config_from_args, run_worker

    logging.getLogger().setLevel(logging.DEBUG if a.verbose else logging.INFO)
    _, gave_up = run_worker(config_from_args(a))
    return 1 if gave_up else 0


def cmd_status(a: argparse.Namespace) -> int:
    from .status import main

    return main(a.dataset, as_json=a.json, verify=a.verify)


def cmd_certs(a: argparse.Namespace) -> int:
    from .security import SecurityError, create_certificates

    try:
        made = create_certificates(a.folder, workers=a.workers, names=a.names or None)
    except SecurityError as exc:
        print(f"certs: {exc}", file=sys.stderr)
        return 2
    print(f"broker secret (keep on the broker): {made['broker_secret']}")
    print(f"broker public (give to workers):   {made['broker_public']}")
    print(f"authorised worker keys:            {a.folder / 'authorized'}")
    for name, path in made.items():
        if not name.startswith("broker"):
            print(f"worker secret for {name}: {path}")
    return 0


def _lazy(module: str):
    def run(a: argparse.Namespace) -> int:
        import importlib

        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                print(f"{module} is not available in this checkout", file=sys.stderr)
                return 2
            raise
        return int(mod.main(a.rest) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m headless", description="synth-humans: generate synthetic person "
                                "re-identification datasets without the Blender UI.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a spec and summarise what it expands to")
    v.add_argument("spec", type=Path)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_validate)

    g = sub.add_parser("generate", help="generate a dataset with a local broker and local workers")
    g.add_argument("spec", type=Path)
    g.add_argument("--out", type=Path, required=True, help="dataset folder (resumed if it exists)")
    g.add_argument("--workers", type=int, default=None, help="local worker processes (default: from the cores)")
    g.add_argument("--renderer", choices=("bpy", "standin"), default="bpy")
    g.add_argument("--standin-sleep", type=float, default=0.0, help="stand-in renderer: seconds per image")
    _add_broker_options(g)
    g.set_defaults(func=cmd_generate)

    b = sub.add_parser("broker", help="run a broker for workers on other machines")
    b.add_argument("spec", type=Path, nargs="?", help="spec of a new run (omit to resume the run in --out)")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--bind", default="tcp://127.0.0.1:5555", help="address to listen on (default loopback only)")
    b.add_argument("--shared", action="store_true", help="workers write into --out over a shared filesystem")
    b.add_argument("--curve-secret", type=Path, help="broker.key_secret from `certs`")
    b.add_argument("--curve-authorized", type=Path, help="folder of authorised worker public keys")
    b.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without CURVE")
    b.add_argument("--keep-running", action="store_true", help="do not exit when the run is finished")
    b.add_argument("--contact-sheet", action="store_true", help="save contact_sheet.png at the end")
    _add_broker_options(b)
    b.set_defaults(func=cmd_broker)

    from .worker import build_parser as worker_parser

    w = sub.add_parser("worker", help="render jobs for a broker")
    worker_parser(w)
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("status", help="jobs by state, workers and their rates, failures")
    s.add_argument("dataset", type=Path)
    s.add_argument("--json", action="store_true")
    s.add_argument("--verify", action="store_true", help="also check every file against its checksum")
    s.set_defaults(func=cmd_status)

    c = sub.add_parser("certs", help="create CurveZMQ certificates for a broker and its workers")
    c.add_argument("folder", type=Path)
    c.add_argument("--workers", type=int, default=1, help="worker key pairs to create")
    c.add_argument("--names", nargs="*", help="worker names instead of worker-1..N")
    c.set_defaults(func=cmd_certs)

    for name, module, text in (("preview", "headless.preview", "render a quick preview (see its --help)"),
                               ("experiment", "headless.experiment", "run an experiment (see its --help)"),
                               ("fit", "headless.fit", "fit a spec to a folder of real crops (see its --help)")):
        x = sub.add_parser(name, help=text, add_help=False)
        x.add_argument("rest", nargs=argparse.REMAINDER)
        x.set_defaults(func=_lazy(module))
    return p


LAZY_COMMANDS = {"preview": "headless.preview", "experiment": "headless.experiment", "fit": "headless.fit"}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LAZY_COMMANDS:
        # Everything after the command belongs to the module (its own --help included);
        # argparse.REMAINDER would swallow options starting with "-" inconsistently.
        return _lazy(LAZY_COMMANDS[argv[0]])(argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
