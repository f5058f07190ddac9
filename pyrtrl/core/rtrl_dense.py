"""Dense RTRL: the full n x P influence matrix updated with a dense Jacobian every step.

No sparsity is exploited: J_t is formed as a dense n x n matrix, Mbar_t as a dense n x P
matrix, and the gradient contracts all n rows. This is the same-run baseline for sparse
RTRL and, over the unpruned parameters of a model, the "fully dense" cost.
"""

from __future__ import annotations

import numpy as np

from .forward import CellDerivs, StepCache, cell_step
from .rtrl_common import COEF, RTRLEngine, source


def dense_step_macs(n: int, d: int, P: int) -> tuple:
    """(forward, influence, gradient) MACs of one dense RTRL step.

    forward 3nd + 3n^2; influence: A_t (3n^2), J_t (n^2), J_t M (n^2 P), threshold columns
    of Mbar (n^2), the dense Mbar add (n P); gradient: n P.
    """
    return 3 * n * d + 3 * n * n, 5 * n * n + n * n * P + n * P, n * P


class DenseRTRL(RTRLEngine):
    """Exact RTRL with a dense influence matrix (see :mod:`pyrtrl.core.rtrl_common`)."""

    method = "rtrl_dense"

    def _reset_influence(self) -> None:
        self.M = np.zeros((self.n, self.index.P), dtype=self.dtype)
        self.grad_flat = np.zeros(self.index.P, dtype=self.dtype)
        self._col = np.arange(self.index.P)
        self._macs = dense_step_macs(self.n, self.model.d, self.index.P)

    def _zero_cell_gradient(self) -> None:
        self.grad_flat[:] = 0

    def _forward_macs(self) -> int:
        return int(self._macs[0])

    def _forward(self, x: np.ndarray) -> StepCache:
        return cell_step(self.p, x, self.y, self.h, self.model.gamma, self.model.eps, self.smooth)

    def _update_influence(self, s: StepCache, der: CellDerivs) -> None:
        p = self.p
        A = der.alpha_u[:, None] * p["R_u"] + der.alpha_r[:, None] * p["R_r"] + der.alpha_g[:, None] * p["R_g"]
        J = A * self.a_prev[None, :]
        J[np.diag_indices(self.n)] += self.jacobian_diag(s)
        Mbar = np.zeros_like(self.M)
        for name, g in self.index.groups.items():
            if name == "thr":
                continue
            coef = getattr(der, COEF[name])[g.rows]
            src = source(name, s)
            Mbar[g.rows, g.ids] = coef if src is None else coef * src[g.cols]
        # thr_j enters through h_{t-1} (diagonal) and through y_{t-1} (column j of A)
        Mbar[:, self.thr_ids] = A * (-self.c_prev * self.psi_prev)[None, :]
        Mbar[self.index.groups["thr"].rows, self.thr_ids] += self.thr_diag_values(s)
        self.M = J @ self.M
        self.M += Mbar
        self._count(self._macs[0], self._macs[1])

    def _contract(self, ga: np.ndarray) -> None:
        self.grad_flat += ga @ self.M
        self.counters.macs_gradient += self._macs[2]
        self._last_grad_macs = self._macs[2]

    def _cell_gradient_flat(self) -> np.ndarray:
        return self.grad_flat

    def influence_dense(self) -> np.ndarray:
        return self.M.copy()
