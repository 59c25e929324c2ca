"""The training loop: training and finetuning, one epoch after another, with resume.

Every epoch: one pass over the training identities (the terms of `reid.losses.LOSSES`:
softmax/cross-entropy on the classifier g, plus the batch-hard triplet loss when
`triplet_weight` > 0), then the study's validation score — the normalised area under the
single-shot CMC curve on the validation identities (`reid.validation`) — and a checkpoint
(`reid.checkpoints`): ``last.pt`` always, ``best.pt`` when the score improved.
``history.json`` and ``log.csv`` hold the per-epoch figures. The batches come from
`reid.batches`, embeddings from `reid.features`.

Feature extraction, the validation score and checkpoints are also reachable from here
(``reid.engine.extract_features`` …), as scripts and older code import them.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from torchkit.device import autocast_dtype, describe_amp, resolve_device
from torchkit.distributed import DistContext, process_group

from .batches import set_epoch, training_batches
from .checkpoints import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint, save_checkpoint
from .data import load_dataset
from .data.records import ReidData
from .features import extract_features
from .losses import build_losses
from .models import ReidNet, build_model
from .options import OptionsError, TrainOptions
from .schedule import DROP, STOP, Plateau, step_factor
from .validation import has_validation, validation_score, validation_sets

__all__ = ["CPU_BF16_BY_DEFAULT", "CHECKPOINT_FORMAT", "TrainResult", "train", "finetune", "seed_everything",
           "extract_features", "validation_score", "validation_sets", "load_checkpoint", "save_checkpoint",
           "model_from_checkpoint"]

# Whether `amp = "auto"` trains in bf16 on a CPU with native bf16 (AVX-512 BF16, AMX). On:
# measured neutral on real people over ten training seeds each (rank-1 3.1 % bf16 vs 3.0 %
# float32, docs/results.md) and 1.8x the training speed. Elsewhere bf16 is emulated and slower,
# so "auto" stays float32 there.
CPU_BF16_BY_DEFAULT = True

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_score: float | None
    best_epoch: int | None
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------
# Training


def _lr_factor(opt: TrainOptions, plateau: Plateau):
    def factor(epoch: int) -> float:
        return step_factor(epoch, opt.step_size, opt.gamma, opt.warmup_epochs) * opt.gamma ** plateau.drops

    return factor


def _optimizer(model: ReidNet, opt: TrainOptions) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in model.embedding_parameters() if p.requires_grad],
               "lr": opt.lr * opt.embedding_lr_mult},
              {"params": list(model.classifier.parameters()), "lr": opt.lr}]
    if opt.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov and opt.momentum > 0,
                               weight_decay=opt.weight_decay)
    if opt.optimizer == "adam":
        return torch.optim.Adam(groups, lr=opt.lr, weight_decay=opt.weight_decay)
    raise ValueError(f"optimizer {opt.optimizer!r}: expected 'sgd' or 'adam'")


def _write_logs(out: Path, history: list[dict[str, Any]]) -> None:
    (out / "history.json").write_text(json.dumps(history, indent=1))
    keys = list(dict.fromkeys(k for h in history for k in h))
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def train(opt: TrainOptions, data: ReidData | None = None) -> TrainResult:
    """Train (or finetune, with `opt.finetune_from`) a re-id model; returns where it went.

    `data` can be passed pre-loaded (tests, notebooks); otherwise `opt.data` is loaded.
    Under torchrun it is one rank of a DistributedDataParallel run (docs/reid.md, "Beyond
    one device"; torchkit.distributed).
    """
    with process_group(resolve_device(opt.device)) as ctx:
        return _train(opt, data, ctx)


def _train(opt: TrainOptions, data: ReidData | None, ctx: DistContext) -> TrainResult:
    if opt.threads > 0:
        torch.set_num_threads(opt.threads)
    seed_everything(opt.seed)
    device = ctx.device
    if ctx.enabled:  # DDP: rank 0 reports and writes; every rank takes batch_size / N of each batch
        if opt.batch_size % ctx.world_size:
            why = f"not a multiple of the {ctx.world_size} processes (each takes an equal slice of every batch)"
            raise OptionsError.of_field("re-id", "batch_size", opt.batch_size, why)
        opt = opt if ctx.is_main else replace(opt, progress=False)
    out = Path(opt.output).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        if not opt.data:
            raise ValueError("data: no dataset folder given")
        data = load_dataset(opt.data, opt.load_options())
    if not data.train:
        raise ValueError(f"{opt.data or data.name}: no training images")
    height, width = opt.input_size()
    loader, pk, train_ds = training_batches(data.train, opt, height, width, ctx)
    log.info("dataset %s", json.dumps(data.summary()))
    if data.skipped:
        log.warning("%d unreadable files skipped (first: %s)", len(data.skipped), data.skipped[0])

    model = build_model(opt.arch, train_ds.num_classes, opt.features, opt.dropout, opt.weights_file, opt.last_stride)
    if opt.finetune_from:
        src = load_checkpoint(opt.finetune_from)
        src_opt = TrainOptions.from_dict(src["options"])
        if (src_opt.arch, src_opt.features) != (opt.arch, opt.features):
            raise ValueError(f"finetune_from {opt.finetune_from}: a {src_opt.arch}/{src_opt.features} model, "
                             f"but arch/features are {opt.arch}/{opt.features}")
        model = build_model(opt.arch, src["num_classes"], opt.features, opt.dropout, "", opt.last_stride)
        model.load_state_dict(src["model"])
        model.reset_classifier(train_ds.num_classes)
        log.info("finetuning %s: classifier g reset from %d to %d identities, embedding lr × %g",
                 opt.finetune_from, src["num_classes"], train_ds.num_classes, opt.embedding_lr_mult)
    model = ctx.sync_batchnorm(model)  # DDP: batch-norm statistics of the global batch
    model.to(device)
    memory_format = torch.contiguous_format if opt.channels_last == "off" else torch.channels_last  # auto = on
    model.to(memory_format=memory_format)
    amp_dtype = autocast_dtype(opt.amp, device, cpu_auto=CPU_BF16_BY_DEFAULT)
    log.info("%s", describe_amp(opt.amp, device, cpu_auto=CPU_BF16_BY_DEFAULT))
    # Loss scaling only for float16: bf16 has float32's exponent range.
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    optimizer = _optimizer(model, opt)
    plateau = Plateau(opt.patience, opt.plateau_lr_drops)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(opt, plateau))
    losses = build_losses(opt)

    start_epoch, best_score, best_epoch, history = 0, -math.inf, None, []
    last_path, best_path = out / "last.pt", out / "best.pt"
    if opt.resume and last_path.is_file():
        st = load_checkpoint(last_path)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        torch.set_rng_state(st["torch_rng"])
        start_epoch, history = st["epoch"], st["history"]
        best_score = st["best_score"] if st["best_score"] is not None else -math.inf
        best_epoch = st["best_epoch"]
        plateau = Plateau(**st.get("plateau", plateau.state()))
        scheduler.lr_lambdas = [_lr_factor(opt, plateau)] * len(optimizer.param_groups)
        log.info("resuming %s after epoch %d", last_path, start_epoch)
    net = ctx.wrap(model)  # DDP: gradients averaged over the ranks; `model` itself is what is saved

    def state(epoch: int) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "version": 1, "options": opt.to_dict(), "arch": opt.arch,
                "num_classes": train_ds.num_classes, "train_pids": train_ds.pids, "epoch": epoch,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                "best_score": None if best_score == -math.inf else best_score, "best_epoch": best_epoch,
                "history": history, "dataset": data.summary(), "plateau": plateau.state()}

    has_val = has_validation(data.validation)
    if not has_val:
        log.warning("no usable validation identities: best.pt is the last epoch")
    stopped = bool(history) and history[-1].get("plateau") == STOP  # a finished plateau run stays finished
    for epoch in range(start_epoch, opt.epochs):
        if stopped:
            break
        t0 = time.perf_counter()
        model.train()
        if ctx.enabled:  # dropout (and the reference path's transforms) differ per rank, resume-stable
            torch.manual_seed(ctx.rank_seed(opt.seed, epoch))
        set_epoch(loader, pk, opt.seed, epoch)
        tot_loss = tot_correct = tot_n = 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{opt.epochs}", unit="batch", disable=not opt.progress,
                   leave=False)
        for images, labels in bar:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                o = net(images)
                loss, batch_loss = _batch_loss(o, labels, losses, ctx)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            n = labels.numel()
            tot_loss += batch_loss.item() * n
            tot_correct += float((o.logits.argmax(1) == labels).sum())
            tot_n += n
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}")
        seconds = time.perf_counter() - t0
        tot_loss, tot_correct, tot_n = ctx.all_reduce_sum([tot_loss, tot_correct, tot_n])  # DDP: all ranks'
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[-1]["lr"],
                               "loss": tot_loss / max(tot_n, 1), "accuracy": tot_correct / max(tot_n, 1),
                               "images_per_second": tot_n / max(seconds, 1e-9), "seconds": seconds}
        last = epoch + 1 == opt.epochs
        if has_val and ((epoch + 1) % max(opt.eval_every, 1) == 0 or last):
            score = validation_score(model, data.validation, height, width, device, opt.val_identities,
                                     opt.val_repeats, opt.seed, opt.batch_size, opt.workers,
                                     memory_format=memory_format) if ctx.is_main else None
            row.update(ctx.broadcast_object(score))  # DDP: rank 0 validates, every rank agrees on the best
        improved = "score" in row and row["score"] > best_score
        if improved:
            best_score, best_epoch = row["score"], epoch + 1
        if "score" in row and opt.patience > 0:
            row["plateau"] = plateau.update(improved)  # a DROP lowers the lr from the next epoch on
            stopped = row["plateau"] == STOP
        scheduler.step()
        history.append(row)
        if ctx.is_main:  # DDP: one writer, the others wait at the barrier
            st = state(epoch + 1)
            if improved or (not has_val):
                save_checkpoint(best_path, st)
            save_checkpoint(last_path, st)
            _write_logs(out, history)
        ctx.barrier()
        score = f" score {row['score']:.4f} (rank-1 {row['val_rank1']:.3f})" if "score" in row else ""
        log.info("epoch %d/%d loss %.4f acc %.3f%s%s [%.0f img/s]", epoch + 1, opt.epochs, row["loss"],
                 row["accuracy"], score, " *best*" if improved else "", row["images_per_second"])
        if row.get("plateau") in (DROP, STOP):
            log.info("no better validation score for %d epochs: %s", opt.patience,
                     "learning rate × %g" % opt.gamma if row["plateau"] == DROP else "stopping")
    if ctx.is_main and not best_path.is_file() and last_path.is_file():
        save_checkpoint(best_path, load_checkpoint(last_path))
    ctx.barrier()
    return TrainResult(out, best_path, last_path, None if best_score == -math.inf else best_score, best_epoch,
                       history)


def _batch_loss(o, labels: torch.Tensor, losses, ctx: DistContext):
    """(loss to backpropagate, the batch's loss to report): the weighted sum of the loss
    terms (`reid.losses.build_losses`). In one process both are that sum.

    Under DDP a term on the logits (cross-entropy) is a mean over this rank's slice, weighted
    so that DDP's gradient average is the global batch's mean; a term on the features
    (batch-hard triplet mining needs the whole batch) is computed on all ranks' features
    gathered (the same on every rank; the gather's backward sums the N copies of each slice's
    gradient and DDP divides by N)."""
    n = labels.numel()
    global_n = int(ctx.all_reduce_sum([float(n)])[0]) if ctx.enabled else n
    loss = batch_loss = None
    for _name, weight, term, fn in losses:
        if term.on == "logits":
            value = weight * fn(o.logits.float(), labels)
            scaled = value * ctx.loss_weight(n, global_n)
        else:
            value = scaled = weight * fn(ctx.gather(o.triplet_features.float(), with_grad=True), ctx.gather(labels))
        loss = scaled if loss is None else loss + scaled
        batch_loss = value if batch_loss is None else batch_loss + value
    return loss, batch_loss.detach()


def finetune(opt: TrainOptions, data: ReidData | None = None) -> TrainResult:
    """Train starting from `opt.finetune_from`: its embedding network, a new classifier g."""
    if not opt.finetune_from:
        raise ValueError("finetune_from: no checkpoint to finetune")
    return train(opt, data)
