"""The one stand-in figure: a flat-coloured person drawn with PIL, with its exact mask.

The farm's stand-in renderer (`headless/standin.py`) and re-id's procedural datasets
(`reid/data/synthetic.py`) draw with it: each builds a `Figure` from a character's samples
(`figure_of`), may move or scale it, and adds its own finish (light and noise, encoding).
Plain Python and PIL: no bpy, no torch. (`refiner/synthetic.py` still draws its own figure.
Its two-process test asserts that DDP and one process refine to within one 8-bit level, and
that holds only where tiny-GAN training is not chaotic on the data. Measured on 6 steps: one
process with 1 vs 2 threads differs by at most 1 level on the refiner's figure, but by up to
17 levels on this figure, so float rounding alone already breaks the assertion there.)

The figure faces the camera by `facing` (cos of the viewing azimuth): side views are
narrower, back views hide the face under the hair and show a backpack.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .palettes import hex_to_srgb
from .sampling import CharacterSample, ImageSample

RGB = tuple[int, int, int]
GREY: RGB = (127, 127, 127)  # where a sample has no colour


def rgb8(hex_colour: str | None, default: RGB = GREY) -> RGB:
    """'#rrggbb' → 8-bit (r, g, b); `default` for no colour."""
    if not hex_colour:
        return default
    return tuple(int(round(255 * c)) for c in hex_to_srgb(hex_colour))  # type: ignore[return-value]


@dataclass
class Figure:
    """What is drawn: the crop, the person's colours, viewpoint, stride and placement."""

    width: int  # the crop in pixels
    height: int
    skin: RGB
    top: RGB
    bottom: RGB
    shoes: RGB
    background: RGB
    floor: RGB | None = None  # the crop's lowest fifth in another colour (background only)
    hair: RGB | None = None
    stripes: RGB | None = None  # horizontal stripes across the top
    backpack: RGB | None = None  # seen from the side and back only
    facing: float = 1.0  # cos of the viewing azimuth: 1 front, 0 side, −1 back
    swing: float = 0.0  # stride: one leg's sideways shift, in crop widths
    scale: float = 1.0  # the person's height / the crop's height
    top_offset: float = 0.0  # pixels from the crop's top edge to the person's
    centre_x: float | None = None  # the person's centre line in pixels (None: the crop's middle)

    @property
    def body_width(self) -> float:
        """Shoulder width in crop widths: side views are narrower."""
        return 0.30 + 0.22 * abs(self.facing)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[float]:
        """A pixel box from x in crop widths off the centre line and y in person heights from the top."""
        cx = self.width / 2 if self.centre_x is None else self.centre_x
        h = self.height * self.scale
        return [cx + x0 * self.width, self.top_offset + y0 * h, cx + x1 * self.width, self.top_offset + y1 * h]

    def head_box(self) -> list[float]:
        hw = self.body_width / 2
        return self.box(-hw * 0.45, 0.02, hw * 0.45, 0.17)


def draw_figure(fig: Figure) -> tuple[Image.Image, Image.Image]:
    """(RGB crop, 8-bit mask with 255 = person) of `fig`: every part is drawn into both."""
    image = Image.new("RGB", (fig.width, fig.height), fig.background)
    if fig.floor is not None:
        ImageDraw.Draw(image).rectangle([0, int(fig.height * 0.8), fig.width, fig.height], fill=fig.floor)
    mask = Image.new("L", (fig.width, fig.height), 0)
    d, dm = ImageDraw.Draw(image), ImageDraw.Draw(mask)

    def part(box: list[float], colour: RGB, ellipse: bool = False) -> None:
        (d.ellipse if ellipse else d.rectangle)(box, fill=colour)
        (dm.ellipse if ellipse else dm.rectangle)(box, fill=255)

    hw, swing = fig.body_width / 2, fig.swing
    part(fig.box(-hw * 0.45, 0.52, -hw * 0.05, 0.95), fig.bottom)  # legs
    part(fig.box(hw * 0.05 + swing * 0.3, 0.52, hw * 0.45 + swing * 0.3, 0.95), fig.bottom)
    part(fig.box(-hw * 0.5, 0.93, -hw * 0.02, 1.0), fig.shoes)
    part(fig.box(hw * 0.02, 0.93, hw * 0.5, 1.0), fig.shoes)
    part(fig.box(-hw, 0.17, hw, 0.56), fig.top)  # torso
    if fig.stripes is not None:
        for y in np.arange(0.2, 0.54, 0.08):
            part(fig.box(-hw, y, hw, y + 0.03), fig.stripes)
    part(fig.head_box(), fig.skin, ellipse=True)
    if fig.hair is not None:
        back = fig.facing < -0.3  # from behind the hair covers the whole head
        part(fig.box(-hw * 0.48, 0.0, hw * 0.48, 0.16 if back else 0.07), fig.hair, ellipse=not back)
    if fig.backpack is not None and fig.facing < 0.3:
        part(fig.box(-hw * 0.7, 0.2, hw * 0.7 * (-fig.facing), 0.45), fig.backpack)
    return image, mask


def figure_of(character: CharacterSample, image: ImageSample, width: int, height: int) -> Figure:
    """The figure of one sampled image: the character's colours, seen from the image's camera
    azimuth, legs at the image's pose phase."""
    az = math.radians(image.camera.azimuth_deg)
    skin = character.body.skin_color
    top = character.top
    backpacks = [a for a in character.accessories if a.kind == "backpack"]
    return Figure(
        width=width, height=height, skin=rgb8(skin),
        top=rgb8(top.color if top else skin),
        bottom=rgb8(character.bottom.color if character.bottom else skin),
        shoes=rgb8(character.shoes.color if character.shoes else "#202020"),
        background=rgb8(character.background.colors[0] if character.background.colors else None),
        hair=rgb8(character.hair.color) if character.hair is not None else None,
        stripes=rgb8(top.secondary_color) if top and top.texture == "stripes" else None,
        backpack=rgb8(backpacks[-1].color) if backpacks else None,
        facing=math.cos(az),
        swing=0.08 * math.sin(2 * math.pi * image.pose_phase) * abs(math.sin(az)),
    )
