"""The shipped walk cycle (MPFB2 keyframe JSON): per bone and channel Bézier curves,
evaluated without Blender.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from .assets import asset_path


@dataclass(frozen=True)
class CurveKey:
    frame: float
    value: float
    handle_left: tuple[float, float]
    handle_right: tuple[float, float]


@dataclass(frozen=True)
class WalkCycle:
    """An MPFB2 walk cycle: per bone and channel (``location``/``rotation_euler``/``scale``)
    three Bézier curves. `metadata` holds the rig and the leg/arm lengths it was made for."""

    curves: dict[str, dict[str, list[list[CurveKey]]]]
    metadata: dict[str, Any]
    first_frame: float
    last_frame: float

    def sample(self, phase: float) -> dict[str, dict[str, tuple[float, ...]]]:
        """Values of every channel at `phase` ∈ [0, 1) of the cycle (frame = first + phase·span)."""
        frame = self.first_frame + (phase % 1.0) * (self.last_frame - self.first_frame)
        return {bone: {ch: tuple(_eval_curve(keys, frame) for keys in comps) for ch, comps in chans.items()}
                for bone, chans in self.curves.items()}


def _eval_curve(keys: list[CurveKey], frame: float) -> float:
    if not keys:
        return 0.0
    if frame <= keys[0].frame or len(keys) == 1:
        return keys[0].value
    if frame >= keys[-1].frame:
        return keys[-1].value
    i = max(j for j in range(len(keys) - 1) if keys[j].frame <= frame)
    a, b = keys[i], keys[i + 1]
    p0, p1, p2, p3 = (a.frame, a.value), a.handle_right, b.handle_left, (b.frame, b.value)
    lo, hi = 0.0, 1.0  # x(t) is monotonic for sane handles: bisection for x(t) = frame
    for _ in range(40):
        t = 0.5 * (lo + hi)
        x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t ** 2 * p2[0] + t ** 3 * p3[0]
        lo, hi = (t, hi) if x < frame else (lo, t)
    t = 0.5 * (lo + hi)
    return (1 - t) ** 3 * p0[1] + 3 * (1 - t) ** 2 * t * p1[1] + 3 * (1 - t) * t ** 2 * p2[1] + t ** 3 * p3[1]


@functools.lru_cache(maxsize=4)
def load_walk_cycle(name: str = "crappy_experimental_female") -> WalkCycle:
    """Parse ``walkcycles/<name>.json`` into per-channel Bézier curves."""
    with open(asset_path(f"walkcycles/{name}.json"), encoding="utf-8") as f:
        data = json.load(f)
    curves: dict[str, dict[str, list[list[CurveKey]]]] = {}
    frames: list[float] = []
    for bone, by_frame in data["animation_data"].items():
        chans: dict[str, list[list[CurveKey]]] = {}
        for frame_str, channels in sorted(by_frame.items(), key=lambda kv: float(kv[0])):
            frame = float(frame_str)
            frames.append(frame)
            for ch, payload in channels.items():
                comps = chans.setdefault(ch, [[] for _ in payload["values"]])
                for k, (value, meta) in enumerate(zip(payload["values"], payload["metadata"])):
                    comps[k].append(CurveKey(frame, float(value), tuple(meta["handle_left"]), tuple(meta["handle_right"])))
        curves[bone] = chans
    return WalkCycle(curves=curves, metadata=dict(data.get("metadata", {})),
                     first_frame=min(frames), last_frame=max(frames))
