"""Re-id checkpoints: written whole or not at all, recognised by their format marker, and the
trained network rebuilt from one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .models import ReidNet, build_model
from .options import TrainOptions

CHECKPOINT_FORMAT = "synth-humans-reid-checkpoint"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)  # never a half-written checkpoint


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises anything from KeyError to RuntimeError
        raise ValueError(f"{path}: not a synth-humans re-id checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a synth-humans re-id checkpoint")
    return state


def model_from_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[ReidNet, TrainOptions]:
    """The trained network (eval mode) and the options it was trained with."""
    state = load_checkpoint(path)
    opt = TrainOptions.from_dict(state["options"])
    model = build_model(opt.arch, state["num_classes"], opt.features, opt.dropout, "", opt.last_stride)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), opt
