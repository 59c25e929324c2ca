"""Joints and the standard MPFB2 rigs, fitted to a (morphed) body: bone heads and tails
from the rig files' placement strategies, skin weights per bone.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from .assets import AssetError, asset_root, load_base_mesh
from .phenotype import Phenotype, body_vertices


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
    onto it in `_compute_skin_weights`.
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


def _compute_skin_weights(rig_name: str, bones: dict[str, dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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
def skin_weights(rig_name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A standard rig's skin weights: bone → (base-mesh vertex indices, weights), computed once."""
    return _compute_skin_weights(rig_name, _rig_json(rig_name))


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
    return Rig(name=name, bones=specs, skin_weights=skin_weights(name))
