"""Gradient checks: sparse RTRL = dense RTRL = BPTT, and BPTT = finite differences.

Finite differences cannot see the pseudo-derivative (the true Heaviside has derivative zero
almost everywhere), so they are compared with BPTT in the two settings where they are valid
(DESIGN section 4):

* **smooth**: the event function is replaced by S = integral of psi, whose derivative is
  exactly psi, so every psi path is exercised;
* **heaviside**: the true forward on a trajectory where no |c - thr| falls within eps
  (then psi = 0 everywhere), with steps small enough that no event flips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .bptt import bptt, forward_sequence, sequence_features
from .gradients import gradients
from .losses import step_loss
from .model import MASKED, PARAMS, EGRU, init_egru

#: thresholds of the acceptance check (float64)
TOL_RTRL = 1e-9
TOL_FD = 1e-6


def flat(grads: Dict[str, np.ndarray]) -> np.ndarray:
    """All parameter gradients as one vector, in :data:`PARAMS` order."""
    return np.concatenate([np.asarray(grads[k]).ravel() for k in PARAMS])


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (0 when both are zero)."""
    nb = float(np.linalg.norm(b))
    na = float(np.linalg.norm(a - b))
    return na / nb if nb > 0 else na


def sequence_loss(model: EGRU, x: np.ndarray, target: Optional[np.ndarray],
                  labels: Optional[np.ndarray], smooth: bool) -> Tuple[float, np.ndarray]:
    """Total loss of a sequence and its event pattern (T x n booleans)."""
    p = model.params
    total = 0.0
    caches = forward_sequence(model, x, smooth)
    feats = sequence_features(model, x, caches)
    for t, s in enumerate(caches):
        out = p["W_o"] @ feats[t] + p["b_o"]
        total += step_loss(out, None if target is None else target[t],
                           -1 if labels is None else int(labels[t]))[0]
    return total, np.array([s.o != 0 for s in caches])


def fd_coordinates(model: EGRU, per_array: int, rng: np.random.Generator) -> List[Tuple[str, tuple]]:
    """Up to ``per_array`` random unmasked coordinates of every parameter array."""
    coords = []
    for name in PARAMS:
        a = model.params[name]
        allowed = model.masks[name] if name in MASKED else np.ones(a.shape, dtype=bool)
        idx = np.argwhere(allowed)
        take = rng.choice(len(idx), size=min(per_array, len(idx)), replace=False)
        coords += [(name, tuple(idx[i])) for i in take]
    return coords


def finite_differences(model: EGRU, x: np.ndarray, target: Optional[np.ndarray],
                       labels: Optional[np.ndarray], coords: List[Tuple[str, tuple]],
                       smooth: bool, h: float = 1e-6) -> Tuple[np.ndarray, int]:
    """Central differences at ``coords``; returns (values, coordinates whose events flipped).

    A coordinate whose +-h perturbation changes any event is reported as NaN (the true
    forward is not differentiable there).
    """
    m = model.copy()
    _, events = sequence_loss(m, x, target, labels, smooth)
    out = np.empty(len(coords))
    flipped = 0
    for i, (name, idx) in enumerate(coords):
        a = m.params[name]
        keep = a[idx]
        a[idx] = keep + h
        lp, ep = sequence_loss(m, x, target, labels, smooth)
        a[idx] = keep - h
        lm, em = sequence_loss(m, x, target, labels, smooth)
        a[idx] = keep
        if not smooth and (not np.array_equal(ep, events) or not np.array_equal(em, events)):
            out[i] = np.nan
            flipped += 1
        else:
            out[i] = (lp - lm) / (2 * h)
    return out, flipped


@dataclass
class GradcheckConfig:
    """What ``pyrtrl gradcheck`` checks."""

    hidden: int = 16
    inputs: int = 3
    outputs: int = 3
    steps: int = 60
    density: float = 0.5
    eps: float = 0.5
    shared_mask: bool = False
    seed: int = 0
    fd_per_array: int = 12


def run_gradcheck(cfg: GradcheckConfig) -> dict:
    """Run every comparison on one random model and sequence (MSE and cross-entropy).

    Returns a JSON-ready dict with the relative errors, MAC counts and activity, and
    ``passed``.
    """
    rng = np.random.default_rng(cfg.seed)
    # low thresholds and a strong input so that units fire and reset within the sequence
    model = init_egru(cfg.hidden, cfg.inputs, cfg.outputs, density=cfg.density,
                      shared_mask=cfg.shared_mask, eps=cfg.eps, seed=cfg.seed, thr_mean=0.15)
    x = rng.normal(size=(cfg.steps, cfg.inputs)) * 1.5
    target = rng.normal(size=(cfg.steps, cfg.outputs))
    labels = np.where(rng.random(cfg.steps) < 0.5, rng.integers(0, cfg.outputs, cfg.steps), -1)

    gb = gradients(model, x, target, labels, method="bptt")
    gd, sd = gradients(model, x, target, labels, method="rtrl_dense", return_stats=True)
    gs, ss = gradients(model, x, target, labels, method="rtrl_sparse", return_stats=True)
    vb = flat(gb)

    coords = fd_coordinates(model, cfg.fd_per_array, rng)
    sel = np.array([_flat_position(model, name, idx) for name, idx in coords])

    # setting 1: smooth event function, every psi path live
    g_smooth, _ = bptt(model, x, target, labels, smooth=True)
    fd_s, _ = finite_differences(model, x, target, labels, coords, smooth=True)
    err_fd_smooth = rel_err(flat(g_smooth)[sel], fd_s)

    # setting 2: true Heaviside, eps below every |c - thr| of the trajectory: psi = 0
    caches = forward_sequence(model, x)
    margin = float(min(np.min(np.abs(s.c - model.params["thr"])) for s in caches))
    m2 = model.copy()
    m2.eps = margin / 2
    g_h, _ = bptt(m2, x, target, labels)
    fd_h, flipped = finite_differences(m2, x, target, labels, coords, smooth=False)
    ok = ~np.isnan(fd_h)
    err_fd_h = rel_err(flat(g_h)[sel][ok], fd_h[ok]) if ok.any() else float("nan")

    res = {
        "hidden": cfg.hidden, "inputs": cfg.inputs, "outputs": cfg.outputs, "steps": cfg.steps,
        "density": cfg.density, "eps": cfg.eps, "shared_mask": cfg.shared_mask, "seed": cfg.seed,
        "loss": float(gb["loss"]),
        "rel_err_dense_vs_bptt": rel_err(flat(gd), vb),
        "rel_err_sparse_vs_bptt": rel_err(flat(gs), vb),
        "rel_err_sparse_vs_dense": rel_err(flat(gs), flat(gd)),
        "rel_err_bptt_vs_fd": err_fd_smooth,
        "rel_err_bptt_vs_fd_heaviside": err_fd_h,
        "fd_coordinates": len(coords),
        "fd_heaviside_flipped": flipped,
        "heaviside_margin": margin,
        "macs_dense_per_step": sd.macs_per_step,
        "macs_sparse_per_step": ss.macs_per_step,
        "mac_ratio_dense_over_sparse": sd.macs_per_step / ss.macs_per_step,
        "fwd_activity": ss.fwd_activity,
        "bwd_activity": ss.bwd_activity,
        "influence_nonzero": ss.influence_nonzero,
    }
    res["passed"] = bool(
        res["rel_err_dense_vs_bptt"] <= TOL_RTRL and res["rel_err_sparse_vs_bptt"] <= TOL_RTRL
        and err_fd_smooth <= TOL_FD and np.isfinite(err_fd_h) and err_fd_h <= TOL_FD)
    return res


def _flat_position(model: EGRU, name: str, idx: tuple) -> int:
    off = 0
    for nm in PARAMS:
        a = model.params[nm]
        if nm == name:
            return off + int(np.ravel_multi_index(idx, a.shape))
        off += a.size
    raise KeyError(name)
