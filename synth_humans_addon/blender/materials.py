"""Materials of clothes, hair and accessories: palette colours and cheap procedural textures.

Every pattern is a handful of shader nodes evaluated on the mesh's *rest position*, stored
as the point attribute ``rest_co`` (metres, the unposed body frame) by the mesh builders.
So a stripe stays on the same place of the fabric whatever the pose, the pattern's scale
is in metres (stripes of a small and a tall person have the same width) and nothing is
baked into images. No displacement, no bump: at 256-px crops a fold is 1 px, and bump
maps cost Cycles CPU time without being visible.

Colours arrive as sRGB hex strings (the spec's and palettes' convention) and are converted
to linear values, which is what shader node sockets hold.

Materials are created per outfit and removed with it (`remove_materials`): building one
costs well under a millisecond, and owning them avoids a shared cache that would need
reference counting across characters.
"""
from __future__ import annotations

import math
from typing import Iterable

import bpy

from ..core import palettes
from ..core.spec import TEXTURE_KINDS

REST_ATTRIBUTE = "rest_co"

# Pattern period (metres) at texture_scale = 1, per kind: what a real garment's pattern
# repeats at (stripes ~4 cm, plaid ~8 cm, twill ~3 mm …).
_PERIOD = {
    "stripes": 0.045, "checks": 0.06, "plaid": 0.09, "dots": 0.035, "noise": 0.06,
    "camouflage": 0.16, "denim": 0.004, "knit": 0.007, "solid": 1.0,
}

# Fabric shading: matte, with a weak sheen-like specular.
_FABRIC_ROUGHNESS = {"denim": 0.9, "knit": 0.95}


def rgba(hex_color: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """A '#rrggbb' sRGB colour as a linear RGBA tuple for a shader socket."""
    try:
        r, g, b = palettes.hex_to_linear(hex_color)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a '#rrggbb' colour: {hex_color!r}") from exc
    return (r, g, b, alpha)


class _Graph:
    """A tiny helper that builds a node tree left to right, so pattern code stays readable."""

    def __init__(self, material: bpy.types.Material):
        self.nodes = material.node_tree.nodes
        self.links = material.node_tree.links
        self.nodes.clear()

    def node(self, kind: str):
        return self.nodes.new(kind)

    def link(self, out_socket, in_socket) -> None:
        self.links.new(out_socket, in_socket)

    def math(self, op: str, a, b=None):
        n = self.nodes.new("ShaderNodeMath")
        n.operation = op
        for i, v in enumerate((a, b)):
            if v is None:
                continue
            if isinstance(v, (int, float)):
                n.inputs[i].default_value = float(v)
            else:
                self.link(v, n.inputs[i])
        return n.outputs[0]

    def mix(self, factor, color_a, color_b):
        n = self.nodes.new("ShaderNodeMix")
        n.data_type = "RGBA"
        n.clamp_factor = True
        if isinstance(factor, (int, float)):
            n.inputs["Factor"].default_value = float(factor)
        else:
            self.link(factor, n.inputs["Factor"])
        for socket, c in ((n.inputs[6], color_a), (n.inputs[7], color_b)):
            if isinstance(c, tuple):
                socket.default_value = c
            else:
                self.link(c, socket)
        return n.outputs[2]


def _new_material(name: str) -> tuple[bpy.types.Material, _Graph]:
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender < 5 creates materials without nodes
        mat.use_nodes = True
    return mat, _Graph(mat)


def _output(g: _Graph, color, roughness: float, sheen: float = 0.0, specular: float = 0.25):
    bsdf = g.node("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Specular IOR Level"].default_value = specular
    if sheen > 0:
        bsdf.inputs["Sheen Weight"].default_value = sheen
    if isinstance(color, tuple):
        bsdf.inputs["Base Color"].default_value = color
    else:
        g.link(color, bsdf.inputs["Base Color"])
    out = g.node("ShaderNodeOutputMaterial")
    g.link(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return bsdf


def _pattern_space(g: _Graph, period: float, rotation_deg: float, seed: int):
    """Rest position → pattern space: rotated about the view axis (Y), one unit per period.

    The seed shifts the pattern so two garments with the same pattern do not line up.
    """
    attr = g.node("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = REST_ATTRIBUTE
    mapping = g.node("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    shift = [((seed >> (8 * i)) & 0xFF) / 255.0 * 17.0 for i in range(3)]
    mapping.inputs["Location"].default_value = shift
    mapping.inputs["Rotation"].default_value = (0.0, math.radians(rotation_deg), 0.0)
    s = 1.0 / period
    mapping.inputs["Scale"].default_value = (s, s, s)
    # Mapping applies scale after rotation and location after scale: the shift is in pattern units.
    g.link(attr.outputs["Vector"], mapping.inputs["Vector"])
    return mapping.outputs["Vector"]


def _bands(g: _Graph, coord, duty: float):
    """1 inside a band of width `duty` (0…1) repeating every unit, 0 outside."""
    return g.math("LESS_THAN", g.math("FRACT", coord), duty)


def _stripes(g, p, c1, c2, seed):
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(p, sep.inputs[0])
    duty = 0.3 + 0.4 * ((seed >> 3) % 100) / 100.0
    return g.mix(_bands(g, sep.outputs["Z"], duty), c1, c2)


def _checks(g, p, c1, c2, seed):
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(p, sep.inputs[0])
    # (floor x + floor z) mod 2 in the front plane; the depth axis is left out so a torso's
    # curvature does not break the squares into slivers.
    total = g.math("ADD", g.math("FLOOR", sep.outputs["X"]), g.math("FLOOR", sep.outputs["Z"]))
    return g.mix(g.math("FLOORED_MODULO", total, 2.0), c1, c2)


def _plaid(g, p, c1, c2, seed):
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(p, sep.inputs[0])
    wide_x = _bands(g, sep.outputs["X"], 0.38)
    wide_z = _bands(g, sep.outputs["Z"], 0.38)
    weave = g.math("MULTIPLY", g.math("ADD", wide_x, wide_z), 0.5)  # 0, ½, 1: the tartan's three tones
    base = g.mix(weave, c1, c2)
    # Thin dark over-check lines halfway between the wide bands.
    thin_x = _bands(g, g.math("ADD", sep.outputs["X"], 0.5), 0.06)
    thin_z = _bands(g, g.math("ADD", sep.outputs["Z"], 0.5), 0.06)
    lines = g.math("MINIMUM", g.math("ADD", thin_x, thin_z), 1.0)
    dark = tuple(v * 0.25 for v in c1[:3]) + (1.0,)
    return g.mix(g.math("MULTIPLY", lines, 0.8), base, dark)


def _dots(g, p, c1, c2, seed):
    vor = g.node("ShaderNodeTexVoronoi")
    vor.voronoi_dimensions = "3D"
    vor.feature = "F1"
    vor.inputs["Scale"].default_value = 1.0
    vor.inputs["Randomness"].default_value = 0.0  # a regular grid of dots
    g.link(p, vor.inputs["Vector"])
    radius = 0.22 + 0.12 * ((seed >> 5) % 100) / 100.0
    return g.mix(g.math("LESS_THAN", vor.outputs["Distance"], radius), c1, c2)


def _noise_factor(g, p, detail: float, roughness: float = 0.5):
    noise = g.node("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 1.0
    noise.inputs["Detail"].default_value = detail
    noise.inputs["Roughness"].default_value = roughness
    g.link(p, noise.inputs["Vector"])
    return noise.outputs["Fac"]


def _noise(g, p, c1, c2, seed):
    # A mottled, heathered fabric: mostly the main colour with soft patches of the second.
    fac = g.math("MULTIPLY", g.math("SUBTRACT", _noise_factor(g, p, 3.0), 0.35), 2.0)
    return g.mix(g.math("MULTIPLY", fac, 0.7), c1, c2)


def _camouflage(g, p, c1, c2, seed):
    ramp = g.node("ShaderNodeValToRGB")
    ramp.color_ramp.interpolation = "CONSTANT"
    els = ramp.color_ramp.elements
    dark = tuple(v * 0.35 for v in c1[:3]) + (1.0,)
    mid = tuple(0.5 * (a + b) for a, b in zip(c1[:3], c2[:3])) + (1.0,)
    els[0].position, els[0].color = 0.0, c1
    els[1].position, els[1].color = 0.44, c2
    for pos, col in ((0.52, dark), (0.6, mid)):
        e = els.new(pos)
        e.color = col
    g.link(_noise_factor(g, p, 1.5, 0.55), ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _denim(g, p, c1, c2, seed):
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(p, sep.inputs[0])
    # Twill: fine diagonal ridges (x + z), ±8 % brightness; worn, lighter patches at a larger scale.
    diag = g.math("ADD", sep.outputs["X"], sep.outputs["Z"])
    twill = g.math("MULTIPLY", g.math("SINE", g.math("MULTIPLY", diag, 2 * math.pi)), 0.08)
    shade = g.mix(g.math("ADD", twill, 0.5), _scaled_tuple(c1, 0.84), _scaled_tuple(c1, 1.16))
    wear_space = g.node("ShaderNodeVectorMath")
    wear_space.operation = "SCALE"
    wear_space.inputs["Scale"].default_value = 1.0 / 40.0  # fades ~16 cm across
    g.link(p, wear_space.inputs[0])
    wear = g.math("MULTIPLY", g.math("SUBTRACT", _noise_factor(g, wear_space.outputs["Vector"], 2.0), 0.45), 1.2)
    faded = tuple(min(1.0, 0.6 * a + 0.4 * b + 0.03) for a, b in zip(c1[:3], c2[:3])) + (1.0,)
    return g.mix(g.math("MAXIMUM", wear, 0.0), shade, faded)


def _knit(g, p, c1, c2, seed):
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(p, sep.inputs[0])
    # Vertical ribs (a sine across x) and a faint second-colour fleck from noise.
    rib = g.math("MULTIPLY", g.math("SINE", g.math("MULTIPLY", sep.outputs["X"], 2 * math.pi)), 0.12)
    shade = g.mix(g.math("ADD", rib, 0.5), _scaled_tuple(c1, 0.78), _scaled_tuple(c1, 1.22))
    fleck = g.math("MULTIPLY", g.math("GREATER_THAN", _noise_factor(g, p, 1.0), 0.68), 0.5)
    return g.mix(fleck, shade, c2)


def _scaled_tuple(c, factor):
    return tuple(min(1.0, v * factor) for v in c[:3]) + (1.0,)


_PATTERNS = {
    "stripes": _stripes, "checks": _checks, "plaid": _plaid, "dots": _dots, "noise": _noise,
    "camouflage": _camouflage, "denim": _denim, "knit": _knit,
}
assert set(_PATTERNS) | {"solid"} == set(TEXTURE_KINDS), "every spec texture kind needs a pattern"


def garment_material(garment, name: str | None = None) -> bpy.types.Material:
    """A fabric material for a `sampling.GarmentSample`: colour, pattern, scale, rotation, seed.

    Raises ValueError naming the field for an unknown texture kind or a malformed colour.
    """
    kind = garment.texture
    if kind not in _PATTERNS and kind != "solid":
        raise ValueError(f"garment.texture = {kind!r} is not one of {TEXTURE_KINDS}")
    c1 = rgba(garment.color)
    c2 = rgba(garment.secondary_color)
    if not garment.texture_scale > 0:
        raise ValueError(f"garment.texture_scale must be > 0, got {garment.texture_scale}")
    mat, g = _new_material(name or f"garment-{garment.kind}-{kind}")
    mat.diffuse_color = c1  # the viewport / Workbench colour
    if kind == "solid":
        color = c1
    else:
        p = _pattern_space(g, _PERIOD[kind] * garment.texture_scale, garment.texture_rotation_deg, garment.seed)
        color = _PATTERNS[kind](g, p, c1, c2, int(garment.seed))
    if garment.kind in ("shoes", "boots"):
        color = _with_sole(g, color, garment.seed, 0.022 if garment.kind == "shoes" else 0.03)
    elif garment.kind == "jacket":
        color = _with_placket(g, color, c1)
    _output(g, color, roughness=_FABRIC_ROUGHNESS.get(kind, 0.85), sheen=0.3, specular=0.2)
    return mat


# Shoe soles seen on the street: white trainers, black rubber, tan gum.
_SOLE_COLORS = ("#e9e7e2", "#e9e7e2", "#d8d4cc", "#1e1e1e", "#2a2622", "#8a6a48")


def _rest_component(g: _Graph, axis: str):
    attr = g.node("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = REST_ATTRIBUTE
    sep = g.node("ShaderNodeSeparateXYZ")
    g.link(attr.outputs["Vector"], sep.inputs[0])
    return sep.outputs[axis]


def _with_sole(g: _Graph, color, seed: int, height: float):
    """Shoes get a sole band of their own colour (the rest position's z is 0 at the ground)."""
    sole = rgba(_SOLE_COLORS[(int(seed) >> 7) % len(_SOLE_COLORS)])
    return g.mix(g.math("LESS_THAN", _rest_component(g, "Z"), height), color, sole)


def _with_placket(g: _Graph, color, c1):
    """A jacket's zip line: a dark 1 cm band down the front centre (rest x ≈ 0, y < 0)."""
    x = g.math("ABSOLUTE", _rest_component(g, "X"))
    front = g.math("LESS_THAN", _rest_component(g, "Y"), 0.0)
    band = g.math("MULTIPLY", g.math("LESS_THAN", x, 0.005), front)
    return g.mix(band, color, _scaled_tuple(c1, 0.35))


def hair_material(color: str, name: str = "hair") -> bpy.types.Material:
    """Hair: the sample's colour with strand-like streaks along the hair's length.

    Streaks are a stretched noise (fine across, long along z), so at 256 px the hair shows
    highlights and darker locks instead of a flat helmet.
    """
    base = rgba(color)
    mat, g = _new_material(name)
    mat.diffuse_color = base
    attr = g.node("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = REST_ATTRIBUTE
    mapping = g.node("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = (180.0, 180.0, 12.0)
    g.link(attr.outputs["Vector"], mapping.inputs["Vector"])
    streak = _noise_factor(g, mapping.outputs["Vector"], 2.0, 0.6)
    color = g.mix(streak, _scaled_tuple(base, 0.55), _scaled_tuple(base, 1.5))
    _output(g, color, roughness=0.5, specular=0.3)
    return mat


# Roughness per accessory: nylon bags, felt hats, glossy glasses frames.
_ACCESSORY_ROUGHNESS = {"backpack": 0.7, "shoulder_bag": 0.55, "cap": 0.85, "hat": 0.8, "glasses": 0.2}


def accessory_material(kind: str, color: str, name: str | None = None) -> bpy.types.Material:
    """A plain material for an accessory (`sampling.AccessorySample.kind`, sRGB colour)."""
    c = rgba(color)
    mat, g = _new_material(name or f"accessory-{kind}")
    mat.diffuse_color = c
    _output(g, c, roughness=_ACCESSORY_ROUGHNESS.get(kind, 0.6), specular=0.35)
    return mat


def remove_materials(materials: Iterable[bpy.types.Material]) -> None:
    """Free materials (and their node trees) that nothing else uses any more."""
    for mat in materials:
        try:
            bpy.data.materials.remove(mat, do_unlink=True)
        except ReferenceError:  # already freed
            pass
