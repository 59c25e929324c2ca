"""A body in MakeHuman terms (`Phenotype`), its macro-target weights and its vertices.

The weights follow MakeHuman 1.1 / MPFB2 (``macro.json`` anchors, products of per-macro
weights); `body_vertices` blends those targets onto the base mesh in Blender's frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec import ETHNICITIES
from .assets import asset_root, load_base_mesh, to_blender_frame
from .targets import blend_targets

# MakeHuman's age mapping (human.py): 1 year → macro 0, 25 years → 0.5, 90 years → 1,
# linear on each side of 25.
MIN_AGE_YEARS = 1.0
MID_AGE_YEARS = 25.0
MAX_AGE_YEARS = 90.0


def age_years_to_macro(years: float) -> float:
    """MakeHuman's age macro (0..1) for an age in years (1..90, 25 → 0.5)."""
    y = min(MAX_AGE_YEARS, max(MIN_AGE_YEARS, float(years)))
    if y < MID_AGE_YEARS:
        return (y - MIN_AGE_YEARS) / (2.0 * (MID_AGE_YEARS - MIN_AGE_YEARS))
    return 0.5 + (y - MID_AGE_YEARS) / (2.0 * (MAX_AGE_YEARS - MID_AGE_YEARS))


def age_macro_to_years(age: float) -> float:
    """Inverse of `age_years_to_macro`."""
    a = min(1.0, max(0.0, float(age)))
    if a < 0.5:
        return MIN_AGE_YEARS + 2.0 * a * (MID_AGE_YEARS - MIN_AGE_YEARS)
    return MID_AGE_YEARS + 2.0 * (a - 0.5) * (MAX_AGE_YEARS - MID_AGE_YEARS)


@dataclass
class Phenotype:
    """A body in MakeHuman terms.

    `gender`: 0 = female, 1 = male. `weight`, `muscle`, `height`, `proportions`, `cupsize`,
    `firmness`: MakeHuman macro values in [0, 1], 0.5 = average (proportions 1 = ideal,
    0 = uncommon). `age_years`: 1..90. `ethnicity`: weights of african / asian / caucasian
    (normalised here; all zero means an even mix).
    """

    age_years: float = 25.0
    gender: float = 0.5
    weight: float = 0.5
    muscle: float = 0.5
    height: float = 0.5
    proportions: float = 0.5
    ethnicity: dict[str, float] = field(default_factory=lambda: {e: 1 / 3 for e in ETHNICITIES})
    cupsize: float = 0.5
    firmness: float = 0.5

    def __post_init__(self) -> None:
        for name in ("gender", "weight", "muscle", "height", "proportions", "cupsize", "firmness"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0 or v != v:
                raise ValueError(f"Phenotype.{name} = {v} is outside [0, 1]")
            setattr(self, name, v)
        a = float(self.age_years)
        if not MIN_AGE_YEARS <= a <= MAX_AGE_YEARS:
            raise ValueError(f"Phenotype.age_years = {a} is outside [{MIN_AGE_YEARS:g}, {MAX_AGE_YEARS:g}]")
        self.age_years = a
        unknown = set(self.ethnicity) - set(ETHNICITIES)
        if unknown:
            raise ValueError(f"Phenotype.ethnicity has unknown keys {sorted(unknown)}; known: {ETHNICITIES}")
        if any(float(w) < 0 for w in self.ethnicity.values()):
            raise ValueError(f"Phenotype.ethnicity weights must be ≥ 0, got {self.ethnicity}")

    @property
    def age(self) -> float:
        """The MakeHuman age macro (0..1)."""
        return age_years_to_macro(self.age_years)

    @classmethod
    def from_body_sample(cls, body: Any) -> "Phenotype":
        """From the lead's `sampling.BodySample` (or anything with the same attribute names)."""
        return cls(age_years=body.age_years, gender=body.gender, weight=body.weight, muscle=body.muscle,
                   height=body.height, proportions=body.proportions, ethnicity=dict(body.ethnicity),
                   cupsize=getattr(body, "cupsize", 0.5), firmness=getattr(body, "firmness", 0.5))


def _three_anchor(v: float, low: str, mid: str, high: str) -> dict[str, float]:
    """Weights of a macro with anchors 0 / 0.5 / 1 (muscle, weight, cup size, firmness)."""
    if v < 0.5:
        return {low: 1.0 - 2.0 * v, mid: 2.0 * v}
    return {mid: 2.0 - 2.0 * v, high: 2.0 * v - 1.0}


def macro_component_weights(ph: Phenotype) -> dict[str, dict[str, float]]:
    """Per-macro weights of each variation (zero weights left out).

    These are MakeHuman's rules (``macro.json``): gender female/male linear; age anchors
    baby 0, child 0.1875, young 0.5, old 1; muscle, weight, cup size and firmness
    min 0 / average 0.5 / max 1; height and proportions only have targets on one side of
    0.5 (min/max height; uncommon below 0.5, ideal above), weight 0 at 0.5; the ethnic mix
    is normalised to sum to 1.
    """
    g = ph.gender
    gender = {"female": 1.0 - g, "male": g}
    a = ph.age
    child_at = 0.1875
    if a < child_at:
        age = {"baby": 1.0 - a / child_at, "child": a / child_at}
    elif a < 0.5:
        t = (a - child_at) / (0.5 - child_at)
        age = {"child": 1.0 - t, "young": t}
    else:
        t = (a - 0.5) / 0.5
        age = {"young": 1.0 - t, "old": t}
    h = ph.height
    height = {"minheight": 1.0 - 2.0 * h} if h < 0.5 else {"maxheight": 2.0 * h - 1.0}
    p = ph.proportions
    proportions = {"uncommonproportions": 1.0 - 2.0 * p} if p < 0.5 else {"idealproportions": 2.0 * p - 1.0}
    total = sum(float(ph.ethnicity.get(e, 0.0)) for e in ETHNICITIES)
    race = {e: (float(ph.ethnicity.get(e, 0.0)) / total if total > 0 else 1.0 / 3.0) for e in ETHNICITIES}
    out = {
        "gender": gender, "age": age,
        "muscle": _three_anchor(ph.muscle, "minmuscle", "averagemuscle", "maxmuscle"),
        "weight": _three_anchor(ph.weight, "minweight", "averageweight", "maxweight"),
        "height": height, "proportions": proportions, "race": race,
        "cupsize": _three_anchor(ph.cupsize, "mincup", "averagecup", "maxcup"),
        "firmness": _three_anchor(ph.firmness, "minfirmness", "averagefirmness", "maxfirmness"),
    }
    return {k: {n: w for n, w in v.items() if w > 0.0} for k, v in out.items()}


def macro_weights(ph: Phenotype) -> dict[str, float]:
    """Target path (relative to ``targets/``, no suffix) → weight, for every target that exists.

    A target's weight is the product of the weights of the variations in its name, as in
    MakeHuman (``macro.json`` "combinations"): ``{race}-{gender}-{age}``,
    ``universal-{gender}-{age}-{muscle}-{weight}``, ``height/…-{height}``,
    ``proportions/…-{proportions}`` and, for women, ``breast/female-…-{cup}-{firmness}``.
    Combinations without a file (the neutral ones, baby proportions, average cup and
    firmness) are left out, as MakeHuman does.
    """
    c = macro_component_weights(ph)
    root = asset_root() / "targets"
    weights: dict[str, float] = {}

    def add(name: str, w: float) -> None:
        if w > 0.0 and (root / f"{name}.target.gz").is_file():
            weights[name] = weights.get(name, 0.0) + w

    for gname, gw in c["gender"].items():
        for aname, aw in c["age"].items():
            for rname, rw in c["race"].items():
                add(f"macrodetails/{rname}-{gname}-{aname}", rw * gw * aw)
            for mname, mw in c["muscle"].items():
                for wname, ww in c["weight"].items():
                    base = gw * aw * mw * ww
                    stem = f"{gname}-{aname}-{mname}-{wname}"
                    add(f"macrodetails/universal-{stem}", base)
                    for hname, hw in c["height"].items():
                        add(f"macrodetails/height/{stem}-{hname}", base * hw)
                    for pname, pw in c["proportions"].items():
                        add(f"macrodetails/proportions/{stem}-{pname}", base * pw)
                    if gname == "female":
                        for cname, cw in c["cupsize"].items():
                            for fname, fw in c["firmness"].items():
                                add(f"breast/{stem}-{cname}-{fname}", base * cw * fw)
    return weights


def ground_offset(verts_blender: np.ndarray) -> float:
    """The z shift that puts the lowest vertex of the ``body`` group on z = 0."""
    body = load_base_mesh().vertex_groups["body"]
    return -float(verts_blender[body, 2].min())


def body_vertices(ph: Phenotype, ground: bool = True) -> np.ndarray:
    """All base-mesh vertices (body, helpers, joint cubes) for a phenotype, Blender frame.

    Metres, Z up, facing −Y; with `ground` the lowest body vertex is on z = 0.
    """
    v = to_blender_frame(blend_targets(macro_weights(ph)))
    if ground:
        v[:, 2] += ground_offset(v)
    return v
