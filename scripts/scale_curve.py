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
        raise SystemExit(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    runs = [Run(**r) for r in data.get("runs", [])]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: a run name is used twice")
    for r in runs:
        if r.kind not in ("generated", "real", "finetune"):
            raise SystemExit(f"{path}: run {r.name}: kind must be generated, real or finetune")
        if r.kind == "finetune" and r.source not in names[:names.index(r.name)] and not r.source.endswith(".pt"):
            raise SystemExit(f"{path}: run {r.name}: source {r.source!r} is neither an earlier run nor a checkpoint")
    return Plan(data["generate"], data.get("train", {}), data.get("finetune", {}), data.get("evaluate", {}), runs)


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
        raise SystemExit(f"generation stopped with exit {rc}: rerun to resume")
    return folder


def train_run(run: Run, plan: Plan, out: Path, generated: Path, real: Path) -> Path:
    from reid.engine import finetune, train
    from reid.options import TrainOptions

    folder = out / "runs" / run.name
    base = dict(plan.finetune if run.kind == "finetune" else plan.train)
    base.update(run.options)
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
        result = finetune(opt)
    else:
        result = train(opt)
    return Path(result.best_checkpoint)


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


def summary(run: Run | None, name: str, report: dict[str, Any], out: Path) -> list[dict[str, Any]]:
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
                     "epochs": len(history), "best_epoch": max(history, key=lambda h: h.get("score", -1))["epoch"]
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
            rows += summary(run, name, json.loads(done.read_text()), out)
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


def curve_series(rows: list[dict[str, Any]], protocol: str, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """The plot's lines for one protocol and metric: {label: (identities, percent)}, the mean
    over seeds at each identity count. Generated runs make one line per (images per identity,
    epochs trained): a longer schedule is another curve, not a point of the same one."""
    points: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["protocol"] != protocol or r["kind"] == "histogram" or r["identities"] == "" or r[metric] == "":
            continue
        name = {"real": "real only", "finetune": "generated → real finetuned"}.get(
            r["kind"], f"generated only ({r['images_per_identity']} images per identity, {r['epochs']} epochs)")
        points.setdefault(name, {}).setdefault(int(r["identities"]), []).append(100 * float(r[metric]))
    return {name: (sorted(p), [sum(p[x]) / len(p[x]) for x in sorted(p)]) for name, p in points.items()}


def plot_curve(rows: list[dict[str, Any]], path: Path) -> None:
    """Rank-1 and mAP against training identities (log scale), generated and real, under
    cross-camera and market1501; the colour histogram as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("cross-camera", "rank1", "cross-camera rank-1 (%)"), ("market1501", "mAP", "market1501 mAP (%)")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (protocol, metric, label) in zip(axes, panels):
        for name, (xs, ys) in curve_series(rows, protocol, metric).items():
            ax.plot(xs, ys, "s-" if name == "real only" else "^" if name.startswith("generated →") else "o-",
                    label=name)
        hist = [100 * float(r[metric]) for r in rows if r["kind"] == "histogram" and r["protocol"] == protocol
                and r[metric] != ""]
        if hist:
            ax.axhline(hist[0], color="grey", ls="--", label="colour histogram")
        ax.set_xscale("log")
        ax.set_xlabel("training identities")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scale_curve.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("plan", type=Path, help="plan file (TOML)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output folder (resumed if it exists)")
    ap.add_argument("--real", type=Path, required=True, help="a `reid split-folder` output (train/ and test/)")
    ap.add_argument("--generated", type=Path, default=None,
                    help="an existing generated dataset to train on instead of [generate]'s")
    ap.add_argument("--only", nargs="*", default=None, help="run only these runs (names)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    plan = load_plan(args.plan)
    if args.generated:
        plan.generate["dataset"] = str(args.generated)
    out = args.output.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    real = args.real.expanduser()
    if not (real / "train").is_dir() or not (real / "test").is_dir():
        raise SystemExit(f"--real {real}: expected the train/ and test/ folders of `reid split-folder`")
    generated = generate(plan, out) if any(r.kind == "generated" and not r.data for r in plan.runs) else Path()
    if not (eval_folder(out, "colour-histogram") / "results.json").is_file():
        evaluate_run("colour-histogram", None, plan, out, real)
    for run in plan.runs:
        if (eval_folder(out, run.name) / "results.json").is_file():
            continue
        if args.only is not None and run.name not in args.only:
            continue
        t0 = time.time()
        log.info("run %s: training", run.name)
        best = train_run(run, plan, out, generated, real)
        evaluate_run(run.name, best, plan, out, real)
        log.info("run %s: done in %.1f min", run.name, (time.time() - t0) / 60)
        write_curve(finished_rows(plan, out), out)
    write_curve(finished_rows(plan, out), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
