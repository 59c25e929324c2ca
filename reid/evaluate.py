"""Evaluating trained models on a dataset's test set: CMC / mAP per protocol, JSON, CSV, plots.

For each checkpoint the embeddings of the test images are extracted once; Euclidean
distances are computed batched on the device (for ``market1501`` block by block, ranked
as they come); then every requested protocol of :mod:`reid.metrics` is applied.
``cuhk03`` uses every test image (query ∪ gallery) as a query against all others
(Open-ReID's evaluation); ``market1501`` and ``single-shot`` use the query and gallery
sets. A chance curve per protocol comes from the same protocol on a
seeded random distance matrix, so it follows every rule the protocol applies.
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
from .data import load_dataset
from .data.records import ImageItem, ReidData
from .device import resolve_device
from .engine import extract_features, model_from_checkpoint
from .options import EvalOptions
from .plots import plot_cmc

log = logging.getLogger(__name__)
SUMMARY_RANKS = (1, 5, 10, 20)


@dataclass
class ProtocolResult:
    protocol: str
    cmc: list[float]  # ranks 1…max_rank
    cmc_std: list[float] | None  # spread over random draws (single-shot)
    area: float  # the study's score: mean CMC over ranks 1…max_rank
    mean_ap: float | None  # market1501 only
    num_query: int
    num_gallery: int
    identities: int | None = None  # single-shot: identities per draw

    def rank(self, r: int) -> float:
        return self.cmc[min(r, len(self.cmc)) - 1]

    def summary(self) -> dict[str, Any]:
        out = {f"rank{r}": self.rank(r) for r in SUMMARY_RANKS}
        out.update(area=self.area, mAP=self.mean_ap)
        return out


def _arrays(items: list[ImageItem]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([it.pid for it in items], np.int64), np.array([it.camid for it in items], np.int64)


def evaluate_protocols(features: torch.Tensor, items: list[ImageItem], query_idx: np.ndarray, gallery_idx: np.ndarray,
                       protocols: list[str], max_rank: int = 100, single_shot_identities: int = 100,
                       repeats: int = 10, seed: int = 0) -> dict[str, ProtocolResult]:
    """Apply each protocol to the features of `items` (rows of `features`) split into query
    and gallery by index arrays."""
    results: dict[str, ProtocolResult] = {}
    pids, cams = _arrays(items)
    q, g = torch.as_tensor(query_idx, device=features.device), torch.as_tensor(gallery_idx, device=features.device)
    dist_qg = None
    for protocol in protocols:
        if protocol == "single-shot" and dist_qg is None:
            dist_qg = metrics.pairwise_distance(features[q], features[g])
        args_qg = (pids[query_idx], pids[gallery_idx], cams[query_idx], cams[gallery_idx])
        if protocol == "market1501":
            # Ranked block by block from the embeddings: no query × gallery matrix is kept.
            curve, m_ap, n_valid = metrics.market1501_cmc_map_from_features(features[q], features[g], *args_qg,
                                                                            max_rank=max_rank)
            results[protocol] = ProtocolResult(protocol, curve.tolist(), None, metrics.cmc_area(curve), m_ap,
                                               n_valid, len(gallery_idx))
        elif protocol == "single-shot":
            draws = metrics.single_shot_draws(dist_qg.cpu().numpy(), *args_qg, num_identities=single_shot_identities,
                                              repeats=repeats, max_rank=max_rank, rng=seed)
            n = min(single_shot_identities, len(set(args_qg[0]) & set(args_qg[1])))
            curve = draws.mean(0)
            results[protocol] = ProtocolResult(protocol, curve.tolist(), draws.std(0).tolist(),
                                               metrics.cmc_area(curve), None, n, n, n)
        elif protocol == "cuhk03":
            every = np.union1d(query_idx, gallery_idx)
            dist = metrics.pairwise_distance(features[torch.as_tensor(every, device=features.device)],
                                             features[torch.as_tensor(every, device=features.device)]).cpu().numpy()
            curve = metrics.cmc(dist, pids[every], pids[every], cams[every], cams[every], protocol="cuhk03",
                                max_rank=max_rank, rng=np.random.RandomState(seed))
            results[protocol] = ProtocolResult(protocol, curve.tolist(), None, metrics.cmc_area(curve), None,
                                               len(every), len(every))
        else:
            raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(metrics.PROTOCOLS)}")
    return results


def _test_sets(data: ReidData, subset: str) -> tuple[list[ImageItem], np.ndarray, np.ndarray]:
    if subset == "test":
        items = data.query + data.gallery
        return items, np.arange(len(data.query)), np.arange(len(data.query), len(items))
    if subset == "validation":
        from .engine import validation_sets

        q, g = validation_sets(data.validation)
        return q + g, np.arange(len(q)), np.arange(len(q), len(q) + len(g))
    raise ValueError(f"subset {subset!r}: expected 'test' or 'validation'")


def chance_results(items, query_idx, gallery_idx, protocols, opt: EvalOptions) -> dict[str, ProtocolResult]:
    """Every protocol on a seeded random embedding: the chance level under its own rules
    (single-shot: exactly r / N)."""
    gen = torch.Generator().manual_seed(opt.seed)
    feats = torch.randn(len(items), 16, generator=gen)
    out = evaluate_protocols(feats, items, query_idx, gallery_idx, protocols, opt.max_rank,
                             opt.single_shot_identities, opt.repeats, opt.seed)
    if "single-shot" in out:
        r = out["single-shot"]
        curve = metrics.chance_cmc(r.identities, opt.max_rank)
        out["single-shot"] = ProtocolResult("single-shot", curve.tolist(), None, metrics.cmc_area(curve), None,
                                            r.num_query, r.num_gallery, r.identities)
    return out


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
    protocols = list(opt.protocols or data.protocols)
    names = opt.names or [Path(c).stem if Path(c).stem not in ("best", "last") else
                          f"{Path(c).parent.name}/{Path(c).stem}" for c in opt.checkpoints]
    out = Path(opt.output).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, ProtocolResult]] = {}
    for name, ckpt in zip(names, opt.checkpoints):
        model, topt = model_from_checkpoint(ckpt, device)
        h, w = topt.input_size()
        feats = extract_features(model, items, h, w, device, opt.batch_size, opt.workers, opt.progress, desc=name)
        results[name] = evaluate_protocols(feats, items, q_idx, g_idx, protocols, opt.max_rank,
                                           opt.single_shot_identities, opt.repeats, opt.seed)
        _log_results(name, results[name])
    for name in opt.baselines:
        feats = torch.from_numpy(baseline_features(name, [it.path for it in items]))
        results[name] = evaluate_protocols(feats, items, q_idx, g_idx, protocols, opt.max_rank,
                                           opt.single_shot_identities, opt.repeats, opt.seed)
        _log_results(name, results[name])
    chance = chance_results(items, q_idx, g_idx, protocols, opt)
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
