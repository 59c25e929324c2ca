"""Render benchmark: cropped rendering vs full frame, character setup, images per hour.

Runs on this machine, in one process, with the real body, clothes and scene:

* seconds per image for `--crop-height` px crops rendered with the render border
  (crop-to-border) — what the generator does;
* seconds per image when the full frame is rendered and cropped afterwards (the same
  images, same settings) — the naive way; the ratio is the speed-up of cropped rendering
  (target ≥ 4×);
* per-character setup time (room + body + clothes, once per character);
* images per hour for one worker at the spec's images per character.

Targets on a 2-core CPU: ≤ 1 s per 256-px image, ≤ 2 s character setup.

    python benchmarks/bench_render.py --characters 3 --images 3
    python benchmarks/bench_render.py --preset default --crop-height 128 --threads 2
    python benchmarks/bench_render.py --preset IV-realistic --baseline IV --crop-height 160 --skip-full-frame
    python benchmarks/bench_render.py --preset examples/specs/IV_people.toml --baseline IV --crop-height 160 \
        --skip-full-frame --characters 12 --images 8 --warm-passes 1 --repeats 3

`--warm-passes 1` renders the same characters once untimed first: a long-running worker has
built its pool of other people (`background.people_pool`) and cached its templates, so the
timed pass sees the steady state. `--repeats N` alternates preset and baseline N times and
reports the median ratio: on a shared machine one pass of each drifts by ±10 %.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="IV", help="built-in spec or a spec .toml file to render (default IV)")
    p.add_argument("--characters", type=int, default=3)
    p.add_argument("--images", type=int, default=3, help="images per character to time")
    p.add_argument("--crop-height", type=int, default=256)
    p.add_argument("--threads", type=int, default=0, help="render threads (0 = all cores)")
    p.add_argument("--skip-full-frame", action="store_true", help="only time cropped rendering")
    p.add_argument("--baseline", help="also time this preset or spec file in the same run and report the cost "
                                      "ratio (e.g. --preset IV-realistic --baseline IV)")
    p.add_argument("--warm-passes", type=int, default=0,
                   help="untimed passes over the same characters first (steady state of a long-running worker)")
    p.add_argument("--repeats", type=int, default=1, help="with --baseline: alternate both this many times")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    ratios, render_ratios = [], []
    for _ in range(max(1, args.repeats) if args.baseline else 1):
        result = measure(args.preset, args)
        print_table(result)
        if args.baseline:
            base = measure(args.baseline, args)
            print_table(base)
            # Per image including the character's setup, as a worker pays it.
            ratios.append(result["seconds_per_image_with_setup"] / base["seconds_per_image_with_setup"])
            render_ratios.append(result["seconds_per_image_cropped"] / base["seconds_per_image_cropped"])
    if args.baseline:
        ratio, render_ratio = statistics.median(ratios), statistics.median(render_ratios)
        result = {**result, "baseline": base, "cost_vs_baseline": round(ratio, 3),
                  "cost_vs_baseline_each": [round(r, 3) for r in ratios]}
        print(f"\npreset {args.preset} costs {ratio:.2f}× preset {args.baseline} per image (setup included; "
              f"cropped render alone {render_ratio:.2f}×); median of {len(ratios)}: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}")
    return result


def measure(preset_name: str, args) -> dict:
    from synth_humans_addon.blender.job import RenderSession
    from synth_humans_addon.core import presets
    from synth_humans_addon.core.sampling import assign_splits, expand_character

    if preset_name.endswith(".toml"):
        from synth_humans_addon.core.spec_io import load_spec

        spec = load_spec(preset_name)
    else:
        spec = presets.preset(preset_name)
    spec.render.crop_height = args.crop_height
    spec.render.threads = args.threads
    images_per_character_spec = spec.dataset.images_per_character
    spec.dataset.images_per_character = max(args.images, 1)
    splits = assign_splits(spec)

    setup, cropped, full, crop_sizes, frame_sizes = [], [], [], [], []
    t_session = time.perf_counter()
    with RenderSession(spec) as session:
        session_s = time.perf_counter() - t_session
        # Warm-up: first-use costs (asset parsing, templates, cubemap generation, kernel
        # loading) are paid once per worker process, not per character; report them apart.
        t0 = time.perf_counter()
        warm = expand_character(spec, spec.dataset.characters - 1, splits[-1])
        session.load_character(warm)
        session.render_image(warm.images[0])
        session.unload_character()
        first_use_s = time.perf_counter() - t0
        for _ in range(args.warm_passes):
            for index in range(args.characters):
                character = expand_character(spec, index, splits[index])
                session.load_character(character)
                for im in character.images[: args.images]:
                    session.render_image(im)
                session.unload_character()
        for index in range(args.characters):
            character = expand_character(spec, index, splits[index])
            loaded = session.load_character(character)
            setup.append(loaded.setup_seconds)
            for im in character.images[: args.images]:
                t = time.perf_counter()
                r = session.render_image(im, crop=True)
                cropped.append(time.perf_counter() - t)
                crop_sizes.append(tuple(r.info["crop_size"]))
                frame_sizes.append(tuple(r.info["frame_size"]))
                if not args.skip_full_frame:
                    t = time.perf_counter()
                    session.render_image(im, crop=False)
                    full.append(time.perf_counter() - t)
            session.unload_character()

    per_image = statistics.mean(cropped)
    per_setup = statistics.mean(setup)
    per_image_full = statistics.mean(full) if full else float("nan")
    ipc = images_per_character_spec
    per_image_with_setup = per_image + per_setup / ipc
    return {
        "preset": preset_name,
        "crop_height": args.crop_height,
        "samples": spec.render.samples,
        "threads": args.threads or "all",
        "mean_crop_size": [round(statistics.mean(c[i] for c in crop_sizes)) for i in (0, 1)],
        "mean_frame_size": [round(statistics.mean(f[i] for f in frame_sizes)) for i in (0, 1)],
        "seconds_per_image_cropped": round(per_image, 3),
        "seconds_per_image_full_frame": round(per_image_full, 3),
        "speedup_cropped_vs_full": round(per_image_full / per_image, 2) if full else None,
        "seconds_character_setup": round(per_setup, 3),
        "seconds_session_start": round(session_s, 3),
        "seconds_first_use": round(first_use_s, 3),
        "images_per_character": ipc,
        "seconds_per_image_with_setup": round(per_image_with_setup, 3),
        "images_per_hour_one_worker": round(3600.0 / per_image_with_setup),
    }


def print_table(r: dict) -> None:
    rows = [
        ("crop (mean w×h px)", f"{r['mean_crop_size'][0]}×{r['mean_crop_size'][1]}"),
        ("full frame (mean w×h px)", f"{r['mean_frame_size'][0]}×{r['mean_frame_size'][1]}"),
        ("s / image, cropped render", f"{r['seconds_per_image_cropped']:.3f}  (target ≤ 1 s at 256 px)"),
        ("s / image, full frame + crop", f"{r['seconds_per_image_full_frame']:.3f}"),
        ("speed-up of cropped rendering", f"{r['speedup_cropped_vs_full']}×  (target ≥ 4×)"),
        ("s character setup", f"{r['seconds_character_setup']:.3f}  (target ≤ 2 s)"),
        ("s first use per process", f"{r['seconds_first_use']:.3f}"),
        (f"images / hour, one worker ({r['images_per_character']} img/char)", f"{r['images_per_hour_one_worker']}"),
    ]
    width = max(len(a) for a, _ in rows)
    print(f"\nrender benchmark — preset {r['preset']}, {r['samples']} samples, threads {r['threads']}")
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")


if __name__ == "__main__":
    main()
