"""Typed options of training, finetuning and evaluation (saved in every checkpoint)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from synth_humans_addon.core.cli_conventions import device_name_problem
from synth_humans_addon.core.typed_options import OptionError, check_bounds, options_from_dict
from torchkit import AMP_MODES  # torchkit.device.autocast_dtype's modes (shared with the refiner)

from .data import cuhk03
from .data.layouts import FOLDER_ROLES
from .data.loading import LoadOptions
from .data.registry import AUTO, LAYOUT_ALIASES, layout_names
from .metrics.protocols import PROTOCOLS  # the catalogue's one home (numpy only, no torch)

ARCHS = ("inception", "inception-ibn", "resnet50")  # reid.models.ARCHS (kept here so options need no torch)
LAYOUTS = (AUTO, *layout_names())  # the layout registry's names (reid.data.registry)
BASELINES = ("colour-histogram",)  # the non-learned models of reid.baselines (the catalogue's one home)
# Fields whose value must be one of a few names (also the CLI's `choices`).
CHOICES: dict[str, tuple[str, ...]] = {
    "layout": LAYOUTS, "arch": ARCHS, "sampler": ("random", "pk"), "optimizer": ("sgd", "adam"),
    "cuhk03_images": cuhk03.IMAGE_KINDS, "cuhk03_protocol": cuhk03.PROTOCOLS,
    "subset": ("test", "validation"), "protocols": PROTOCOLS, "folder_role": FOLDER_ROLES,
    "baselines": BASELINES, "amp": AMP_MODES, "channels_last": ("auto", "on", "off"),
}
# Smallest allowed value of numeric fields (checked by `validate`).
MINIMUM: dict[str, float] = {
    "epochs": 1, "batch_size": 1, "num_instances": 1, "features": 1, "eval_every": 1, "val_identities": 2,
    "val_repeats": 1, "repeats": 1, "single_shot_identities": 2, "max_rank": 1, "num_validation": 0, "num_test": 0,
    "max_identities": 0, "max_images_per_identity": 0, "cache_memory_mb": 0, "workers": 0, "threads": 0, "height": 0, "width": 0, "lr": 0, "momentum": 0, "weight_decay": 0,
    "step_size": 0, "gamma": 0, "warmup_epochs": 0, "patience": 0, "plateau_lr_drops": 0, "dropout": 0, "label_smoothing": 0, "triplet_weight": 0,
    "random_erasing": 0, "pad": 0, "colour_jitter": 0, "grayscale": 0, "embedding_lr_mult": 0, "last_stride": 1, "cuhk03_split": 0,
}
MAXIMUM: dict[str, float] = {"dropout": 1, "label_smoothing": 1, "random_erasing": 1, "last_stride": 2, "grayscale": 1,
                             "colour_jitter": 1}


class OptionsError(OptionError):
    """Invalid re-id options; `field` is the bad field (None: the table), the message names it."""


# What `validate` accepts: a layout may also be given by one of its aliases (read as its name).
_VALID_CHOICES = {**CHOICES, "layout": CHOICES["layout"] + tuple(LAYOUT_ALIASES)}


class _Checked:
    """`from_dict` that refuses unknown keys and `validate` that names the first bad field
    (`core.typed_options`: the rules every options table shares)."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Build from a dict (an options file, a checkpoint, an experiment's table); unknown
        keys and wrong types are an OptionsError naming them."""
        if isinstance(d, dict) and isinstance(d.get("amp"), bool):  # checkpoints before amp had modes: true = auto
            d = {**d, "amp": "auto" if d["amp"] else "off"}
        if isinstance(d, dict) and isinstance(d.get("channels_last"), bool):  # before it had modes (the refiner's spelling)
            d = {**d, "channels_last": "on" if d["channels_last"] else "off"}
        return options_from_dict(cls, d, "re-id", OptionsError, " (see `python -m reid train --help`)").validate()

    def validate(self):
        """Raise OptionsError naming the first bad field; returns self."""
        check_bounds(self, "re-id", OptionsError, _VALID_CHOICES, MINIMUM, MAXIMUM,
                     also=lambda name, value: device_name_problem(value) if name == "device" else None)
        return self


class _LoadsDatasets(LoadOptions):
    """Options that load a dataset: the `LoadOptions` fields (declared there once) are theirs,
    so they are flags and keys of the same names (``--num-validation``, ``num_validation``)."""

    def load_options(self) -> LoadOptions:
        return LoadOptions(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LoadOptions)})


@dataclass
class TrainOptions(_Checked, _LoadsDatasets):
    """Everything a training or finetuning run depends on.

    Defaults reproduce the source study's Open-ReID setup: the small Inception network from
    scratch at 144×56, 128-d embedding, dropout 0.5, softmax (cross-entropy) loss, SGD with
    Nesterov momentum, lr 0.1 divided by 10 every `step_size` epochs.
    """

    data: str = ""  # dataset root (generated format, Market-1501, DukeMTMC-reID, MSMT17, CUHK03 .mat, or a plain folder)
    output: str = "runs/reid"  # run folder: checkpoints (best.pt, last.pt), log and history
    # model
    arch: str = "inception"  # inception (the study's, from scratch), inception-ibn, or resnet50 (BNNeck)
    height: int = 0  # input height (0: the architecture's default, 144×56 inception, 256×128 resnet50)
    width: int = 0  # input width (0: the architecture's default)
    features: int = 128  # inception embedding size
    dropout: float = 0.5  # dropout before the classifier
    weights_file: str = ""  # resnet50: torchvision ResNet-50 state dict to start from (nothing is downloaded)
    last_stride: int = 1  # resnet50: stride of the last stage (1 keeps more resolution)
    # losses
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    triplet_weight: float = 0.0  # weight of the batch-hard triplet loss (> 0 needs the P×K sampler)
    triplet_margin: float = 0.3  # triplet margin (≤ 0: soft margin)
    # sampling and augmentation
    sampler: str = "random"  # random, or pk (P identities × K images per batch)
    num_instances: int = 4  # K of P×K batches
    flip: bool = True  # random horizontal flips
    random_erasing: float = 0.0  # random erasing probability
    pad: int = 0  # pad-and-random-crop jitter in pixels
    colour_jitter: float = 0.0  # colour jitter strength s: brightness/contrast/saturation × [1−s, 1+s], hue ± s/4 turn
    grayscale: float = 0.0  # probability of a grey copy of an image
    # optimisation
    epochs: int = 50  # training epochs (at least 1; with --patience the most)
    batch_size: int = 64  # images per batch
    optimizer: str = "sgd"  # sgd (Nesterov momentum) or adam
    lr: float = 0.1  # learning rate
    momentum: float = 0.9  # SGD momentum
    nesterov: bool = True  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 weight decay
    step_size: int = 40  # multiply the learning rate by gamma every this many epochs (0 = never)
    gamma: float = 0.1  # learning-rate factor at each step
    warmup_epochs: int = 0  # linear warm-up from lr/10 over this many epochs
    # with patience, the lr drops by gamma on the first plateau(s) (reid.schedule.Plateau)
    patience: int = 0  # train until the validation score has not improved for this many validations (0 = every epoch)
    plateau_lr_drops: int = 1  # with --patience: learning-rate drops (× gamma) on a plateau before the run stops
    # finetuning
    finetune_from: str = ""  # checkpoint whose embedding network starts this run (finetune --from)
    embedding_lr_mult: float = 1.0  # learning-rate factor of the embedding network (1: measured best for finetuning, docs/results.md)
    # validation
    val_identities: int = 100  # identities per validation draw (mixed-gallery)
    val_repeats: int = 10  # single-shot validation draws averaged
    eval_every: int = 1  # validate every this many epochs
    # running
    seed: int = 0  # random seed (weights, batches, augmentation)
    workers: int = 2  # data-loading processes (0 = in the main process)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = 0  # torch CPU threads (0 = torch's default)
    cache_images: bool = True  # decode and resize every crop once (reid.data.cached); off: a per-epoch PIL pipeline
    cache_memory_mb: int = 0  # decoded crops above this size are memory-mapped in <output>/frames.u8 (0: half the free memory)
    channels_last: str = "auto"  # NHWC memory format: auto (= on, measured faster on CPU and GPU), on or off
    amp: str = "auto"  # mixed precision: auto (GPU: bf16 or fp16; CPU: bf16 where native), off, bf16 or fp16
    resume: bool = False  # continue the run in --output from its last.pt
    progress: bool = True  # progress bars (-q turns them off)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def input_size(self) -> tuple[int, int]:
        from .models import DEFAULT_INPUT

        dh, dw = DEFAULT_INPUT.get(self.arch, (144, 56))
        return (self.height or dh, self.width or dw)

    def augmentation(self):
        """The training augmentations these options ask for, a `reid.data.augment.Augment`."""
        from .data.augment import Augment  # here: the options import no torch

        return Augment(flip=self.flip, pad=self.pad, colour_jitter=self.colour_jitter, grayscale=self.grayscale,
                       random_erasing=self.random_erasing)


@dataclass
class EvalOptions(_Checked, _LoadsDatasets):
    """Evaluating one or more checkpoints on a dataset's test (or validation) set."""

    checkpoints: list[str] = field(default_factory=list)  # checkpoint files (.pt) to evaluate
    # non-learned rows scored beside the checkpoints (reid.baselines); [] for none
    baselines: list[str] = field(default_factory=lambda: ["colour-histogram"])  # non-learned rows scored beside the checkpoints (colour-histogram); --baselines alone for none
    data: str = ""  # dataset root to evaluate on (generated format, Market-1501, DukeMTMC-reID, MSMT17, CUHK03 .mat, or a folder)
    names: list[str] = field(default_factory=list)  # labels in tables and plots (default: file stems)
    output: str = "runs/reid-eval"  # folder for results.json, results.csv and the CMC plots
    subset: str = "test"  # which set to evaluate on
    protocols: list[str] = field(default_factory=list)  # evaluation protocols (default: the dataset's own)
    max_rank: int = 100  # highest rank of the CMC curves (cut to the gallery's identities in plots)
    single_shot_identities: int = 100  # identities per single-shot draw (cross-camera, thesis, mixed-gallery)
    repeats: int = 10  # random draws averaged (single-shot protocols, cuhk03)
    seed: int = 0  # seed of the random draws
    batch_size: int = 128  # images per batch when computing embeddings
    workers: int = 2  # data-loading processes (0 = in the main process)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    folder_role: str = "test"  # folder layout: split | train | test (default here: all of a plain folder is the test set)
    plot: bool = True  # write CMC plots
    progress: bool = True  # progress bars (-q turns them off)
