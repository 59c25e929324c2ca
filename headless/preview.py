"""`synth-humans preview SPEC.toml --characters 40 --output DIR`: render in-process, no farm.

Renders the first N characters of a spec (or a built-in preset: `--preset IV`) in this
process with the same render job the farm's workers run, saves every crop and mask under
DIR, and a labelled `contact_sheet.png` (crops; `contact_sheet_masks.png` for the masks).
Characters whose render fails are reported and skipped, so one bad sample does not hide
the other 39. Only this command's render step imports bpy.

    python -m headless preview examples/presets/IV.toml --characters 40 --output preview/
    python -m headless preview --preset IV --characters 40 --output preview/ --crop-height 128
    python -m headless preview --preset IV --characters 20 --output preview/ --compare my_camera_crops/

`--compare FOLDER` also saves `compare_sheet.png`: the generated crops above as many of the
user's real crops (a seeded random choice), all at the same height, for the eye.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from synth_humans_addon.core.cli_conventions import (UserError, add_quiet, check_output_folder, new_parser, program_name,
                                                     run_cli)
from synth_humans_addon.core.presets import PRESET_NAMES


PROG = f"{program_name('headless', 'synth-humans')} preview"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, __doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", type=Path, help="dataset spec (TOML)")
    p.add_argument("--preset", choices=PRESET_NAMES, help="a built-in spec instead of a file")
    p.add_argument("--characters", type=int, default=40, help="how many characters (the first N of the spec)")
    p.add_argument("--images-per-character", type=int, default=1, help="images of each character to render")
    p.add_argument("-o", "--output", "--out", dest="out", metavar="DIR", type=Path, required=True, help="output folder")
    p.add_argument("--start", type=int, default=0, help="index of the first character")
    p.add_argument("--crop-height", type=int, help="override render.crop_height")
    p.add_argument("--samples", type=int, help="override render.samples")
    p.add_argument("--columns", type=int, default=10, help="contact sheet columns")
    p.add_argument("--compare", type=Path, metavar="FOLDER",
                   help="also save compare_sheet.png: the crops above as many real crops from FOLDER, same height")
    add_quiet(p)
    return p


def load(args) -> "object":
    from synth_humans_addon.core import presets
    from synth_humans_addon.core.spec_io import load_spec

    from synth_humans_addon.core.spec_validation import validate_spec

    if (args.spec is None) == (args.preset is None):
        raise UserError("give either a SPEC.toml or --preset NAME")
    for option, value, least in (("--characters", args.characters, 1), ("--images-per-character",
                                 args.images_per_character, 1), ("--start", args.start, 0), ("--columns", args.columns, 1)):
        if value < least:
            raise UserError(f"{option} {value}: must be at least {least}")
    spec = presets.preset(args.preset) if args.preset else load_spec(args.spec)
    overrides = {"render.crop_height": ("--crop-height", args.crop_height),
                 "render.samples": ("--samples", args.samples)}
    for field, (option, value) in overrides.items():
        if value is not None:
            setattr(spec.render, field.split(".")[1], value)
    for field, why in validate_spec(spec):  # the spec's own ranges hold for the overrides too
        if field in overrides and overrides[field][1] is not None:
            option, value = overrides[field]
            raise UserError(f"{option} {value}: {why}")
    return spec


def main(argv: list[str] | None = None) -> int:
    from synth_humans_addon.core.spec import SpecError

    return run_cli(PROG, build_parser().parse_args, run, argv, user_errors=(SpecError,))


def run(args: argparse.Namespace) -> int:
    spec = load(args)
    check_output_folder(args.out)
    from PIL import Image
    from tqdm import tqdm

    from headless.contact_sheet import make_contact_sheet
    from synth_humans_addon.core.dataset import image_stem
    from synth_humans_addon.core.sampling import assign_splits, expand_character

    if args.compare is not None and not args.compare.is_dir():
        raise UserError(f"--compare {args.compare}: no such folder")
    n_total = spec.dataset.characters
    count = max(0, min(args.characters, n_total - args.start))
    if count == 0:
        raise UserError(f"--start {args.start}: leaves no characters (the spec has {n_total}, numbered 0…{n_total - 1})")
    spec.dataset.images_per_character = max(1, min(args.images_per_character, spec.dataset.images_per_character))
    splits = assign_splits(spec)
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)

    from synth_humans_addon.blender.job import RenderSession  # the render step: imports bpy

    crops, masks, labels, failures, timings = [], [], [], [], []
    t_start = time.perf_counter()
    with RenderSession(spec) as session:
        for index in tqdm(range(args.start, args.start + count), desc="preview", unit="character",
                          disable=args.quiet):
            character = expand_character(spec, index, splits[index])
            try:
                t0 = time.perf_counter()
                rendered = session.render_character(character)
                timings.append(time.perf_counter() - t0)
            except Exception as exc:  # keep going: report the failure with the character's index
                failures.append({"index": index, "pid": character.pid, "error": f"{type(exc).__name__}: {exc}"})
                print(f"character {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            for r, im in zip(rendered, character.images):
                stem = image_stem(character.pid, im)
                (out / "images" / f"{stem}.jpg").write_bytes(r.image)
                (out / "masks" / f"{stem}.png").write_bytes(r.mask)
                crops.append(out / "images" / f"{stem}.jpg")
                masks.append(out / "masks" / f"{stem}.png")
                labels.append(_label(character))
    sheet = None
    if crops:
        sheet = out / "contact_sheet.png"
        make_contact_sheet([Image.open(p) for p in crops], labels, columns=args.columns).save(sheet)
        make_contact_sheet([Image.open(p) for p in masks], labels, columns=args.columns).save(
            out / "contact_sheet_masks.png")
    if crops and args.compare is not None:
        _compare_sheet(crops, args.compare, args.columns, out / "compare_sheet.png")
    summary = {"characters": count, "rendered_images": len(crops), "failures": failures,
               "seconds": round(time.perf_counter() - t_start, 2),
               "seconds_per_character": round(sum(timings) / len(timings), 3) if timings else None}
    (out / "preview.json").write_text(json.dumps(summary, indent=1))
    print(summary_line(len(crops), count, len(failures), summary["seconds"], sheet, out / "preview.json"))
    return 1 if failures and not crops else 0


def summary_line(images: int, characters: int, failed: int, seconds: float, sheet: Path | None, report: Path) -> str:
    """The closing line; it names the contact sheet only when one was written."""
    line = f"{images} images of {characters - failed} characters in {seconds} s"
    line += f" → {sheet}" if sheet else "; no contact sheet (nothing rendered)"
    return line + (f"; {failed} failed (see {report})" if failed else "")


def _compare_sheet(crops: list[Path], folder: Path, columns: int, out: Path) -> None:
    """Generated crops next to as many real ones (a seeded random choice), at the same height."""
    from PIL import Image

    from headless.contact_sheet import make_compare_sheet
    from synth_humans_addon.core.crop_stats import list_images

    real = list_images(folder, limit=len(crops), seed=0)
    if not real:
        print(f"--compare: no images in {folder}; no comparison sheet", file=sys.stderr)
        return
    height = max(Image.open(p).height for p in crops)
    make_compare_sheet([Image.open(p) for p in crops], [Image.open(p) for p in real], columns,
                       cell_height=min(256, height)).save(out)
    print(f"comparison with {len(real)} crops of {folder} → {out}")


def _label(character) -> str:
    parts = [f"{character.pid:04d}"]
    if character.top:
        parts.append(character.top.kind[:4])
    if character.bottom:
        parts.append(character.bottom.kind[:4])
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
