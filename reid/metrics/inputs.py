"""What every metric does first: distance matrices and identity/camera arrays as checked numpy arrays."""
from __future__ import annotations

from typing import Any

import numpy as np

JUNK_PID = -1  # Market-1501's junk images: never a match, never a wrong item


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_ids(shape, q_pids, g_pids, q_camids, g_camids):
    m, n = shape
    q_pids, g_pids = _to_numpy(q_pids).astype(np.int64), _to_numpy(g_pids).astype(np.int64)
    q_camids, g_camids = _to_numpy(q_camids).astype(np.int64), _to_numpy(g_camids).astype(np.int64)
    for name, arr, size in (("q_pids", q_pids, m), ("g_pids", g_pids, n), ("q_camids", q_camids, m),
                            ("g_camids", g_camids, n)):
        if arr.shape != (size,):
            raise ValueError(f"{name}: shape {arr.shape} does not match the distance matrix {tuple(shape)}")
    return q_pids, g_pids, q_camids, g_camids


def _check(distmat, q_pids, g_pids, q_camids, g_camids):
    d = _to_numpy(distmat) if not hasattr(distmat, "detach") else distmat
    return (d, *_check_ids(tuple(d.shape), q_pids, g_pids, q_camids, g_camids))



def _float_numpy(d) -> np.ndarray:
    """A distance matrix as a float32/float64 numpy array, without copying when it already is
    one (torch CPU tensors are viewed); other dtypes are widened exactly."""
    if hasattr(d, "detach"):
        d = d.detach().cpu()
        if not d.is_floating_point():
            d = d.double()
        elif d.dtype.itemsize < 4:  # float16, bfloat16: numpy cannot view bfloat16
            d = d.float()
        return d.numpy()
    d = np.asarray(d)
    if d.dtype in (np.float32, np.float64):
        return d
    return d.astype(np.float32 if d.dtype == np.float16 else np.float64)
