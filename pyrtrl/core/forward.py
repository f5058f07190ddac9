"""One EGRU step in float, with everything the three gradient methods need from it.

``smooth=True`` is a test-only forward: the Heaviside event function is replaced by the
integral of the pseudo-derivative, S(v) = int psi, so that the forward pass is
differentiable with derivative exactly psi and finite differences can check the psi paths
(DESIGN, "finite differences cannot see the pseudo-derivative"). All derivative formulas
are the same in both modes because they only use o and psi.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function as 0.5 * (1 + tanh(z / 2)): finite for any z, one transcendental."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def psi(v: np.ndarray, gamma: float, eps: float) -> np.ndarray:
    """Pseudo-derivative of H at v = c - thr: gamma * max(0, 1 - |v| / eps)."""
    return (gamma * np.maximum(0.0, 1.0 - np.abs(v) / eps)).astype(v.dtype, copy=False)


def smooth_event(v: np.ndarray, gamma: float, eps: float) -> np.ndarray:
    """S(v) = integral of psi from -inf to v (test-only smooth replacement for H)."""
    lo = gamma * (v + eps) ** 2 / (2 * eps)
    hi = gamma * eps - gamma * (eps - v) ** 2 / (2 * eps)
    out = np.where(v <= -eps, 0.0, np.where(v <= 0, lo, np.where(v < eps, hi, gamma * eps)))
    return out.astype(v.dtype, copy=False)


@dataclass
class StepCache:
    """The values of one step that gradients need (all length-n vectors except x)."""

    x: np.ndarray
    y_prev: np.ndarray
    h_prev: np.ndarray
    u: np.ndarray
    r: np.ndarray
    g: np.ndarray
    q: np.ndarray  # R_g y_prev + b_rg, the term the reset gate multiplies
    c: np.ndarray
    o: np.ndarray  # events (0/1), or S(v) in smooth mode
    psi: np.ndarray  # psi(c - thr)
    a: np.ndarray  # dy/dc = o + c * psi
    y: np.ndarray
    h: np.ndarray


def recurrent_inputs(p: Mapping[str, np.ndarray], y_prev: np.ndarray) -> Tuple[np.ndarray, ...]:
    """R_u y, R_r y, R_g y computed densely (the reference; sparse code gathers columns)."""
    return p["R_u"] @ y_prev, p["R_r"] @ y_prev, p["R_g"] @ y_prev


def cell_step(
    p: Mapping[str, np.ndarray],
    x: np.ndarray,
    y_prev: np.ndarray,
    h_prev: np.ndarray,
    gamma: float,
    eps: float,
    smooth: bool = False,
    rec: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
    inp: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
) -> StepCache:
    """Advance the EGRU cell by one step.

    Parameters
    ----------
    p : mapping
        Model parameters (see :mod:`pyrtrl.core.model`).
    x : ndarray (d,)
    y_prev, h_prev : ndarray (n,)
        Output and post-reset state of the previous step (zeros at the start).
    rec : tuple of three ndarrays, optional
        Precomputed recurrent inputs ``(R_u y_prev, R_r y_prev, R_g y_prev)``; the sparse
        engine passes them accumulated only over units that emitted an event.
    inp : tuple of three ndarrays, optional
        Precomputed ``(W_u x, W_r x, W_g x)``.
    """
    ru, rr, rg = rec if rec is not None else recurrent_inputs(p, y_prev)
    wu, wr, wg = inp if inp is not None else (p["W_u"] @ x, p["W_r"] @ x, p["W_g"] @ x)
    u = sigmoid(wu + ru + p["b_u"])
    r = sigmoid(wr + rr + p["b_r"])
    q = rg + p["b_rg"]
    g = np.tanh(wg + p["b_g"] + r * q)
    c = u * h_prev + (1 - u) * g
    thr = p["thr"]
    v = c - thr
    ps = psi(v, gamma, eps)
    o = smooth_event(v, gamma, eps) if smooth else (v > 0).astype(c.dtype)
    y = o * c
    h = c - o * thr
    return StepCache(x, y_prev, h_prev, u, r, g, q, c, o, ps, o + c * ps, y, h)


def push_tap(line: np.ndarray, x: np.ndarray) -> None:
    """Shift an input delay line (taps x d, newest first) by one step and put ``x`` first."""
    if line.shape[0]:
        line[1:] = line[:-1]
        line[0] = x


def readout_input(readout: str, s: StepCache, taps: np.ndarray) -> np.ndarray:
    """The readout's input z = [y or c, taps newest first] (the one definition; the
    fixed-point twin is :meth:`pyrtrl.fixed.FixedLearner.features`)."""
    src = s.c if readout == "c" else s.y
    return np.concatenate([src, taps.ravel()]) if taps.size else src


@dataclass
class CellDerivs:
    """Local derivatives of c_t with respect to the gates' pre-activations.

    ``alpha_u``, ``alpha_r``, ``alpha_g`` scale the rows of R_u, R_r, R_g in
    A_t = dc_t/dy_prev; ``beta_g`` is dc/d(pre-activation of g).
    """

    alpha_u: np.ndarray
    alpha_r: np.ndarray
    alpha_g: np.ndarray
    beta_g: np.ndarray


def cell_derivs(s: StepCache) -> CellDerivs:
    """dc/dpre for the three gates (see DESIGN section 4)."""
    beta_g = (1 - s.u) * (1 - s.g * s.g)
    return CellDerivs(
        alpha_u=(s.h_prev - s.g) * s.u * (1 - s.u),
        alpha_r=beta_g * s.q * s.r * (1 - s.r),
        alpha_g=beta_g * s.r,
        beta_g=beta_g,
    )
