"""P×K identity batches for the batch-hard triplet loss."""
from __future__ import annotations

from collections import defaultdict

import numpy as np


class PKBatchSampler:
    """Batches of P identities × K images each (a torch `batch_sampler`).

    Every epoch each identity's images are shuffled and cut into groups of K (identities
    with fewer than K images are sampled with replacement up to K); batches take P groups
    of distinct identities at random until fewer than P identities have groups left.
    Deterministic given (seed, epoch); call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, labels: list[int], batch_size: int, num_instances: int, seed: int = 0):
        if num_instances < 2 or batch_size % num_instances:
            raise ValueError(f"batch_size {batch_size} must be a multiple of num_instances {num_instances} (≥ 2)")
        self.by_label: dict[int, list[int]] = defaultdict(list)
        for i, lab in enumerate(labels):
            self.by_label[int(lab)].append(i)
        self.k = num_instances
        self.p = batch_size // num_instances
        if len(self.by_label) < self.p:
            raise ValueError(f"{len(self.by_label)} identities: too few for {self.p} identities per batch")
        self.seed = seed
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        if self._cache and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = np.random.default_rng((self.seed, self.epoch))
        groups: dict[int, list[list[int]]] = {}
        for lab, idx in self.by_label.items():
            idx = list(rng.permutation(idx)) if len(idx) >= self.k else list(rng.choice(idx, self.k, replace=True))
            groups[lab] = [idx[i:i + self.k] for i in range(0, len(idx) - self.k + 1, self.k)]
        batches = []
        available = [lab for lab in groups if groups[lab]]
        while len(available) >= self.p:
            chosen = rng.choice(len(available), self.p, replace=False)
            batch = []
            for c in chosen:
                batch += [int(i) for i in groups[available[c]].pop()]
            batches.append(batch)
            available = [lab for lab in available if groups[lab]]
        self._cache = (self.epoch, batches)
        return batches

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
