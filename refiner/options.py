"""The one typed options object of a refiner: architecture, losses, schedule, data and device.

It is saved with every checkpoint (`to_dict`) and restored from it (`from_dict`), so a
checkpoint alone says how it was trained and how to rebuild its networks. The defaults
follow the reference CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix) except where a
person re-id crop needs otherwise (non-square frame, no stretching).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from synth_humans_addon.core.cli_conventions import device_name_problem
from synth_humans_addon.core.dataset import SUBSET_TRAIN
from synth_humans_addon.core.typed_options import OptionError, check_bounds, options_from_dict
from torchkit import AMP_MODES  # one catalogue of mixed-precision modes (torchkit.device)

MODELS = ("cyclegan", "ptgan")
PERSON_LOSS_NORMS = ("l1", "l2")
NORMS = ("instance", "batch", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
GAN_MODES = ("lsgan", "vanilla")
PADDINGS = ("edge", "reflect", "constant")
# Fields whose value must be one of a few names (also the command line's `choices`).
CHOICES: dict[str, tuple[str, ...]] = {
    "model": MODELS, "norm": NORMS, "person_loss_norm": PERSON_LOSS_NORMS, "init_type": INIT_TYPES,
    "gan_mode": GAN_MODES, "pad_mode": PADDINGS, "amp": AMP_MODES, "channels_last": ("auto", "on", "off"),
}
# Smallest and largest allowed values of numeric fields (checked by `validate`).
MINIMUM: dict[str, float] = {
    "ngf": 1, "ndf": 1, "n_layers_d": 1, "input_nc": 1, "output_nc": 1, "sample_count": 1, "similarity_width": 1,
    "n_blocks": 0, "n_epochs": 0, "n_epochs_decay": 0, "batch_size": 0, "pool_size": 0, "num_workers": 0,
    "threads": 0, "save_every_epochs": 0, "save_every_steps": 0, "lambda_a": 0, "lambda_b": 0,
    "lambda_identity": 0, "lambda_person": 0, "lambda_similarity": 0, "lr": 0,
}
MAXIMUM: dict[str, float] = {"n_layers_d": 8}


class OptionsError(OptionError):
    """Invalid refiner options (also the segmenter's and `match`'s); the message names the field
    (`field`, `value` and `reason` let the command line name its flag instead: ``--batch-size 3: …``)."""


def min_frame_side(n_layers_d: int) -> int:
    """The smallest height and width the PatchGAN discriminator takes: n_layers_d 4×4 convs of
    stride 2 halve the side, then two of stride 1 take 1 pixel each and must leave one; the
    generator's two downsamplings ask for a multiple of 4 (24 for the default 3 layers)."""
    side = 3 * 2 ** n_layers_d
    return side + (-side) % 4


@dataclass
class RefinerOptions:
    """Everything that defines a refiner and its training run.

    Domain A is the generated (source) domain, B the real (target) camera domain; G_A maps
    A → B (the refiner), G_B maps B → A, D_A judges B-looking images, D_B A-looking ones.
    """

    model: str = "cyclegan"  # cyclegan or ptgan (CycleGAN + person identity loss on the foreground)
    # --- frame: images are fitted into height × width without distortion (aspect kept, padded)
    height: int = 256  # training frame height (multiple of 4, at least 24 with 3 discriminator layers)
    width: int = 128  # training frame width (multiple of 4, at least 24 with 3 discriminator layers)
    load_scale: float = 1.1171875  # fit into a frame this much larger, then random-crop (the reference's 286/256; 1 = no crop)
    flip: bool = True  # random horizontal flips (image and mask together)
    pad_mode: str = "edge"  # letterbox fill around a fitted crop
    # --- architecture
    input_nc: int = 3  # image channels in
    output_nc: int = 3  # image channels out
    ngf: int = 64  # generator width (filters of the first conv)
    ndf: int = 64  # discriminator width
    n_blocks: int = 9  # residual blocks of the ResNet generator (6 or 9 in the reference)
    n_layers_d: int = 3  # PatchGAN layers (3 = 70×70 receptive field)
    norm: str = "instance"  # normalisation layers
    use_dropout: bool = False  # dropout in the generator
    init_type: str = "normal"  # weight initialisation
    init_gain: float = 0.02  # scale of the initial weights
    # --- losses
    gan_mode: str = "lsgan"  # adversarial loss: lsgan (least squares) or vanilla (cross-entropy)
    lambda_a: float = 10.0  # cycle loss weight A → B → A
    lambda_b: float = 10.0  # cycle loss weight B → A → B
    lambda_identity: float = 0.5  # identity-mapping loss G_A(b) ≈ b, relative to lambda_a/b (0 = off)
    lambda_person: float = 10.0  # PTGAN person identity loss weight (ptgan only)
    person_loss_norm: str = "l1"  # l1 (the source study) or l2 (squared error, the released PTGAN code)
    lambda_similarity: float = 0.0  # SPGAN similarity-preserving loss weight: translation near its source, away from the other domain (0 = off; SPGAN: 2)
    similarity_margin: float = 2.0  # contrastive margin of the negative pairs (L2-normalised embeddings: 2 = always push; SPGAN: 2)
    similarity_embedding: str = "joint"  # joint (SPGAN's small Siamese network, trained with the refiner) or a re-id checkpoint of this project (frozen)
    similarity_width: int = 64  # width of the joint Siamese network (embedding size; SPGAN: 64)
    pool_size: int = 50  # image pool of past fakes for the discriminators (0 = none)
    # --- optimisation and schedule
    lr: float = 2e-4  # Adam learning rate
    beta1: float = 0.5  # Adam beta1
    n_epochs: int = 100  # epochs at the initial learning rate
    n_epochs_decay: int = 100  # epochs of linear decay to zero
    batch_size: int = 1  # batch size (0 = pick one that fits the device)
    seed: int = 0  # random seed
    # --- device
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    amp: str = "auto"  # mixed precision: auto (bf16/fp16 on a GPU, off on the CPU), off, bf16 or fp16
    channels_last: str = "auto"  # NHWC memory format: auto (on a GPU), on or off
    num_workers: int = 0  # data-loading processes (0 = in the main process)
    threads: int = 0  # CPU threads for torch (0 = torch's default)
    # --- bookkeeping
    save_every_epochs: int = 1  # keep a numbered checkpoint every N epochs (latest is always kept)
    save_every_steps: int = 0  # also update the latest checkpoint every N steps (0 = at epoch ends only)
    sample_count: int = 4  # images per domain in the fixed sample grid
    source_subsets: list[str] = field(default_factory=lambda: [SUBSET_TRAIN])  # subsets of a dataset source ('all' for every one)
    target_subsets: list[str] = field(default_factory=lambda: [SUBSET_TRAIN])  # subsets of a Market-1501 / generated target ('all' for every one)

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    @property
    def load_size(self) -> tuple[int, int]:
        """(height, width) images are fitted into before the random crop."""
        if self.load_scale <= 1.0:
            return self.height, self.width
        return int(round(self.height * self.load_scale)), int(round(self.width * self.load_scale))

    def validate(self) -> "RefinerOptions":
        """Raise OptionsError naming the first bad field; returns self for chaining."""
        def bad(name: str, why: str):
            raise OptionsError.of_field("refiner", name, getattr(self, name), why)

        check_bounds(self, "refiner", OptionsError, CHOICES, MINIMUM, MAXIMUM,
                     also=lambda name, value: device_name_problem(value) if name == "device" else None)
        for name in ("height", "width"):
            v = getattr(self, name)
            if v <= 0 or v % 4:
                bad(name, "must be a positive multiple of 4 (the generator downsamples twice)")
        for name in ("height", "width"):
            if getattr(self, name) < min_frame_side(self.n_layers_d):
                bad(name, f"must be at least {min_frame_side(self.n_layers_d)}: the PatchGAN discriminator's "
                          f"{self.n_layers_d} layers need that much (fewer layers: --n-layers-d)")
        if self.similarity_margin <= 0:
            bad("similarity_margin", "must be positive")
        if not self.similarity_embedding:
            bad("similarity_embedding", "must be joint or a re-id checkpoint file")
        if not 0 <= self.beta1 < 1:
            bad("beta1", "must be in [0, 1)")
        if self.total_epochs < 1:
            bad("n_epochs", "n_epochs + n_epochs_decay must be at least 1")
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            bad("lambda_identity", "the identity-mapping loss needs input_nc == output_nc")
        if self.lambda_similarity > 0 and self.input_nc != self.output_nc:
            bad("lambda_similarity", "the similarity loss compares both domains' images: needs input_nc == output_nc")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RefinerOptions":
        """Build from a dict (e.g. a checkpoint's); unknown keys and wrong types are an error
        that names them (`core.typed_options`)."""
        return options_from_dict(cls, data, "refiner", OptionsError).validate()

    def replace(self, **changes: Any) -> "RefinerOptions":
        return dataclasses.replace(self, **changes).validate()
