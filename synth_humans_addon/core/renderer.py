"""The renderer contract: one character of a spec in, its images out.

Two renderers meet it, and the farm's worker (`headless/worker_render.py`) calls either through it:

* the Blender renderer, `blender/job.CharacterRenderer`: one `RenderSession` kept between
  calls (a new one only when the spec changes), so a worker builds its scene once;
* the stand-in, `headless/standin.render_character`: PIL silhouettes instead of Blender,
  for tests and benchmarks.

Called on the thread that may use bpy. It returns one `RenderedImage` per
`character.images` entry, in their order: `k` (the image's index in its character), the
JPEG, the PNG mask (8-bit, 255 = person, the image's size) and `info`, a JSON-able dict
whose fields are among `headless.protocol.INFO_SCHEMA` (both give `bbox`, `frame_size`,
`crop_size` and `keypoints`). It raises on a character it cannot render; the worker reports
that job as failed. An image with no person pixels or no light is such a failure
(`check_not_blank`), never a saved image.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .dataset import RenderedImage
    from .sampling import CharacterSample
    from .spec import Spec


# The renderers, by the name that commands, experiment files and the add-on use: the
# Blender one and the stand-in (see above).
RENDERERS = ("bpy", "standin")


class Renderer(Protocol):
    """Renders every image of one character of `spec` (see the module docstring)."""

    def __call__(self, spec: Spec, character: CharacterSample) -> list[RenderedImage]: ...


class BlankRenderError(RuntimeError):
    """A render that came out empty (no person pixels, or a black image): never saved silently."""


def check_not_blank(rgb: np.ndarray, mask: np.ndarray, what: str) -> None:
    """Refuse images with no person pixels or no light: they would poison a training set."""
    if mask.max() < 128:
        raise BlankRenderError(f"{what}: the person mask is empty (character outside the crop?)")
    if rgb.max() < 8:
        raise BlankRenderError(f"{what}: the image is black (no light reaches the camera)")
