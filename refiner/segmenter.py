"""A small person segmenter trained on our own renders, for masks of real crops.

Every generated image comes with its exact person mask: free supervision no real dataset
has. `train_segmenter` fits a CPU-sized U-Net to a generated dataset's images and masks,
with the generator's own camera model (`synth_humans_addon.core.postprocess`: exposure,
contrast, colour cast, blur, low resolution, noise, JPEG) drawn again as augmentation over
a wider range than any preset uses, so the network sees the blur, noise and blocking of real
cameras, plus the refiner's crop jitter and flips (`refiner.images.PairTransform`, image and
mask alike). Identities are split, seeded, into training and held-out ones; the held-out
IoU is what the run reports.

A run folder holds `segmenter.pt` (weights, options, optimiser, epoch: resumable, and what
`load_segmenter` reads), `history.jsonl` (per epoch: loss, held-out IoU, seconds),
`report.json` and `heldout.png` (held-out crops with their predicted masks).
`load_segmenter(path)` gives a function PIL image → 8-bit mask, the form
`refiner masks --segmenter ours:PATH` and `--target-masks ours:PATH` use.
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from synth_humans_addon.core.postprocess import apply_postprocess, decode_image, encode_jpeg
from synth_humans_addon.core.sampling import PostprocessSample, draw_range
from synth_humans_addon.core.spec import PostprocessSection, Range
from synth_humans_addon.core.typed_options import fixed_fields_changed
from torchkit.device import resolve_device
from torchkit.saving import atomic_save

from .images import PairTransform, fit_box, fit_into, image_to_tensor, load_image
from .options import OptionsError
from .segmenter_options import SegmenterOptions

CHECKPOINT_FORMAT = "synth-humans-segmenter"
CHECKPOINT_NAME = "segmenter.pt"
DEFAULT_PATH_ENV = "SYNTH_HUMANS_SEGMENTER"
DEFAULT_PATH = Path("~/.cache/synth-humans/segmenter.pt")

# The camera augmentation: the generator's degradations over ranges wider than the presets'
# (IV: noise ≤ 0.03, blur 0.2–0.9 px, JPEG 75–95), so the masks hold on cameras worse than ours.
AUGMENT = PostprocessSection(noise_std=Range(0.0, 0.05), blur_sigma=Range(0.0, 1.6), jpeg_quality=Range(25.0, 95.0),
                             downscale=Range(1.0, 2.2), color_cast=Range(0.0, 0.15), exposure=Range(0.5, 1.5),
                             contrast=Range(0.6, 1.3))


# ---------------------------------------------------------------------------------------
# The network


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """A plain U-Net: `depth` max-pool downsamplings, bilinear upsampling, skip concatenations;
    one logit per pixel (person)."""

    def __init__(self, base: int = 12, depth: int = 3, in_channels: int = 3):
        super().__init__()
        chs = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([_Block(in_channels if i == 0 else chs[i - 1], chs[i]) for i in range(depth + 1)])
        self.up = nn.ModuleList([_Block(chs[i + 1] + chs[i], chs[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chs[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.head(x)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice: BCE for every pixel, Dice so thin limbs are not
    traded for the background that covers most of a crop."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)
    return bce + dice.mean()


def iou(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(intersection, union) pixel counts of two boolean masks."""
    return int(np.logical_and(pred, truth).sum()), int(np.logical_or(pred, truth).sum())


# ---------------------------------------------------------------------------------------
# Data


def camera_augmentation(image: np.ndarray, rng: np.random.Generator, section: PostprocessSection = AUGMENT
                        ) -> np.ndarray:
    """One draw of the generator's camera model (`postprocess.apply_postprocess`, then JPEG)
    over `section`'s ranges; uint8 H × W × 3 in and out, same size (masks stay aligned)."""
    cast = draw_range(rng, section.color_cast)
    sample = PostprocessSample(noise_std=draw_range(rng, section.noise_std), blur_sigma=draw_range(rng, section.blur_sigma),
                               jpeg_quality=int(round(draw_range(rng, section.jpeg_quality))),
                               downscale=draw_range(rng, section.downscale),
                               color_gain=[float(1 + rng.uniform(-cast, cast)) for _ in range(3)],
                               seed=int(rng.integers(2 ** 31)), exposure=draw_range(rng, section.exposure),
                               contrast=draw_range(rng, section.contrast))
    return decode_image(encode_jpeg(apply_postprocess(image, sample), sample.jpeg_quality))


@dataclass
class Crops:
    """Decoded once: the images and exact masks of some identities (PIL, original sizes)."""

    images: list[Image.Image]
    masks: list[Image.Image]
    pids: list[int]


def load_crops(data: str | Path, held_out: float, seed: int) -> tuple[Crops, Crops]:
    """(training, held-out) crops of a generated dataset, split by identity (seeded); every
    subset is used, images without a mask are skipped."""
    from synth_humans_addon.core.dataset import DatasetFormatError, read_dataset

    root = Path(data)
    try:
        records = [r for r in read_dataset(root).images if r.mask_path is not None]
    except (DatasetFormatError, FileNotFoundError) as exc:
        raise ValueError(f"--data {data}: not a generated dataset with masks ({exc})") from None
    pids = sorted({r.pid for r in records})
    if len(pids) < 2:
        raise ValueError(f"--data {data}: needs images with masks of at least 2 identities, found {len(pids)}")
    n_held = min(len(pids) - 1, max(1, round(held_out * len(pids))))
    held = set(np.random.default_rng([seed, 0x5E6]).choice(pids, n_held, replace=False).tolist())
    split = (Crops([], [], []), Crops([], [], []))
    for r in sorted(records, key=lambda r: r.path.name):
        part = split[r.pid in held]
        part.images.append(load_image(r.path))
        with Image.open(r.mask_path) as m:
            part.masks.append(m.convert("L"))
        part.pids.append(r.pid)
    return split


class AugmentedCrops(torch.utils.data.Dataset):
    """Training items: crop jitter and flip (image and mask alike), then the camera model and
    channel shuffle on the image. Each item's draws come from (seed, epoch, index), so a
    resumed run sees the same batches."""

    def __init__(self, crops: Crops, opts: SegmenterOptions):
        self.crops, self.opts, self.epoch = crops, opts, 0
        load = (round(opts.height * opts.load_scale), round(opts.width * opts.load_scale))
        self.transform = PairTransform(opts.height, opts.width, *load, flip=True, pad_mode="edge")

    def __len__(self) -> int:
        return len(self.crops.images)

    def __getitem__(self, i: int):
        o = self.opts
        rng = np.random.default_rng([o.seed, self.epoch, i])
        image, mask = self.transform(self.crops.images[i], self.crops.masks[i], self.transform.draw(rng))
        arr = np.asarray(image)
        if rng.random() < o.degrade:
            arr = camera_augmentation(arr, rng)
        if rng.random() < o.channel_shuffle:
            arr = arr[..., rng.permutation(3)]
        target = torch.from_numpy(np.asarray(mask, np.float32) / 255.0)[None]
        return image_to_tensor(Image.fromarray(np.ascontiguousarray(arr))), target


# ---------------------------------------------------------------------------------------
# Inference


class Segmenter:
    """A trained network as a mask function: `segmenter(pil_image)` → uint8 H × W (0 / 255),
    the image's own size. The crop is fitted into the network's frame keeping its aspect,
    as in training, and the prediction cut back out and scaled to the crop. The probability
    is the mean of the crop's and its mirror image's (people are left-right symmetric in
    distribution; measured +0.4 points of held-out IoU on IV at 2× the inference cost)."""

    def __init__(self, net: UNet, opts: SegmenterOptions, device: str | torch.device = "cpu", source: str = ""):
        self.net, self.opts, self.device, self.source = net.eval(), opts, torch.device(device), source

    @torch.no_grad()
    def probabilities(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """Person probability per pixel, float32 in [0, 1], each at its image's size."""
        h, w = self.opts.height, self.opts.width
        batch = torch.stack([image_to_tensor(fit_into(im.convert("RGB"), h, w, Image.BICUBIC, "edge"))
                             for im in images]).to(self.device, memory_format=torch.channels_last)
        probs = torch.sigmoid(0.5 * (self.net(batch) + self.net(batch.flip(-1)).flip(-1))).float().cpu()
        out = []
        for im, p in zip(images, probs):
            left, top, w1, h1 = fit_box(*im.size, h, w)
            p = p[:, top:top + h1, left:left + w1][None]
            out.append(F.interpolate(p, size=(im.height, im.width), mode="bilinear", align_corners=False)[0, 0].numpy())
        return out

    def masks(self, images: Sequence[Image.Image], batch_size: int = 64) -> list[np.ndarray]:
        out = []
        for i in range(0, len(images), batch_size):
            out += [(p >= 0.5).astype(np.uint8) * 255 for p in self.probabilities(images[i:i + batch_size])]
        return out

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.masks([image])[0]

    def __repr__(self) -> str:
        return f"ours:{self.source}"


def default_segmenter_path() -> Path:
    """What `ours` without a path means: $SYNTH_HUMANS_SEGMENTER, else ~/.cache/synth-humans/segmenter.pt."""
    return Path(os.environ.get(DEFAULT_PATH_ENV) or DEFAULT_PATH).expanduser()


def resolve_segmenter_path(path: str | Path | None) -> Path:
    """The checkpoint file of `ours:PATH` (a run folder means its segmenter.pt; none: the default)."""
    p = Path(path).expanduser() if path else default_segmenter_path()
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        how = "" if path else f" (the default for `ours`; set ${DEFAULT_PATH_ENV} or pass ours:PATH)"
        raise FileNotFoundError(f"segmenter {p}: no such checkpoint{how}; make one with "
                                "`python -m refiner segmenter --data GENERATED_DATASET -o DIR`")
    return p


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # a foreign file can make torch warn before it fails
            warnings.simplefilter("ignore")
            d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign or truncated file: torch raises anything
        raise ValueError(f"{path}: not a segmenter checkpoint ({type(exc).__name__})") from None
    if not isinstance(d, dict) or d.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a segmenter checkpoint")
    return d


def load_segmenter(path: str | Path | None = None, device: str = "cpu") -> Segmenter:
    """The segmenter of a checkpoint or run folder (None: `default_segmenter_path()`)."""
    file = resolve_segmenter_path(path)
    d = load_checkpoint(file)
    opts = SegmenterOptions.from_dict(d["options"])
    net = UNet(opts.base, opts.depth)
    net.load_state_dict(d["model"])
    dev = resolve_device(device)
    return Segmenter(net.to(dev, memory_format=torch.channels_last), opts, dev, str(file.resolve()))


def heldout_iou(segmenter: Segmenter, crops: Crops, degrade_seed: int | None = None) -> dict[str, float]:
    """IoU of the predicted masks with the exact ones at each crop's own size: the mean over
    crops and the pooled one (all intersections over all unions). `degrade_seed`: first put
    every crop through one draw of the camera augmentation (seeded per crop)."""
    inter = union = 0
    per_image = []
    for i in range(0, len(crops.images), 64):
        images = crops.images[i:i + 64]
        if degrade_seed is not None:
            images = [Image.fromarray(camera_augmentation(np.asarray(im), np.random.default_rng([degrade_seed, i + j])))
                      for j, im in enumerate(images)]
        for pred, truth in zip(segmenter.masks(images), crops.masks[i:i + 64]):
            a, b = iou(pred >= 128, np.asarray(truth) >= 128)
            inter, union = inter + a, union + b
            per_image.append(a / b if b else 1.0)
    return {"iou_mean": float(np.mean(per_image)), "iou_pooled": inter / max(union, 1), "images": len(per_image)}


def prior_iou(train: Crops, held: Crops, opts: SegmenterOptions) -> float:
    """Mean IoU on the held-out crops of the best answer that ignores the image: the training
    masks' average in the frame, thresholded at ½. What a segmenter must beat to have
    learnt more than where people usually stand."""
    h, w = opts.height, opts.width
    prior = np.mean([np.asarray(fit_into(m, h, w, Image.BILINEAR, "constant", 0), np.float32) for m in train.masks],
                    0) >= 127.5
    ious = []
    for m in held.masks:
        left, top, w1, h1 = fit_box(*m.size, h, w)
        guess = Image.fromarray(prior[top:top + h1, left:left + w1].astype(np.uint8) * 255).resize(m.size, Image.NEAREST)
        a, b = iou(np.asarray(guess) >= 128, np.asarray(m) >= 128)
        ious.append(a / b if b else 1.0)
    return float(np.mean(ious))


# ---------------------------------------------------------------------------------------
# Training


@dataclass
class SegmenterResult:
    output: Path
    checkpoint: Path
    epoch: int
    history: list[dict]
    report: dict[str, Any]


def _lr_factor(opts: SegmenterOptions):
    def factor(epoch: int) -> float:  # cosine from 1 to 0.02 over the epochs
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * epoch / opts.epochs))
    return factor


# What may change when a run resumes (more epochs; where and how fast it runs).
RESUMABLE = frozenset({"epochs", "threads", "device"})


def train_segmenter(data: str | Path, output: str | Path, opts: SegmenterOptions | None = None, *,
                    resume: bool = False, overrides: dict[str, Any] | None = None,
                    progress: bool = True) -> SegmenterResult:
    """Train (or, with `resume`, continue with the run's options and `overrides` of RESUMABLE;
    with no epochs left it only evaluates again) a segmenter on the generated dataset `data`
    into the run folder `output`; returns the held-out report."""
    out = Path(output)
    file = out / CHECKPOINT_NAME
    state = None
    if resume:
        state = load_checkpoint(file)
        bad = fixed_fields_changed(state["options"], overrides, RESUMABLE)
        if bad:
            raise OptionsError(f"cannot change {', '.join(bad)} when resuming (only {', '.join(sorted(RESUMABLE))})",
                               bad[0], (overrides or {})[bad[0]], f"cannot change when resuming (only "
                               f"{', '.join('--' + k for k in sorted(RESUMABLE))})")
        opts = SegmenterOptions.from_dict({**state["options"], **(overrides or {})})
    opts = (opts or SegmenterOptions()).validate()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = resolve_device(opts.device)
    train_crops, held = load_crops(data, opts.held_out, opts.seed)
    torch.manual_seed(opts.seed)
    # channels-last: ~15 % faster convolutions on the CPU for these few-channel layers (measured)
    net = UNet(opts.base, opts.depth).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(opts))
    history: list[dict] = []
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(opts), last_epoch=state["epoch"] - 1)
        history = state["history"]
        torch.set_rng_state(state["torch_rng"])
    start = state["epoch"] if state is not None else 0
    out.mkdir(parents=True, exist_ok=True)
    items = AugmentedCrops(train_crops, opts)
    segmenter = Segmenter(net, opts, device, str(file.resolve()))
    info = {"data": str(Path(data).resolve()), "train_images": len(train_crops.images),
            "train_identities": len(set(train_crops.pids)), "heldout_images": len(held.images),
            "heldout_identities": len(set(held.pids)), "heldout_pids": sorted(set(held.pids))}

    def save(epoch: int) -> None:
        atomic_save({"format": CHECKPOINT_FORMAT, "version": 1, "options": opts.to_dict(), "epoch": epoch,
                           "model": net.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                           "torch_rng": torch.get_rng_state(), "split": info}, file)

    for epoch in range(start, opts.epochs):
        t0 = time.perf_counter()
        items.epoch = epoch
        order = np.random.default_rng([opts.seed, epoch, 0x0D]).permutation(len(items)).tolist()
        batches = [order[i:i + opts.batch_size] for i in range(0, len(order), opts.batch_size)]
        loader = torch.utils.data.DataLoader(items, batch_sampler=batches, num_workers=0)
        net.train()
        total = seen = 0.0
        bar = tqdm(loader, desc=f"segmenter epoch {epoch + 1}/{opts.epochs}", unit="batch", disable=not progress,
                   dynamic_ncols=True, leave=False)
        for x, y in bar:
            x, y = x.to(device, memory_format=torch.channels_last), y.to(device)
            loss = segmentation_loss(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(x), seen + len(x)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        bar.close()
        scheduler.step()
        net.eval()
        row = {"epoch": epoch + 1, "loss": total / max(seen, 1), "lr": optimizer.param_groups[0]["lr"],
               **{f"heldout_{k}": v for k, v in heldout_iou(segmenter, held).items() if k != "images"},
               "seconds": time.perf_counter() - t0}
        history.append(row)
        save(epoch + 1)
        with (out / "history.jsonl").open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in history)
        if progress:
            tqdm.write(f"segmenter epoch {row['epoch']}/{opts.epochs}  loss {row['loss']:.4f}  held-out IoU "
                       f"{row['heldout_iou_mean']:.4f} (pooled {row['heldout_iou_pooled']:.4f})  {row['seconds']:.0f} s")
    net.eval()
    report = {**info, "options": opts.to_dict(), "epochs": opts.epochs,
              "train_minutes": sum(r["seconds"] for r in history) / 60,
              "heldout": heldout_iou(segmenter, held),
              "heldout_degraded": heldout_iou(segmenter, held, degrade_seed=opts.seed + 1),
              "heldout_prior_iou": prior_iou(train_crops, held, opts),
              "threads": torch.get_num_threads(), "device": str(device)}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    heldout_grid(segmenter, held).save(out / "heldout.png")
    return SegmenterResult(out, file, opts.epochs, history, report)


def heldout_grid(segmenter: Segmenter, crops: Crops, count: int = 16) -> Image.Image:
    """Held-out crops, one per column: the crop, and its predicted mask overlaid (person found
    green, person missed red, background taken for person blue)."""
    from .plots import sample_grid

    idx = np.linspace(0, len(crops.images) - 1, min(count, len(crops.images))).round().astype(int)
    images = [crops.images[i] for i in idx]
    overlays = []
    for im, pred, i in zip(images, segmenter.masks(images), idx):
        arr = np.asarray(im, np.float32)
        truth = np.asarray(crops.masks[i]) >= 128
        tint = np.zeros_like(arr)
        tint[truth & (pred >= 128)] = (0, 255, 0)
        tint[truth & (pred < 128)] = (255, 0, 0)
        tint[~truth & (pred >= 128)] = (0, 80, 255)
        hit = (pred >= 128) | truth
        arr[hit] = 0.5 * arr[hit] + 0.5 * tint[hit]
        overlays.append(Image.fromarray(arr.astype(np.uint8)))
    return sample_grid([(str(i), [a, b]) for i, (a, b) in enumerate(zip(images, overlays))])
