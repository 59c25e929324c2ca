"""The report folder: the study's tables, CMC plots per question, sample grids, specs, timings.

Layout of ``OUT/report/``::

    README.md            the summary: questions, tables, plots, grids, skipped steps, timings
    report.json          the same numbers, machine-readable (what the tests check)
    tables/<question>.md one table per question and test set (Rank-1/5/10/20 per model + chance)
    plots/<question>.png CMC curves of the question's models, chance drawn for reference
    samples/<dataset>.png sample grid of every dataset and refined dataset (same images side by side)
    specs/<dataset>.toml the exact specs generated; experiment.toml: the experiment as run
"""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth_humans_addon.core.spec_io import dumps_toml

from .estimate import device_kind, estimate_plan
from .plan import EVALUATE, FINETUNE, GENERATE, REFINE_APPLY, REID_TRAIN, Plan
from .runner import StageOutcome
from .stages import DATASET_DIR, RESULTS_FILE, environment_versions


@dataclass
class Question:
    key: str
    title: str
    groups: tuple[str, ...]  # which models answer it


# "baseline" rows (the colour histogram) stand in every table, so a dataset that loses to a
# model that learnt nothing is visible at a glance.
QUESTIONS = (
    Question("all", "Every model on the real test set", ("baseline", "synthetic", "refined", "real", "finetuned")),
    Question("attributes", "How do dataset attributes change re-id accuracy?", ("baseline", "synthetic")),
    Question("refinement", "Does refinement help? (X vs R-X)", ("baseline", "synthetic", "refined")),
    Question("synthetic_vs_real", "How does artificial data compare with real data?",
             ("baseline", "synthetic", "refined", "real")),
    Question("finetuning", "Does artificial pre-training plus real finetuning beat real data alone?",
             ("baseline", "real", "finetuned")),
)


def _results(outcomes: list[StageOutcome]) -> list[dict[str, Any]]:
    """Every finished evaluation: its label, group, test set and results."""
    rows = []
    for o in outcomes:
        if o.stage.kind != EVALUATE or o.state not in ("cached", "ran"):
            continue
        res = json.loads((o.folder.final / RESULTS_FILE).read_text())
        rows.append({"label": o.stage.label, "group": o.stage.group, "test": o.stage.params["test"],
                     "stage": o.stage.id, "results": res})
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _pct_spread(mean: float, std: float | None) -> str:
    return _pct(mean) if std is None else f"{_pct(mean)} ± {_pct(std)}"


def by_label(rows: list[dict[str, Any]], protocol: str) -> dict[str, list[dict[str, Any]]]:
    """Each row label's results under `protocol`, one per training seed, in the rows' order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if protocol in r["results"]["protocols"]:
            groups.setdefault(r["label"], []).append(r["results"]["protocols"][protocol])
    return groups


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation over training seeds (None for one seed)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def rank_table(rows: list[dict[str, Any]], protocol: str, ranks: list[int]) -> tuple[str, dict[str, Any]] | None:
    """Markdown table (Rank-k in % per model, chance last) and its data; None if no row has `protocol`.

    A label evaluated for several training seeds is one line: the mean over its seeds ± their
    standard deviation, and the number of seeds."""
    groups = by_label(rows, protocol)
    if not groups:
        return None
    with_map = protocol == "market1501"
    several = any(len(ps) > 1 for ps in groups.values())
    head = ("| model | " + ("seeds | " if several else "") + " | ".join(f"Rank {k}" for k in ranks)
            + (" | mAP |" if with_map else " |"))
    sep = "|---|" + "---:|" * (len(ranks) + with_map + several)
    lines, data = [head, sep], {}
    for label, ps in groups.items():
        stats = {k: _mean_std([p["cmc"][k - 1] for p in ps]) for k in ranks if all(k <= len(p["cmc"]) for p in ps)}
        m_ap = _mean_std([p["mAP"] for p in ps]) if all(p.get("mAP") is not None for p in ps) else None
        area = [p.get("cmc_area") for p in ps]
        data[label] = {"ranks": {k: v[0] for k, v in stats.items()}, "mAP": m_ap[0] if m_ap else None,
                       "cmc_area": float(np.mean(area)) if None not in area else None, "seeds": len(ps)}
        if len(ps) > 1:
            data[label]["ranks_std"] = {k: v[1] for k, v in stats.items()}
            data[label]["mAP_std"] = m_ap[1] if m_ap else None
        cells = [_pct_spread(*stats[k]) if k in stats else "–" for k in ranks]
        map_cell = _pct_spread(*m_ap) if m_ap else "–"
        lines.append(f"| {label} | " + (f"{len(ps)} | " if several else "") + " | ".join(cells)
                     + (f" | {map_cell} |" if with_map else " |"))
    chance = next(ps[0]["chance"] for ps in groups.values())
    data["chance"] = {"ranks": {k: chance[k - 1] for k in ranks if k <= len(chance)}}
    chance_cells = [_pct(chance[k - 1]) if k <= len(chance) else "–" for k in ranks]
    lines.append("| *chance* | " + ("– | " if several else "") + " | ".join(chance_cells)
                 + (" | – |" if with_map else " |"))
    return "\n".join(lines), data


def sample_grids(plan: Plan, outcomes: list[StageOutcome], out: Path, count: int, columns: int,
                 seed: int) -> dict[str, str]:
    """One grid per dataset; refined datasets show the same images as their source."""
    from headless.contact_sheet import make_contact_sheet
    from PIL import Image

    from synth_humans_addon.core.dataset import read_dataset

    picks: dict[str, list[str]] = {}
    grids = {}
    done = {o.stage.id: o for o in outcomes if o.state in ("cached", "ran")}
    for st in plan.stages:
        if st.kind not in (GENERATE, REFINE_APPLY) or st.id not in done:
            continue
        root = done[st.id].folder.final / DATASET_DIR
        ds = read_dataset(root)
        rels = sorted(r.path.relative_to(root).as_posix() for r in ds.images)
        source = st.inputs.get("dataset")
        if source in picks:
            chosen = [r for r in picks[source] if (root / r).is_file()]
        else:
            rng = random.Random(f"{seed}/{st.id}")
            chosen = sorted(rng.sample(rels, min(count, len(rels))))
        picks[st.id] = chosen
        if not chosen:
            continue
        images = [Image.open(root / r) for r in chosen]
        sheet = make_contact_sheet(images, [Path(r).stem[:9] for r in chosen], columns=columns, cell_height=128)
        path = out / "samples" / f"{st.label}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path)
        grids[st.label] = path.relative_to(out).as_posix()
    return grids


def write_report(plan: Plan, outcomes: list[StageOutcome], out_dir: Path, experiment_file: Path | None = None) -> Path:
    """Write OUT/report/ and return the path of its README.md."""
    from reid.plots import plot_cmc  # here, not at the top: importing the reid package imports torch

    cfg = plan.config
    out = Path(out_dir) / "report"
    if out.exists():
        shutil.rmtree(out)  # the report is cheap and always rebuilt from the stage folders
    out.mkdir(parents=True)
    # rows in the plan's model order (I, II, …, R-I, …, real, finetuned), whatever ran first
    order = {st.label: i for i, st in enumerate(s for s in plan.stages if s.kind in (REID_TRAIN, FINETUNE))}
    rows = sorted(_results(outcomes), key=lambda r: (order.get(r["label"], len(order)), r["stage"]))
    ranks = cfg.evaluate.ranks
    real_test = cfg.real.name if cfg.real.present else None

    report: dict[str, Any] = {"experiment": cfg.name, "seed": cfg.seed, "real": cfg.real.name if cfg.real.present else None,
                              "questions": {}, "appendix": {}, "skipped": [vars(s) for s in plan.skipped],
                              "stages": [], "versions": environment_versions(), "datasets": {}}
    md = [f"# Experiment report: {cfg.name}", ""]
    if cfg.real.standin is not None:
        md.append(f"Real domain: a **stand-in** rendered by the project ({cfg.real.standin.source}, named "
                  f"`{cfg.real.name}`) in a different style — not real camera images.")
    elif cfg.real.path:
        md.append(f"Real domain: `{cfg.real.path}` (layout `{cfg.real.layout}`, named `{cfg.real.name}`).")
    else:
        md.append("Real domain: **none** — only the synthetic-only questions were answered (see *Skipped*).")
    md += ["", f"Seed {cfg.seed}; protocols: {', '.join(cfg.evaluate.protocols)}; single-shot draws "
               f"{cfg.evaluate.identities} identities × {cfg.evaluate.repeats} repeats. Values in %.", ""]

    # The study's questions, on the real test set (or, without one, the last artificial test split).
    test_name = real_test or cfg.datasets[-1].name
    main_rows = [r for r in rows if r["test"] == ("real" if real_test else cfg.datasets[-1].name)
                 or (not real_test and r["test"] == "own" and r["label"] == cfg.datasets[-1].name)]
    for q in QUESTIONS:
        q_rows = [r for r in main_rows if r["group"] in q.groups]
        if not q_rows or (q.key != "attributes" and not real_test) or all(r["group"] == "baseline" for r in q_rows):
            continue
        where = f"**{test_name}**" + ("" if real_test else " (the last artificial dataset's test characters: "
                                                         "no real data)")
        md += [f"## {q.title}", "", f"Test set: {where}.", ""]
        report["questions"][q.key] = {}
        for protocol in cfg.evaluate.protocols:
            made = rank_table(q_rows, protocol, ranks)
            if made is None:
                continue
            table, data = made
            report["questions"][q.key][protocol] = data
            md += [f"**{protocol}**", "", table, ""]
            (out / "tables").mkdir(exist_ok=True)
            (out / "tables" / f"{q.key}_{protocol}.md").write_text(table + "\n")
            groups = by_label(q_rows, protocol)
            # One curve per row: the mean over its training seeds; the band is the spread over
            # seeds where there are several, else over the single run's draws.
            curves = {label: np.mean([p["cmc"] for p in ps], axis=0) for label, ps in groups.items()}
            chance = next(ps[0]["chance"] for ps in groups.values())
            spreads = {label: (np.std([p["cmc"] for p in ps], axis=0, ddof=1) if len(ps) > 1 else ps[0]["cmc_std"])
                       for label, ps in groups.items() if len(ps) > 1 or "cmc_std" in ps[0]}
            plot = plot_cmc(curves, out / "plots" / f"{q.key}_{protocol}.png",
                            title=f"{q.key.replace('_', ' ')}: {protocol} on {test_name}", chance=chance,
                            spreads=spreads or None)
            md += [f"![CMC: {q.key}, {protocol}]({Path(plot).relative_to(out).as_posix()})", ""]

    own = [r for r in rows if r["test"] == "own"]
    if own:
        md += ["## Appendix: each model on its own dataset's test split", ""]
        for protocol in cfg.evaluate.protocols:
            made = rank_table(own, protocol, ranks)
            if made is None:
                continue
            table, data = made
            report["appendix"][protocol] = data
            md += [f"**{protocol}** (chance shown for the first dataset's test split)", "", table, ""]

    skipped_evals = {r["stage"]: r["results"]["skipped"] for r in rows if r["results"].get("skipped")}
    if plan.skipped or skipped_evals:
        md += ["## Skipped", ""]
        md += [f"- **{s.what}**: {s.why}" for s in plan.skipped]
        md += [f"- `{sid}` protocol **{p}**: {why}" for sid, d in skipped_evals.items() for p, why in d.items()]
        md.append("")

    grids = sample_grids(plan, outcomes, out, cfg.report.grid_images, cfg.report.grid_columns, cfg.seed)
    if grids:
        md += ["## Samples", ""]
        for label, rel in grids.items():
            md += [f"**{label}**", "", f"![{label}]({rel})", ""]

    specs = out / "specs"
    specs.mkdir()
    for st in plan.stages:
        if st.kind == GENERATE:
            (specs / f"{st.label}.toml").write_text(dumps_toml(st.params["spec"]))
            report["datasets"][st.label] = {"seed": st.params["spec"]["dataset"]["seed"], "source": st.params["source"]}
    if experiment_file is not None and Path(experiment_file).is_file():
        shutil.copyfile(experiment_file, specs / "experiment.toml")

    est = estimate_plan(plan, device_kind(cfg.device))
    report["estimate"] = est.to_dict()
    md += ["## Stages, seeds and timings", "",
           "Seconds as measured, beside the dry run's estimate for this machine (`[estimate]` tunes it).", "",
           "| stage | state | seconds | estimated | key |", "|---|---|---:|---:|---|"]
    total = 0.0
    for o in outcomes:
        secs = float(o.record.get("seconds", o.seconds) or 0)
        total += secs
        md.append(f"| `{o.stage.id}` | {o.state}{' (' + o.error + ')' if o.error else ''} | {secs:.1f} | "
                  f"{est.stage_seconds.get(o.stage.id, 0.0):.0f} | `{o.folder.key[:12]}` |")
        report["stages"].append({"id": o.stage.id, "state": o.state, "seconds": secs, "key": o.folder.key,
                                 "error": o.error, "resumed": o.record.get("resumed", False)})
    md += ["", f"Total stage time: {total / 60:.1f} min (estimated {est.hours() * 60:.0f} min). Dataset seeds: " +
           ", ".join(f"{k} {v['seed']}" for k, v in report["datasets"].items()) +
           f". Experiment seed (training, draws): {cfg.seed}.", ""]
    md += ["Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    md += [f"Specs as generated: `specs/`. Estimated before the run: {est.images_generated:,} images generated, "
           f"{est.images_refined:,} refined, {est.hours():.1f} h on this machine ({est.device}).", ""]
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    readme = out / "README.md"
    readme.write_text("\n".join(md))
    return readme
