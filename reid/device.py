"""The one place that turns a device option ("auto", "cpu", "cuda", "cuda:1") into a torch device.

Shared by the re-id trainer, its evaluation and the refiner, so every command reads the option
the same way and a GPU asked for on a machine without one is the same user error everywhere.
"""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" = the GPU when torch sees one, else the CPU. A CUDA device on a machine without
    CUDA raises ValueError (a user error: the CLIs print it as one line)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine")
    return dev
