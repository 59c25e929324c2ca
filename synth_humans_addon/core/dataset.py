"""The dataset format: written by generation and refinement, read by re-id and the refiner.

A Market-1501-compatible folder, so torchreid, fast-reid and other toolboxes train on it
unchanged, plus masks and machine-readable metadata::

    DATASET/
      dataset.json                 format marker, name, generator version, the full spec
      bounding_box_train/          <pid:04d>_c<cam>s1_<frame:06d>_<k:02d>.jpg (training characters)
      bounding_box_test/           gallery images of test characters
      query/                       query images of test characters (first image per camera: `query_flags`)
      validation/                  images of validation characters (not part of Market-1501)
      masks/<same stem>.png        person masks (8-bit, 255 = person), pixel-aligned with the image
      metadata/<pid:04d>.json      one file per character: its samples and per-image records

`frame` is the pose frame (pose phase × 1e6 rounded), `k` the image's index in its character,
so names are unique. A character's metadata file is written last (atomically), after all of
its images: a character without it is incomplete. `read_dataset` returns typed records and
rejects a malformed folder with an error that names the file. A refiner writes a dataset again
with new images through `plan_dataset_copy` and `write_dataset_copy` (names, masks and
metadata kept, its provenance in `dataset.json`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

FORMAT_NAME = "synth-humans-dataset"
FORMAT_VERSION = 1
# The subset folders: Market-1501's three (so re-id toolboxes read a dataset unchanged) plus
# `validation`, which Market-1501 lacks. Every other module takes these names from here.
SUBSET_TRAIN, SUBSET_GALLERY, SUBSET_QUERY, SUBSET_VALIDATION = (
    "bounding_box_train", "bounding_box_test", "query", "validation")
SUBSETS = (SUBSET_TRAIN, SUBSET_GALLERY, SUBSET_QUERY, SUBSET_VALIDATION)
MASKS_DIR = "masks"
log = logging.getLogger(__name__)
METADATA_DIR = "metadata"
DATASET_FILE = "dataset.json"
NAME_RE = re.compile(r"^(?P<pid>\d{4})_c(?P<cam>\d)s1_(?P<frame>\d{6})_(?P<k>\d{2,3})$")


class SampledImage(Protocol):
    """What naming and metadata need of one image's sample (`sampling.ImageSample` has it;
    this module does not import sampling, which takes the subset names from here)."""

    k: int
    subset: str
    camera_id: int
    pose_phase: float


class SampledCharacter(Protocol):
    """What the metadata needs of a character's sample (`sampling.CharacterSample` has it)."""

    pid: int
    split: str
    images: Sequence[SampledImage]

    def to_dict(self) -> dict[str, Any]: ...


class DatasetFormatError(ValueError):
    """A dataset folder or file that does not follow the format; the message names the file."""


@functools.lru_cache(maxsize=1)  # importlib.metadata costs ~1.5 ms a call; the farm calls it per job
def generator_version() -> str:
    try:
        from importlib.metadata import version

        return version("synth-humans")
    except Exception:  # not installed (e.g. inside Blender from the add-on zip)
        return "0+unknown"


def query_flags(camera_ids: Sequence[int]) -> list[bool]:
    """The query rule, for one identity's images in their order (a character's: by index k):
    the first image of each camera is a query, the rest gallery.

    A single image stays in the gallery (a distractor: nothing could match it). When every
    image would be a query (each its own camera), the last one stays in the gallery, so the
    identity can still be found. All its images on one camera still give one query: the
    single-shot protocols need it, and Market-1501's same-camera rule ignores it. The
    generator (`sampling`) and re-id's test split of unsplit data (`reid.data.splits`) both
    follow this.
    """
    if len(camera_ids) < 2:
        return [False] * len(camera_ids)
    seen: set[int] = set()
    flags = []
    for cam in camera_ids:
        flags.append(cam not in seen)
        seen.add(cam)
    if all(flags):
        flags[-1] = False
    return flags


def file_stem(pid: int, camera_id: int, frame: int, k: int) -> str:
    """The Market-1501 name of an image, without its suffix (`parse_name` reads it back)."""
    return f"{pid:04d}_c{camera_id}s1_{frame:06d}_{k:02d}"


def image_stem(pid: int, image: SampledImage) -> str:
    return file_stem(pid, image.camera_id, int(round(image.pose_phase * 1e6)) % 1_000_000, image.k)


def image_relpath(pid: int, image: SampledImage, ext: str = ".jpg") -> str:
    return f"{image.subset}/{image_stem(pid, image)}{ext}"


def mask_relpath(pid: int, image: SampledImage) -> str:
    return f"{MASKS_DIR}/{image_stem(pid, image)}.png"


def parse_name(name: str) -> tuple[int, int, int, int]:
    """(pid, camera id, frame, k) from a file name; raises DatasetFormatError if it does not match."""
    m = NAME_RE.match(Path(name).stem)
    if not m:
        raise DatasetFormatError(f"{name}: not a <pid:04d>_c<cam>s1_<frame:06d>_<k:02d> file name")
    return int(m["pid"]), int(m["cam"]), int(m["frame"]), int(m["k"])


@dataclass
class RenderedImage:
    """One rendered image as it leaves the renderer: encoded bytes plus per-image facts.

    `info` holds what only the renderer knows: `bbox` (x0, y0, x1, y1 in the full frame),
    `frame_size` (w, h), `keypoints` ({joint: [x, y, visible]} in crop pixels), timings.
    """

    k: int
    image: bytes  # JPEG
    mask: bytes  # PNG, 8-bit, 255 = person
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImageRecord:
    """One image of a dataset as the reader returns it."""

    path: Path
    mask_path: Path | None
    pid: int
    camera_id: int
    subset: str
    split: str
    k: int
    frame: int
    info: dict[str, Any] = field(default_factory=dict)  # the per-image metadata record


@dataclass
class Dataset:
    root: Path
    manifest: dict[str, Any]
    images: list[ImageRecord]
    characters: dict[int, dict[str, Any]]  # pid → character metadata (samples)
    missing: list[Path] = field(default_factory=list)  # files listed in metadata but absent (skipped)

    def subset(self, name: str) -> list[ImageRecord]:
        return [r for r in self.images if r.subset == name]

    train = property(lambda self: self.subset(SUBSET_TRAIN))
    query = property(lambda self: self.subset(SUBSET_QUERY))
    gallery = property(lambda self: self.subset(SUBSET_GALLERY))
    validation = property(lambda self: self.subset(SUBSET_VALIDATION))


# ---------------------------------------------------------------------------------------
# Writing


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; datasets are shared, so give them the usual 0644 − umask.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def link_or_copy(src: Path, dst: Path) -> None:
    """Place `src` at `dst` as a hard link (no image bytes copied), or a copy where a link is
    impossible (another filesystem, links not allowed); an existing `dst` is replaced."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time (the farm's result checks, provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def create_dataset(root: Path, name: str, spec_dict: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> None:
    """Create the folders and `dataset.json` (kept if it exists and names the same dataset)."""
    root = Path(root)
    for sub in SUBSETS + (MASKS_DIR, METADATA_DIR):
        (root / sub).mkdir(parents=True, exist_ok=True)
    manifest_path = root / DATASET_FILE
    if manifest_path.exists():
        manifest = read_manifest(root)
        if manifest.get("name") != name:
            raise DatasetFormatError(f"{manifest_path}: holds dataset {manifest.get('name')!r}, not {name!r}; "
                                     "use another output folder")
        return
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name,
                "generator_version": generator_version(), "spec": spec_dict}
    manifest.update(extra or {})
    atomic_write(manifest_path, json.dumps(manifest, indent=1).encode())


def character_record(character: SampledCharacter, rendered: Iterable[RenderedImage], extra: dict | None = None) -> dict:
    """The metadata file's content for one character."""
    by_k = {r.k: r for r in rendered}
    images = []
    for im in character.images:
        r = by_k.get(im.k)
        # The renderer's info first: the fields naming the file, mask, index, subset and camera
        # are built from the sample and always win (a renderer, or a farm worker, cannot move them).
        images.append({
            **(r.info if r else {}),
            "file": image_relpath(character.pid, im), "mask": mask_relpath(character.pid, im),
            "k": im.k, "subset": im.subset, "camera_id": im.camera_id,
        })
    rec = {"pid": character.pid, "split": character.split, "character": character.to_dict(), "images": images,
           "generator_version": generator_version()}
    rec.update(extra or {})
    return rec


def write_character(root: Path, character: SampledCharacter, rendered: list[RenderedImage],
                    extra: dict | None = None) -> dict:
    """Store a character's images and masks, then its metadata last. Returns the metadata."""
    root = Path(root)
    by_k = {r.k: r for r in rendered}
    missing = [im.k for im in character.images if im.k not in by_k]
    if missing:
        raise DatasetFormatError(f"character {character.pid:04d}: no rendered image for k={missing}")
    for im in character.images:
        r = by_k[im.k]
        atomic_write(root / image_relpath(character.pid, im), r.image)
        atomic_write(root / mask_relpath(character.pid, im), r.mask)
    rec = character_record(character, rendered, extra)
    atomic_write(metadata_path(root, character.pid), json.dumps(rec, indent=1).encode())
    return rec


def metadata_relpath(pid: int) -> str:
    """A character's metadata file, relative to the dataset root."""
    return f"{METADATA_DIR}/{pid:04d}.json"


def metadata_path(root: Path, pid: int) -> Path:
    return Path(root) / metadata_relpath(pid)


def character_complete(root: Path, pid: int) -> bool:
    return metadata_path(root, pid).is_file()


# ---------------------------------------------------------------------------------------
# Reading


def read_manifest(root: Path) -> dict[str, Any]:
    path = Path(root) / DATASET_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing; {root} is not a synth-humans dataset") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT_NAME:
        raise DatasetFormatError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DatasetFormatError(f"{path}: format version {manifest.get('format_version')} is newer than this "
                                 f"reader ({FORMAT_VERSION})")
    return manifest


def contained_relpath(rel: Any, folder: str) -> bool:
    """True if `rel` is exactly `<folder>/<plain file name>`: relative, no `..`, no subfolder."""
    if not isinstance(rel, str) or "\\" in rel or "\0" in rel:
        return False
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == folder and parts[1] not in ("", ".", "..")


def is_inside(root: str | Path, path: str | Path) -> bool:
    """True if `path`, symbolic links resolved, is the folder `root` or lies inside it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def require_inside(root: str | Path, path: Path) -> Path:
    """`path` if `is_inside(root, path)`, else DatasetFormatError: a dataset's metadata cannot
    make a reader or a writer reach a file outside the dataset's folders."""
    if not is_inside(root, path):
        raise DatasetFormatError(f"{path}: outside the dataset {root}; refusing to open it")
    return path


def read_dataset(root: str | Path, check_files: bool = True, strict: bool = False) -> Dataset:
    """Read a dataset folder into typed records.

    With `check_files`, an image listed in a metadata file but absent (deleted by hand, lost
    in a copy) is skipped and its path reported in `Dataset.missing` and a warning; a
    missing mask leaves its image without a mask. `strict` refuses both instead
    (DatasetFormatError naming the file). Every image file in a subset folder must be
    listed: characters whose metadata file is missing are incomplete and refused.
    Every listed path must be `<subset>/<name>` (images) or `masks/<name>` (masks) and, with
    `check_files`, resolve (links followed) inside the dataset: metadata cannot point elsewhere.
    """
    root = Path(root)
    manifest = read_manifest(root)
    root_real = os.path.realpath(root)
    folder_ok: dict[str, bool] = {}  # a subset folder that is a link out of the dataset is refused once

    def check_inside(path: Path, mp: Path) -> None:
        folder = path.parent.name
        if folder not in folder_ok:
            folder_ok[folder] = is_inside(root_real, path.parent)
        if not folder_ok[folder] or (path.is_symlink() and not is_inside(root_real, path)):
            raise DatasetFormatError(f"{mp}: {path.relative_to(root)} resolves outside the dataset {root}")

    images: list[ImageRecord] = []
    characters: dict[int, dict[str, Any]] = {}
    listed: set[str] = set()
    missing: list[Path] = []
    meta_dir = root / METADATA_DIR
    if not meta_dir.is_dir():
        raise DatasetFormatError(f"{meta_dir}: missing metadata folder")
    for mp in sorted(meta_dir.glob("*.json")):
        try:
            rec = json.loads(mp.read_text())
            pid = int(rec["pid"])
            entries = rec["images"]
            split = rec["split"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DatasetFormatError(f"{mp}: malformed character metadata ({exc!r})") from None
        characters[pid] = rec
        for e in entries:
            try:
                rel, subset = e["file"], e["subset"]
                mpid, cam, frame, k = parse_name(rel)
            except (KeyError, TypeError) as exc:
                raise DatasetFormatError(f"{mp}: malformed image entry {e!r} ({exc!r})") from None
            if subset not in SUBSETS or not isinstance(rel, str) or not rel.startswith(subset + "/"):
                raise DatasetFormatError(f"{mp}: image {rel} has unknown subset {subset!r}")
            if not contained_relpath(rel, subset):
                raise DatasetFormatError(f"{mp}: image path {rel!r} is not a file name inside {subset}/")
            if mpid != pid:
                raise DatasetFormatError(f"{mp}: image {rel} belongs to pid {mpid}, not {pid}")
            mask_rel = e.get("mask")
            if mask_rel and not contained_relpath(mask_rel, MASKS_DIR):
                raise DatasetFormatError(f"{mp}: mask path {str(mask_rel)[:200]!r} is not a file name inside "
                                         f"{MASKS_DIR}/")
            path = root / rel
            mask = root / mask_rel if mask_rel else None
            absent = [f for f in (path, mask) if check_files and f is not None and not f.is_file()]
            if absent and strict:
                raise DatasetFormatError(f"{absent[0]}: listed in {mp} but missing")
            missing.extend(absent)
            if check_files:
                for f in (path, mask):
                    if f is not None and f not in absent:
                        check_inside(f, mp)
            listed.add(rel)
            if path in absent:
                continue
            if mask in absent:
                mask = None
            images.append(ImageRecord(path=path, mask_path=mask, pid=pid, camera_id=cam, subset=subset, split=split,
                                      k=k, frame=frame, info=e))
    if check_files:
        for subset in SUBSETS:
            folder = root / subset
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                if f.name.startswith("."):
                    continue  # temporary files of an interrupted write
                if f"{subset}/{f.name}" not in listed:
                    raise DatasetFormatError(f"{f}: image not listed in any metadata file "
                                             "(an incomplete character? re-run the generation to finish it)")
    if missing:
        log.warning("%s: %d file(s) listed in the metadata are missing and were skipped, e.g. %s", root,
                    len(missing), missing[0])
    return Dataset(root=root, manifest=manifest, images=images, characters=characters, missing=missing)


# ---------------------------------------------------------------------------------------
# Copying: a dataset written again with new images (a refined copy)


@dataclass
class DatasetCopy:
    """A copy of a dataset to write: its records, where the copy goes, and the images (paths
    relative to the dataset) whose new bytes the caller gives. Every path lies inside both folders."""

    dataset: Dataset
    out: Path
    images: list[str]
    masks: dict[str, Path]  # an image's relative path → its mask file

    @property
    def root(self) -> Path:
        return self.dataset.root


def plan_dataset_copy(root: str | Path, out: str | Path, strict: bool = False) -> DatasetCopy:
    """Read the dataset at `root` (listed files that are missing: skipped with a warning, or
    refused with `strict`) and check that none of its paths leaves `root` or, copied, `out`."""
    root, out = Path(root), Path(out)
    dataset = read_dataset(root, strict=strict)
    images = [r.path.relative_to(root).as_posix() for r in dataset.images]
    for rel in images:
        require_inside(root, root / rel)
        require_inside(out, out / rel)
    masks = {}
    for r in dataset.images:
        if r.mask_path is not None:
            require_inside(out, out / r.mask_path.relative_to(root))
            masks[r.path.relative_to(root).as_posix()] = require_inside(root, r.mask_path)
    return DatasetCopy(dataset, out, images, masks)


def write_dataset_copy(copy: DatasetCopy, images: Iterable[tuple[str, bytes]], provenance: dict[str, Any],
                       name: str | None = None) -> None:
    """Write `copy` in the format's order: `dataset.json` (the source's, named `name` or
    `<name>-refined`, with `provenance` under `refined` and the source's own under
    `refinement_history`), the new images as `images` yields them (relative path, encoded
    bytes; only planned ones), the masks byte for byte, then each character's metadata last,
    so a copy cut short reads as incomplete characters, like a generation cut short."""
    root, out = copy.root, copy.out
    manifest = copy.dataset.manifest
    manifest = {**manifest, "name": name or f"{manifest.get('name', root.name)}-refined", "refined": provenance,
                "refinement_history": manifest.get("refinement_history", [])
                + ([manifest["refined"]] if "refined" in manifest else [])}
    atomic_write(out / DATASET_FILE, json.dumps(manifest, indent=1).encode())
    write_listed(out, copy.images, images, root)
    for mask in copy.masks.values():
        (out / mask.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mask, out / mask.relative_to(root))
    for meta in sorted((root / METADATA_DIR).glob("*.json")):
        atomic_write(out / METADATA_DIR / meta.name, meta.read_bytes())
    for sub in SUBSETS:
        (out / sub).mkdir(exist_ok=True)  # empty subsets exist in the source too


def write_listed(out: Path, listed: Iterable[str], files: Iterable[tuple[str, bytes]], source: Path) -> None:
    """Write each (relative path, bytes) of `files` under `out`, refusing a path not `listed`
    (a caller writes only what it planned, checked inside both folders)."""
    wanted = set(listed)
    for rel, data in files:
        if rel not in wanted:
            raise ValueError(f"{rel}: not an image of {source}")
        atomic_write(out / rel, data)
