"""Evaluating trained models on a dataset's test set: CMC / mAP per protocol, JSON, CSV, plots.

:func:`evaluate_protocols` is the one protocol driver: `reid evaluate` and the study's
evaluation stages both score embeddings through it, so a table of either comes from the
same code. It takes one pool of test images (their embeddings, identities and cameras) and
the pool's query and gallery sets:

* ``market1501``: every query against the whole gallery (ranked block by block from the
  embeddings, no query × gallery matrix kept); CMC and mAP.
* ``cuhk03``: every pool image as a query against all the others (Open-ReID's evaluation).
* ``cross-camera``, ``thesis``: single-shot draws from the whole pool;
  ``mixed-gallery``: draws with queries from the query set and gallery images from the
  gallery set (:mod:`reid.metrics.single_shot` has each one's rules).

A chance row per protocol (:func:`chance_protocols`) follows the same rules: exactly r / N
for the single-shot draws, the protocol on a seeded random embedding for the others.
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import metrics
from .baselines import BASELINES, baseline_features
from .checkpoints import model_from_checkpoint
from .data import load_dataset
from .data.records import ImageItem, ReidData
from .device import resolve_device
from .features import extract_features
from .options import EvalOptions
from .plots import plot_cmc
from .validation import validation_sets

log = logging.getLogger(__name__)
SUMMARY_RANKS = (1, 5, 10, 20)


@dataclass(frozen=True)
class ProtocolSettings:
    """What every protocol of one evaluation shares."""

    max_rank: int = 100
    identities: int = 100  # single-shot draws: identities per draw
    repeats: int = 10  # single-shot draws and cuhk03: random draws averaged
    seed: int = 0  # seeds every random draw


@dataclass
class ProtocolResult:
    protocol: str
    cmc: list[float]  # ranks 1…max_rank
    cmc_std: list[float] | None  # spread over random draws (single-shot protocols)
    area: float  # the study's score: mean CMC over ranks 1…N (N = gallery identities, at most max_rank)
    mean_ap: float | None  # market1501 only
    num_query: int
    num_gallery: int
    identities: int | None = None  # single-shot: identities per draw
    left_out: int = 0  # single-shot: test identities no draw could pick (one image, one camera …)
    fallbacks: int = 0  # mixed-gallery: true matches from the query's own camera (no other camera)

    def rank(self, r: int) -> float:
        return self.cmc[min(r, len(self.cmc)) - 1]

    def summary(self) -> dict[str, Any]:
        out = {f"rank{r}": self.rank(r) for r in SUMMARY_RANKS}
        out.update(area=self.area, mAP=self.mean_ap)
        return out


def _as_tensor(features) -> torch.Tensor:
    return features if isinstance(features, torch.Tensor) else torch.as_tensor(np.asarray(features, np.float32))


def evaluate_protocols(features, pids, camids, query_idx, gallery_idx, protocols: list[str],
                       settings: ProtocolSettings = ProtocolSettings()) -> dict[str, ProtocolResult]:
    """Score one pool of test images under each protocol.

    `features`: one embedding row per pool image (torch or numpy); `pids`, `camids`: the
    pool's identities (negative = junk) and cameras; `query_idx`, `gallery_idx`: the pool's
    query and gallery sets. Raises ValueError (naming the protocol) when a protocol cannot
    be applied to this pool, e.g. too few identities seen by two cameras.
    """
    feats = _as_tensor(features)
    pids, cams = np.asarray(pids, np.int64), np.asarray(camids, np.int64)
    query_idx, gallery_idx = np.asarray(query_idx, np.int64), np.asarray(gallery_idx, np.int64)
    s = settings
    results: dict[str, ProtocolResult] = {}
    for protocol in protocols:
        metrics.check_protocol(protocol)
        if protocol in metrics.SINGLE_SHOT_PROTOCOLS:
            plan = metrics.plan_draws(protocol, pids, cams, query_idx, gallery_idx, num_identities=s.identities,
                                      repeats=s.repeats, rng=s.seed)
            draws = metrics.rank_draws(plan, metrics.distances_from_features(feats.cpu().numpy()), s.max_rank)
            curve = draws.mean(0)
            # num_query, num_gallery: per draw (N each)
            results[protocol] = ProtocolResult(protocol, curve.tolist(), draws.std(0).tolist(),
                                               metrics.single_shot_area(curve, plan.identities), None,
                                               plan.identities, plan.identities, plan.identities, plan.left_out,
                                               plan.fallbacks)
        elif protocol == "market1501":
            q, g = torch.as_tensor(query_idx, device=feats.device), torch.as_tensor(gallery_idx, device=feats.device)
            curve, m_ap, n_valid = metrics.market1501_cmc_map_from_features(
                feats[q], feats[g], pids[query_idx], pids[gallery_idx], cams[query_idx], cams[gallery_idx],
                max_rank=s.max_rank)
            n_ids = len(np.unique(pids[gallery_idx][pids[gallery_idx] >= 0]))
            results[protocol] = ProtocolResult(protocol, curve.tolist(), None,
                                               metrics.cmc_area(curve[:max(1, min(n_ids, s.max_rank))]), m_ap,
                                               n_valid, len(gallery_idx))
        else:  # cuhk03
            every = np.union1d(query_idx, gallery_idx)
            every = every[pids[every] >= 0]
            sub = feats[torch.as_tensor(every, device=feats.device)]
            dist = metrics.pairwise_distance(sub, sub).cpu().numpy()
            curve = metrics.cmc(dist, pids[every], pids[every], cams[every], cams[every], protocol="cuhk03",
                                max_rank=s.max_rank, rng=np.random.RandomState(s.seed), repeat=s.repeats)
            n_ids = len(np.unique(pids[every]))
            results[protocol] = ProtocolResult(protocol, curve.tolist(), None,
                                               metrics.cmc_area(curve[:max(1, min(n_ids, s.max_rank))]), None,
                                               len(every), len(every))
    return results


def chance_protocols(pids, camids, query_idx, gallery_idx, protocols: list[str],
                     settings: ProtocolSettings = ProtocolSettings()) -> dict[str, ProtocolResult]:
    """Every protocol's chance level under its own rules: exactly r / N for the single-shot
    draws, the protocol applied to a seeded random embedding for the others."""
    gen = torch.Generator().manual_seed(settings.seed)
    feats = torch.randn(len(pids), 16, generator=gen)
    out = evaluate_protocols(feats, pids, camids, query_idx, gallery_idx, protocols, settings)
    for p, r in out.items():
        if p in metrics.SINGLE_SHOT_PROTOCOLS:
            curve = metrics.chance_cmc(r.identities, settings.max_rank)
            out[p] = ProtocolResult(p, curve.tolist(), None, metrics.single_shot_area(curve, r.identities), None,
                                    r.num_query, r.num_gallery, r.identities, r.left_out, r.fallbacks)
    return out


def _arrays(items: list[ImageItem]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([it.pid for it in items], np.int64), np.array([it.camid for it in items], np.int64)


def _test_sets(data: ReidData, subset: str) -> tuple[list[ImageItem], np.ndarray, np.ndarray]:
    if subset == "test":
        items = data.query + data.gallery
        return items, np.arange(len(data.query)), np.arange(len(data.query), len(items))
    if subset == "validation":
        q, g = validation_sets(data.validation)
        return q + g, np.arange(len(q)), np.arange(len(q), len(q) + len(g))
    raise ValueError(f"subset {subset!r}: expected 'test' or 'validation'")


def _log_results(name: str, results: dict[str, ProtocolResult]) -> None:
    for p, r in results.items():
        extra = f" mAP {r.mean_ap:.4f}" if r.mean_ap is not None else ""
        log.info("%s %s: rank-1 %.4f rank-5 %.4f rank-10 %.4f area %.4f%s", name, p, r.rank(1), r.rank(5),
                 r.rank(10), r.area, extra)


def evaluate(opt: EvalOptions, data: ReidData | None = None) -> dict[str, Any]:
    """Evaluate every checkpoint of `opt` on `opt.data`; write results.json, results.csv,
    cmc.csv and one cmc_<protocol>.png per protocol into `opt.output`. Returns the results."""
    if not opt.checkpoints and not opt.baselines:
        raise ValueError("checkpoints: nothing to evaluate (give checkpoints or a baseline)")
    for b in opt.baselines:
        if b not in BASELINES:
            raise ValueError(f"baselines: {b!r} is not one of {', '.join(BASELINES)}")
    if opt.names and len(opt.names) != len(opt.checkpoints):
        raise ValueError(f"names: {len(opt.names)} names for {len(opt.checkpoints)} checkpoints")
    device = resolve_device(opt.device)
    if data is None:
        data = load_dataset(opt.data, opt.load_options())
    items, q_idx, g_idx = _test_sets(data, opt.subset)
    if len(q_idx) == 0 or len(g_idx) == 0:
        raise ValueError(f"{opt.data or data.name}: the {opt.subset} set has no query or no gallery images")
    protocols = [metrics.check_protocol(p) for p in (opt.protocols or data.protocols)]
    settings = ProtocolSettings(opt.max_rank, opt.single_shot_identities, opt.repeats, opt.seed)
    pids, cams = _arrays(items)
    names = opt.names or [Path(c).stem if Path(c).stem not in ("best", "last") else
                          f"{Path(c).parent.name}/{Path(c).stem}" for c in opt.checkpoints]
    out = Path(opt.output).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, ProtocolResult]] = {}
    for name, ckpt in zip(names, opt.checkpoints):
        model, topt = model_from_checkpoint(ckpt, device)
        h, w = topt.input_size()
        feats = extract_features(model, items, h, w, device, opt.batch_size, opt.workers, opt.progress, desc=name)
        results[name] = evaluate_protocols(feats, pids, cams, q_idx, g_idx, protocols, settings)
        _log_results(name, results[name])
    for name in opt.baselines:
        feats = torch.from_numpy(baseline_features(name, [it.path for it in items]))
        results[name] = evaluate_protocols(feats, pids, cams, q_idx, g_idx, protocols, settings)
        _log_results(name, results[name])
    chance = chance_protocols(pids, cams, q_idx, g_idx, protocols, settings)
    report = {
        "dataset": {**data.summary(), "root": str(opt.data), "subset": opt.subset},
        "options": asdict(opt),
        "models": {n: {p: {**r.summary(), **asdict(r)} for p, r in res.items()} for n, res in results.items()},
        "chance": {p: {**r.summary(), **asdict(r)} for p, r in chance.items()},
        "files": {},
    }
    report["files"]["json"] = str(out / "results.json")
    with open(out / "results.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "protocol", *[f"rank{r}" for r in SUMMARY_RANKS], "area", "mAP", "num_query",
                     "num_gallery"])
        for n, res in [*results.items(), ("chance", chance)]:
            for p, r in res.items():
                wr.writerow([n, p, *[f"{r.rank(k):.6f}" for k in SUMMARY_RANKS], f"{r.area:.6f}",
                             "" if r.mean_ap is None else f"{r.mean_ap:.6f}", r.num_query, r.num_gallery])
    with open(out / "cmc.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "protocol", "rank", "cmc", "cmc_std"])
        for n, res in [*results.items(), ("chance", chance)]:
            for p, r in res.items():
                for k, v in enumerate(r.cmc, 1):
                    wr.writerow([n, p, k, f"{v:.6f}", "" if r.cmc_std is None else f"{r.cmc_std[k - 1]:.6f}"])
    report["files"].update(csv=str(out / "results.csv"), cmc_csv=str(out / "cmc.csv"))
    if opt.plot:
        for p in protocols:
            png = plot_cmc({n: np.array(res[p].cmc) for n, res in results.items()}, out / f"cmc_{p}.png",
                           title=f"{data.name} — {p} CMC", chance=np.array(chance[p].cmc),
                           spreads={n: np.array(res[p].cmc_std) for n, res in results.items()
                                    if res[p].cmc_std is not None})
            report["files"][f"plot_{p}"] = str(png)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    return report


def plot_results(result_files: list[str | Path], protocol: str, path: str | Path, names: list[str] | None = None
                 ) -> Path:
    """One CMC chart from several results.json files (e.g. different datasets' models)."""
    curves, spreads, chance = {}, {}, None
    for i, f in enumerate(result_files):
        try:
            rep = json.loads(Path(f).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            rep = None
        if not isinstance(rep, dict) or not isinstance(rep.get("models"), dict):
            raise ValueError(f"{f}: not a results.json written by `reid evaluate`")
        for n, res in rep["models"].items():
            if protocol not in res:
                raise ValueError(f"{f}: model {n} has no {protocol!r} results")
            label = names[i] if names and len(rep["models"]) == 1 else n
            curves[label] = np.array(res[protocol]["cmc"])
            if res[protocol].get("cmc_std"):
                spreads[label] = np.array(res[protocol]["cmc_std"])
        if chance is None and protocol in rep.get("chance", {}):
            chance = np.array(rep["chance"][protocol]["cmc"])
    return plot_cmc(curves, path, title=f"{protocol} CMC", chance=chance, spreads=spreads)
