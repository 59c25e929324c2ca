"""`python -m headless fit SPEC.toml --target FOLDER --output FITTED.toml`: fit a spec to real crops.

Reads a folder of unlabelled person crops from the user's cameras, estimates what the spec
controls (body colours, camera degradations, crop shape, background; see
`synth_humans_addon/core/fit.py`) and writes a fitted spec. With `--generated FOLDER`
(crops rendered from SPEC, e.g. a preview's images/) the renderer's own shading, blur,
noise, brightness and contrast are calibrated from them; with `--render N` this command
renders N characters of SPEC and of the fitted spec itself (`headless preview`, bpy) and
reports the domain distance (kernel MMD² on colour/texture statistics) to the target
before and after fitting. `--elevation` (with `--render N`) also renders N characters of the
fitted spec at each camera elevation band of `fit.ELEVATION_BANDS` and keeps the band whose
crops' background profiles are nearest the target's (`fit.pick_elevation`).

    python -m headless fit examples/presets/IV.toml --target /data/cam3 --output cam3.toml --render 24
    python -m headless fit examples/presets/IV.toml --target /data/cam3 --output cam3.toml --render 64 --elevation

Exit status: 0 fitted; 2 a bad spec, folder or option (one line on stderr).

This module is the command (files, renders, the report); the fitting itself is
`synth_humans_addon.core.fit` (numpy only).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

from synth_humans_addon.core.cli_conventions import UserError, add_quiet, new_parser, program_name, run_cli


PROG = f"{program_name('headless', 'synth-humans')} fit"


def build_parser() -> argparse.ArgumentParser:
    p = new_parser(PROG, __doc__.split("\n\n")[0])
    p.add_argument("spec", type=Path, help="the spec to start from (TOML)")
    p.add_argument("--target", type=Path, required=True, help="folder of real person crops (jpg/png)")
    p.add_argument("-o", "--output", "--out", dest="out", metavar="FILE", type=Path, required=True,
                   help="where to write the fitted spec (TOML)")
    p.add_argument("--generated", type=Path, help="folder of crops rendered from SPEC (calibrates the renderer)")
    p.add_argument("--render", type=int, default=0, metavar="N",
                   help="render N characters of SPEC and of the fitted spec and report the distance before/after")
    p.add_argument("--rounds", type=int, default=1,
                   help="with --render: further rounds correcting brightness/contrast from the fitted renders")
    p.add_argument("--elevation", action="store_true",
                   help="with --render N: search the camera elevation band (N characters rendered per band; "
                        "64 or more recommended)")
    p.add_argument("--work", type=Path, help="folder for --render's previews (default: a temporary folder)")
    p.add_argument("--limit", type=int, default=1000, help="most target crops to read (a seeded subset; default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the target subset and the fitted palettes")
    p.add_argument("--report", type=Path, help="also write the report as JSON here")
    add_quiet(p)
    return p


def _stats(folder: Path, what: str, limit: int, seed: int):
    from synth_humans_addon.core.crop_stats import folder_stats

    if not folder.is_dir():
        raise UserError(f"{what} folder {folder} does not exist")
    stats = folder_stats(folder, limit=limit, seed=seed)
    if len(stats) < 2:
        raise UserError(f"{what} folder {folder} holds {len(stats)} readable crops; at least 2 are needed")
    return stats


def _render(spec_path: Path, n: int, out: Path, quiet: bool) -> Path:
    from headless import preview

    rc = preview.main([str(spec_path), "--characters", str(n), "--output", str(out)] + (["--quiet"] if quiet else []))
    if rc != 0:
        raise RuntimeError(f"rendering {spec_path} failed (see above)")
    return out / "images"


def _search_elevation(fitted, args, work: Path) -> dict:
    """Render the fitted spec at each elevation band, set the band nearest the target."""
    from synth_humans_addon.core import fit
    from synth_humans_addon.core.crop_stats import folder_elevation_profiles
    from synth_humans_addon.core.spec_io import save_spec

    target = folder_elevation_profiles(args.target, args.limit, args.seed)
    candidates = {}
    for low, high in fit.ELEVATION_BANDS:
        variant = copy.deepcopy(fitted)
        variant.camera.theta1_deg, variant.camera.theta2_deg = low, high
        spec_path = work / f"elevation_{low:.0f}_{high:.0f}.toml"
        save_spec(variant, spec_path)
        images = _render(spec_path, args.render, work / f"elevation_{low:.0f}_{high:.0f}", args.quiet)
        candidates[(low, high)] = folder_elevation_profiles(images, args.limit, args.seed)
    band, distances = fit.pick_elevation(target, candidates)
    fitted.camera.theta1_deg, fitted.camera.theta2_deg = band
    return {"bands": [list(b) for b in distances], "mmd2": [round(d, 5) for d in distances.values()],
            "chosen": list(band)}


def main(argv: list[str] | None = None) -> int:
    from synth_humans_addon.core.spec import SpecError

    return run_cli(PROG, build_parser().parse_args, run, argv, user_errors=(SpecError,))


def run(args: argparse.Namespace) -> int:
    from synth_humans_addon.core import fit
    from synth_humans_addon.core.spec_io import load_spec, save_spec

    spec = load_spec(args.spec)
    if args.rounds < 1:
        raise UserError(f"--rounds must be at least 1, got {args.rounds}")
    if args.render < 0 or args.render == 1:
        raise UserError(f"--render must be 0 (no renders) or at least 2, got {args.render}")
    if args.limit < 2:
        raise UserError(f"--limit must be at least 2, got {args.limit}")
    if args.elevation and not args.render:
        raise UserError("--elevation needs --render N: it renders N characters per elevation band (64 or more "
                        "recommended)")
    target = _stats(args.target, "--target", args.limit, args.seed)
    with tempfile.TemporaryDirectory(prefix="synth-humans-fit-") as tmp:
        work = args.work or Path(tmp)
        generated_dir = args.generated
        if generated_dir is None and args.render:
            generated_dir = _render(args.spec, args.render, work / "before", args.quiet)
        generated = _stats(generated_dir, "--generated", args.limit, args.seed) if generated_dir else None
        result = fit.fit_spec(spec, target, generated, seed=args.seed)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_spec(result.spec, args.out)
        report = result.report
        if generated:
            report["distance_before"] = round(fit.domain_distance(generated, target), 5)
        if args.render:
            after = _stats(_render(args.out, args.render, work / "after", args.quiet), "rendered", args.limit,
                           args.seed)
            report["distances"] = [round(fit.domain_distance(after, target), 5)]
            fitted = best = result.spec
            best_after = after
            for round_ in range(2, args.rounds + 1):
                if not generated:  # without renders of SPEC, exposure/contrast were never fitted
                    break
                fitted = fit.refine_light(fitted, target, after)
                save_spec(fitted, args.out)
                after = _stats(_render(args.out, args.render, work / f"after{round_}", args.quiet), "rendered",
                               args.limit, args.seed)
                report["distances"].append(round(fit.domain_distance(after, target), 5))
                if report["distances"][-1] < min(report["distances"][:-1]):
                    best, best_after = fitted, after
            fitted, after = best, best_after  # a round that did not bring the target closer is undone
            if args.elevation:
                report["elevation"] = _search_elevation(fitted, args, work)
                report["not_fitted"] = [f for f in report.get("not_fitted", []) if f != "camera elevation"]
            save_spec(fitted, args.out)
            report["distance_after"] = min(report["distances"])
            report["fitted"].update(exposure=[fitted.postprocess.exposure.low, fitted.postprocess.exposure.high],
                                    contrast=[fitted.postprocess.contrast.low, fitted.postprocess.contrast.high])
            report["generated_after"] = fit.summarize(after)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    t = report["target"]
    print(f"{t['crops']} target crops: median {t['width_px'][1]:.0f}×{t['height_px'][1]:.0f} px, "
          f"height/width {t['height_over_width'][1]:.2f}, noise {t['noise_std'][1]:.4f}, "
          f"blur {t['blur_sigma_px'][1]:.2f} px, JPEG {t['jpeg_quality'][1] if t['jpeg_quality'] else '-'}")
    print("upper colours: " + ", ".join(f"{k} {v:.0%}" for k, v in list(t["upper_colour_names"].items())[:5]))
    print("lower colours: " + ", ".join(f"{k} {v:.0%}" for k, v in list(t["lower_colour_names"].items())[:5]))
    for key in ("distance_before", "distance_after"):
        if key in report:
            print(f"{key.replace('_', ' ')} (MMD²): {report[key]:.4f}")
    if "elevation" in report:
        e = report["elevation"]
        print("camera elevation θ (from the zenith): " + ", ".join(
            f"{lo:.0f}–{hi:.0f}° {d:.4f}" for (lo, hi), d in zip(e["bands"], e["mmd2"]))
              + f" → {e['chosen'][0]:.0f}–{e['chosen'][1]:.0f}°")
    print(f"fitted spec → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
