"""Built-in cubemaps: procedurally generated environments so everything works offline.

The images are generated on first use into a cache folder (`cubemap_folder`), with the
usual posx/negx/posy/negy/posz/negz face names (Humus' naming), so a built-in cubemap is
used exactly like one a user downloaded.

Face convention (Humus / OpenGL, Y up): `posy` is the sky or ceiling, `negy` the ground,
and the four side faces have their horizon in the middle row, seen from inside the cube.
The room builder (`blender/room.py`) maps them onto a Z-up cuboid: posx → +X wall,
negx → −X wall, posz → −Y wall, negz → +Y wall.

The cache folder is `$SYNTH_HUMANS_CACHE/cubemaps` (default `~/.cache/synth-humans`); a
generator version is part of each folder name, so changing the generator regenerates.
Nothing here imports bpy; generation needs numpy and PIL (the worker's Python has both).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .image_files import CUBEMAP_FACES, IMAGE_EXTENSIONS, check_cubemap_folder, check_image_file

# Names of the built-in environments (`builtin:<name>` in a spec; `builtin:all` = every one).
BUILTIN_CUBEMAPS = ("street", "plaza", "corridor", "park")
GENERATOR_VERSION = 2  # 2: duller park grass (real crops are muted)
FACE_SIZE = 512


class CubemapError(FileNotFoundError):
    """A cubemap that cannot be used: unknown built-in name, missing or unreadable face."""


def cache_root() -> Path:
    """Root of generated assets: `$SYNTH_HUMANS_CACHE` or `~/.cache/synth-humans`."""
    env = os.environ.get("SYNTH_HUMANS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "synth-humans"


def builtin_folder(name: str) -> Path:
    return cache_root() / "cubemaps" / f"{name}-v{GENERATOR_VERSION}"


def cubemap_folder(source: str, spec: Any = None) -> Path:
    """The folder of a cubemap source: `builtin:<name>` (generated on first use) or a user folder.

    User folders resolve against `spec.base_dir` and are validated: a missing, empty or
    unreadable face raises CubemapError naming the file.
    """
    if source.startswith("builtin:"):
        name = source.split(":", 1)[1]
        if name not in BUILTIN_CUBEMAPS:
            raise CubemapError(f"unknown built-in cubemap {name!r} (known: {', '.join(BUILTIN_CUBEMAPS)})")
        return ensure_builtin(name)
    folder = spec.resolve_path(source) if spec is not None else Path(source).expanduser()
    face_paths(folder)  # validates
    return folder


def face_paths(folder: Path, verify: bool = True) -> dict[str, Path]:
    """face name → image file of a cubemap folder; raises CubemapError naming what is wrong.

    With `verify`, each face is opened with PIL (when available) so a truncated or
    non-image file is reported here rather than rendered as a black wall.
    """

    folder = Path(folder)
    problems = check_cubemap_folder(folder, open_images=verify)  # decodes every face with `verify`
    if problems:
        raise CubemapError("cubemap unusable: " + "; ".join(problems))
    out: dict[str, Path] = {}
    for face in CUBEMAP_FACES:
        candidates = sorted(p for p in folder.iterdir() if p.stem.lower() == face and p.suffix.lower() in IMAGE_EXTENSIONS)
        out[face] = candidates[0]
    return out


def check_image_readable(path: Path) -> None:
    """Raise CubemapError if `path` is not a decodable image (EXR/HDR: by their header)."""

    why = check_image_file(Path(path))
    if why is not None:
        raise CubemapError(f"cubemap face unusable: {why}")


def ensure_builtin(name: str) -> Path:
    """Generate built-in cubemap `name` into the cache unless it is already there."""
    folder = builtin_folder(name)
    if all((folder / f"{f}.png").is_file() for f in CUBEMAP_FACES):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_faces(generate_cubemap(name), tmp)
        try:
            os.replace(tmp, folder)  # atomic: concurrent workers may race, one wins
        except OSError:
            if not all((folder / f"{f}.png").is_file() for f in CUBEMAP_FACES):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def write_faces(faces: dict[str, np.ndarray], folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for face, img in faces.items():
        Image.fromarray(img, "RGB").save(folder / f"{face}.png")


# ---------------------------------------------------------------------------------------
# Procedural generation. Everything is drawn from a generator seeded by the name, so the
# same version always produces the same pixels.


def _hex(c: str) -> np.ndarray:
    c = c.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], np.float32) / 255.0


def value_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator, octaves: int = 3) -> np.ndarray:
    """Smooth noise in [0, 1]: random grids upsampled bilinearly, several octaves summed."""
    from PIL import Image

    h, w = shape
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = max(2, cells * 2 ** o)
        grid = (rng.random((n, n)) * 255).astype(np.uint8)
        up = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC), np.float32) / 255.0
        out += amp * up
        total += amp
        amp *= 0.5
    return out / total


def _vertical_gradient(h: int, w: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()


def _sky(h: int, w: int, rng: np.random.Generator, zenith: str = "#5d86b8", horizon: str = "#c9d7e3",
         cloudiness: float = 0.5) -> np.ndarray:
    img = _vertical_gradient(h, w, _hex(zenith), _hex(horizon))
    clouds = np.clip((value_noise((h, w), 3, rng, 4) - (0.75 - 0.35 * cloudiness)) * 3.0, 0, 1)[..., None]
    return img * (1 - clouds * 0.8) + _hex("#eef0f2") * clouds * 0.8


def _ground(size: int, rng: np.random.Generator, base: str, spread: float, cells: int = 24) -> np.ndarray:
    n = value_noise((size, size), cells, rng, 3)[..., None]
    fine = rng.random((size, size, 1)).astype(np.float32)
    return np.clip(_hex(base) * (1 - spread + 2 * spread * n) * (0.92 + 0.16 * fine), 0, 1)


def _tiles(img: np.ndarray, period: int, line: str, width: int = 2, rng: np.random.Generator | None = None) -> np.ndarray:
    h, w = img.shape[:2]
    out = img.copy()
    if rng is not None:  # slightly different shade per tile
        ty, tx = np.arange(h) // period, np.arange(w) // period
        shade = rng.uniform(0.9, 1.1, (ty.max() + 1, tx.max() + 1)).astype(np.float32)
        out *= shade[ty][:, tx][..., None]
    mask = (np.arange(h)[:, None] % period < width) | (np.arange(w)[None, :] % period < width)
    out[mask] = _hex(line)
    return np.clip(out, 0, 1)


def _buildings(img: np.ndarray, horizon: int, rng: np.random.Generator, heights: tuple[int, int],
               facades: list[str], windows: str = "#3a4652", width: tuple[int, int] = (50, 140)) -> None:
    """Draw a row of building facades standing on the horizon line, with window grids."""
    h, w = img.shape[:2]
    x = -int(rng.integers(0, 40))
    while x < w:
        bw = int(rng.integers(*width))
        bh = int(rng.integers(*heights))
        top = max(0, horizon - bh)
        x0, x1 = max(0, x), min(w, x + bw)
        col = _hex(facades[int(rng.integers(len(facades)))]) * float(rng.uniform(0.85, 1.1))
        img[top:horizon, x0:x1] = np.clip(col, 0, 1)
        # windows: a regular grid, some lit
        wy, wx = int(rng.integers(14, 24)), int(rng.integers(12, 22))
        for yy in range(top + 8, horizon - 14, wy):
            for xx in range(x0 + 6, x1 - 8, wx):
                shade = _hex(windows) * float(rng.uniform(0.7, 1.3))
                img[yy:yy + wy // 2, xx:xx + wx // 2] = np.clip(shade, 0, 1)
        x += bw + int(rng.integers(0, 12))


def _trees(img: np.ndarray, horizon: int, rng: np.random.Generator, count: int) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(count):
        cx = float(rng.uniform(0, w))
        r = float(rng.uniform(25, 70))
        trunk_h = float(rng.uniform(20, 60))
        cy = horizon - trunk_h - r * 0.7
        tw = max(3, int(r * 0.12))
        img[int(horizon - trunk_h - r * 0.3):horizon, int(cx - tw):int(cx + tw)] = _hex("#3d2e22")
        blob = ((xx - cx) / r) ** 2 + ((yy - cy) / (r * 0.9)) ** 2 < 1.0 + 0.15 * np.sin(xx * 0.3) * np.cos(yy * 0.25)
        green = _hex(["#2f4a26", "#3b5a2c", "#4a6b33", "#2a3f23"][int(rng.integers(4))]) * float(rng.uniform(0.8, 1.15))
        img[blob] = np.clip(green, 0, 1)


def _side_street(rng, s):
    img = _sky(s, s, rng)
    horizon = s // 2
    _buildings(img, horizon, rng, (int(0.25 * s), int(0.48 * s)),
               ["#9c8f80", "#b5a48e", "#8a6d5a", "#a7a39b", "#7c7f85", "#c2b8a3", "#8f5e4a"])
    ground = _ground(s, rng, "#4a4a4c", 0.15)[: s - horizon]
    ground[: s // 20] = _ground(s, rng, "#8e8a84", 0.1)[: s // 20]  # sidewalk at the building line
    img[horizon:] = ground
    return img


def _side_plaza(rng, s):
    img = _sky(s, s, rng, "#6f95c2", "#d7dfe6", 0.35)
    horizon = s // 2
    _buildings(img, horizon, rng, (int(0.08 * s), int(0.25 * s)),
               ["#d8cfbf", "#c9bca4", "#b9b2a6", "#e0d9cc", "#a99f90"], windows="#55606b", width=(80, 220))
    img[horizon:] = _tiles(_ground(s, rng, "#b3aca0", 0.1)[: s - horizon], s // 10, "#8d877c", 2, rng)
    return img


def _side_corridor(rng, s):
    horizon = s // 2
    wall = _hex(["#d9d4c7", "#c8d0d6", "#e2dccf", "#cfc6b4"][int(rng.integers(4))])
    img = np.clip(_ground(s, rng, "#000000", 0.0) + wall * (0.9 + 0.1 * value_noise((s, s), 6, rng)[..., None]), 0, 1)
    img[: s // 6] = _hex("#e9e9e6")  # ceiling strip
    img[horizon - 6:horizon] = _hex("#5b5650")  # skirting board
    x = int(rng.integers(0, s // 3))
    while x < s:  # doors and notice boards
        dw = int(rng.integers(s // 10, s // 6))
        if rng.random() < 0.6:
            img[horizon - int(0.35 * s):horizon - 6, x:x + dw] = _hex(["#6b4a32", "#4a5563", "#7a7a78"][int(rng.integers(3))])
        else:
            img[horizon - int(0.28 * s):horizon - int(0.16 * s), x:x + dw] = _hex("#f2efe6") * 0.95
        x += dw + int(rng.integers(s // 8, s // 3))
    img[horizon:] = _tiles(_ground(s, rng, "#8c8478", 0.12)[: s - horizon], s // 12, "#6d665c", 2, rng)
    return img


def _side_park(rng, s):
    img = _sky(s, s, rng, "#6a93c4", "#d2dde5", 0.6)
    horizon = s // 2
    img[horizon - s // 16:horizon] = _hex("#3c5632") * (0.85 + 0.3 * value_noise((s // 16, s), 8, rng)[..., None])
    _trees(img, horizon, rng, 7)
    img[horizon:] = _ground(s, rng, "#505c3c", 0.25, 40)[: s - horizon]
    return img


def _top(name, rng, s):
    if name == "corridor":
        img = np.clip(np.full((s, s, 3), _hex("#ebebe8")) * (0.95 + 0.05 * value_noise((s, s), 4, rng)[..., None]), 0, 1)
        for y in range(s // 8, s, s // 4):  # light panels
            img[y:y + s // 16, s // 3:2 * s // 3] = 1.0
        return img
    cloud = {"street": 0.5, "plaza": 0.35, "park": 0.6}[name]
    return _sky(s, s, rng, "#4f7bb0", "#6f95c2", cloud)


def _bottom(name, rng, s):
    if name == "street":
        img = _ground(s, rng, "#4a4a4c", 0.15)
        img[:, s // 2 - 6:s // 2 + 6][(np.arange(s) // 40) % 2 == 0] = _hex("#d8d4c8")  # lane marking
        return img
    if name == "plaza":
        return _tiles(_ground(s, rng, "#b3aca0", 0.1), s // 8, "#8d877c", 2, rng)
    if name == "corridor":
        return _tiles(_ground(s, rng, "#8c8478", 0.12), s // 8, "#6d665c", 2, rng)
    return _ground(s, rng, "#505c3c", 0.25, 40)


_SIDES: dict[str, Callable] = {"street": _side_street, "plaza": _side_plaza, "corridor": _side_corridor,
                               "park": _side_park}


def generate_cubemap(name: str, size: int = FACE_SIZE) -> dict[str, np.ndarray]:
    """The six faces (uint8 RGB, `size`²) of built-in environment `name`."""
    if name not in BUILTIN_CUBEMAPS:
        raise CubemapError(f"unknown built-in cubemap {name!r} (known: {', '.join(BUILTIN_CUBEMAPS)})")
    seed = sum((i + 1) * ord(ch) for i, ch in enumerate(name)) + 1000 * GENERATOR_VERSION
    rng = np.random.default_rng(seed)
    faces = {f: _SIDES[name](rng, size) for f in ("posx", "negx", "posz", "negz")}
    faces["posy"] = _top(name, rng, size)
    faces["negy"] = _bottom(name, rng, size)
    return {f: (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8) for f, img in faces.items()}
