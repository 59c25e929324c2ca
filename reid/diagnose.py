"""`python -m reid diagnose --data DATASET`: how far colour alone tells a dataset's identities apart.

Two diagnostics, no training (docs/results.md, *What refinement takes away*):

* **colour alone finds the same identity**: every crop is described by the colour-histogram
  baseline (:mod:`reid.baselines`); its nearest neighbour is searched among the crops of the
  *other* cameras (so never itself), and the fraction of crops whose neighbour is the same
  identity is reported (leave-one-out rank-1). Crops whose identity has no image in another
  camera cannot be found and are not counted.
* **colour spread of people and backgrounds** (datasets with person masks: this project's
  generated format): the mean colour of an image's person pixels and of its background pixels
  (0–255, mean over R, G and B); *within* is the standard deviation over one identity's
  images, averaged over identities; *between* is the standard deviation of the identities'
  means. A background that hardly changes within an identity but differs between identities
  is a shortcut no real camera gives.
"""
from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .baselines import ColourHistogram
from .data import LoadOptions, load_dataset

SUBSETS = ("train", "validation", "query", "gallery")


def nearest_other_camera_rank1(features: np.ndarray, pids: np.ndarray, cams: np.ndarray,
                               block: int = 1024) -> tuple[float, int]:
    """(fraction, counted): leave-one-out rank-1 where each crop's neighbour is searched among
    the crops of the other cameras; only crops whose identity is seen by another camera count."""
    f = features.astype(np.float32)
    sq = (f * f).sum(1)
    hits = counted = 0
    for start in range(0, len(f), block):
        q = slice(start, min(start + block, len(f)))
        d = sq[q, None] + sq[None, :] - 2.0 * f[q] @ f.T
        d[cams[q, None] == cams[None, :]] = np.inf  # other cameras only (and so never the crop itself)
        findable = ((pids[q, None] == pids[None, :]) & (cams[q, None] != cams[None, :])).any(1)
        nearest = d.argmin(1)
        hits += int((pids[nearest] == pids[q])[findable].sum())
        counted += int(findable.sum())
    return (hits / counted if counted else float("nan")), counted


def spread(values: dict[int, list[float]]) -> dict[str, float]:
    """Within: the std over one identity's images, averaged over identities (those with ≥ 2
    images); between: the std of the identities' means."""
    within = [float(np.std(v)) for v in values.values() if len(v) >= 2]
    means = [float(np.mean(v)) for v in values.values() if v]
    return {"within": float(np.mean(within)) if within else float("nan"),
            "between": float(np.std(means)) if len(means) >= 2 else float("nan")}


def _mask_paths(root: Path) -> dict[str, Path]:
    """Image path → mask path for this project's generated format (the dataset module owns them)."""
    from synth_humans_addon.core.dataset import DATASET_FILE, read_dataset

    if not (root / DATASET_FILE).is_file():
        return {}
    return {str(r.path): r.mask_path for r in read_dataset(root, check_files=False).images if r.mask_path is not None}


def diagnose(data: str | Path, layout: str = "auto", subsets: list[str] | tuple[str, ...] = ("train",),
             max_identities: int = 0, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Both diagnostics of the crops of `subsets` of the dataset at `data` (see the module doc)."""
    from tqdm import tqdm

    root = Path(data).expanduser()
    ds = load_dataset(root, LoadOptions(layout=layout, num_validation=0, num_test=0, folder_role="train"))
    items = [it for s in subsets for it in getattr(ds, s)]
    if max_identities:
        ids = sorted({it.pid for it in items})
        keep = set(random.Random(seed).sample(ids, min(max_identities, len(ids))))
        items = [it for it in items if it.pid in keep]
    if not items:
        raise ValueError(f"--data {data}: no crops in {', '.join(subsets)}")
    masks = _mask_paths(root)
    model = ColourHistogram()
    features = np.zeros((len(items), model.dim), np.float32)
    person: dict[int, list[float]] = defaultdict(list)
    background: dict[int, list[float]] = defaultdict(list)
    masked = 0
    for i, it in enumerate(tqdm(items, desc="diagnose", unit="img", disable=not progress, leave=False)):
        with Image.open(it.path) as im:
            rgb = im.convert("RGB")
        features[i] = model.describe(rgb)
        mask_path = masks.get(str(it.path))
        if mask_path is None or not mask_path.is_file():
            continue
        with Image.open(mask_path) as m:
            fg = np.asarray(m.convert("L").resize(rgb.size, Image.NEAREST)) >= 128
        pixels = np.asarray(rgb, np.float32).mean(axis=2)  # mean over R, G, B
        if fg.any():
            person[it.pid].append(float(pixels[fg].mean()))
        if (~fg).any():
            background[it.pid].append(float(pixels[~fg].mean()))
        masked += 1
    pids = np.array([it.pid for it in items])
    cams = np.array([it.camid for it in items])
    rank1, counted = nearest_other_camera_rank1(features, pids, cams)
    report: dict[str, Any] = {
        "dataset": str(root), "layout": ds.layout, "subsets": list(subsets), "images": len(items),
        "identities": len(set(pids.tolist())), "cameras": len(set(cams.tolist())),
        "colour_alone": {"rank1": rank1, "queries": counted},
        "spread": None,
    }
    if masked:
        report["spread"] = {"images_with_masks": masked, "person": spread(person), "background": spread(background)}
    return report


def format_diagnosis(r: dict[str, Any]) -> str:
    """The report as a small table."""
    c = r["colour_alone"]
    lines = [f"{r['dataset']} ({r['layout']}; {', '.join(r['subsets'])}): {r['images']} crops, "
             f"{r['identities']} identities, {r['cameras']} cameras",
             "",
             "| diagnostic | value |", "|---|---:|",
             f"| colour alone finds the same identity (other-camera rank-1, {c['queries']} crops) | "
             f"{100 * c['rank1']:.1f} % |"]
    s = r["spread"]
    if s is None:
        lines += ["", "colour spread: no person masks in this dataset (only generated datasets have them)"]
    else:
        lines += [f"| person: within | {s['person']['within']:.1f} |", f"| person: between | {s['person']['between']:.1f} |",
                  f"| background: within | {s['background']['within']:.1f} |",
                  f"| background: between | {s['background']['between']:.1f} |"]
    return "\n".join(lines)
