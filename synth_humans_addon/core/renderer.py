"""The renderer contract: one character of a spec in, its images out.

Two renderers meet it, and the farm's worker (`headless/worker.py`) calls either through it:

* the Blender renderer, `blender/job.CharacterRenderer`: one `RenderSession` kept between
  calls (a new one only when the spec changes), so a worker builds its scene once;
* the stand-in, `headless/standin.render_character`: PIL silhouettes instead of Blender,
  for tests and benchmarks.

Called on the thread that may use bpy. It returns one `RenderedImage` per
`character.images` entry, in their order: `k` (the image's index in its character), the
JPEG, the PNG mask (8-bit, 255 = person, the image's size) and `info`, a JSON-able dict
whose fields are among `headless.protocol.INFO_SCHEMA` (both give `bbox`, `frame_size`,
`crop_size` and `keypoints`). It raises on a character it cannot render; the worker reports
that job as failed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .dataset import RenderedImage
    from .sampling import CharacterSample
    from .spec import Spec


class Renderer(Protocol):
    """Renders every image of one character of `spec` (see the module docstring)."""

    def __call__(self, spec: Spec, character: CharacterSample) -> list[RenderedImage]: ...
