"""Back-propagation through time, written out by hand: the oracle RTRL is checked against.

It stores every step's forward values, so its memory grows with the sequence length
(:func:`bptt_bytes` measures it); RTRL's does not.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from .forward import StepCache, cell_step, readout_input
from .losses import step_loss
from .model import MASKED, PARAMS, EGRU


def forward_sequence(model: EGRU, x: np.ndarray, smooth: bool = False) -> List[StepCache]:
    """Run the cell over ``x`` (T x d) from the zero state and keep every step."""
    p = model.params
    n = model.n
    y = np.zeros(n, dtype=model.dtype)
    h = y.copy()
    caches = []
    for t in range(x.shape[0]):
        s = cell_step(p, x[t], y, h, model.gamma, model.eps, smooth)
        caches.append(s)
        y, h = s.y, s.h
    return caches


def sequence_features(model: EGRU, x: np.ndarray, caches: List[StepCache]) -> List[np.ndarray]:
    """The readout's input at every step: [y_t or c_t, x_t, x_{t-1}, ..., x_{t-taps+1}]."""
    taps, d = model.taps, model.d
    padded = np.concatenate([np.zeros((taps, d), dtype=x.dtype), x])
    # rows t+taps, t+taps-1, ..., t+1 of the padded stream are x_t ... x_{t-taps+1}
    return [readout_input(model.readout, s, padded[t + 1:t + taps + 1][::-1])
            for t, s in enumerate(caches)]


def bptt_bytes(caches: List[StepCache]) -> int:
    """Bytes of forward values BPTT keeps for a sequence (what it needs beyond RTRL)."""
    keep = ("x", "u", "r", "g", "q", "c")  # the rest (y, h, o, psi, a) is recomputable
    return sum(getattr(s, f).nbytes for s in caches for f in keep)


def bptt(
    model: EGRU,
    x: np.ndarray,
    target: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    smooth: bool = False,
) -> Tuple[Dict[str, np.ndarray], float]:
    """Gradient of the summed loss by reverse-mode differentiation through the sequence.

    Inputs are assumed validated (see :func:`pyrtrl.gradients`). Returns the gradients by
    parameter name (pruned entries zero) and the total loss.
    """
    p = model.params
    caches = forward_sequence(model, x, smooth)
    T, n = len(caches), model.n
    grads = {name: np.zeros_like(p[name]) for name in PARAMS}
    total = 0.0
    douts = []
    feats = sequence_features(model, x, caches)
    for t, s in enumerate(caches):
        out = p["W_o"] @ feats[t] + p["b_o"]
        loss, dout = step_loss(out, None if target is None else target[t],
                               -1 if labels is None else int(labels[t]))
        total += loss
        douts.append(dout)
    thr = p["thr"]
    carry_y = np.zeros(n, dtype=model.dtype)
    carry_h = np.zeros(n, dtype=model.dtype)
    state_c = model.readout == "c"
    for t in range(T - 1, -1, -1):
        s = caches[t]
        dout = douts[t]
        grads["W_o"] += np.outer(dout, feats[t])
        grads["b_o"] += dout
        dsrc = p["W_o"][:, :n].T @ dout
        dy = carry_y if state_c else dsrc + carry_y
        dh = carry_h
        dc = dy * s.a + dh * (1 - thr * s.psi)
        if state_c:
            dc = dc + dsrc
        grads["thr"] += dy * (-s.c * s.psi) + dh * (thr * s.psi - s.o)
        du = dc * (s.h_prev - s.g)
        dg = dc * (1 - s.u)
        carry_h = dc * s.u
        dpu = du * s.u * (1 - s.u)
        dpg = dg * (1 - s.g * s.g)
        dq = dpg * s.r
        dpr = dpg * s.q * s.r * (1 - s.r)
        for gate, dpre in (("u", dpu), ("r", dpr)):
            grads[f"W_{gate}"] += np.outer(dpre, s.x)
            grads[f"R_{gate}"] += np.outer(dpre, s.y_prev)
            grads[f"b_{gate}"] += dpre
        grads["W_g"] += np.outer(dpg, s.x)
        grads["b_g"] += dpg
        grads["R_g"] += np.outer(dq, s.y_prev)
        grads["b_rg"] += dq
        carry_y = p["R_u"].T @ dpu + p["R_r"].T @ dpr + p["R_g"].T @ dq
    for name in MASKED:
        grads[name][~model.masks[name]] = 0
    return grads, total
