"""Which device and which precision: the one place that turns a device option ("auto", "cpu",
"cuda", "cuda:1") into a torch device, and an amp mode (`AMP_MODES`) into an autocast dtype.

Shared by the re-id trainer, its evaluation and the refiner, so every command reads the options
the same way and a GPU asked for on a machine without one is the same user error everywhere.
"""
from __future__ import annotations

import torch

from . import AMP_MODES


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" = the GPU when torch sees one, else the CPU. A CUDA device on a machine without
    CUDA raises ValueError (a user error: the CLIs print it as one line)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which its bf16 convolutions are native.
_ONEDNN_BF16_ISAS = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10")


def cpu_bf16_support() -> tuple[bool, str]:
    """(whether this CPU computes bfloat16 natively, why): the CPU has AVX-512 BF16 or AMX,
    *and* neither torch's kernel choice (``ATEN_CPU_CAPABILITY``) nor oneDNN's
    (``ONEDNN_MAX_CPU_ISA``) is capped below it. The caps matter: they are how an AVX2-only
    machine is reproduced on a newer one, and there bf16 is emulated and slower."""
    import os

    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    if not any(probe is not None and probe() for probe in probes):
        return False, "the CPU has neither AVX-512 BF16 nor AMX"
    capability = torch.backends.cpu.get_cpu_capability()
    if not capability.upper().startswith("AVX512"):
        return False, f"torch's CPU capability is {capability} (ATEN_CPU_CAPABILITY)"
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and not isa.startswith(_ONEDNN_BF16_ISAS):
        return False, f"oneDNN is capped at {isa} (ONEDNN_MAX_CPU_ISA)"
    return True, f"native bf16 (CPU capability {capability})"


def cpu_has_native_bf16() -> bool:
    """Whether bf16 convolutions are native here (see :func:`cpu_bf16_support`)."""
    return cpu_bf16_support()[0]


def describe_amp(mode: str, device: torch.device, cpu_auto: bool = False) -> str:
    """One line saying what `mode` trains in on `device` and why (for logs and benchmarks)."""
    dtype = autocast_dtype(mode, device, cpu_auto)
    name = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    if mode != "auto":
        return f"amp {mode}: {name}"
    if device.type == "cuda":
        return f"amp auto: {name} ({'bf16' if dtype == torch.bfloat16 else 'no bf16'} on this GPU)"
    native, why = cpu_bf16_support()
    if not cpu_auto:
        return f"amp auto: {name} (this trainer's CPU default)"
    return f"amp auto: {name} ({why})"


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
