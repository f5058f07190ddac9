"""Recursive least squares for the readout in fixed point: the specification of
runtime_c/src/rtrl_rls.c (bit for bit), twin of the float :mod:`pyrtrl.core.rls`.

Formats (docs/numerics.md): features z1 = [state source, taps, 1] Q16; P Q3.28 in int32;
Pz Q16 int32; the gain g Q28 int32; forgetting lam Q16 and lam^-1/2 Q30; weights Q24.

Forgetting is per feature: P <- S P S with S_ii = lam^-1/2 where P_ii < p0 and 1 elsewhere
(entry factors 1, lam^-1/2 or lam^-1 = round(lam^-1/2 * lam^-1/2), Q30).

Scaling and overflow: per-feature forgetting keeps P_ii <= p0 / lam, so |P_ij| <= p0 / lam
<= 4.45 (P stays positive semi-definite), |z| <= 128 and m1 = features + 1 <= 256, so the int64 sums
sum_j P_ij z_j (< 2^31 * 2^23 * 2^8 = 2^62) and sum_i z_i Pz_i are exact; the gain obeys
|g_i| <= sqrt(P_ii) / (2 sqrt(lam)) (Cauchy-Schwarz), well inside Q28; every stored result
is saturated to int32 and counted. The one division per step is 2^46 / (lam + z1'Pz),
both positive, rounded half up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ..errors import PyrtrlError
from .arith import FRAC, INT32_MAX, INT32_MIN, rnd, sat, to_fixed

#: fraction bits of P and of the gain
PFRAC = 28
#: fraction bits of 1 / lam
LFRAC = 30
#: most readout features + 1 (keeps the sums above exact)
MAX_RLS_DIM = 256


@dataclass(frozen=True)
class RLSConstants:
    """The RLS hyperparameters as runtime_c holds them."""

    lam_q16: int  # forgetting factor, Q16
    isl_q30: int  # forgetting ** -0.5, Q30
    p0_q28: int  # initial diagonal; features whose P_ii is below it forget, Q28


def rls_constants(forgetting: float, p0: float) -> RLSConstants:
    """Fixed-point form of the float hyperparameters (same checks as :func:`pyrtrl.core.rls.check_rls`)."""
    from ..core.rls import check_rls

    check_rls(forgetting, p0)
    return RLSConstants(int(to_fixed(forgetting, FRAC)), int(to_fixed(forgetting ** -0.5, LFRAC)),
                        int(to_fixed(p0, PFRAC)))


class FixedRLS:
    """P (m1 x m1, Q28) and one update step; weights are passed in and returned."""

    def __init__(self, m1: int, consts: RLSConstants) -> None:
        if not (2 <= m1 <= MAX_RLS_DIM):
            raise PyrtrlError(f"the RLS readout supports 1 to {MAX_RLS_DIM - 1} features, got {m1 - 1}")
        self.m1 = int(m1)
        self.c = consts
        self.reset()

    def reset(self) -> None:
        """P = p0 I."""
        self.P = np.eye(self.m1, dtype=np.int64) * self.c.p0_q28

    def update(self, z1: np.ndarray, e: np.ndarray, w1: np.ndarray) -> Tuple[np.ndarray, int, int]:
        """One step: features ``z1`` (m1, Q16, last = 1.0), error ``e`` = out - target (k,
        Q16, already clamped), weights ``w1`` = [W_o | b_o] (k x m1, Q24).

        Returns (new w1, saturations, multiply-accumulates).
        """
        c = self.c
        P = self.P
        nsat = 0
        z1 = np.asarray(z1, dtype=np.int64)
        Pz, k = sat(rnd(P @ z1, PFRAC), INT32_MIN, INT32_MAX)
        nsat += k
        s = max(int(rnd(np.array(int(z1 @ Pz)), FRAC)), 0)
        denom = c.lam_q16 + s
        inv = ((1 << 46) + (denom >> 1)) // denom  # Q30 of 1 / denom
        g, k = sat(rnd(Pz * inv, 46 - PFRAC), INT32_MIN, INT32_MAX)
        nsat += k
        w1, k = sat(w1 - rnd(np.asarray(e, dtype=np.int64)[:, None] * g[None, :], FRAC + PFRAC - 24),
                    INT32_MIN, INT32_MAX)
        nsat += k
        # upper triangle (diagonal included) computed, saturated and counted once, mirrored
        iu = np.triu_indices(self.m1)
        up, k = sat((P - rnd(np.outer(g, Pz), FRAC))[iu], INT32_MIN, INT32_MAX)
        nsat += k
        m1 = self.m1
        macs = m1 * m1 + 2 * m1 + w1.shape[0] * m1 + m1 * (m1 + 1) // 2
        # forgetting along the features whose own variance is below p0 (congruence S P S)
        low = np.diag(_mirror(up, iu, m1)) < c.p0_q28
        i, j = iu
        factor = np.where(low[i] & low[j], int(rnd(np.array(c.isl_q30 * c.isl_q30), LFRAC)),
                          np.where(low[i] | low[j], c.isl_q30, 0))
        on = factor != 0
        scaled, k = sat(rnd(up[on] * factor[on], LFRAC), INT32_MIN, INT32_MAX)
        nsat += k
        up = up.copy()
        up[on] = scaled
        macs += int(on.sum())
        U = _mirror(up, iu, m1)
        self.P = U
        return w1, nsat, macs


def _mirror(upper: np.ndarray, iu: Tuple[np.ndarray, np.ndarray], m1: int) -> np.ndarray:
    """The symmetric matrix whose upper triangle (row-major, diagonal included) is ``upper``."""
    U = np.zeros((m1, m1), dtype=np.int64)
    U[iu] = upper
    return U + np.triu(U, 1).T
