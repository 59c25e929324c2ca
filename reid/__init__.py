"""Person re-identification: train, validate, finetune and evaluate models on any dataset.

Part of the ``synth-humans`` distribution (the import name ``reid`` is unrelated to the
``reid`` project on PyPI). Python API::

    import reid
    result = reid.train(reid.TrainOptions(data="DATASET", output="runs/x"))
    report = reid.evaluate(reid.EvalOptions(checkpoints=[str(result.best_checkpoint)], data="DATASET"))
    reid.metrics.cmc(distmat, q_pids, g_pids, q_camids, g_camids, protocol="market1501")
"""
from __future__ import annotations

from . import metrics
from .data import load_dataset
from .engine import finetune, model_from_checkpoint, train
from .evaluate import evaluate  # binds the function over the submodule of the same name
from .options import EvalOptions, TrainOptions

__all__ = ["metrics", "TrainOptions", "EvalOptions", "train", "finetune", "evaluate", "load_dataset",
           "model_from_checkpoint"]
