"""CMC plots in the style of the source study: several models on one chart, chance for reference."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def informative_ranks(curves: list[np.ndarray]) -> int:
    """Ranks worth drawing: up to the first rank after which no curve changes any more.

    Curves are padded to `max_rank` (100) at their last value; a gallery of 4 identities
    reaches 100 % by rank 4, and 96 flat ranks would squash the part that matters.
    """
    last = 1
    for c in curves:
        c = np.asarray(c, float)
        changes = np.flatnonzero(np.abs(np.diff(c)) > 1e-12)
        if len(changes):
            last = max(last, int(changes[-1]) + 2)  # the rank where the last change lands
    return last


def cmc_figure(curves: dict[str, np.ndarray], title: str = "CMC", chance: np.ndarray | None = None,
               spreads: dict[str, np.ndarray] | None = None, max_rank: int | None = None):
    """The matplotlib figure of :func:`plot_cmc` (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    if max_rank is None:
        max_rank = informative_ranks([*curves.values(), *([chance] if chance is not None else [])])
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for name, curve in curves.items():
        c = np.asarray(curve, float)[:max_rank] * 100
        ranks = np.arange(1, len(c) + 1)
        ax.plot(ranks, c, label=f"{name} (r1 {c[0]:.1f}%)", lw=1.6, marker="o" if len(c) <= 10 else None, ms=3)
        if spreads and name in spreads:
            s = np.asarray(spreads[name], float)[:len(c)] * 100
            ax.fill_between(ranks, np.clip(c - s, 0, 100), np.clip(c + s, 0, 100), alpha=0.15)
    if chance is not None:
        c = np.asarray(chance, float)[:max_rank] * 100
        ax.plot(np.arange(1, len(c) + 1), c, "k--", lw=1, label="chance")
    shown = max([len(np.asarray(c)[:max_rank]) for c in curves.values()] or [max_rank])
    ax.set_xlabel("rank")
    ax.set_ylabel("recognition rate (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(1, max(2, shown))
    if shown <= 20:
        ax.set_xticks(range(1, max(2, shown) + 1))
    ax.grid(alpha=0.3)
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)  # long titles wrap, never run off the figure
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_cmc(curves: dict[str, np.ndarray], path: str | Path, title: str = "CMC", chance: np.ndarray | None = None,
             spreads: dict[str, np.ndarray] | None = None, max_rank: int | None = None) -> Path:
    """Write a PNG with one CMC line per model (rank on x, recognition rate in % on y).

    `spreads` (optional, per model): standard deviation across random draws, drawn as a band.
    `chance`: the CMC of random ranking, drawn dashed. `max_rank`: ranks drawn (default:
    :func:`informative_ranks`, so a small gallery is not drawn out to rank 100).
    """
    import matplotlib.pyplot as plt

    fig = cmc_figure(curves, title, chance, spreads, max_rank)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
