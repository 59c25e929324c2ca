"""Typed options of training, finetuning and evaluation (saved in every checkpoint)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class _LoadsDatasets:
    """Options classes that carry the dataset-loading fields (same names as `LoadOptions`)."""

    def load_options(self):
        from .data.layouts import LoadOptions

        return LoadOptions(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LoadOptions)})


@dataclass
class TrainOptions(_LoadsDatasets):
    """Everything a training or finetuning run depends on.

    Defaults reproduce the source study's Open-ReID setup: the small Inception network from
    scratch at 144×56, 128-d embedding, dropout 0.5, softmax (cross-entropy) loss, SGD with
    Nesterov momentum, lr 0.1 divided by 10 every `step_size` epochs.
    """

    data: str = ""  # dataset root (any supported layout)
    output: str = "runs/reid"  # folder for checkpoints, log and history
    layout: str = "auto"
    # data splitting / loading
    num_validation: int = 100
    num_test: int = 100
    split_seed: int = 0
    check_images: bool = True
    cuhk03_images: str = "labeled"
    cuhk03_protocol: str = "classic"
    cuhk03_split: int = 0
    folder_role: str = "split"  # `folder` layout: split | train (all of it trains) | test
    # model
    arch: str = "inception"  # inception | resnet50
    height: int = 0  # 0: the architecture's default (144×56 inception, 256×128 resnet50)
    width: int = 0
    features: int = 128  # inception embedding size
    dropout: float = 0.5
    weights_file: str = ""  # resnet50: torchvision state dict to start from (nothing is downloaded)
    last_stride: int = 1
    # losses
    label_smoothing: float = 0.0
    triplet_weight: float = 0.0  # > 0 adds the batch-hard triplet loss (needs the P×K sampler)
    triplet_margin: float = 0.3  # ≤ 0: soft margin
    # sampling and augmentation
    sampler: str = "random"  # random | pk
    num_instances: int = 4  # K of P×K batches
    flip: bool = True
    random_erasing: float = 0.0  # probability
    pad: int = 0  # pad-and-random-crop jitter in pixels
    colour_jitter: float = 0.0  # strength s: brightness/contrast/saturation × [1−s, 1+s], hue ± s/4 turn
    grayscale: float = 0.0  # probability of a grey copy
    # optimisation
    epochs: int = 50
    batch_size: int = 64
    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    step_size: int = 40  # lr × gamma every step_size epochs
    gamma: float = 0.1
    warmup_epochs: int = 0  # linear warm-up from lr/10
    # finetuning
    finetune_from: str = ""  # checkpoint whose embedding network starts this run
    embedding_lr_mult: float = 1.0  # learning-rate factor of the embedding network (finetune: 0.1)
    # validation
    val_identities: int = 100  # single-shot draw size on the validation set
    val_repeats: int = 10
    eval_every: int = 1
    # running
    seed: int = 0
    workers: int = 2
    device: str = "auto"  # auto | cpu | cuda | cuda:1
    threads: int = 0  # torch CPU threads (0 = torch's default)
    cache_images: bool = True  # decode and resize every crop once (reid.data.cached); false: per-epoch PIL pipeline
    channels_last: bool = True  # NHWC memory format (faster convolutions on CPU and GPU)
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    resume: bool = False  # continue from <output>/last.pt
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def input_size(self) -> tuple[int, int]:
        from .models import DEFAULT_INPUT

        dh, dw = DEFAULT_INPUT.get(self.arch, (144, 56))
        return (self.height or dh, self.width or dw)


@dataclass
class EvalOptions(_LoadsDatasets):
    """Evaluating one or more checkpoints on a dataset's test (or validation) set."""

    checkpoints: list[str] = field(default_factory=list)
    # non-learned rows scored beside the checkpoints (reid.baselines); [] for none
    baselines: list[str] = field(default_factory=lambda: ["colour-histogram"])
    data: str = ""
    names: list[str] = field(default_factory=list)  # labels in tables and plots (default: file stems)
    output: str = "runs/reid-eval"
    layout: str = "auto"
    subset: str = "test"  # test | validation
    protocols: list[str] = field(default_factory=list)  # default: the dataset's own
    max_rank: int = 100
    single_shot_identities: int = 100
    repeats: int = 10
    seed: int = 0
    batch_size: int = 128
    workers: int = 2
    device: str = "auto"
    num_validation: int = 100
    num_test: int = 100
    split_seed: int = 0
    check_images: bool = True
    cuhk03_images: str = "labeled"
    cuhk03_protocol: str = "classic"
    cuhk03_split: int = 0
    folder_role: str = "test"  # `folder` layout: a folder given to evaluate is a test set (or: split)
    plot: bool = True
    progress: bool = True
