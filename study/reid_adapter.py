"""The re-id package behind the experiment's Backend: train/finetune, test splits, embeddings.

Imported only when a stage runs (it imports torch). Options from the experiment file's
``[reid] train`` / ``finetune`` tables are `reid.options.TrainOptions` fields; the experiment
sets `data`, `output`, `layout`, `seed`, `device`, `resume` and `finetune_from` itself.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synth_humans_addon.core.dataset import DATASET_FILE

from .refs import DataRef, ModelRef, TestSplit

SET_BY_EXPERIMENT = {"data", "output", "seed", "device", "resume", "finetune_from", "progress"}


def _layout(data: DataRef) -> str:
    """Our own datasets (generated, refined, the stand-in) are always "generated"; real data
    keeps the experiment's layout ("auto": detected by the re-id loader)."""
    return "generated" if (Path(data.path) / DATASET_FILE).is_file() else data.layout


def train(data: DataRef, options: dict[str, Any], out: Path, *, seed: int, device: str, init: ModelRef | None,
          progress: bool = True) -> ModelRef:
    from reid.engine import train as reid_train
    from reid.options import TrainOptions

    known = set(TrainOptions.__dataclass_fields__)
    bad = sorted(set(options) - known)
    if bad:
        raise ValueError(f"[reid] option(s) {', '.join(bad)} unknown (see reid/options.py: TrainOptions)")
    clash = sorted(set(options) & SET_BY_EXPERIMENT)
    if clash:
        raise ValueError(f"[reid] option(s) {', '.join(clash)} are set by the experiment; remove them")
    extra: dict[str, Any] = {}
    if init is not None:
        if init.checkpoint is None:
            raise ValueError(f"{init.path}: the pre-trained model has no checkpoint")
        extra = {"finetune_from": str(init.checkpoint)}  # embedding_lr_mult: the options' (1.0, measured)
    opt = TrainOptions(**{"layout": _layout(data), "folder_role": data.folder_role, **options, **extra,
                          "data": str(data.path), "output": str(out),
                          "seed": seed, "device": device, "resume": (out / "last.pt").is_file(),
                          "progress": progress})
    result = reid_train(opt)
    summary = {"best_score": result.best_score, "best_epoch": result.best_epoch, "epochs": opt.epochs,
               "epochs_trained": len(result.history),
               "training_seconds": round(sum(h.get("seconds", 0.0) for h in result.history), 1),
               "options": opt.to_dict()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return ModelRef(out, Path(result.best_checkpoint))


def test_split(data: DataRef, *, seed: int) -> TestSplit:
    from reid.data import LoadOptions, load_dataset

    d = load_dataset(data.path, LoadOptions(layout=_layout(data), folder_role=data.folder_role))
    q, g = d.query, d.gallery
    return TestSplit(query=[Path(it.path) for it in q], q_pids=np.array([it.pid for it in q], np.int64),
                     q_camids=np.array([it.camid for it in q], np.int64),
                     gallery=[Path(it.path) for it in g], g_pids=np.array([it.pid for it in g], np.int64),
                     g_camids=np.array([it.camid for it in g], np.int64),
                     market_layout="market1501" in d.protocols)


def embed(model: ModelRef, images: list[Path], *, device: str) -> np.ndarray:
    from reid.data.records import ImageItem
    from reid.engine import extract_features, model_from_checkpoint
    from torchkit.device import resolve_device

    if model.checkpoint is None:
        raise ValueError(f"{model.path}: no checkpoint to evaluate")
    dev = resolve_device(device)
    net, opt = model_from_checkpoint(model.checkpoint, dev)
    h, w = opt.input_size()
    items = [ImageItem(str(p), 0, 0) for p in images]
    return extract_features(net, items, h, w, dev, workers=0).cpu().numpy()
