"""Does a refined copy keep its people apart? A re-id embedding's view of a dataset and its refined copy.

The same images are embedded twice, as generated and as refined (the same files of the same
draw of identities), by a re-id checkpoint of the project's (`reid.model_from_checkpoint`)
or by the colour-histogram baseline (`reid.baselines`). For each copy, on L2-normalised
embeddings (so the two copies share one scale):

* **within**: the mean distance between two images of one identity; **between**: the mean
  distance between images of different identities; **ratio** = within / between (lower:
  identities tighter);
* **rank-1**: leave-one-out, the fraction of images whose nearest other image shows the same
  identity;
* **tighter**: the fraction of identities whose own within / between ratio is lower in the
  refined copy.

The refinement keeps identities when the refined ratio is no higher and the refined rank-1 no
lower than the generated copy's (issue 23's target: report it before every refined training).
Use identities the checkpoint did not train on (e.g. `subsets=["validation"]`).
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

COLOUR_HISTOGRAM = "colour-histogram"
ALL_SUBSETS = ("train", "validation", "query", "gallery")
Embed = Callable[[list[str]], np.ndarray]  # image paths → N × D embeddings


def checkpoint_embedding(path: str | Path, device: str = "auto", batch_size: int = 128, progress: bool = False
                         ) -> Embed:
    """A re-id checkpoint's embedding (its own input size; eval mode)."""
    from reid import model_from_checkpoint
    from reid.data.records import ImageItem
    from reid.engine import extract_features
    from torchkit.device import resolve_device

    dev = resolve_device(device)
    with warnings.catch_warnings():  # torch warns about a foreign file before reid says what it is
        warnings.simplefilter("ignore", UserWarning)
        model, opts = model_from_checkpoint(path, dev)
    height, width = opts.input_size()

    def embed(paths: list[str]) -> np.ndarray:
        items = [ImageItem(p, 0, 0) for p in paths]
        return extract_features(model, items, height, width, dev, batch_size, progress=progress).cpu().numpy()

    return embed


def colour_histogram_embedding() -> Embed:
    from reid.baselines import baseline_features

    return lambda paths: baseline_features(COLOUR_HISTOGRAM, paths)


def _normalised(features: np.ndarray) -> np.ndarray:
    f = features.astype(np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def separation(features: np.ndarray, pids: Sequence[int], block: int = 1024) -> dict[str, Any]:
    """Within / between distances, their ratio, leave-one-out rank-1 and each identity's mean
    within distance, of L2-normalised `features` (blocks of rows, so large sets fit)."""
    f, pids = _normalised(features), np.asarray(pids)
    sq = (f * f).sum(1)
    within_sum = between_sum = 0.0
    within_n = between_n = hits = 0
    per_id_sum: dict[int, float] = {}
    per_id_n: dict[int, int] = {}
    for start in range(0, len(f), block):
        rows = slice(start, min(start + block, len(f)))
        d = np.sqrt(np.maximum(sq[rows, None] + sq[None, :] - 2 * f[rows] @ f.T, 0.0))
        same = pids[rows, None] == pids[None, :]
        self_pair = np.zeros_like(same)
        self_pair[np.arange(d.shape[0]), np.arange(start, rows.stop)] = True
        within = same & ~self_pair
        within_sum, within_n = within_sum + float(d[within].sum()), within_n + int(within.sum())
        between_sum, between_n = between_sum + float(d[~same].sum()), between_n + int((~same).sum())
        d[self_pair] = np.inf
        hits += int((pids[d.argmin(1)] == pids[rows]).sum())
        for i, pid in enumerate(pids[rows]):
            per_id_sum[pid] = per_id_sum.get(pid, 0.0) + float(d[i][within[i]].sum())
            per_id_n[pid] = per_id_n.get(pid, 0) + int(within[i].sum())
    within_mean = within_sum / max(within_n, 1)
    between_mean = between_sum / max(between_n, 1)
    return {"within": within_mean, "between": between_mean, "ratio": within_mean / max(between_mean, 1e-12),
            "rank1": hits / max(len(f), 1), "images": int(len(f)), "identities": int(len(set(pids.tolist()))),
            "per_identity_within": {int(p): per_id_sum[p] / per_id_n[p] for p in per_id_sum if per_id_n[p]}}


def identity_check(data: str | Path, refined: str | Path, embed: Embed, subsets: Sequence[str] = ALL_SUBSETS,
                   max_identities: int = 0, seed: int = 0, layout: str = "auto", embedding: str = "") -> dict[str, Any]:
    """Both copies' separation (module doc) on the same images; `refined` holds the same
    relative paths as `data` (what `refiner apply` and `refiner match` write)."""
    from reid.data import LoadOptions, load_dataset

    root, copy = Path(data), Path(refined)
    ds = load_dataset(root, LoadOptions(layout=layout, num_validation=0, num_test=0, folder_role="train"))
    items = [it for s in subsets for it in getattr(ds, s) if it.pid >= 0]
    if max_identities:
        ids = sorted({it.pid for it in items})
        keep = set(random.Random(seed).sample(ids, min(max_identities, len(ids))))
        items = [it for it in items if it.pid in keep]
    # Identities with one image have no within distance: leave them out of both copies.
    counts: dict[int, int] = {}
    for it in items:
        counts[it.pid] = counts.get(it.pid, 0) + 1
    items = [it for it in items if counts[it.pid] >= 2]
    if len({it.pid for it in items}) < 2:
        raise ValueError(f"--data {data}: needs at least 2 identities with 2 or more images in {', '.join(subsets)}")
    paths = [it.path for it in items]
    refined_paths = [str(copy / Path(p).relative_to(root)) for p in paths]
    missing = [p for p in refined_paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"--refined {refined}: lacks {len(missing)} of the {len(paths)} images, e.g. "
                                f"{missing[0]} (not a refined copy of {data}?)")
    pids = [it.pid for it in items]
    before, after = separation(embed(paths), pids), separation(embed(refined_paths), pids)
    ratio_before = {p: w / before["between"] for p, w in before.pop("per_identity_within").items()}
    ratio_after = {p: w / after["between"] for p, w in after.pop("per_identity_within").items()}
    tighter = float(np.mean([ratio_after[p] < ratio_before[p] for p in ratio_before]))
    keeps = after["ratio"] <= before["ratio"] and after["rank1"] >= before["rank1"]
    return {"data": str(root), "refined": str(copy), "embedding": embedding, "subsets": list(subsets),
            "images": len(items), "identities": before["identities"], "generated": before, "refined_copy": after,
            "tighter_identities": tighter, "keeps_identities": bool(keeps)}


def format_identity_check(r: dict[str, Any]) -> str:
    g, f = r["generated"], r["refined_copy"]
    lines = [f"{r['refined']} against {r['data']} ({', '.join(r['subsets'])}): {r['images']} images of "
             f"{r['identities']} identities, embedding {r['embedding']}", "",
             "| copy | within | between | within / between | leave-one-out rank-1 |", "|---|---:|---:|---:|---:|"]
    for name, s in (("generated", g), ("refined", f)):
        lines.append(f"| {name} | {s['within']:.4f} | {s['between']:.4f} | {s['ratio']:.4f} | {100 * s['rank1']:.1f} % |")
    lines += ["", f"identities tighter after refinement: {100 * r['tighter_identities']:.0f} %",
              f"keeps identities apart (ratio no higher, rank-1 no lower): {'yes' if r['keeps_identities'] else 'no'}"]
    return "\n".join(lines)
