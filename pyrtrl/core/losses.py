"""Per-step losses on the readout and their gradients with respect to it.

Total loss = sum_t 0.5 * ||out_t - target_t||^2 (where a target is given)
           + sum over t with labels[t] >= 0 of softmax cross-entropy(out_t, labels[t]).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import PyrtrlError


def step_loss(
    out: np.ndarray, target: Optional[np.ndarray], label: int = -1
) -> Tuple[float, np.ndarray]:
    """Loss of one step and its gradient dL/dout.

    Parameters
    ----------
    out : ndarray (k,)
        Readout of this step.
    target : ndarray (k,) or None
        Regression target (squared error), or None for none.
    label : int
        Class index for softmax cross-entropy, or -1 for none.
    """
    loss = 0.0
    dout = np.zeros_like(out)
    if target is not None:
        diff = out - target
        loss += 0.5 * float(diff @ diff)
        dout += diff
    if label >= 0:
        z = out - out.max()
        ez = np.exp(z)
        s = ez.sum()
        loss += float(np.log(s) - z[label])
        dout += ez / s
        dout[label] -= 1
    return loss, dout


def check_labels(labels: np.ndarray, T: int, k: int) -> np.ndarray:
    """Class labels of a sequence as int64 (T,): integers, -1 (none) or 0..k-1. Floats are
    accepted only when every value is a whole number; anything else is a one-line
    :class:`PyrtrlError` (the same for the float and the C learner)."""
    lab = np.asarray(labels)
    if lab.shape != (T,):
        raise PyrtrlError(f"labels must have shape ({T},), got {lab.shape}")
    if lab.dtype.kind == "f":
        bad = ~np.isfinite(lab) | (lab != np.round(lab))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PyrtrlError(f"labels must be integers (class indices, -1 = none); "
                              f"label {i} is {float(lab[i]):g}")
    elif lab.dtype.kind not in "iu":
        raise PyrtrlError(f"labels must be integers (class indices, -1 = none), got {lab.dtype}")
    lab = lab.astype(np.int64)
    out = (lab < -1) | (lab >= k)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise PyrtrlError(f"labels must be -1 (none) or in [0, {k - 1}]; label {i} is {lab[i]}")
    return lab


def check_label(label: int, k: int) -> int:
    """One step's label (see :func:`check_labels`) as an int."""
    if isinstance(label, (bool, np.bool_)):
        raise PyrtrlError(f"label must be an integer (class index, -1 = none), got {label!r}")
    return int(check_labels(np.array([label]), 1, k)[0])


def check_sequence(
    x: np.ndarray, d: int, k: int, target: Optional[np.ndarray], labels: Optional[np.ndarray],
    dtype: np.dtype,
) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """Validate and cast a whole sequence; one-line :class:`PyrtrlError` on bad input."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != d:
        raise PyrtrlError(f"x must have shape (T, {d}), got {x.shape}")
    if x.shape[0] < 1:
        raise PyrtrlError("x must have at least one step")
    if not np.all(np.isfinite(x)):
        raise PyrtrlError("x has non-finite values")
    T = x.shape[0]
    if target is not None:
        target = np.asarray(target)
        if target.shape != (T, k):
            raise PyrtrlError(f"target must have shape ({T}, {k}), got {target.shape}")
        if not np.all(np.isfinite(target)):
            raise PyrtrlError("target has non-finite values")
        target = target.astype(dtype)
    if labels is not None:
        labels = check_labels(labels, T, k)
    if target is None and labels is None:
        raise PyrtrlError("give a target, labels or both: there is no loss otherwise")
    return x.astype(dtype), target, labels
