"""`python -m headless experiment EXPERIMENT.toml --output DIR [--dry-run]`: the study as one command.

Generates the datasets (presets I–IV by default) through the farm, trains one refiner per
dataset toward the real domain and refines each dataset, trains a re-id model per dataset
(and on the real training set), finetunes the artificial ones on real data, evaluates every
model on the real test set and on its own test split, and writes a report folder.

Every stage is cached by content (see `study.cache`): rerunning the command
skips finished stages and resumes an interrupted one. `--dry-run` prints the plan (with
each stage's cache state when DIR exists) and an estimate of images, hours on this machine
(what remains of them, on a resumed study) and disk.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synth_humans_addon.core.cli_conventions import add_quiet, check_output_folder, new_parser, program_name, run_cli
from synth_humans_addon.core.renderer import RENDERERS

from study.config import ExperimentConfig, ExperimentError, load_experiment
from study.estimate import device_kind, estimate_plan, format_estimate
from study.plan import Plan, build_plan, format_plan


PROG = f"{program_name('headless', 'synth-humans')} experiment"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, __doc__.split("\n\n")[0])
    p.add_argument("experiment", type=Path, help="experiment file (TOML), e.g. examples/experiments/study.toml")
    p.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", type=Path, required=True,
                   help="output folder (stages/ and report/ go there)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimate, run nothing")
    p.add_argument("--workers", type=int, help="render workers (overrides [experiment] workers)")
    p.add_argument("--renderer", choices=RENDERERS, help="overrides [experiment] renderer")
    p.add_argument("--device", help="torch device for refiners and re-id: auto, cpu, cuda, cuda:N")
    p.add_argument("--real", type=Path,
                   help="real dataset folder (overrides [real] path); a folder written by `python -m reid "
                        "split-folder` (train/, test/, split.json) gives the training side and the test set")
    p.add_argument("--only", nargs="+", metavar="GLOB",
                   help="run only the stages whose id matches (e.g. 'reid-train/*' 'evaluate/IV@*') and the "
                        "stages they need; the cache is shared with the full plan")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failed stage, still run the stages that do not need it")
    add_quiet(p)
    return p


def apply_cli_overrides(cfg: ExperimentConfig, args: argparse.Namespace) -> ExperimentConfig:
    if args.workers:
        cfg.workers = args.workers
    if args.renderer:
        cfg.renderer = args.renderer
    if args.device:
        cfg.device = args.device
    if args.real:
        real = args.real.expanduser().resolve()
        cfg.real.path = str(real)
        cfg.real.standin = None
        if (real / "split.json").is_file() and (real / "train").is_dir() and (real / "test").is_dir():
            cfg.real.path, cfg.real.test_path, cfg.real.layout = str(real / "train"), str(real / "test"), "folder"
        if cfg.real.name == "real" or not cfg.real.name:
            cfg.real.name = real.name
    return cfg


def dry_run(plan: Plan, out: Path) -> str:
    from study.cache import StageCache
    from study.runner import real_fingerprint, stage_folders, stage_states

    status = None
    if out.is_dir():
        try:
            status = stage_states(stage_folders(plan, StageCache(out), real_fingerprint(plan)))
        except FileNotFoundError:
            status = None
    return describe_plan(plan, status)


def describe_plan(plan: Plan, status: dict[str, str] | None = None) -> str:
    """The plan, then its estimate on this machine (the remaining time too when `status` is known)."""
    est = estimate_plan(plan, device_kind(plan.config.device))
    return format_plan(plan, status) + "\n\n" + format_estimate(plan, est, status)


def main(argv: list[str] | None = None, backend=None) -> int:
    from synth_humans_addon.core.spec import SpecError

    return run_cli(PROG, build_parser().parse_args, lambda a: run(a, backend), argv,
                   user_errors=(ExperimentError, SpecError))


def run(args: argparse.Namespace, backend=None) -> int:
    from synth_humans_addon.core.cli_conventions import UserError, device_name_problem

    if args.device and device_name_problem(args.device):
        raise UserError(f"--device {args.device}: {device_name_problem(args.device)}")
    cfg = apply_cli_overrides(load_experiment(args.experiment), args)  # an ExperimentError: one line per problem
    if cfg.real.path and not Path(cfg.real.path).exists():
        print(f"[real] path {cfg.real.path} does not exist; see docs/experiment.md for CUHK03 / Market-1501, "
              "or leave it empty to run the synthetic-only questions", file=sys.stderr)
        return 2
    plan = build_plan(cfg)
    check_output_folder(args.out)
    if args.only:
        from study.plan import select_stages

        try:
            plan = select_stages(plan, args.only)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.dry_run:
        print(dry_run(plan, args.out))
        return 0

    from study.report import write_report
    from study.runner import StageFailed, run_plan
    from study.stages import PackageBackend

    print(describe_plan(plan))
    print()
    for s in plan.skipped:
        print(f"SKIPPED {s.what}: {s.why}")
    args.out.mkdir(parents=True, exist_ok=True)
    backend = backend or PackageBackend(quiet=args.quiet)
    try:
        outcomes = run_plan(plan, args.out, backend, keep_going=args.keep_going)
    except StageFailed as exc:
        print(f"error: {exc}; fix it and rerun: finished stages are kept", file=sys.stderr)
        return 1
    readme = write_report(plan, outcomes, args.out, args.experiment)
    failed = [o.stage.id for o in outcomes if o.state in ("failed", "blocked")]
    print(f"report: {readme}")
    if failed:
        print(f"{len(failed)} stage(s) failed or blocked: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
