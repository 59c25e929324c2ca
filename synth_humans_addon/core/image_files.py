"""Image files the renderer reads (backgrounds, cubemap faces): which suffixes, which faces,
and whether a file really is a usable image. No bpy; Pillow when it is there.

Owned here so that the spec's validation and the built-in cubemaps read the same lists and
neither imports the other for them.
"""
from __future__ import annotations

from pathlib import Path

# Blender reads all of these; Pillow all but .exr and .hdr (checked by their headers instead).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".exr", ".hdr", ".tif", ".tiff", ".bmp")
# A cubemap folder's face names (Humus' naming; the convention is in cubemaps.py).
CUBEMAP_FACES = ("posx", "negx", "posy", "negy", "posz", "negz")


# Headers of the image formats Pillow does not read (Blender does).
_HEADERS = {".exr": (b"\x76\x2f\x31\x01",), ".hdr": (b"#?RADIANCE", b"#?RGBE")}


def check_image_file(path: Path) -> str | None:
    """Why `path` is not a usable image (opened and decoded, as a render job would), or None."""
    if not path.is_file():
        return f"file not found: {path}"
    if path.stat().st_size == 0:
        return f"{path} is empty"
    suffix = path.suffix.lower()
    if suffix in _HEADERS:
        with open(path, "rb") as f:
            head = f.read(16)
        return None if head.startswith(_HEADERS[suffix]) else f"{path} is not a {suffix[1:].upper()} image"
    try:
        from PIL import Image
    except ImportError:  # a Blender without Pillow: only the checks above
        return None
    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises many types for broken files
        return f"{path} is not a readable image ({type(exc).__name__}: {exc})"
    return None


def check_cubemap_folder(folder: Path, open_images: bool = True) -> list[str]:
    """Problems with a cubemap folder: missing or (with `open_images`) unreadable faces.
    Empty list = fine."""
    if not folder.is_dir():
        return [f"folder {folder} does not exist"]
    problems = []
    for face in CUBEMAP_FACES:
        matches = [p for p in folder.iterdir() if p.stem.lower() == face and p.suffix.lower() in IMAGE_EXTENSIONS]
        if not matches:
            problems.append(f"missing face '{face}' in {folder} (expected {face}.jpg/.png/...)")
        elif not matches[0].is_file() or matches[0].stat().st_size == 0:
            problems.append(f"face {matches[0]} is empty or not a file")
        elif open_images and (why := check_image_file(matches[0])) is not None:
            problems.append(f"face {why}")
    return problems
