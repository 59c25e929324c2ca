"""Per-character body build time (body + armature + tights helper + pose + removal).

    .venv/bin/python benchmarks/bench_body.py [--n 20]

Prints the first (cold: parses assets, builds template meshes) and the warm per-character
times, and the warm time as a fraction of the 2 s whole-character budget; then the posing
cost per image of each walk source (with and without re-grounding) against the 20 ms
per-image budget, and the shipped walk cycle's one-off tabulation against the 100 ms
per-character setup budget.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    from synth_humans_addon.blender import body as B
    from synth_humans_addon.blender.motion import pose as M
    from synth_humans_addon.core.mpfb.phenotype import Phenotype
    from synth_humans_addon.core.spec import ETHNICITIES

    from synth_humans_addon.core.mpfb.targets import preload_macro_targets

    t = time.perf_counter()
    n_targets = preload_macro_targets()
    print(f"preload {n_targets} macro targets: {time.perf_counter() - t:.2f} s (once per worker)")
    rng = np.random.default_rng(0)
    times = []
    for i in range(args.n + 1):
        ph = Phenotype(age_years=float(rng.uniform(18, 70)), gender=float(rng.random()), weight=float(rng.random()),
                       muscle=float(rng.random()), height=float(rng.uniform(0.3, 0.7)), proportions=float(rng.random()),
                       ethnicity=dict(zip(ETHNICITIES, rng.random(3))))
        t = time.perf_counter()
        b = B.build_body(ph, "#b08060")
        B.make_helper_object(b, "helper-tights", "tights")
        M.apply_pose(b, "procedural_walk", phase=float(rng.random()))
        B.remove_body(b)
        times.append(time.perf_counter() - t)
    warm = float(np.median(times[1:]))
    print(f"cold first character: {times[0]:.3f} s")
    print(f"warm per character (median of {args.n}): {warm * 1000:.1f} ms")
    print(f"ratio warm / 2 s budget: {warm / 2.0:.3f}")
    bench_posing(B, M, Phenotype, n_poses=max(args.n, 10) * 4)


def bench_posing(B, M, Phenotype, n_poses: int) -> None:
    """Per-image posing time of the walk sources on one character (median over phases)."""
    from synth_humans_addon.core.walk_cycle import walk_table

    walk_table.cache_clear()
    t = time.perf_counter()
    walk_table()
    table_s = time.perf_counter() - t
    print(f"walk cycle tabulation (once per process): {table_s * 1000:.1f} ms, "
          f"ratio / 100 ms setup budget: {table_s / 0.1:.3f}")
    b = B.build_body(Phenotype(gender=0.5), "#b08060")
    phases = np.random.default_rng(1).random(n_poses)
    for source in ("walk", "procedural_walk"):
        for grounded in (False, True):
            times = []
            for ph in phases:
                t = time.perf_counter()
                M.apply_pose(b, source, phase=float(ph), grounded=grounded)
                times.append(time.perf_counter() - t)
            med = float(np.median(times))
            print(f"pose {source:16s} grounded={grounded!s:5s}: {med * 1000:6.2f} ms/image "
                  f"(ratio / 20 ms budget: {med / 0.02:.3f})")
    B.remove_body(b)


if __name__ == "__main__":
    main()
