"""The learning-rate schedule of a training run: a step schedule with warm-up, and the
plateau rule that ends a run when its validation score stops improving.

Pure bookkeeping (no torch): the engine asks :class:`Plateau` after every validation whether
to go on, to drop the learning rate, or to stop, and multiplies :func:`step_factor` by
``gamma ** plateau.drops``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CONTINUE, DROP, STOP = "continue", "drop", "stop"


def step_factor(epoch: int, step_size: int, gamma: float, warmup_epochs: int) -> float:
    """Learning-rate factor of 0-based `epoch`: × gamma every `step_size` epochs (0 = never),
    after a linear warm-up from 0.1 over `warmup_epochs`."""
    f = gamma ** (epoch // step_size) if step_size > 0 else 1.0
    if warmup_epochs > 0 and epoch < warmup_epochs:
        f *= 0.1 + 0.9 * epoch / warmup_epochs
    return f


@dataclass
class Plateau:
    """Training until the validation score stops improving.

    After `patience` validations in a row without a new best score, the run drops its
    learning rate by gamma while it has `lr_drops` left (the counter starts again), and
    otherwise stops. `patience` 0 turns the rule off: the run trains every epoch.
    """

    patience: int = 0
    lr_drops: int = 1
    bad: int = 0  # validations since the last best score
    drops: int = 0  # learning-rate drops made so far

    def update(self, improved: bool) -> str:
        """Record one validation; returns CONTINUE, DROP or STOP."""
        if self.patience <= 0:
            return CONTINUE
        if improved:
            self.bad = 0
            return CONTINUE
        self.bad += 1
        if self.bad < self.patience:
            return CONTINUE
        self.bad = 0
        if self.drops < self.lr_drops:
            self.drops += 1
            return DROP
        return STOP

    def state(self) -> dict[str, Any]:
        return asdict(self)
