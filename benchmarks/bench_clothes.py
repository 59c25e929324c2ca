"""Per-character dressing time: clothes, hair and accessories on real bodies, and freeing them.

    .venv/bin/python benchmarks/bench_clothes.py [--n 20] [--preset IV]

Builds `n` sampled characters of a preset, and times `clothes.dress` (every garment, hair
and accessory the sample asks for, plus the skin mask) and `clothes.remove_outfit`
separately from the body. Prints the first (cold: one-time pairings and caches) and the
warm medians, the share of the 2 s whole-character setup budget that dressing takes, and
the datablock counts before/after (a leak shows as a difference).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="characters to dress (after one cold run)")
    ap.add_argument("--preset", default="IV", help="spec preset to sample characters from")
    args = ap.parse_args()

    import bpy

    from synth_humans_addon.blender import body as B
    from synth_humans_addon.blender import clothes as C
    from synth_humans_addon.core import presets, sampling
    from synth_humans_addon.core.mpfb.phenotype import Phenotype

    spec = presets.preset(args.preset)
    spec.dataset.characters = max(spec.dataset.characters, args.n + 1)
    kinds = ("objects", "meshes", "materials")
    counts_before = {k: len(getattr(bpy.data, k)) for k in kinds}
    dress_t, remove_t, parts = [], [], []
    for i in tqdm(range(args.n + 1), desc="dressing", unit="character"):
        ch = sampling.expand_character(spec, i)
        build = B.build_body(Phenotype.from_body_sample(ch.body), ch.body.skin_color, name=f"bench{i}")
        t = time.perf_counter()
        outfit = C.dress(build, ch)
        dress_t.append(time.perf_counter() - t)
        parts.append(len(outfit.objects))
        t = time.perf_counter()
        C.remove_outfit(outfit)
        remove_t.append(time.perf_counter() - t)
        B.remove_body(build)
    counts_after = {k: len(getattr(bpy.data, k)) for k in kinds}
    warm = float(np.median(dress_t[1:]))
    print(f"cold first dress: {dress_t[0]:.3f} s (one-time caches)")
    print(f"warm dress per character (median of {args.n}, {np.mean(parts):.1f} objects each): {warm * 1000:.1f} ms")
    print(f"warm remove_outfit: {np.median(remove_t[1:]) * 1000:.1f} ms")
    print(f"ratio warm dress / 2 s character budget: {warm / 2.0:.3f}")
    extra = {k: counts_after[k] - counts_before[k] for k in kinds}
    print(f"datablocks left behind after {args.n + 1} characters: {extra} (templates of the body module excluded)"
          if any(extra.values()) else f"datablocks left behind: none ({counts_after})")


if __name__ == "__main__":
    main()
