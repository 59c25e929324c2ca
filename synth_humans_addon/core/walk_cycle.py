"""The shipped MPFB2 walk cycle as a table of channel values by phase (numpy, no bpy).

`walk_table()` reads `walkcycles/crappy_experimental_female.json` (`core.mpfb.walk`) once per
process and evaluates its Bézier F-curves on a grid of quarter frames. The character walks
forward in the file: root, feet and knees carry the same 0.785 m of travel over the 40
frames (MPFB repeats it with a REPEAT_OFFSET cycle). Subtracting the linear drift of every
location channel removes exactly that constant-speed travel and keeps the pelvis' own surge
and bob, so the walk stays on the spot and loops; other channels that do not loop (the toes)
are blended into their first key over the last frames. `blender/motion/walk_cycle.py` poses
a rig from `WalkTable.at(phase)`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .mpfb.walk import load_walk_cycle

WALK_CYCLE_NAME = "crappy_experimental_female"
WALK_TABLE_STEPS_PER_FRAME = 4  # the cycle is tabulated at quarter frames, then linearly interpolated
WALK_LOOP_BLEND_FRAMES = 6.0  # non-looping channels are blended into their start over this many frames


@dataclass(frozen=True)
class WalkTable:
    """A walk cycle tabulated on a uniform phase grid, with the forward travel removed and
    its ends made to meet: ``values[(bone, channel)]`` has shape (len(phases), 3) and row
    0 equals the last row."""

    phases: np.ndarray
    values: dict[tuple[str, str], np.ndarray]
    metadata: dict

    def at(self, phase: float) -> dict[tuple[str, str], np.ndarray]:
        """Channel values at `phase` (wrapped into [0, 1)), linearly interpolated."""
        x = (phase % 1.0) * (len(self.phases) - 1)
        i = min(int(x), len(self.phases) - 2)
        t = x - i
        return {k: (1.0 - t) * v[i] + t * v[i + 1] for k, v in self.values.items()}


def _bezier_on_frames(keys: list, frames: np.ndarray, samples: int = 48) -> np.ndarray:
    """One keyed F-curve (Bézier segments between `core.mpfb.walk.CurveKey`s) evaluated at `frames`;
    constant before the first and after the last key, like Blender's default extrapolation."""
    if len(keys) == 1:
        return np.full(len(frames), keys[0].value)
    a, b = keys[:-1], keys[1:]
    p0 = np.array([(k.frame, k.value) for k in a])
    p1 = np.array([k.handle_right for k in a])
    p2 = np.array([k.handle_left for k in b])
    p3 = np.array([(k.frame, k.value) for k in b])
    # Blender clamps handles inside their segment, which keeps x(t) monotonic
    p1[:, 0] = np.clip(p1[:, 0], p0[:, 0], p3[:, 0])
    p2[:, 0] = np.clip(p2[:, 0], p0[:, 0], p3[:, 0])
    t = np.linspace(0.0, 1.0, samples)[None, :, None]
    pts = ((1 - t) ** 3 * p0[:, None] + 3 * (1 - t) ** 2 * t * p1[:, None]
           + 3 * (1 - t) * t ** 2 * p2[:, None] + t ** 3 * p3[:, None]).reshape(-1, 2)
    return np.interp(frames, pts[:, 0], pts[:, 1])


@functools.lru_cache(maxsize=4)
def walk_table(name: str = WALK_CYCLE_NAME) -> WalkTable:
    """The shipped cycle `name` tabulated once per process (see the module docstring)."""
    cycle = load_walk_cycle(name)
    first, last = cycle.first_frame, cycle.last_frame
    steps = int(round((last - first) * WALK_TABLE_STEPS_PER_FRAME)) + 1
    frames = np.linspace(first, last, steps)
    ramp = (frames - first) / (last - first)
    blend_start = last - WALK_LOOP_BLEND_FRAMES
    u = np.clip((frames - blend_start) / WALK_LOOP_BLEND_FRAMES, 0.0, 1.0)
    smooth = u * u * (3.0 - 2.0 * u)
    values: dict[tuple[str, str], np.ndarray] = {}
    for bone, chans in cycle.curves.items():
        for ch, comps in chans.items():
            v = np.stack([_bezier_on_frames(keys, frames) for keys in comps], axis=1)
            gap = v[-1] - v[0]
            if ch == "location":  # constant-speed travel (and any slow drift) removed
                v = v - ramp[:, None] * gap[None, :]
            else:  # end blended into the start
                v = v - smooth[:, None] * gap[None, :]
            values[(bone, ch)] = v
    return WalkTable(phases=np.linspace(0.0, 1.0, steps), values=values, metadata=dict(cycle.metadata))
