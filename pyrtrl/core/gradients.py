"""``pyrtrl.gradients``: the gradient of a sequence's summed loss by any of three methods."""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

from .bptt import bptt
from ..errors import PyrtrlError
from .losses import check_sequence, step_loss
from .model import EGRU
from .rtrl_common import ActivityStats, RTRLEngine
from .rtrl_dense import DenseRTRL
from .rtrl_sparse import SparseRTRL

METHODS = ("bptt", "rtrl_dense", "rtrl_sparse")
ENGINES = {"rtrl_dense": DenseRTRL, "rtrl_sparse": SparseRTRL}


def make_engine(model: EGRU, method: str, smooth: bool = False, record: bool = False) -> RTRLEngine:
    """An RTRL engine for ``method`` ("rtrl_dense" or "rtrl_sparse")."""
    if method not in ENGINES:
        raise PyrtrlError(f"unknown RTRL method {method!r}; choose one of {', '.join(ENGINES)}")
    return ENGINES[method](model, smooth=smooth, record=record)


def readout_backward(
    model: EGRU, z: np.ndarray, target: Optional[np.ndarray], label: int,
    grads: Dict[str, np.ndarray],
) -> Tuple[float, np.ndarray, np.ndarray]:
    """Readout, loss, and the readout's immediate gradient added to ``grads``.

    ``z`` is the readout's input (:meth:`RTRLEngine.features`: the state source, then the
    input taps). Returns (loss, out, dL/ds) for the state source s (y or c).
    """
    p = model.params
    out = p["W_o"] @ z + p["b_o"]
    loss, dout = step_loss(out, target, label)
    grads["W_o"] += np.outer(dout, z)
    grads["b_o"] += dout
    return loss, out, p["W_o"][:, :model.n].T @ dout


def run_rtrl(
    engine: RTRLEngine, x: np.ndarray, target: Optional[np.ndarray], labels: Optional[np.ndarray]
) -> Tuple[Dict[str, np.ndarray], float]:
    """Run a fresh sequence through ``engine`` and return (gradients, total loss)."""
    model = engine.model
    engine.reset()
    ro = {"W_o": np.zeros_like(model.params["W_o"]), "b_o": np.zeros_like(model.params["b_o"])}
    total = 0.0
    for t in range(x.shape[0]):
        engine.step(x[t])
        loss, _, dy = readout_backward(model, engine.features(), None if target is None else target[t],
                                       -1 if labels is None else int(labels[t]), ro)
        total += loss
        engine.backprop_output(dy)
    grads = engine.cell_gradient()
    grads.update(ro)
    return grads, total


def gradients(
    model: EGRU,
    x: np.ndarray,
    target: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    method: str = "rtrl_sparse",
    smooth: bool = False,
    return_stats: bool = False,
) -> Union[Dict[str, Union[np.ndarray, float]], Tuple[Dict[str, Union[np.ndarray, float]], ActivityStats]]:
    """Gradient of the total loss of one sequence with respect to every parameter.

    Parameters
    ----------
    model : EGRU
    x : ndarray (T, d)
        Input sequence; the state starts at zero.
    target : ndarray (T, k), optional
        Regression targets: adds sum_t 0.5 * ||out_t - target_t||^2.
    labels : ndarray (T,) of int, optional
        Class labels, -1 for none: adds softmax cross-entropy at the labelled steps.
    method : {"bptt", "rtrl_dense", "rtrl_sparse"}
        All three give the same numbers up to rounding; they differ in cost.
    smooth : bool
        Test-only smooth event function (finite-difference checks of the psi paths).
    return_stats : bool
        Also return :class:`ActivityStats` (RTRL methods only).

    Returns
    -------
    dict
        Arrays named like the parameters (pruned entries zero) and ``"loss"`` (float).

    Examples
    --------
    >>> import numpy as np, pyrtrl
    >>> m = pyrtrl.init_egru(8, 2, 1, density=0.5, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(20, 2))
    >>> g = pyrtrl.gradients(m, x, target=np.zeros((20, 1)))
    >>> sorted(g)[:3], g["R_u"].shape
    (['R_g', 'R_r', 'R_u'], (8, 8))
    """
    if method not in METHODS:
        raise PyrtrlError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    x, target, labels = check_sequence(x, model.d, model.k, target, labels, model.dtype)
    if method == "bptt":
        if return_stats:
            raise PyrtrlError("return_stats is only available for the RTRL methods")
        grads, loss = bptt(model, x, target, labels, smooth)
        out: Dict[str, Union[np.ndarray, float]] = dict(grads)
        out["loss"] = loss
        return out
    engine = make_engine(model, method, smooth)
    grads, loss = run_rtrl(engine, x, target, labels)
    result: Dict[str, Union[np.ndarray, float]] = dict(grads)
    result["loss"] = loss
    if return_stats:
        return result, engine.stats()
    return result
