"""Recursive least squares for the linear readout, in float.

The readout is linear in its features z = [state source, input taps, 1], so the squared
error of each step is a least-squares problem in the readout's weights alone, which RLS
solves exactly (with exponential forgetting) one sample at a time, while exact RTRL trains
the cell underneath (as FORCE / echo-state learning trains a readout, with the reservoir
itself learning too). The fixed-point twin is :mod:`pyrtrl.fixed.rls`; this module is its
float reference and uses the same order of operations.

One update with features z1 = [z, 1] (m values) and the error e = out - target (k):

    Pz = P z1;  s = max(z1 . Pz, 0);  g = Pz / (lam + s)
    [W_o | b_o] -= e g^T
    P -= g Pz^T
    P /= lam   only while max_i P_ii <= p0

The last line is a bounded-diagonal guard: with forgetting alone, P grows as lam^-t along
feature directions the stream does not excite (a silent unit, a constant input), which
wrecks the next sample that does excite them ("covariance wind-up"). Forgetting is paused
while any diagonal entry exceeds its initial value, so every |P_ij| <= p0 / lam (P stays
positive semi-definite): the bound the fixed-point twin's formats rest on. It costs m
compares.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ..errors import PyrtrlError

#: Defaults chosen by measurement (docs/numerics.md, learning quality): forgetting over
#: ~1000 steps (tens of seconds of a physiological signal) and a prior P0 = I.
DEFAULT_FORGETTING = 0.999
DEFAULT_P0 = 1.0


def check_rls(forgetting: float, p0: float) -> None:
    """One-line errors for RLS hyperparameters the fixed-point twin cannot represent."""
    if not (np.isfinite(forgetting) and 0.9 <= forgetting <= 1.0):
        raise PyrtrlError(f"RLS forgetting factor must be in [0.9, 1], got {forgetting}")
    if not (np.isfinite(p0) and 1e-3 <= p0 <= 4.0):
        raise PyrtrlError(f"RLS initial P0 must be in [0.001, 4], got {p0}")


class RLSReadout:
    """RLS over the readout ``W_o`` (k x m-1) and ``b_o`` (k), updated in place.

    Parameters
    ----------
    features : int
        Columns of ``W_o`` (the model's :attr:`~pyrtrl.core.model.EGRU.features`).
    forgetting : float
        lam in [0.9, 1].
    p0 : float
        Initial P = p0 I, also the per-feature cap of the bounded-trace guard.
    """

    def __init__(self, features: int, forgetting: float = DEFAULT_FORGETTING,
                 p0: float = DEFAULT_P0) -> None:
        check_rls(forgetting, p0)
        self.m = int(features) + 1
        self.forgetting = float(forgetting)
        self.p0 = float(p0)
        self.P = np.eye(self.m) * self.p0

    def reset(self) -> None:
        """Back to P = p0 I (the weights are kept)."""
        self.P = np.eye(self.m) * self.p0

    def update(self, params: Dict[str, np.ndarray], z: np.ndarray, err: np.ndarray) -> None:
        """One RLS step for features ``z`` (m - 1) and error ``err`` = out - target (k)."""
        z1 = np.append(np.asarray(z, dtype=np.float64), 1.0)
        P = self.P
        Pz = P @ z1
        s = max(float(z1 @ Pz), 0.0)
        g = Pz / (self.forgetting + s)
        e = np.asarray(err, dtype=np.float64)
        params["W_o"] -= np.outer(e, g[:-1]).astype(params["W_o"].dtype)
        params["b_o"] -= (e * g[-1]).astype(params["b_o"].dtype)
        # the upper triangle, mirrored (as the fixed-point twin does): P stays exactly
        # symmetric, so rounding cannot grow an antisymmetric part that forgetting amplifies
        U = P - np.outer(g, Pz)
        P = np.triu(U) + np.triu(U, 1).T
        # forgetting along the features whose own variance is below p0 only: P <- S P S
        # with S_ii = lam^-1/2 there and 1 elsewhere (a congruence: P stays PSD)
        S = np.where(np.diag(P) < self.p0, self.forgetting ** -0.5, 1.0)
        P *= np.outer(S, S)
        self.P = P
