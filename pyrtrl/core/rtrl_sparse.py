"""Sparse exact RTRL: the same numbers as dense RTRL, paying only for what is nonzero.

Three kinds of sparsity are exploited, none approximated:

* **activity** — column j of A_t diag(a_{t-1}) vanishes when a_j = 0 (unit j neither fired
  nor sits within eps of its threshold), so J_t M_{t-1} needs the rows of M_{t-1} of active
  units only, multiplied through the nonzeros of A_t in those columns (a CSR product:
  exactly nnz(A_t[:, active]) * L MACs). The forward pass accumulates recurrent input only
  from units that emitted an event, and the gradient contracts only rows with a_t != 0.
* **parameters** — pruned weights have no column in M and no entry in A. With one mask
  shared by the three gates, A's columns are as thin as one mask.
* **live columns** — a column of M stays exactly zero until its Mbar entry first is
  (an R column until its presynaptic unit fires, thr_j until unit j fires or comes within
  eps). Columns are stored in the order they come alive and only the first L are touched.

Mbar_t has one nonzero per column (the unit the parameter feeds), computed only where its
source is nonzero, except thr_j's column, which also has A_t[:, j] * (-c_{t-1,j} psi_{t-1,j})
off the diagonal.
"""

from __future__ import annotations

import numpy as np
from .forward import CellDerivs, StepCache, cell_step
from .kernels import influence_update, masked_matvec, rows_combine
from .model import GATES
from .rtrl_common import COEF, RTRLEngine


class SparseRTRL(RTRLEngine):
    """Exact RTRL exploiting activity, parameter and live-column sparsity."""

    method = "rtrl_sparse"
    #: use the compiled kernels when they are built (tests switch this off to compare)
    use_c = True

    def _reset_influence(self) -> None:
        n, P = self.n, self.index.P
        self.M = np.zeros((n, P), dtype=self.dtype)  # columns in order of coming alive
        self.pos = np.full(P, -1, dtype=np.intp)  # parameter -> column of M, or -1
        self.at = np.zeros(P, dtype=np.intp)  # column of M -> parameter
        self.L = 0
        self.grad_live = np.zeros(P, dtype=self.dtype)  # gradient in M's column order
        masks = self.model.masks
        # nonzero pattern of A_t: the union of the three recurrent masks, row-major
        union = masks["R_u"] | masks["R_r"] | masks["R_g"]
        self.a_rows, self.a_cols = (a.astype(np.intp) for a in np.nonzero(union))
        self.a_flat = self.a_rows * n + self.a_cols
        self.a_gates = sum(masks[f"R_{g}"][self.a_rows, self.a_cols].astype(np.int64) for g in GATES)
        self.a_indptr_rows = np.arange(n + 1)
        # CSR indices as int32: scipy builds the matrix twice as fast as with int64
        self.thr_rows = self.index.groups["thr"].rows
        d = self.model.d
        # every non-threshold parameter: its unit row, which dc/dpre scales it (a row of
        # the stacked coefficients below) and its source in concat(x, y_prev, 1)
        groups = [(nm, g) for nm, g in self.index.groups.items() if nm != "thr"]
        kinds = ("alpha_u", "alpha_r", "beta_g", "alpha_g")
        self.mb_rows = np.concatenate([g.rows for _, g in groups])
        self.mb_kind = np.concatenate([np.full(g.size, kinds.index(COEF[nm])) for nm, g in groups])
        self.mb_src = np.concatenate([
            g.cols if nm[0] == "W" else (d + g.cols if nm[0] == "R" else np.full(g.size, d + n))
            for nm, g in groups])
        self.mb_P = self.mb_rows.size  # non-threshold columns come first in ParamIndex
        # forward: each masked matrix's pattern in compressed-column form, so that only
        # stored entries of columns with a nonzero input (or an event) are touched
        self.csc = {}
        for name in ("W_u", "W_r", "W_g", "R_u", "R_r", "R_g"):
            cols, rows = np.nonzero(masks[name].T)
            colnnz = masks[name].sum(axis=0)
            colptr = np.concatenate([[0], np.cumsum(colnnz)]).astype(np.int32)
            self.csc[name] = (colptr, rows.astype(np.int32), colnnz)
        self._coefs = np.zeros((4, n), dtype=self.dtype)

    def _zero_cell_gradient(self) -> None:
        self.grad_live[:] = 0

    # -- forward: accumulate only from nonzero inputs and units that emitted an event ------
    def _forward(self, x: np.ndarray) -> StepCache:
        p = self.p
        self._fwd_macs = 0
        inp = self._gate_products("W", x)
        rec = self._gate_products("R", self.y)
        return cell_step(p, x, self.y, self.h, self.model.gamma, self.model.eps, self.smooth,
                         rec=rec, inp=inp)

    def _gate_products(self, kind: str, vec: np.ndarray) -> tuple:
        """(X_u vec, X_r vec, X_g vec) for X = W or R over stored entries with vec[col] != 0."""
        on = np.flatnonzero(vec).astype(np.int32)
        out = []
        for gate in GATES:
            name = f"{kind}_{gate}"
            colptr, rowidx, colnnz = self.csc[name]
            acc = np.zeros(self.n, dtype=self.dtype)
            if on.size:
                masked_matvec(self.p[name], on, colptr, rowidx, vec, acc, self.use_c)
                self._fwd_macs += int(colnnz[on].sum())
            out.append(acc)
        return tuple(out)

    # -- influence update ----------------------------------------------------------------
    def _update_influence(self, s: StepCache, der: CellDerivs) -> None:
        p, n, L = self.p, self.n, self.L
        act_mask = self.a_prev != 0
        act = np.flatnonzero(act_mask)
        macs = 0
        # the entries of A_t in active columns (also thr's off-diagonal Mbar terms)
        sel = np.flatnonzero(act_mask[self.a_cols])
        ar, ac, af = self.a_rows[sel], self.a_cols[sel], self.a_flat[sel]
        avals = (der.alpha_u[ar] * p["R_u"].take(af) + der.alpha_r[ar] * p["R_r"].take(af)
                 + der.alpha_g[ar] * p["R_g"].take(af))
        macs += int(self.a_gates[sel].sum())
        if L:
            colpos = np.empty(n, dtype=np.int32)
            colpos[act] = np.arange(act.size, dtype=np.int32)
            indptr = np.searchsorted(ar, self.a_indptr_rows).astype(np.int32)
            jvals = avals * self.a_prev[ac]  # off-diagonal J_t = A_t diag(a_{t-1})
            influence_update(self.M, L, self.jacobian_diag(s), act.astype(np.int32), indptr,
                             colpos[ac], jvals, self.use_c)
            macs += sel.size * (L + 1) + n * L
        # Mbar_t: one entry per parameter whose source is nonzero
        srcvec = np.concatenate([s.x, s.y_prev, np.ones(1, dtype=self.dtype)])
        src = srcvec[self.mb_src]
        ids = np.flatnonzero(src != 0)
        rows = self.mb_rows[ids]
        coefs = self._coefs
        coefs[0], coefs[1], coefs[2], coefs[3] = der.alpha_u, der.alpha_r, der.beta_g, der.alpha_g
        self._add_mbar(ids, rows, coefs[self.mb_kind[ids], rows] * src[ids])
        macs += ids.size
        # thr_j: through h_{t-1} (diagonal) and, if psi_{t-1,j} != 0, through y_{t-1}
        live = np.flatnonzero((self.o_prev != 0) | (self.psi_prev != 0))
        ypath = np.flatnonzero(self.psi_prev[ac] != 0)
        if live.size:
            diag = self.thr_diag_values(s)[live]
            yv = avals[ypath] * (-self.c_prev * self.psi_prev)[ac[ypath]]
            # two adds: (j, thr_j) can be both a diagonal and an off-diagonal entry
            self._add_mbar(self.thr_ids[live], self.thr_rows[live], diag)
            self._add_mbar(self.thr_ids[ac[ypath]], ar[ypath], yv)
            macs += live.size + ypath.size
        self._count(self._fwd_macs, macs)

    def _add_mbar(self, ids: np.ndarray, rows: np.ndarray, vals: np.ndarray) -> None:
        """Add Mbar entries (parameter ids, unit rows, values), bringing new columns alive.

        The (row, column) pairs of one call must be distinct.
        """
        fresh = ids[self.pos[ids] < 0]
        if fresh.size:
            fresh = np.unique(fresh)
            self.pos[fresh] = np.arange(self.L, self.L + fresh.size)
            self.at[self.L:self.L + fresh.size] = fresh
            self.L += fresh.size
        self.M[rows, self.pos[ids]] += vals

    # -- gradient ------------------------------------------------------------------------
    def _contract(self, ga: np.ndarray) -> None:
        nz = np.flatnonzero(ga)
        L = self.L
        macs = nz.size * L
        if macs:
            rows_combine(self.M, L, nz.astype(np.int32), ga[nz], self.grad_live, self.use_c)
        self.counters.macs_gradient += macs
        self._last_grad_macs = macs

    def _cell_gradient_flat(self) -> np.ndarray:
        flat = np.zeros(self.index.P, dtype=self.dtype)
        flat[self.at[:self.L]] = self.grad_live[:self.L]
        return flat

    def influence_dense(self) -> np.ndarray:
        out = np.zeros((self.n, self.index.P), dtype=self.dtype)
        out[:, self.at[:self.L]] = self.M[:, :self.L]
        return out

    @property
    def live_columns(self) -> int:
        """Columns of M that have come alive (the rest are exactly zero)."""
        return self.L
