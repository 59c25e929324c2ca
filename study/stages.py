"""What each stage kind does: thin calls into the farm, the refiner and the re-id package.

The calls go through a `Backend` (four operations: generate, refine, train/finetune, embed)
so the orchestration — caching, resuming, evaluation protocols, the report — is the same
whichever implementation does the heavy work. `PackageBackend` is the real one; tests may
pass a lighter one. The evaluation goes through re-id's protocol driver
(`reid.evaluate.evaluate_protocols`), so the study's tables and `reid evaluate` come from
exactly the same code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from synth_humans_addon.core.spec import Spec
from synth_humans_addon.core.spec_io import dumps_toml, spec_to_dict

from .config import split_mask_sources
from .plan import (EVALUATE, FINETUNE, GENERATE, REAL_INPUT, REAL_TEST_INPUT, REFINE_APPLY, REFINE_TRAIN, REID_TRAIN,
                   Stage)
from .refs import DataRef, ModelRef, TestSplit

DATASET_DIR = "dataset"  # a dataset stage's dataset lives in <stage folder>/dataset
RESULTS_FILE = "results.json"


class Backend(Protocol):
    """The heavy operations, each writing into the folder it is given (resuming if it can)."""

    def generate(self, spec: Spec, out: Path, *, renderer: str, workers: int) -> None: ...

    def refine_train(self, source: DataRef, target: DataRef, options: dict[str, Any], out: Path, *,
                     device: str) -> Path: ...

    def refine_apply(self, checkpoint: Path, source: DataRef, out: Path, *, device: str) -> None: ...

    def reid_train(self, data: DataRef, options: dict[str, Any], out: Path, *, seed: int, device: str,
                   init: ModelRef | None = None) -> ModelRef: ...

    def test_split(self, data: DataRef, *, seed: int) -> TestSplit: ...

    def embed(self, model: ModelRef, images: list[Path], *, device: str) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------
# The real backend


def _write_spec_file(spec: Spec, path: Path) -> Path:
    # base_dir stays in the file (load_spec keeps an explicit one), so relative cubemap and
    # BVH paths of the original spec file still resolve from the stage folder.
    data = spec_to_dict(spec)
    path.write_text(dumps_toml(data), encoding="utf-8")
    return path


class PackageBackend:
    """Generation through the farm's command, refinement and re-id through their Python APIs."""

    def __init__(self, python: str = sys.executable, quiet: bool = False):
        self.python = python
        self.quiet = quiet

    # -- farm
    def generate(self, spec: Spec, out: Path, *, renderer: str, workers: int) -> None:
        """`python -m headless generate` in a child process: it runs its own broker and workers,
        resumes from its job table when the folder already holds a partial dataset, and keeps
        bpy out of this process."""
        spec_file = _write_spec_file(spec, out.parent / f"{out.name}.spec.toml")
        cmd = [self.python, "-m", "headless", "generate", str(spec_file), "--out", str(out),
               "--workers", str(workers), "--renderer", renderer] + (["--quiet"] if self.quiet else [])
        proc = subprocess.run(cmd, cwd=str(Path(__file__).resolve().parents[1]),
                              stdout=subprocess.DEVNULL if self.quiet else None)
        if proc.returncode != 0:
            raise RuntimeError(f"generation failed (exit {proc.returncode}): {' '.join(cmd)}")

    # -- refiner
    def refine_train(self, source: DataRef, target: DataRef, options: dict[str, Any], out: Path, *,
                     device: str) -> Path:
        from refiner.options import RefinerOptions
        from refiner.train import train

        fields, masks = split_mask_sources(options)
        opts = RefinerOptions.from_dict({**fields, "device": device}) if device else RefinerOptions.from_dict(fields)
        latest = out / "checkpoints" / "latest.pt"
        resume = latest.is_file()
        if resume:  # the interrupted run continues from its checkpoint with its own options
            result = train(None, source.path, target.path, out, resume=True, progress=not self.quiet)
        else:
            result = train(opts, source.path, target.path, out, progress=not self.quiet, **masks)
        return Path(result.latest_checkpoint)

    def refine_apply(self, checkpoint: Path, source: DataRef, out: Path, *, device: str) -> None:
        from refiner.apply import apply

        apply(checkpoint, source.path, out, device=None if device == "auto" else device, overwrite=True,
              progress=not self.quiet)

    # -- re-id
    def reid_train(self, data: DataRef, options: dict[str, Any], out: Path, *, seed: int, device: str,
                   init: ModelRef | None = None) -> ModelRef:
        from . import reid_adapter

        return reid_adapter.train(data, options, out, seed=seed, device=device, init=init, progress=not self.quiet)

    def test_split(self, data: DataRef, *, seed: int) -> TestSplit:
        from . import reid_adapter

        return reid_adapter.test_split(data, seed=seed)

    def embed(self, model: ModelRef, images: list[Path], *, device: str) -> np.ndarray:
        from . import reid_adapter

        return reid_adapter.embed(model, images, device=device)


# ---------------------------------------------------------------------------------------
# Running one stage


@dataclass
class StageInput:
    """What a stage reads: the finished folder of an upstream stage, or the real data."""

    stage_id: str
    path: Path
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageContext:
    backend: Backend
    renderer: str
    workers: int
    real_layout: str = "auto"
    real_name: str = "real"
    real_split: bool = False  # [real] test_path given: the real path is all training side


def data_ref(inp: StageInput, ctx: StageContext) -> DataRef:
    """The dataset an upstream stage produced (or the real data on disk)."""
    if inp.stage_id == REAL_INPUT:
        return DataRef(inp.path, layout=ctx.real_layout, name=ctx.real_name, real=True,
                       folder_role="train" if ctx.real_split else "split")
    if inp.stage_id == REAL_TEST_INPUT:
        return DataRef(inp.path, layout=ctx.real_layout, name=ctx.real_name, real=True, folder_role="test")
    kind = inp.stage_id.split("/", 1)[0]
    if kind not in (GENERATE, REFINE_APPLY):
        raise ValueError(f"{inp.stage_id} does not produce a dataset")
    return DataRef(inp.path / DATASET_DIR, name=inp.stage_id.split("/", 1)[1],
                   real=bool(inp.record.get("real")))


def model_ref(inp: StageInput) -> ModelRef:
    ckpt = inp.record.get("checkpoint")
    return ModelRef(inp.path, inp.path / ckpt if ckpt else None)


def run_stage(stage: Stage, work: Path, inputs: dict[str, StageInput], ctx: StageContext) -> dict[str, Any]:
    """Run one stage into `work` (its partial folder); returns facts for its stage.json.

    Paths in the returned record are relative to the stage folder, which is renamed when done.
    """
    b = ctx.backend
    p = stage.params
    device = p.get("device", "auto")
    if stage.kind == GENERATE:
        from synth_humans_addon.core.spec_io import spec_from_dict

        spec = spec_from_dict({**p["spec"], "base_dir": stage.local.get("base_dir", "")})
        ctx.backend.generate(spec, work / DATASET_DIR, renderer=p["renderer"], workers=ctx.workers)
        return _dataset_facts(work / DATASET_DIR, real=stage.group == "real")
    if stage.kind == REFINE_TRAIN:
        src, tgt = data_ref(inputs["source"], ctx), data_ref(inputs["target"], ctx)
        if tgt.real and (tgt.layout == "cuhk03" or Path(tgt.path).suffix == ".mat" or
                         (Path(tgt.path) / "cuhk-03.mat").is_file()):
            # The refiner reads image folders: CUHK03's .mat release is unpacked by the re-id loader.
            from reid.data.cuhk03 import extract_images

            mat = Path(tgt.path) if Path(tgt.path).suffix == ".mat" else Path(tgt.path) / "cuhk-03.mat"
            tgt = DataRef(extract_images(mat)[0], layout="folder", name=tgt.name, real=True)
        ckpt = b.refine_train(src, tgt, p["options"], work, device=device)
        return {"checkpoint": Path(ckpt).relative_to(work).as_posix()}
    if stage.kind == REFINE_APPLY:
        ck = inputs["checkpoint"]
        b.refine_apply(ck.path / ck.record["checkpoint"], data_ref(inputs["dataset"], ctx), work / DATASET_DIR,
                       device=device)
        return _dataset_facts(work / DATASET_DIR, real=False)
    if stage.kind in (REID_TRAIN, FINETUNE):
        init = model_ref(inputs["model"]) if stage.kind == FINETUNE else None
        model = b.reid_train(data_ref(inputs["dataset"], ctx), p["options"], work, seed=p["seed"], device=device,
                             init=init)
        facts: dict[str, Any] = {}
        if model.checkpoint is not None:
            facts["checkpoint"] = Path(model.checkpoint).relative_to(work).as_posix()
        summary = work / "summary.json"
        if summary.is_file():
            facts["training"] = json.loads(summary.read_text())
        return facts
    if stage.kind == EVALUATE:
        model = ModelRef(Path(), baseline=p["baseline"]) if "baseline" in p else model_ref(inputs["model"])
        results = evaluate_model(model, data_ref(inputs["dataset"], ctx), p, b, device=device)
        (work / RESULTS_FILE).write_text(json.dumps(results, indent=1))
        return {"results": RESULTS_FILE, "summary": {k: v.get("ranks") for k, v in results["protocols"].items()}}
    raise ValueError(f"unknown stage kind {stage.kind!r}")


def _dataset_facts(root: Path, real: bool) -> dict[str, Any]:
    from synth_humans_addon.core.dataset import read_dataset

    ds = read_dataset(root)
    counts: dict[str, int] = {}
    for r in ds.images:
        counts[r.subset] = counts.get(r.subset, 0) + 1
    return {"dataset": DATASET_DIR, "images": len(ds.images), "characters": len(ds.characters), "subsets": counts,
            "real": real}


# ---------------------------------------------------------------------------------------
# Evaluation: reid's protocol driver scores every model


def evaluate_model(model: ModelRef, data: DataRef, params: dict[str, Any], backend: Backend, *,
                   device: str = "auto") -> dict[str, Any]:
    """CMC curves (and mAP) of `model` on `data`'s test split under each requested protocol,
    through `reid.evaluate.evaluate_protocols` (the driver `reid evaluate` uses too).

    Protocols that the test set cannot give (Market-1501's needs query and gallery folders;
    the single-shot ones need identities with two images or two cameras) are reported as
    skipped with the reason.
    """
    from reid.evaluate import ProtocolSettings, chance_protocols, evaluate_protocols

    t0 = time.perf_counter()
    split = backend.test_split(data, seed=params["seed"])
    if len(split.query) == 0 or len(split.gallery) == 0:
        raise ValueError(f"{data.path}: empty test split ({len(split.query)} query, {len(split.gallery)} gallery)")
    images = list(split.query) + list(split.gallery)
    if model.baseline:
        from reid.baselines import baseline_features

        feats = baseline_features(model.baseline, [str(p) for p in images])
    else:
        feats = backend.embed(model, images, device=device)
    pids = np.concatenate([split.q_pids, split.g_pids])
    cams = np.concatenate([split.q_camids, split.g_camids])
    q_idx, g_idx = np.arange(len(split.query)), np.arange(len(split.query), len(images))
    settings = ProtocolSettings(int(params["max_rank"]), int(params["identities"]), int(params["repeats"]),
                                int(params["seed"]))
    out: dict[str, Any] = {"test": str(data.path), "queries": len(split.query), "gallery": len(split.gallery),
                           "gallery_identities": int(len(np.unique(split.g_pids[split.g_pids >= 0]))),
                           "protocols": {}, "skipped": {}}
    for protocol in params["protocols"]:
        if protocol == "market1501" and not split.market_layout:
            out["skipped"][protocol] = "the test set has no Market-1501 query/gallery folders"
            continue
        try:
            r = evaluate_protocols(feats, pids, cams, q_idx, g_idx, [protocol], settings)[protocol]
            chance = chance_protocols(pids, cams, q_idx, g_idx, [protocol], settings)[protocol]
        except ValueError as exc:  # e.g. too few identities seen by two cameras
            out["skipped"][protocol] = str(exc)
            continue
        entry: dict[str, Any] = {"cmc": r.cmc, "chance": chance.cmc, "cmc_area": r.area}
        if r.cmc_std is not None:
            entry.update(cmc_std=r.cmc_std, identities=r.identities, left_out=r.left_out, fallbacks=r.fallbacks)
        if r.mean_ap is not None:
            entry["mAP"] = r.mean_ap
        entry["ranks"] = {str(k): float(r.cmc[k - 1]) for k in (1, 5, 10, 20) if k <= settings.max_rank}
        out["protocols"][protocol] = entry
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def environment_versions() -> dict[str, str]:
    """Versions that matter for reproducing a result (recorded in every stage.json and the report)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": sys.platform}
    for dist in ("synth-humans", "numpy", "torch", "torchvision", "bpy", "anny", "pillow", "pyzmq"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    out["host"] = os.uname().nodename if hasattr(os, "uname") else ""
    return out
