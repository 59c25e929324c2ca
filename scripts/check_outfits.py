"""Check that every character of some presets or specs dresses without a geometry failure.

    python scripts/check_outfits.py --characters 2000 IV IV-realistic default examples/x.toml

Builds each character's body and every garment, hair and accessory mesh in numpy (no
Blender; see `synth_humans_addon/shapes/outfit_geometry.py`) and prints one line per
failure and a summary per spec. Exit status 1 if any character failed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_humans_addon.shapes.outfit_geometry import check_characters  # noqa: E402
from synth_humans_addon.core import presets  # noqa: E402
from synth_humans_addon.core.spec_io import load_spec  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="*", default=list(presets.PRESET_NAMES),
                    help="preset names or spec TOML files (default: every preset)")
    ap.add_argument("--characters", type=int, default=2000, help="characters per spec (default 2000)")
    args = ap.parse_args(argv)
    failed = 0
    for name in args.specs:
        spec = load_spec(name) if name.endswith(".toml") else presets.preset(name)
        # Check more characters than a small preset holds: the expansion does not depend on the count.
        spec.dataset.characters = max(spec.dataset.characters, args.characters)
        t0 = time.perf_counter()
        failures = check_characters(spec, range(args.characters))
        for i, err in failures:
            print(f"{name}: character {i} (pid {i + 1}): {err}")
        print(f"{name}: {args.characters} characters, {len(failures)} failed "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        failed += len(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
