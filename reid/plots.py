"""CMC plots in the style of the source study: several models on one chart, chance for reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_cmc(curves: dict[str, np.ndarray], path: str | Path, title: str = "CMC", chance: np.ndarray | None = None,
             spreads: dict[str, np.ndarray] | None = None, max_rank: int | None = None) -> Path:
    """Write a PNG with one CMC line per model (rank on x, recognition rate in % on y).

    `spreads` (optional, per model): standard deviation across random draws, drawn as a band.
    `chance`: the CMC of random ranking, drawn dashed.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for name, curve in curves.items():
        c = np.asarray(curve, float)[:max_rank] * 100
        ranks = np.arange(1, len(c) + 1)
        ax.plot(ranks, c, label=f"{name} (r1 {c[0]:.1f}%)", lw=1.6)
        if spreads and name in spreads:
            s = np.asarray(spreads[name], float)[:len(c)] * 100
            ax.fill_between(ranks, np.clip(c - s, 0, 100), np.clip(c + s, 0, 100), alpha=0.15)
    if chance is not None:
        c = np.asarray(chance, float)[:max_rank] * 100
        ax.plot(np.arange(1, len(c) + 1), c, "k--", lw=1, label="chance")
    ax.set_xlabel("rank")
    ax.set_ylabel("recognition rate (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(1, max(len(np.asarray(c)) for c in curves.values()) if curves else 100)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
