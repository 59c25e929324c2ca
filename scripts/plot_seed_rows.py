"""Plot many training seeds per row: each seed a dot, the mean a bar, chance and a baseline as lines.

    python scripts/plot_seed_rows.py docs/data/seeds_h200.csv docs/images/results/seeds_h200.png \
        --baseline 1.5 --baseline-label "colour histogram"

The CSV has one line per (row, seed) with at least the columns `row`, `ss_r1` (single-shot
rank-1, %) and `mk_map` (Market-style mAP, %); rows are drawn in the file's order.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np


def read_rows(path: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            rows.setdefault(rec["row"], []).append(rec)
    return rows


def plot(rows: dict[str, list[dict]], out: Path, baseline: float | None, baseline_label: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.42 * len(names) + 1.6), sharey=True)
    for ax, key, label in ((axes[0], "ss_r1", "single-shot rank-1 (%)"), (axes[1], "mk_map", "Market-style mAP (%)")):
        for y, name in enumerate(names):
            v = np.array([float(r[key]) for r in rows[name]])
            jitter = np.linspace(-0.18, 0.18, len(v)) if len(v) > 1 else np.zeros(1)
            ax.scatter(v, y + jitter, s=14, alpha=0.65, color="tab:blue", zorder=3)
            ax.plot([v.mean()] * 2, [y - 0.32, y + 0.32], color="black", lw=2, zorder=4)
        if key == "ss_r1":
            ax.axvline(1.0, color="grey", ls=":", lw=1, label="chance")
            if baseline is not None:
                ax.axvline(baseline, color="tab:red", ls="--", lw=1, label=baseline_label)
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(left=0)
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels([f"{n} (n={len(rows[n])})" for n in names])
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("out", type=Path, help="PNG to write")
    ap.add_argument("--baseline", type=float, default=None, help="a non-learned row's rank-1 (%%), drawn as a line")
    ap.add_argument("--baseline-label", default="baseline")
    ap.add_argument("--title", default="each dot one training seed; bar = mean")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"error: {args.csv}: no such file", file=sys.stderr)
        return 2
    try:
        rows = read_rows(args.csv)
        plot(rows, args.out, args.baseline, args.baseline_label, args.title)
    except (KeyError, ValueError) as exc:
        print(f"error: {args.csv}: {exc} (needs columns row, ss_r1, mk_map)", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
