"""CMC figures: small galleries are not drawn out to rank 100, long titles stay on the figure."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from reid.metrics import chance_cmc, pad_cmc  # noqa: E402
from reid.plots import cmc_figure, informative_ranks, plot_cmc  # noqa: E402


def test_a_four_identity_gallery_is_drawn_to_rank_4_with_its_whole_title(tmp_path):
    import matplotlib.pyplot as plt

    model = pad_cmc(np.array([0.5, 0.75, 1.0, 1.0]), 100)
    chance = chance_cmc(4, 100)
    title = "attributes: mixed-gallery on standin-real-with-a-long-name (test split of every dataset)"
    fig = cmc_figure({"IV": model}, title, chance=chance)
    ax = fig.axes[0]
    assert ax.get_xlim() == (1, 4)
    fig.canvas.draw()
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert "".join(ax.get_title().split()) == "".join(title.split())
    plt.close(fig)
    assert plot_cmc({"IV": model}, tmp_path / "c.png", title, chance=chance).stat().st_size > 0


def test_informative_ranks():
    assert informative_ranks([pad_cmc(np.array([0.2, 0.4, 0.9]), 100)]) == 3
    assert informative_ranks([np.linspace(0, 1, 100)]) == 100
    assert informative_ranks([np.ones(100)]) == 1
