"""`python -m headless <command>` (console script `synth-humans`): the single entry point.

Commands: validate, generate, broker, worker, status, certs, and preview / experiment / fit,
which dispatch lazily to `headless.preview`, `study.cli` and `headless.fit_command`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from synth_humans_addon.core.cli_conventions import (FARM_EXIT_CODES, EXIT_INTERRUPTED, EXIT_UNFINISHED, UserError,
                                                     add_command, add_data, add_quiet, check_output_folder,
                                                     check_rerun, folder_has_files, new_parser, program_name,
                                                     exit_codes_help, quiet_logging, run_cli, take_data)
from synth_humans_addon.core.renderer import RENDERERS

PROG = program_name("headless", "synth-humans")


def _load_spec(path: Path):
    from synth_humans_addon.core.spec_io import load_spec

    return load_spec(path)  # a SpecError is the user's: run_cli prints it after "<prog> <command>: error:"


def cmd_validate(a: argparse.Namespace) -> int:
    from synth_humans_addon.core.sampling import expand_dataset, summarize

    from synth_humans_addon.core.spec_validation import market1501_warnings

    spec = _load_spec(a.spec)
    summary = summarize(spec, list(expand_dataset(spec)))
    warnings = market1501_warnings(spec)
    for field, message in warnings:
        print(f"warning: {field}: {message}", file=sys.stderr)
    if a.json:
        print(json.dumps({**summary, "warnings": [f"{f}: {m}" for f, m in warnings]}, indent=1))
        return 0
    if a.quiet:
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
    p.add_argument("--chunk-size", type=int, default=256 * 1024, help="upload chunk size in bytes (1024..1048576)")
    p.add_argument("--window", type=int, default=8, help="upload chunks in flight per worker (flow control)")
    p.add_argument("--store-threads", type=int, default=1, help="threads verifying and storing results (1: more contend for the GIL)")
    p.add_argument("--no-fsync", action="store_true",
                   help="do not fsync stored files (faster; a power cut, not a crash, may lose recent images)")
    add_quiet(p, dest="no_progress")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _broker_options(a: argparse.Namespace) -> dict:
    return dict(heartbeat_s=a.heartbeat, liveness=a.liveness, max_failures=a.max_failures, max_lost=a.max_lost,
                job_timeout_s=a.job_timeout, retry_failed=a.retry_failed,
                chunk_size=a.chunk_size, window=a.window,
                store_threads=a.store_threads, durable=not a.no_fsync)


EXIT_STORAGE_FAULT = 5  # broker/generate: the disk failed (ENOSPC, EROFS, EIO); fix it and run again


def _storage_fault_exit(command: str, fault) -> int:
    print(f"{command}: {fault.line()}; nothing was lost: fix the disk, then run the same command again to resume",
          file=sys.stderr)
    return EXIT_STORAGE_FAULT


def _finish_report(out: Path, stats, sheet: bool, command: str = "generate") -> int:
    from .jobs import JobTable
    from .farm_layout import db_path

    table = JobTable(db_path(out), readonly=True)
    counts = table.counts()
    done, total = table.image_counts()
    table.close()
    left = counts["pending"] + counts["leased"]
    print(f"{done}/{total} images ({counts['done']} characters done, {counts['failed']} failed, "
          f"{left} left) in {stats.wall_s:.1f} s")
    if getattr(stats, "interrupted", False) or left:  # never a finished run's summary for an unfinished one
        how = "interrupted" if getattr(stats, "interrupted", False) else "stopped before the end"
        print(f"{PROG} {command}: {how} with {left} characters left; rerun the same command to resume "
              f"(finished characters are kept)", file=sys.stderr)
        return EXIT_INTERRUPTED if getattr(stats, "interrupted", False) else EXIT_UNFINISHED
    if sheet and done:
        from .generate import save_samples_sheet

        path = save_samples_sheet(out)
        if path:
            print(f"contact sheet: {path.resolve()}")
    print(f"dataset: {out.resolve()}")
    if counts["failed"]:
        from .status import group_failures, read_status

        print(f"{counts['failed']} characters failed; see `python -m headless status {out}`", file=sys.stderr)
        for reason, jobs in group_failures([f for f in read_status(out).failures if f["state"] == "failed"]):
            print(f"  {len(jobs)} × {reason[:300]}", file=sys.stderr)
        return 1
    return 0


def cmd_generate(a: argparse.Namespace) -> int:
    from .broker import StorageFaultError
    from .generate import generate

    spec = _load_spec(a.spec)
    check_output_folder(a.out)
    try:
        stats = generate(spec, a.out, workers=a.workers, renderer=a.renderer, standin_sleep_s=a.standin_sleep,
                         progress=not a.no_progress, **_broker_options(a))
    except StorageFaultError as exc:
        return _storage_fault_exit("generate", exc.fault)
    except (RuntimeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if stats.storage_fault is not None:
        return _storage_fault_exit("generate", stats.storage_fault)
    return _finish_report(a.out, stats, sheet=True)


def cmd_broker(a: argparse.Namespace) -> int:
    from .broker import BrokerConfig, StorageFaultError, run_broker
    from .security import SecurityError

    spec = _load_spec(a.spec) if a.spec else None
    check_output_folder(a.out)
    if a.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    if (a.curve_secret is None) != (a.curve_authorized is None):
        print("broker: --curve-secret and --curve-authorized go together", file=sys.stderr)
        return 2
    try:
        cfg = BrokerConfig(out=a.out, bind=a.bind, shared=a.shared, curve_secret=a.curve_secret,
                           curve_authorized=a.curve_authorized, insecure=a.insecure, progress=not a.no_progress,
                           exit_when_done=not a.keep_running, **_broker_options(a))
    except ValueError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2

    def ready(endpoint: str) -> None:
        print(f"broker listening on {endpoint}; workers: python -m headless worker --connect {endpoint}",
              file=sys.stderr, flush=True)

    try:
        stats = run_broker(cfg, spec, ready_callback=ready)
    except StorageFaultError as exc:
        return _storage_fault_exit("broker", exc.fault)
    except (SecurityError, ValueError, FileNotFoundError) as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"broker_stats": stats.as_dict()}), file=sys.stderr)
    if stats.storage_fault is not None:
        return _storage_fault_exit("broker", stats.storage_fault)
    return _finish_report(a.out, stats, sheet=a.contact_sheet, command="broker")


def cmd_worker(a: argparse.Namespace) -> int:
    from .worker_cli import log_level, run

    logging.getLogger().setLevel(log_level(a))
    return run(a)


def cmd_status(a: argparse.Namespace) -> int:
    from .status import main

    take_data(a)
    return main(Path(a.data), as_json=a.json, verify=a.verify)


def cmd_certs(a: argparse.Namespace) -> int:
    from .security import SecurityError, create_certificates

    try:
        made = create_certificates(a.folder, workers=a.workers, names=a.names or None)
    except SecurityError as exc:
        raise UserError(str(exc)) from None
    if a.quiet:
        return 0
    print(f"broker secret (keep on the broker): {made['broker_secret']}")
    print(f"broker public (give to workers):   {made['broker_public']}")
    print(f"authorised worker keys:            {a.folder / 'authorized'}")
    for name, path in made.items():
        if not name.startswith("broker"):
            print(f"worker secret for {name}: {path}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from synth_humans_addon.core.dataset import DATASET_FILE

    from synth_humans_addon.core.msmt17 import export_msmt17, toolbox_folder

    take_data(a)
    dataset = Path(a.data)
    if not (dataset / DATASET_FILE).is_file():
        raise UserError(f"--data {dataset}: not a generated dataset (no {DATASET_FILE})")
    check_output_folder(a.out)
    check_rerun(a.out, holds_run=folder_has_files(a.out), overwrite=a.overwrite, can_resume=False)
    target = toolbox_folder(a.out, a.toolbox)
    if a.overwrite and target.exists():
        import shutil

        shutil.rmtree(target)
    r = export_msmt17(dataset, target, strict=a.strict)
    if not a.quiet:
        print(f"{sum(r.images.values())} images of {sum(r.identities.values())} identities, {r.cameras} cameras "
              f"→ {r.output} (MSMT17 layout" + (f"; {r.missing} missing files skipped)" if r.missing else ")"))
        if a.toolbox:
            print(f"{a.toolbox}: use root={a.out.resolve()} and the dataset name 'msmt17'")
    return 0


# Commands that live in their own module, imported only when run, so the others start
# without them: name → (module, help).
LAZY_COMMANDS = {"preview": ("headless.preview", "render a quick preview (see its --help)"),
                 "experiment": ("study.cli", "run an experiment (see its --help)"),
                 "fit": ("headless.fit_command", "fit a spec to a folder of real crops (see its --help)")}


def _lazy(module: str):
    def run(a: argparse.Namespace) -> int:
        import importlib

        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                raise UserError(f"{module} is not available in this checkout") from None
            raise
        return int(mod.main(a.rest) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, "synth-humans: generate synthetic person re-identification datasets without the "
                   "Blender UI.", epilog=exit_codes_help(FARM_EXIT_CODES))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kw) -> argparse.ArgumentParser:
        return add_command(sub, name, help, PROG, **kw)

    v = command("validate", "check a spec (and every file it names) and summarise what it expands to")
    v.add_argument("spec", type=Path, help="dataset spec (TOML)")
    v.add_argument("--json", action="store_true", help="print the summary as JSON")
    v.add_argument("-q", "--quiet", action="store_true", help="print only problems and warnings")
    v.set_defaults(func=cmd_validate)

    g = command("generate", "generate a dataset with a local broker and local workers")
    g.add_argument("spec", type=Path, help="dataset spec (TOML)")
    g.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", type=Path, required=True,
                   help="dataset folder (resumed if it exists; finished characters with missing or corrupt files "
                        "are rendered again)")
    g.add_argument("--workers", type=int, default=None, help="local worker processes (default: from the cores)")
    g.add_argument("--renderer", choices=RENDERERS, default="bpy",
                   help="bpy: Blender; standin: flat procedural images (tests, demos)")
    g.add_argument("--standin-sleep", type=float, default=0.0, help="stand-in renderer: seconds per image")
    _add_broker_options(g)
    g.set_defaults(func=cmd_generate)

    b = command("broker", "run a broker for workers on other machines")
    b.add_argument("spec", type=Path, nargs="?", help="spec of a new run (omit to resume the run in --output)")
    b.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", type=Path, required=True,
                   help="dataset folder")
    b.add_argument("--bind", default="tcp://127.0.0.1:5555", help="address to listen on (default loopback only)")
    b.add_argument("--shared", action="store_true", help="workers write into --out over a shared filesystem")
    b.add_argument("--curve-secret", type=Path, help="broker.key_secret from `certs`")
    b.add_argument("--curve-authorized", type=Path, help="folder of authorised worker public keys")
    b.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without CURVE")
    b.add_argument("--keep-running", action="store_true", help="do not exit when the run is finished")
    b.add_argument("--contact-sheet", action="store_true", help="save contact_sheet.png at the end")
    _add_broker_options(b)
    b.set_defaults(func=cmd_broker)

    from .worker_cli import build_parser as worker_parser

    w = command("worker", "render jobs for a broker")
    worker_parser(w)
    w.set_defaults(func=cmd_worker)

    s = command("status", "jobs by state, workers and their rates, failures")
    add_data(s, "dataset folder")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.add_argument("--verify", action="store_true", help="also check every file against its checksum")
    s.add_argument("-q", "--quiet", action="store_true", help="no effect (status prints only the status)")
    s.set_defaults(func=cmd_status)

    c = command("certs", "create CurveZMQ certificates for a broker and its workers")
    c.add_argument("folder", type=Path, help="folder for the certificates")
    # --key-pairs: the family's --workers means processes; here it counts keys (--workers stays, hidden)
    c.add_argument("--key-pairs", dest="workers", type=int, default=1, metavar="N",
                   help="worker key pairs to create, one per remote worker")
    c.add_argument("--workers", dest="workers", type=int, help=argparse.SUPPRESS)
    c.add_argument("--names", nargs="*", help="worker names instead of worker-1..N")
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    c.set_defaults(func=cmd_certs)

    e = command("export", "copy a generated dataset into a layout other toolboxes read at any size")
    add_data(e, "generated dataset folder")
    e.add_argument("--layout", choices=("msmt17",), default="msmt17",
                   help="msmt17: torchreid's and fast-reid's MSMT17 readers take any number of identities and "
                   "cameras (docs/cli.md)")
    e.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", type=Path, required=True,
                   help="new folder for the copy (images hard-linked where possible); with --for, the root to give "
                        "that toolbox")
    e.add_argument("--for", dest="toolbox", choices=("torchreid", "fast-reid"), default=None,
                   help="write the copy where that toolbox looks under --output: torchreid "
                        "<root>/msmt17/MSMT17_V1, fast-reid <root>/MSMT17_V1 (default: straight into --output)")
    e.add_argument("--strict", action="store_true", help="refuse a dataset with missing files (default: skip them)")
    e.add_argument("--overwrite", action="store_true", help="replace what --output holds")
    e.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    e.set_defaults(func=cmd_export)

    for name, (module, text) in LAZY_COMMANDS.items():
        x = sub.add_parser(name, help=text, add_help=False)
        x.add_argument("rest", nargs=argparse.REMAINDER)
        x.set_defaults(func=_lazy(module))
    return p


def _parse(argv: list[str]) -> argparse.Namespace:
    if argv and argv[0] in LAZY_COMMANDS:
        # Everything after the command belongs to the module (its own --help included);
        # argparse.REMAINDER would swallow options starting with "-" inconsistently.
        return argparse.Namespace(command=argv[0], rest=argv[1:], func=_lazy(LAZY_COMMANDS[argv[0]][0]))
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from synth_humans_addon.core.dataset import DatasetFormatError
    from synth_humans_addon.core.spec import SpecError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def run(a: argparse.Namespace) -> int:
        quiet_logging(bool(getattr(a, "quiet", False) or getattr(a, "no_progress", False)))
        return a.func(a)

    return run_cli(PROG, _parse, run, argv, user_errors=(SpecError, DatasetFormatError),
                   print_help=lambda: build_parser().print_help(sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
