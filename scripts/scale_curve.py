"""The scale curve: what generated people are worth on a real camera as their number grows.

    python scripts/scale_curve.py examples/experiments/scale_cpu.toml --output out/scale \
        --real ~/data/cuhk03-dev            # a `reid split-folder` output: train/ and test/

One plan file (TOML) names the generated dataset (a preset plus overrides, generated once at
its largest size), the training recipe shared by every run, and the runs: generated-only at
several identity counts (nested subsets of one dataset, `--max-identities`), real-only at
several identity counts of the real training side, and finetunes of a generated model on the
real side. Every run is scored on the real test split by `reid evaluate`'s protocol driver,
with the colour histogram and chance beside it.

Everything resumes: generation continues from the farm's job table, a training run from its
`last.pt`, and a finished run (its ``results.json`` written) is never redone, so the same
command picks up after any interruption, and runs appended to the plan later are simply
run next. Rows, plots and a CSV are rewritten after every run (``OUT/curve.csv``,
``OUT/curve.png``).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth_humans_addon.core.cli_conventions import UserError  # noqa: E402  (after the path above)

log = logging.getLogger("scale")


@dataclass
class Run:
    name: str
    kind: str  # generated | real | finetune
    identities: int = 0  # 0 = all
    images: int = 0  # per identity, 0 = all
    seed: int = 2018
    source: str = ""  # finetune: the run whose best.pt starts it, or a checkpoint (.pt, relative to --output)
    data: str = ""  # generated: another dataset than [generate]'s, e.g. a refined copy (relative to --output)
    options: dict[str, Any] = field(default_factory=dict)  # per-run TrainOptions fields


@dataclass
class Plan:
    generate: dict[str, Any]
    train: dict[str, Any]
    finetune: dict[str, Any]
    evaluate: dict[str, Any]
    runs: list[Run]


def load_plan(path: Path) -> Plan:
    data = tomllib.loads(path.read_text())
    known = {"generate", "train", "finetune", "evaluate", "runs"}
    unknown = set(data) - known
    if unknown:
        raise UserError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    fields = set(Run.__dataclass_fields__)
    for i, r in enumerate(data.get("runs", [])):
        unknown_keys = set(r) - fields
        if unknown_keys or "name" not in r or "kind" not in r:
            what = f"unknown key(s) {', '.join(sorted(unknown_keys))}" if unknown_keys else "needs name and kind"
            raise UserError(f"{path}: runs[{i}] ({r.get('name', '?')}): {what}")
    runs = [Run(**r) for r in data.get("runs", [])]
    from reid.options import TrainOptions  # a typo in a training option is the plan's mistake, named here

    options = set(TrainOptions.__dataclass_fields__)
    for where, table in [("[train]", data.get("train", {})), ("[finetune]", data.get("finetune", {})),
                         *((f"run {r.name}: options", r.options) for r in runs)]:
        bad = set(table) - options
        if bad:
            raise UserError(f"{path}: {where}: unknown training option(s) {', '.join(sorted(bad))}")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise UserError(f"{path}: a run name is used twice")
    for r in runs:
        if r.kind not in ("generated", "real", "finetune"):
            raise UserError(f"{path}: run {r.name}: kind must be generated, real or finetune")
        if r.kind == "finetune" and r.source not in names[:names.index(r.name)] and not r.source.endswith(".pt"):
            raise UserError(f"{path}: run {r.name}: source {r.source!r} is neither an earlier run nor a checkpoint")
    return Plan(data["generate"], data.get("train", {}), data.get("finetune", {}), data.get("evaluate", {}), runs)


class GenerationStopped(Exception):
    """`headless generate` ended before the dataset was complete (its exit code in `rc`)."""

    def __init__(self, rc: int):
        super().__init__(f"generation stopped with exit {rc}: rerun the same command to resume")
        self.rc = rc


def generate(plan: Plan, out: Path) -> Path:
    """The generated dataset at its largest size (the farm resumes a partial one), or an
    existing one (``[generate] dataset = "PATH"``)."""
    if plan.generate.get("dataset"):
        return Path(plan.generate["dataset"]).expanduser()
    from study.config import merge_spec_overrides
    from synth_humans_addon.core.presets import preset
    from synth_humans_addon.core.spec_io import dumps_toml, spec_from_dict, spec_to_dict

    g = plan.generate
    spec = merge_spec_overrides(spec_to_dict(preset(g["preset"])), g.get("overrides", {}))
    spec_from_dict(spec)  # refuse a bad override before rendering anything
    folder = out / "generated"
    spec_file = out / "generated.spec.toml"
    spec_file.write_text(dumps_toml(spec))
    cmd = [sys.executable, "-m", "headless", "generate", str(spec_file), "--output", str(folder), "--workers",
           str(g.get("workers", 2)), "-q"]
    log.info("generating: %s", " ".join(cmd))
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    if rc != 0:
        raise GenerationStopped(rc)
    return folder


def training_table(run: Run, plan: Plan) -> dict[str, Any]:
    """The run's training options as the plan gives them: [finetune] or [train], then its own."""
    return {**(plan.finetune if run.kind == "finetune" else plan.train), **run.options}


def run_options(run: Run, plan: Plan, out: Path, generated: Path, real: Path):
    """The run's `TrainOptions`: the plan's [train] (or [finetune]) table, the run's own options,
    its data and seed, and resume when a `last.pt` is there."""
    from reid.options import TrainOptions

    folder = out / "runs" / run.name
    base = training_table(run, plan)
    if run.kind == "generated":
        data = dict(data=str(out / Path(run.data).expanduser() if run.data else generated), layout="generated")
    else:
        data = dict(data=str(real / "train"), layout="folder", folder_role="train")
    opt = TrainOptions(**{**base, **data, "output": str(folder), "seed": run.seed, "max_identities": run.identities,
                          "max_images_per_identity": run.images, "resume": (folder / "last.pt").is_file(),
                          "progress": False})
    if run.kind == "finetune":
        opt.finetune_from = (str(out / Path(run.source).expanduser()) if run.source.endswith(".pt")
                             else str(out / "runs" / run.source / "best.pt"))
    return opt


def train_run(run: Run, plan: Plan, out: Path, generated: Path, real: Path) -> Path:
    from reid.engine import finetune, train

    opt = run_options(run, plan, out, generated, real)
    result = finetune(opt) if run.kind == "finetune" else train(opt)
    return Path(result.best_checkpoint)


def schedule(run: Run, plan: Plan) -> str:
    """How long a run trains, as the plot and the tables name it: a fixed number of epochs, or
    until the validation score stops improving (at most `epochs`)."""
    from reid.options import TrainOptions

    fields = TrainOptions.__dataclass_fields__
    opts = training_table(run, plan)
    epochs = opts.get("epochs", fields["epochs"].default)
    return f"to a plateau (≤ {epochs} epochs)" if opts.get("patience", fields["patience"].default) else f"{epochs} epochs"


@dataclass
class RunEstimate:
    """What a run will cost on this machine, before it starts."""

    name: str
    state: str  # "done", "resumes after epoch N" or "to run"
    images: int  # training images per epoch
    identities: int
    epochs_left: int  # at most (a plateau run may stop sooner)
    minutes: float  # at most, from the study's cost model (study/costs.py) for this machine


def seconds_per_image(threads: int) -> float:
    """Seconds per training image per epoch (validation included) on this machine, from the
    study's measured cost model: the GPU's rate where torch sees one, else the CPU's rate,
    measured on `CPU_RATE_CORES` cores, scaled to the cores the run's threads use."""
    from study.costs import CPU_RATE_CORES, CostModel

    cost = CostModel()
    try:
        import torch

        if torch.cuda.is_available():
            return cost.reid_s_per_image_gpu
    except ImportError:
        pass
    cores = os.cpu_count() or 1
    used = min(threads, cores) if threads > 0 else cores
    return cost.reid_s_per_image_cpu * CPU_RATE_CORES / used


def estimate_run(run: Run, plan: Plan, out: Path, generated: Path, real: Path) -> RunEstimate:
    """The run's training images and its most minutes, counted from the dataset on disk exactly
    as the trainer will select them (the same loader, identity subset and validation split)."""
    from dataclasses import replace

    from reid.data import load_dataset

    opt = run_options(run, plan, out, generated, real)
    if (eval_folder(out, run.name) / "results.json").is_file():
        return RunEstimate(run.name, "done", 0, 0, 0, 0.0)
    data = load_dataset(opt.data, replace(opt.load_options(), check_images=False))
    done = 0
    hist = out / "runs" / run.name / "history.json"
    if opt.resume and hist.is_file():
        done = len(json.loads(hist.read_text()))
    left = max(0, opt.epochs - done)
    state = f"resumes after epoch {done}" if done else "to run"
    images = len(data.train)
    minutes = images * left * seconds_per_image(opt.threads) / 60
    return RunEstimate(run.name, state, images, len({it.pid for it in data.train}), left, minutes)


def format_estimates(estimates: list[RunEstimate]) -> str:
    lines = [f"{'run':<28} {'state':<24} {'identities':>10} {'images':>7} {'epochs':>6} {'minutes':>8}"]
    for e in estimates:
        if e.state == "done":
            lines.append(f"{e.name:<28} {'done':<24}")
        else:
            lines.append(f"{e.name:<28} {e.state:<24} {e.identities:>10} {e.images:>7} {e.epochs_left:>6} "
                         f"{e.minutes:>8.0f}")
    left = sum(e.minutes for e in estimates)
    lines.append(f"at most {left:.0f} min of training left on this machine, one run at a time "
                 f"(plateau runs may stop sooner; evaluation adds about a minute per run)")
    return "\n".join(lines)


def eval_folder(out: Path, name: str) -> Path:
    """Where a run's evaluation lies: `results.json` there means the run is finished."""
    return out / "eval" / name


def evaluate_run(name: str, checkpoint: Path | None, plan: Plan, out: Path, real: Path) -> dict[str, Any]:
    from reid.evaluate import evaluate
    from reid.options import EvalOptions

    e = plan.evaluate
    folder = eval_folder(out, name)
    opt = EvalOptions(checkpoints=[str(checkpoint)] if checkpoint else [], names=[name] if checkpoint else [],
                      baselines=[] if checkpoint else ["colour-histogram"], data=str(real / "test"), layout="folder",
                      output=str(folder), protocols=list(e.get("protocols", ["cross-camera", "market1501"])),
                      max_rank=int(e.get("max_rank", 50)), seed=int(e.get("seed", 2018)), workers=0, plot=False,
                      progress=False)
    return evaluate(opt)


def summary(run: Run | None, name: str, report: dict[str, Any], out: Path, sched: str = "") -> list[dict[str, Any]]:
    rows = []
    key = name if run else "colour-histogram"
    history = []
    if run:
        hist_file = out / "runs" / name / "history.json"
        history = json.loads(hist_file.read_text()) if hist_file.is_file() else []
    train_ids = None
    if run:
        ck = out / "runs" / name / "best.pt"
        if ck.is_file():
            import torch

            train_ids = len(torch.load(ck, map_location="cpu", weights_only=False)["train_pids"])
    for protocol, res in report["models"][key].items():
        rows.append({"run": name, "kind": run.kind if run else "histogram", "identities": train_ids or "",
                     "images_per_identity": run.images if run else "", "seed": run.seed if run else "",
                     "protocol": protocol, "rank1": res["rank1"], "rank5": res["rank5"], "rank10": res["rank10"],
                     "rank20": res["rank20"], "mAP": res["mAP"] if res["mAP"] is not None else "",
                     "schedule": sched, "epochs": len(history), "best_epoch": max(history, key=lambda h: h.get("score", -1))["epoch"]
                     if history else "", "minutes": round(sum(h.get("seconds", 0) for h in history) / 60, 1)})
    return rows


def finished_rows(plan: Plan, out: Path) -> list[dict[str, Any]]:
    """Every finished evaluation's rows, read from the run folders (the histogram first, then the
    plan's order): what is on disk, so that runs of one plan in several processes (--only) each
    write the whole curve."""
    rows: list[dict[str, Any]] = []
    for run, name in [(None, "colour-histogram"), *((r, r.name) for r in plan.runs)]:
        done = eval_folder(out, name) / "results.json"
        if done.is_file():
            rows += summary(run, name, json.loads(done.read_text()), out, schedule(run, plan) if run else "")
    return rows


def write_curve(rows: list[dict[str, Any]], out: Path) -> None:
    """OUT/curve.csv (replaced whole, never half-written) and OUT/curve.png."""
    if not rows:
        return
    tmp = out / f"curve.csv.{os.getpid()}.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "curve.csv")
    plot_curve(rows, out / "curve.png")
    (out / "headline.txt").write_text(headline(rows) + "\n")


def curve_series(rows: list[dict[str, Any]], protocol: str, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """The plot's lines for one protocol and metric: {label: (identities, percent)}, the mean
    over seeds at each identity count. Generated runs make one line per (images per identity,
    schedule): a longer schedule is another curve, not a point of the same one. (Rows written
    before the schedule column name their epochs trained instead.)"""
    points: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["protocol"] != protocol or r["kind"] == "histogram" or r["identities"] == "" or r[metric] == "":
            continue
        name = {"real": "real only", "finetune": "generated → real finetuned"}.get(
            r["kind"], f"generated only ({r['images_per_identity']} images per identity, "
                       f"{r.get('schedule') or str(r['epochs']) + ' epochs'})")
        points.setdefault(name, {}).setdefault(int(r["identities"]), []).append(100 * float(r[metric]))
    return {name: (sorted(p), [sum(p[x]) / len(p[x]) for x in sorted(p)]) for name, p in points.items()}


@dataclass
class Extrapolation:
    """A log-linear fit of a curve, rank-1 = a + b · log10(identities), and where it reaches a target."""

    intercept: float
    slope: float  # points per tenfold identities
    identities: float | None  # where the fit reaches the target; None when it never does (slope ≤ 0)
    points: int  # identity counts the fit rests on


def extrapolate_identities(xs: list[int], ys: list[float], target: float) -> Extrapolation:
    """Where a curve (identity counts `xs`, scores `ys`) reaches `target`, by least squares on
    log10(identities): how the field reads a scale curve, which grows with the logarithm of the
    data over the ranges measured. It extrapolates what was measured and nothing more: a few
    points of one schedule, not a law."""
    if len(set(xs)) < 2 or len(xs) != len(ys):
        raise ValueError("extrapolate_identities: needs scores at two or more identity counts")
    import numpy as np

    lx = np.log10(np.asarray(xs, dtype=float))
    slope, intercept = np.polyfit(lx, np.asarray(ys, dtype=float), 1)
    reach = None if slope <= 0 else float(10 ** ((target - intercept) / slope))
    return Extrapolation(float(intercept), float(slope), reach, len(set(xs)))


def headline(rows: list[dict[str, Any]], protocol: str = "cross-camera") -> str:
    """The issue's headline: at how many identities each generated-only line reaches real-only
    with the most real identities measured (rank-1 under `protocol`, seeds averaged), measured
    or extrapolated by `extrapolate_identities` (only from a range of at least twofold, and only
    up to 100 × the largest count measured: beyond that a log-linear fit of a few points says
    nothing); empty without both."""
    lines = curve_series(rows, protocol, "rank1")
    real = lines.get("real only")
    if not real:
        return ""
    most, target = real[0][-1], real[1][-1]
    out = [f"real only, {most} identities: {target:.1f} % {protocol} rank-1"]
    for name, (xs, ys) in lines.items():
        if not name.startswith("generated only"):
            continue
        if len(xs) < 2:
            out.append(f"{name}: one identity count ({xs[0]}: {ys[0]:.1f} %), no curve to read")
            continue
        reached = [x for x, y in zip(xs, ys) if y >= target]
        fit = extrapolate_identities(xs, ys, target)
        if reached:
            where = f"reaches it at {reached[0]} identities (measured)"
        elif xs[-1] < 2 * xs[0]:
            where = "too narrow a range (less than twofold) to extrapolate"
        elif not fit.identities:
            where = "does not grow with identities: no extrapolation"
        elif fit.identities > 100 * xs[-1]:
            where = f"would need over 100 × the largest count measured ({100 * xs[-1]:,}): no useful extrapolation"
        else:
            where = f"would reach it at about {fit.identities:,.0f} identities (extrapolated)"
        out.append(f"{name}: {fit.slope:+.1f} points per tenfold identities over {xs[0]}–{xs[-1]}; {where}")
    return "\n".join(out)


def plot_curve(rows: list[dict[str, Any]], path: Path) -> None:
    """Rank-1 and mAP against training identities (log scale), generated and real, under
    cross-camera and market1501; the colour histogram as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("cross-camera", "rank1", "cross-camera rank-1 (%)"), ("market1501", "mAP", "market1501 mAP (%)")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, (protocol, metric, label) in zip(axes, panels):
        for name, (xs, ys) in curve_series(rows, protocol, metric).items():
            ax.plot(xs, ys, "s-" if name == "real only" else "^" if name.startswith("generated →") else "o-",
                    label=name)
        hist = [100 * float(r[metric]) for r in rows if r["kind"] == "histogram" and r["protocol"] == protocol
                and r[metric] != ""]
        if hist:
            ax.axhline(hist[0], color="grey", ls="--", label="colour histogram")
        ax.set_xscale("log")
        counts = sorted({x for xs, _ in curve_series(rows, protocol, metric).values() for x in xs})
        ax.set_xticks(counts, [f"{x:,}" for x in counts], fontsize=7, rotation=90)  # the counts measured, not 2×10²
        ax.minorticks_off()
        ax.set_xlabel("training identities")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)  # below: never over a line
    fig.tight_layout(rect=(0, 0.045 * ((len(labels) + 1) // 2) + 0.01, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    from synth_humans_addon.core.cli_conventions import EXIT_CODES_HELP

    ap = argparse.ArgumentParser(prog="scale_curve.py", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plan", type=Path, help="plan file (TOML)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output folder (resumed if it exists)")
    ap.add_argument("--real", type=Path, required=True, help="a `reid split-folder` output (train/ and test/)")
    ap.add_argument("--generated", type=Path, default=None,
                    help="an existing generated dataset to train on instead of [generate]'s")
    ap.add_argument("--only", nargs="*", default=None, help="run only these runs (names)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print each run's state, training images and most minutes on this machine; train nothing")
    return ap


def run_plan(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    plan = load_plan(args.plan)
    if args.generated:
        plan.generate["dataset"] = str(args.generated)
    out = args.output.expanduser()
    real = args.real.expanduser()
    if not (real / "train").is_dir() or not (real / "test").is_dir():
        raise UserError(f"--real {real}: expected the train/ and test/ folders of `reid split-folder`")
    needs_generated = any(r.kind == "generated" and not r.data for r in plan.runs)
    if args.dry_run:
        if needs_generated and not plan.generate.get("dataset"):
            raise UserError("--dry-run: the plan's [generate] dataset is not rendered yet; give --generated, or "
                             "estimate the rendering with `python -m headless experiment --dry-run`")
        generated = Path(plan.generate.get("dataset", "")).expanduser()
        chosen = [r for r in plan.runs if args.only is None or r.name in args.only]
        print(format_estimates([estimate_run(r, plan, out, generated, real) for r in chosen]))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    try:
        generated = generate(plan, out) if needs_generated else Path()
    except GenerationStopped as exc:
        print(f"scale_curve.py: {exc}", file=sys.stderr)
        return exc.rc
    if not (eval_folder(out, "colour-histogram") / "results.json").is_file():
        evaluate_run("colour-histogram", None, plan, out, real)
    for run in plan.runs:
        if (eval_folder(out, run.name) / "results.json").is_file():
            continue
        if args.only is not None and run.name not in args.only:
            continue
        t0 = time.time()
        est = estimate_run(run, plan, out, generated, real)
        log.info("run %s: training (%s): %d images of %d identities, at most %d epochs, about %.0f min at most",
                 run.name, est.state, est.images, est.identities, est.epochs_left, est.minutes)
        best = train_run(run, plan, out, generated, real)
        evaluate_run(run.name, best, plan, out, real)
        log.info("run %s: done in %.1f min", run.name, (time.time() - t0) / 60)
        write_curve(finished_rows(plan, out), out)
    write_curve(finished_rows(plan, out), out)
    if (out / "headline.txt").is_file():
        print((out / "headline.txt").read_text(), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit codes (`--help` lists them): 0 done; 2 a bad plan, dataset or option (one line, naming
    it); generation's own code when it stopped early (3: rerun to resume); 130 Ctrl-C (rerun to
    resume)."""
    from synth_humans_addon.core.cli_conventions import run_cli

    return run_cli("scale_curve.py", build_parser().parse_args, run_plan, argv, user_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
