"""The CycleGAN / PTGAN training step: networks, losses, image pools, optimisers, schedules.

Same losses and update order as the reference CycleGAN (G step with frozen discriminators,
then D step on pooled fakes), with three exact speed-ups that do not change the maths
when the norm is per-sample (instance or none): a generator runs once on the real image and
the identity input stacked into one batch, and a discriminator scores real and pooled fake
images in one batch. On a GPU it adds mixed precision and channels-last memory.

PTGAN adds the person identity loss on the foreground: ‖(G_A(a) − a) ⊙ M(a)‖ and
‖(G_B(b) − b) ⊙ M(b)‖, mean over all pixels, L1 (the source study) or squared (released code).
`lambda_similarity` > 0 adds SPGAN's similarity-preserving loss (`refiner.similarity`), with
its Siamese network S updated after the discriminators.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchkit.device import autocast_dtype, resolve_device
from torchkit.distributed import DistContext

from .networks import build_discriminator, build_generator, init_weights
from .options import RefinerOptions
from .similarity import JOINT, build_embedding, similarity_losses

CHECKPOINT_FORMAT = "synth-humans-refiner"
CHECKPOINT_VERSION = 1
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "person_A", "D_B", "G_B", "cycle_B", "idt_B", "person_B")
SIMILARITY_LOSS_NAMES = ("sim_A", "sim_B")  # the generators' similarity terms (lambda_similarity > 0)
SIAMESE_LOSS_NAME = "S"  # the joint Siamese network's own contrastive loss


def person_identity_loss(generated: torch.Tensor, source: torch.Tensor, mask: torch.Tensor, norm: str = "l1"
                         ) -> torch.Tensor:
    """Mean of |(generated − source) ⊙ mask| (l1) or its square (l2) over all pixels.

    Zero wherever the mask is zero: the background may change freely, the person may not.
    `mask` is N × 1 × H × W in [0, 1] and broadcasts over the channels.
    """
    diff = (generated.float() - source.float()) * mask.float()
    return diff.abs().mean() if norm == "l1" else diff.square().mean()


class GANLoss(nn.Module):
    """LSGAN (mean squared error to 1 / 0) or vanilla (BCE with logits), as in the reference."""

    def __init__(self, mode: str = "lsgan"):
        super().__init__()
        self.mode = mode
        self.loss = nn.MSELoss() if mode == "lsgan" else nn.BCEWithLogitsLoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return self.loss(prediction, target)


class ImagePool:
    """The reference's history of generated images (Shrivastava et al.): once full, each query
    returns, with probability ½, an older fake (replaced by the new one), else the new one.
    It has its own random generator so a resumed run draws the same."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:
                i = self.rng.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"images": [t.cpu() for t in self.images], "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images = [t.to(device) for t in state["images"]]
        rng = state["rng"]
        self.rng.setstate((rng[0], tuple(rng[1]), rng[2]))


def resolve_amp(opts: RefinerOptions, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full fp32 (`torchkit.device.autocast_dtype`; `auto` stays
    float32 on the CPU: bf16 GAN training there is not measured yet)."""
    return autocast_dtype(opts.amp, device, cpu_auto=False)


def auto_batch_size(opts: RefinerOptions, device: torch.device) -> int:
    """1 on the CPU (the reference's batch size); on a GPU as many as half the free memory holds,
    estimated from ~1.4 GB per 256×256 sample of the default fp32 model, at most 32."""
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    per_sample = 1.4e9 * (opts.height * opts.width / 65536) * (opts.ngf / 64) * (0.6 if opts.amp != "off" else 1.0)
    return int(max(1, min(32, 0.5 * free // per_sample)))


@dataclass
class TrainState:
    epoch: int = 0  # epochs finished
    step: int = 0  # optimisation steps done in all
    step_in_epoch: int = 0  # items of the current epoch done (for mid-epoch resume)


class RefinerModel:
    """Two generators, two discriminators, their optimisers and schedules, and the step."""

    def __init__(self, opts: RefinerOptions, device: torch.device | str | None = None, for_training: bool = True):
        self.opts = opts.validate()
        self.device = resolve_device(opts.device) if device is None else torch.device(device)
        self.amp_dtype = resolve_amp(opts, self.device)
        self.channels_last = opts.channels_last == "on" or (opts.channels_last == "auto" and self.device.type == "cuda")
        # Stacking batches is exact only if normalisation is per sample.
        self.stack_batches = opts.norm != "batch"
        gen = torch.Generator().manual_seed(opts.seed)
        self.G_A = init_weights(build_generator(opts), opts.init_type, opts.init_gain, gen)
        self.G_B = init_weights(build_generator(opts, opts.output_nc, opts.input_nc), opts.init_type, opts.init_gain, gen)
        self.nets: dict[str, nn.Module] = {"G_A": self.G_A, "G_B": self.G_B}
        self.for_training = for_training
        if for_training:
            self.D_A = init_weights(build_discriminator(opts, opts.output_nc), opts.init_type, opts.init_gain, gen)
            self.D_B = init_weights(build_discriminator(opts, opts.input_nc), opts.init_type, opts.init_gain, gen)
            self.nets.update(D_A=self.D_A, D_B=self.D_B)
        # SPGAN's embedding, drawn after the GAN's networks so runs without it keep their init.
        self.embedding: nn.Module | None = None
        if for_training and opts.lambda_similarity > 0:
            self.embedding = build_embedding(opts.similarity_embedding, opts.input_nc, opts.similarity_width,
                                             self.device).to(self.device)
            if opts.similarity_embedding == JOINT:  # a plain (norm-free) CNN: He init, not the GAN's N(0, 0.02)
                self.nets["S"] = init_weights(self.embedding, "kaiming", generator=gen)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        for net in self.nets.values():
            net.to(self.device, memory_format=memory_format)
        self.state = TrainState()
        self.ctx, self.train_nets = DistContext(device=self.device), self.nets  # see distribute()
        if not for_training:
            for net in self.nets.values():
                net.eval().requires_grad_(False)
            return
        self.gan_loss = GANLoss(opts.gan_mode)
        self.l1 = nn.L1Loss()
        self.pool_A = ImagePool(opts.pool_size, opts.seed * 2 + 1)  # fakes of domain A (from G_B)
        self.pool_B = ImagePool(opts.pool_size, opts.seed * 2 + 2)  # fakes of domain B (from G_A)
        betas = (opts.beta1, 0.999)
        self.opt_G = torch.optim.Adam(itertools.chain(self.G_A.parameters(), self.G_B.parameters()), opts.lr, betas)
        self.opt_D = torch.optim.Adam(itertools.chain(self.D_A.parameters(), self.D_B.parameters()), opts.lr, betas)
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, self.lr_factor)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, self.lr_factor)
        self.opt_S = self.sched_S = None
        if "S" in self.nets:
            self.opt_S = torch.optim.Adam(self.nets["S"].parameters(), opts.lr, betas)
            self.sched_S = torch.optim.lr_scheduler.LambdaLR(self.opt_S, self.lr_factor)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def distribute(self, ctx: DistContext) -> None:
        """Train as one rank of a DistributedDataParallel run (after loading any checkpoint).

        Each rank gets its slice of every global batch; gradients are averaged by DDP, batch
        norm (norm = batch) is synchronised, and the image pools see the whole global batch,
        so the step is a one-process step on that batch. The discriminators' DDP wrappers
        are used only in their own update: in the generators' update they are frozen and
        called directly (DDP would wait for their gradients).
        """
        self.ctx = ctx
        if not ctx.enabled:
            return
        self.nets = {name: ctx.sync_batchnorm(net) for name, net in self.nets.items()}  # same modules, BN swapped
        self.train_nets = {name: ctx.wrap(net) for name, net in self.nets.items()}

    def _pooled(self, pool: ImagePool, fakes: torch.Tensor) -> torch.Tensor:
        """`pool.query` on the global batch's fakes (every rank keeps the same pool), this rank's part."""
        if not self.ctx.enabled or pool.size == 0:
            return pool.query(fakes)
        return self.ctx.take(pool.query(self.ctx.gather(fakes)))

    # -- schedule --------------------------------------------------------------------

    def lr_factor(self, epoch: int) -> float:
        """Constant for n_epochs, then linear decay towards zero over n_epochs_decay (reference `linear`)."""
        o = self.opts
        return 1.0 - max(0, epoch + 1 - o.n_epochs) / float(o.n_epochs_decay + 1)

    @property
    def learning_rate(self) -> float:
        return self.opt_G.param_groups[0]["lr"]

    @property
    def loss_names(self) -> tuple[str, ...]:
        """The losses `train_step` returns, in order."""
        return (LOSS_NAMES + (SIMILARITY_LOSS_NAMES if self.embedding is not None else ())
                + ((SIAMESE_LOSS_NAME,) if "S" in self.nets else ()))

    def end_epoch(self) -> None:
        self.sched_G.step()
        self.sched_D.step()
        if self.sched_S is not None:
            self.sched_S.step()
        self.state.epoch += 1
        self.state.step_in_epoch = 0

    # -- the step --------------------------------------------------------------------

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last and t.dim() == 4 else t

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def _run_pair(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor | None):
        """net(x), net(y) — in one call when that is exact."""
        if y is None:
            return net(x), None
        if self.stack_batches:
            out = net(torch.cat([x, y], 0))
            return out[: x.shape[0]], out[x.shape[0]:]
        return net(x), net(y)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One generator update then one discriminator update; returns the losses."""
        o = self.opts
        real_A, real_B = self._to_device(batch["A"]), self._to_device(batch["B"])
        use_idt = o.lambda_identity > 0
        use_person = o.model == "ptgan" and o.lambda_person > 0
        use_sim, joint = self.embedding is not None, "S" in self.nets
        zero = torch.zeros((), device=self.device)
        G_A, G_B, D_A, D_B = (self.train_nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))  # DDP wrappers, or the nets
        n = real_A.shape[0]
        items = int(self.ctx.all_reduce_sum([float(n)])[0]) if self.ctx.enabled else n  # the global batch
        weight = self.ctx.loss_weight(n, items)  # 1 in one process

        # Generators: discriminators frozen so their gradients stay untouched.
        self.D_A.requires_grad_(False)
        self.D_B.requires_grad_(False)
        if joint:
            self.embedding.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self._autocast():
            fake_B, idt_A = self._run_pair(G_A, real_A, real_B if use_idt else None)
            fake_A, idt_B = self._run_pair(G_B, real_B, real_A if use_idt else None)
            rec_A = G_B(fake_B)
            rec_B = G_A(fake_A)
            loss_G_A = self.gan_loss(self.D_A(fake_B), True)
            loss_G_B = self.gan_loss(self.D_B(fake_A), True)
        loss_cycle_A = self.l1(rec_A.float(), real_A.float()) * o.lambda_a
        loss_cycle_B = self.l1(rec_B.float(), real_B.float()) * o.lambda_b
        loss_idt_A = self.l1(idt_A.float(), real_B.float()) * o.lambda_b * o.lambda_identity if use_idt else zero
        loss_idt_B = self.l1(idt_B.float(), real_A.float()) * o.lambda_a * o.lambda_identity if use_idt else zero
        if use_person:
            mask_A, mask_B = self._to_device(batch["A_mask"]), self._to_device(batch["B_mask"])
            loss_person_A = person_identity_loss(fake_B, real_A, mask_A, o.person_loss_norm) * o.lambda_person
            loss_person_B = person_identity_loss(fake_A, real_B, mask_B, o.person_loss_norm) * o.lambda_person
        else:
            loss_person_A = loss_person_B = zero
        extra = []  # the similarity terms (and S's loss below), when on
        if use_sim:  # through the frozen embedding, called without its DDP wrapper like the discriminators
            with self._autocast():
                sim_A, sim_B = similarity_losses(self.embedding, real_A, fake_B, real_B, fake_A, o.similarity_margin)
            extra = [sim_A * o.lambda_similarity, sim_B * o.lambda_similarity]
        loss_G = (loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
                  + loss_person_A + loss_person_B + sum(extra, zero))
        self.scaler.scale(loss_G * weight if self.ctx.enabled else loss_G).backward()
        self.scaler.step(self.opt_G)

        # Discriminators on real images and pooled fakes, each half-weighted (reference).
        self.D_A.requires_grad_(True)
        self.D_B.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        pooled_B = self._pooled(self.pool_B, fake_B.detach())
        pooled_A = self._pooled(self.pool_A, fake_A.detach())
        with self._autocast():
            real_score_A, fake_score_A = self._run_pair(D_A, real_B, pooled_B.to(real_B.dtype))
            real_score_B, fake_score_B = self._run_pair(D_B, real_A, pooled_A.to(real_A.dtype))
        loss_D_A = 0.5 * (self.gan_loss(real_score_A, True) + self.gan_loss(fake_score_A, False))
        loss_D_B = 0.5 * (self.gan_loss(real_score_B, True) + self.gan_loss(fake_score_B, False))
        self.scaler.scale((loss_D_A + loss_D_B) * weight if self.ctx.enabled else loss_D_A + loss_D_B).backward()
        self.scaler.step(self.opt_D)
        if joint:  # S learns the pairs with the translations fixed (SPGAN's alternating update)
            self.embedding.requires_grad_(True)
            self.opt_S.zero_grad(set_to_none=True)
            with self._autocast():
                s_A, s_B = similarity_losses(self.train_nets["S"], real_A, fake_B.detach(), real_B, fake_A.detach(),
                                             o.similarity_margin)
            loss_S = s_A + s_B
            self.scaler.scale(loss_S * weight if self.ctx.enabled else loss_S).backward()
            self.scaler.step(self.opt_S)
            extra.append(loss_S)
        self.scaler.update()

        self.state.step += 1
        self.state.step_in_epoch += items
        values = torch.stack([loss_D_A, loss_G_A, loss_cycle_A, loss_idt_A, loss_person_A,
                              loss_D_B, loss_G_B, loss_cycle_B, loss_idt_B, loss_person_B,
                              *(v.float() for v in extra)]).detach().float()
        if self.ctx.enabled:  # the global batch's means: the ranks' means weighted by their items
            return dict(zip(self.loss_names, (v / items for v in self.ctx.all_reduce_sum((values * n).cpu().tolist()))))
        return dict(zip(self.loss_names, values.cpu().tolist()))  # one device sync per step

    # -- inference -------------------------------------------------------------------

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Run G_A (AtoB, generated → real look) or G_B (BtoA) in eval mode; fp32 output on the CPU."""
        net = self.G_A if direction == "AtoB" else self.G_B
        was_training = net.training
        net.eval()
        try:
            with self._autocast():
                out = net(self._to_device(images))
        finally:
            net.train(was_training)
        return out.float().cpu().contiguous()

    @torch.no_grad()
    def cycle(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """fake_B, rec_A, fake_A, rec_B for a sample grid."""
        fake_B = self.translate(real_A, "AtoB")
        fake_A = self.translate(real_B, "BtoA")
        return {"fake_B": fake_B, "rec_A": self.translate(fake_B, "BtoA"),
                "fake_A": fake_A, "rec_B": self.translate(fake_A, "AtoB")}

    # -- checkpoints -----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                             "options": self.opts.to_dict(), "state": vars(self.state).copy(),
                             "nets": {k: {n: t.contiguous() for n, t in v.state_dict().items()}
                                      for k, v in self.nets.items()}}
        if self.for_training:
            d.update(opt_G=self.opt_G.state_dict(), opt_D=self.opt_D.state_dict(),
                     sched_G=self.sched_G.state_dict(), sched_D=self.sched_D.state_dict(),
                     pool_A=self.pool_A.state_dict(), pool_B=self.pool_B.state_dict(),
                     scaler=self.scaler.state_dict())
            if self.opt_S is not None:
                d.update(opt_S=self.opt_S.state_dict(), sched_S=self.sched_S.state_dict())
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        check_checkpoint(d)
        for name, net in self.nets.items():
            if name not in d["nets"]:
                raise KeyError(f"checkpoint has no {name} weights (saved for inference only?)")
            net.load_state_dict(d["nets"][name])
        self.state = TrainState(**d["state"])
        if self.for_training:
            if "opt_G" not in d:
                raise KeyError("checkpoint holds no optimiser state; it cannot resume training")
            self.opt_G.load_state_dict(d["opt_G"])
            self.opt_D.load_state_dict(d["opt_D"])
            self.sched_G.load_state_dict(d["sched_G"])
            self.sched_D.load_state_dict(d["sched_D"])
            self.pool_A.load_state_dict(d["pool_A"], self.device)
            self.pool_B.load_state_dict(d["pool_B"], self.device)
            self.scaler.load_state_dict(d["scaler"])
            if self.opt_S is not None:
                self.opt_S.load_state_dict(d["opt_S"])
                self.sched_S.load_state_dict(d["sched_S"])


def check_checkpoint(d: Any, path: str = "checkpoint") -> None:
    if not isinstance(d, dict) or d.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a synth-humans refiner checkpoint")
    if d.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {d.get('version')} is newer than this code ({CHECKPOINT_VERSION})")


def load_checkpoint(path, map_location="cpu") -> dict[str, Any]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path}: not found")
    try:
        d = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # a truncated or foreign file: torch raises anything from KeyError to RuntimeError
        raise ValueError(f"{path}: not a refiner checkpoint ({type(exc).__name__})") from None
    check_checkpoint(d, str(path))
    return d


def load_generator_model(path, device: str | None = None, options_override: dict | None = None) -> RefinerModel:
    """A RefinerModel with only the generators, ready to translate, from a checkpoint."""
    d = load_checkpoint(path)
    opts = RefinerOptions.from_dict({**d["options"], **(options_override or {})})
    model = RefinerModel(opts, device or resolve_device(opts.device), for_training=False)
    for name in ("G_A", "G_B"):
        model.nets[name].load_state_dict(d["nets"][name])
    model.state = TrainState(**d["state"])
    return model
