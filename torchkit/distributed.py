"""Several processes, one training run: torchrun's process group, sharded batches, gathered metrics.

``torchrun --nproc-per-node N -m reid train …`` (or ``-m refiner train``) starts N copies of
the command with RANK, WORLD_SIZE and LOCAL_RANK in their environment. :func:`process_group`
joins them — NCCL on GPUs (rank r on ``cuda:LOCAL_RANK``), gloo on the CPU — and yields a
:class:`DistContext`. Without those variables it yields a one-process context whose helpers
do nothing, so a plain run is exactly what it was before.

The rule both trainers follow: the *global* batch of B items is the one a single process
would train on, and rank r trains on its contiguous slice of it (:meth:`DistContext.take`,
:class:`ShardedBatchSampler`). Per-item mean losses are weighted by
``items on this rank × N / items in the global batch`` (:meth:`DistContext.loss_weight`),
so DDP's average of the ranks' gradients is the gradient of the global batch's mean, even
for an uneven last batch; batch norm is synchronised (:meth:`DistContext.sync_batchnorm`),
so its statistics are the global batch's as well.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r}: expected an integer (set by torchrun)") from None


def env_world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 without torchrun)."""
    return _env_int("WORLD_SIZE", 1)


def is_main_process() -> bool:
    """True in a plain run and on rank 0 of a torchrun job (who prints and writes files)."""
    return _env_int("RANK", 0) == 0


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run; every helper is a no-op when `world_size` is 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives -----------------------------------------------------------------

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the ranks (float64, so counts stay exact)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return t.cpu().tolist()

    def broadcast_object(self, obj, src: int = 0):
        """Rank `src`'s `obj` (any picklable value) on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src, device=self._comm_device())
        return box[0]

    def gather(self, t: torch.Tensor, with_grad: bool = False) -> torch.Tensor:
        """All ranks' `t` concatenated along dim 0, in rank order (every rank's slice of a
        global batch gives the global batch back). `with_grad`: gradients flow back to each
        rank's own slice (summed over the ranks that used it)."""
        if not self.enabled:
            return t
        sizes = [int(n) for n in self.all_reduce_sum([float(len(t)) if r == self.rank else 0.0
                                                        for r in range(self.world_size)])]
        m = max(sizes)  # a short last batch gives uneven slices: pad to the longest, then trim
        mine = t if len(t) == m else torch.cat([t, t.new_zeros((m - len(t),) + tuple(t.shape[1:]))])
        if with_grad:
            parts = _AllGather.apply(mine).chunk(self.world_size)
        else:
            parts = [torch.empty_like(mine) for _ in sizes]
            dist.all_gather(parts, mine.contiguous())
        return torch.cat([p[:n] for p, n in zip(parts, sizes)], 0)

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    # -- sharding --------------------------------------------------------------------

    def bounds(self, n: int) -> tuple[int, int]:
        """[start, stop) of this rank's contiguous slice of `n` items (sizes differ by ≤ 1)."""
        return self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size

    def take(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (dim 0)."""
        if not self.enabled:
            return batch
        lo, hi = self.bounds(len(batch))
        return batch[lo:hi]

    def loss_weight(self, local_items: int, global_items: int) -> float:
        """Factor for a per-item mean loss on this rank's slice: DDP averages the ranks'
        gradients, and with it the weighted means add up to the global batch's mean."""
        return local_items * self.world_size / global_items if self.enabled else 1.0

    def rank_seed(self, seed: int, position: int) -> int:
        """Seed of this rank's torch RNG (dropout, the reference path's transforms) from an
        epoch or step: ranks draw independently, and a run resumed there draws the same."""
        return (seed * 1_000_003 + position) * 1_000 + self.rank

    # -- models ----------------------------------------------------------------------

    def sync_batchnorm(self, model: nn.Module) -> nn.Module:
        """Batch norm over the global batch: torch's SyncBatchNorm on GPUs; on the CPU, where
        torch's refuses to run, :class:`CpuSyncBatchNorm`. The new layers share the old ones'
        parameters, so optimisers built before stay valid."""
        if not self.enabled:
            return model
        if self.device.type == "cuda":
            return nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return convert_cpu_sync_batchnorm(model)

    def wrap(self, model: nn.Module) -> nn.Module:
        """`model` in DistributedDataParallel (gradients averaged over the ranks at backward)."""
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[DistContext]:
    """Join torchrun's process group for the duration (if there is one).

    `device` is the device a single process would use; under torchrun a CUDA device
    becomes ``cuda:LOCAL_RANK``. A group somebody else initialised is used and left open.
    """
    world = env_world_size()
    if world <= 1:
        yield DistContext(device=device)
        return
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    try:
        yield DistContext(rank, world, local_rank, device)
    except BaseException:
        if owner:  # no barrier: the other ranks may never get there (torchrun stops them)
            dist.destroy_process_group()
        raise
    if owner:
        dist.barrier()  # nobody leaves while another rank may still talk to it
        dist.destroy_process_group()


class ShardedBatchSampler:
    """This rank's slices of the global batches of `batch_sampler` (a torch batch sampler).

    A global batch with fewer items than ranks is skipped on every rank (a rank may not
    sit out a step: the others would wait for its gradients)."""

    def __init__(self, batch_sampler, ctx: DistContext):
        self.batch_sampler, self.ctx = batch_sampler, ctx

    def __iter__(self):
        for batch in self.batch_sampler:
            batch = list(batch)
            if len(batch) >= self.ctx.world_size:
                lo, hi = self.ctx.bounds(len(batch))
                yield batch[lo:hi]

    def __len__(self) -> int:  # without iterating: that would draw from a shuffling sampler's generator
        n = len(self.batch_sampler)
        inner = getattr(self.batch_sampler, "sampler", None)
        if inner is not None and not getattr(self.batch_sampler, "drop_last", True):
            short = len(inner) % self.batch_sampler.batch_size
            n -= 0 < short < self.ctx.world_size
        return n


# ---------------------------------------------------------------------------------------
# Collectives autograd differentiates (torch.distributed.nn.functional has them, deprecated)


class _AllReduceSum(torch.autograd.Function):
    """y = Σ_ranks x. Every rank's loss depends on y, so dL/dx = Σ_ranks dL_r/dy."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


class _AllGather(torch.autograd.Function):
    """All ranks' equal-shaped `x`, concatenated along dim 0; the backward pass gives each
    rank the sum over ranks of the gradient of its own part."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = len(x)
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


# ---------------------------------------------------------------------------------------
# Batch norm over the global batch on the CPU


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of all ranks' inputs together.

    torch's SyncBatchNorm runs on GPUs only. Here the per-channel sums go through an
    all-reduce that autograd differentiates (:class:`_AllReduceSum`), so the backward pass
    is the global batch's as well. Eval mode, and a one-process run, use plain batch norm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64)
        dist.all_reduce(count)
        n = float(count.item())
        mean = _AllReduceSum.apply(x.sum(dims)) / n
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dims)) / n  # biased, as batch norm normalises with
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        return y


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm*d replaced by a CpuSyncBatchNorm that shares its
    parameters (requires_grad flags included) and buffers."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        new = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_cpu_sync_batchnorm(child))
    return module
