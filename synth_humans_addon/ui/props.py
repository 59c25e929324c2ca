"""Blender property groups that mirror the dataset spec, generated from its dataclasses.

`core/spec.py` is the single source of truth: one PropertyGroup class per spec section,
one property per field, so the UI can never drift from the spec. Field kinds map as:

* int / float / str → Int/Float/String properties (a drop-down where `core/field_info.py` lists choices)
* `Range`           → a small group (low, high, distribution) of its own, with its own tooltips
* dict[str, float]  → a collection of (name, weight) rows, order and presence kept exactly
* list[str]         → a collection of string rows (colours get a colour swatch beside the hex text)
* dict[str, list]   → custom palettes: (name, colours) rows

`core/spec_props.py` converts a spec to these groups and back (`spec_to_props`,
`props_to_dict`), exactly.
"""
from __future__ import annotations

from typing import Any

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, FloatVectorProperty,
                       IntProperty, PointerProperty, StringProperty)

from ..core import field_info as fields
from ..core import spec as S
from ..core.spec_props import INT32, field_kind, spec_fields
from .hemisphere import update_hemisphere
from .state import on_spec_edited

PREFIX = "SYNTHHUMANS_PG_"

# Every generated class, in registration order (items before the groups that hold them).
CLASSES: list[type] = []


# ---------------------------------------------------------------------------------------
# The edit hook: every generated property calls it, `state.on_spec_edited` accepts or refuses.


def _on_edit(self, context):
    on_spec_edited(context)


def _class(name: str, annotations: dict[str, Any], doc: str) -> type:
    cls = type(PREFIX + name, (bpy.types.PropertyGroup,), {"__annotations__": annotations, "__doc__": doc})
    CLASSES.append(cls)
    return cls


def _limits(fi: fields.FieldInfo) -> dict[str, float]:
    out = {}
    if fi.soft_min is not None:
        out["soft_min"] = fi.soft_min
    if fi.soft_max is not None:
        out["soft_max"] = fi.soft_max
    return out


def _scalar(path: str, typ: type, default: Any):
    fi = fields.info(path)
    kw: dict[str, Any] = dict(name=fi.label, description=fi.description, update=_on_edit)
    if typ is bool:
        return BoolProperty(default=default, **kw)
    if typ is int:
        lim = {k: int(v) for k, v in _limits(fi).items()}
        return IntProperty(default=default, min=-INT32, max=INT32, **lim, **kw)
    if typ is float:
        return FloatProperty(default=default, precision=3, step=1, **_limits(fi), **kw)
    if fi.choices:
        items = [(c, c.replace("_", " ").title(), f"{fi.description} — {c}") for c in fi.choices]
        return EnumProperty(items=items, default=default, **kw)
    subtype = "DIR_PATH" if path == "base_dir" else "NONE"
    return StringProperty(default=default, subtype=subtype, **kw)


def _range_group(path: str, default: S.Range) -> PointerProperty:
    fi = fields.info(path)
    lim = _limits(fi)
    cls = _class(path.replace(".", "_"), {
        "low": FloatProperty(name="Low", description=fields.RANGE_LOW.format(label=fi.label), default=default.low,
                             precision=3, step=1, update=_on_edit, **lim),
        "high": FloatProperty(name="High", description=fields.RANGE_HIGH.format(label=fi.label),
                              default=default.high, precision=3, step=1, update=_on_edit, **lim),
        "distribution": EnumProperty(
            name="Distribution", description=fields.RANGE_DISTRIBUTION.format(label=fi.label),
            items=[(d, d.title(), f"Draw {fi.label} from a {d} distribution") for d in S.DISTRIBUTIONS],
            default=default.distribution, update=_on_edit),
    }, f"Range {path}")
    return PointerProperty(type=cls, name=fi.label, description=fi.description)


def _weights_collection(path: str) -> CollectionProperty:
    fi = fields.info(path)
    names = ", ".join(n for n in fi.catalogue if not n.startswith("*")) + (
        ", or a custom palette" if "*palettes" in fi.catalogue else "")
    kind = "Probability" if fi.probabilities else "Relative weight"
    cls = _class(path.replace(".", "_") + "_item", {
        "name": StringProperty(name="Name", description=fields.WEIGHT_NAME.format(names=names), update=_on_edit),
        "weight": FloatProperty(name=kind, description=fields.WEIGHT_VALUE.format(kind=kind, label=fi.label),
                                default=1.0 if not fi.probabilities else 0.0, precision=3, step=1,
                                update=_on_edit, **_limits(fi)),
    }, f"One row of {path}")
    return CollectionProperty(type=cls, name=fi.label, description=fi.description)


def _hex_to_rgb(text: str) -> tuple[float, float, float]:
    s = text[1:] if text.startswith("#") else text
    try:
        return tuple(int(s[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return (0.0, 0.0, 0.0)


def _get_swatch(self):
    return _hex_to_rgb(self.value)


def _set_swatch(self, rgb):
    self.value = "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb[:3])


def _color_item_class(path: str) -> type:
    fi = fields.info(path)
    return _class(path.replace(".", "_") + "_color", {
        "value": StringProperty(name="Hex", description=f"Colour '#rrggbb' in {fi.label}", update=_on_edit),
        # Computed from `value` (never stored), so the hex text stays exactly what the spec says.
        "swatch": FloatVectorProperty(name="Colour", description=f"Pick a colour for {fi.label}",
                                      subtype="COLOR_GAMMA", size=3, min=0.0, max=1.0,
                                      get=_get_swatch, set=_set_swatch),
    }, f"A colour of {path}")


def _strings_collection(path: str) -> CollectionProperty:
    fi = fields.info(path)
    if path.endswith("colors"):
        cls = _color_item_class(path)
    else:
        subtype = {"background.cubemaps": "DIR_PATH"}.get(path, "FILE_PATH")
        cls = _class(path.replace(".", "_") + "_item", {
            "value": StringProperty(name="Path", description=fields.LIST_ITEM.format(label=fi.label),
                                    subtype=subtype, update=_on_edit),
        }, f"One entry of {path}")
    return CollectionProperty(type=cls, name=fi.label, description=fi.description)


def _palettes_collection(path: str) -> CollectionProperty:
    fi = fields.info(path)
    color_cls = _color_item_class(path + ".colors")
    cls = _class(path.replace(".", "_") + "_item", {
        "name": StringProperty(name="Name", description="Name of the custom palette (use it in palette tables)",
                               update=_on_edit),
        "colors": CollectionProperty(type=color_cls, name="Colours", description="Colours of this palette"),
    }, f"One custom palette of {path}")
    return CollectionProperty(type=cls, name=fi.label, description=fi.description)


def _section_group(name: str, cls: type, default: Any, prefix: str = "") -> type:
    ann: dict[str, Any] = {}
    for fname, typ in spec_fields(cls):
        path = f"{prefix}{fname}"
        kind = field_kind(typ)
        value = getattr(default, fname)
        if kind == "section":
            sub = _section_group(path.replace(".", "_"), typ, value, prefix=f"{path}.")
            ann[fname] = PointerProperty(type=sub, name=fields.info(path).label,
                                         description=f"The [{fname}] table of the spec")
        elif kind == "range":
            ann[fname] = _range_group(path, value)
        elif kind in ("weights", "strings", "palettes"):
            ann[fname] = {"weights": _weights_collection, "strings": _strings_collection,
                          "palettes": _palettes_collection}[kind](path)
            ann[fname + "_index"] = IntProperty(name="Active Row", description=f"Selected row of {path}",
                                                default=0, min=0)
        else:
            ann[fname] = _scalar(path, typ, value)
    return _class(name, ann, f"Spec section {prefix.rstrip('.') or 'root'}")


SpecGroup = _section_group("spec", S.Spec, S.Spec())


# ---------------------------------------------------------------------------------------
# Per-scene settings: the spec plus the add-on's own state (not part of the spec).


class SYNTHHUMANS_PG_settings(bpy.types.PropertyGroup):
    """Everything the Synth Humans panels keep in a scene."""

    spec: PointerProperty(type=SpecGroup, name="Spec", description="The dataset spec edited in the panels")
    initialized: BoolProperty(name="Initialised", description="The spec has been filled in (from a preset or file)",
                              default=False)
    loading: BoolProperty(name="Loading", description="Set while the add-on writes the spec (edits not checked)",
                          default=False)
    accepted_spec: StringProperty(name="Accepted Spec",
                                  description="JSON of the last valid spec (an invalid edit returns to it)")
    error: StringProperty(name="Last Error", description="Why the last edit was refused (spec validation message)")
    spec_path: StringProperty(name="Spec File", description="The TOML file the spec was last loaded from or saved to",
                              subtype="FILE_PATH")
    show_hemisphere: BoolProperty(name="Show Camera Segment",
                                  description="Draw the hemisphere segment where cameras can be, as a wireframe",
                                  default=True, update=lambda self, ctx: _hemisphere_toggled(ctx))
    preview_character: IntProperty(name="Character", description="Index of the previewed character (0-based)",
                                   default=0, min=0)
    preview_image: IntProperty(name="Image", description="Index of the previewed image of that character",
                               default=0, min=0)
    preview_info: StringProperty(name="Preview", description="What the preview currently shows")
    cubemap_report: StringProperty(name="Cubemap Check", description="Result of the last cubemap folder check")
    generate_out: StringProperty(name="Output Folder", description="Folder the generated dataset is written to",
                                 subtype="DIR_PATH", default="//synth_dataset")
    generate_workers: IntProperty(name="Workers", description="Number of headless render workers started locally",
                                  default=1, min=1, soft_max=16)
    generate_running: BoolProperty(name="Running", description="A generation is running", default=False)
    generate_progress: FloatProperty(name="Progress", description="Fraction of characters written",
                                     default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    generate_status: StringProperty(name="Status", description="Last status line of the generation")


def _hemisphere_toggled(context) -> None:
    update_hemisphere(context)


CLASSES.append(SYNTHHUMANS_PG_settings)
