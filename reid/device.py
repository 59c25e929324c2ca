"""The one place that turns a device option ("auto", "cpu", "cuda", "cuda:1") into a torch device.

Shared by the re-id trainer, its evaluation and the refiner, so every command reads the option
the same way and a GPU asked for on a machine without one is the same user error everywhere.
"""
from __future__ import annotations

import torch

from .options import AMP_MODES


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" = the GPU when torch sees one, else the CPU. A CUDA device on a machine without
    CUDA raises ValueError (a user error: the CLIs print it as one line)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), where oneDNN's bf16
    convolutions are faster than float32; elsewhere bf16 is emulated and slower."""
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(probe is not None and probe() for probe in probes)


def autocast_dtype(mode: str, device: torch.device, cpu_auto: bool = False) -> torch.dtype | None:
    """The mixed-precision dtype for `mode` (one of AMP_MODES) on `device`, or None for float32.

    "auto": on a GPU bf16 where it has it, else fp16; on the CPU bf16 when `cpu_auto` and the
    CPU has native bf16, else float32 (each trainer decides whether its CPU default is bf16:
    a change of numerics is kept only where it measured neutral). fp16 on the CPU is refused
    (no fast kernels; it would only be slower).
    """
    if mode not in AMP_MODES:
        raise ValueError(f"amp {mode!r}: must be one of {', '.join(AMP_MODES)}")
    if mode == "off":
        return None
    if device.type == "cuda":
        if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16
    if mode == "fp16":
        raise ValueError("amp 'fp16': float16 training needs a GPU (use bf16 or off on the CPU)")
    if mode == "bf16" or (cpu_auto and cpu_has_native_bf16()):
        return torch.bfloat16
    return None
