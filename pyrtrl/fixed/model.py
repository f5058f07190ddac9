"""The fixed-point learner in numpy integers: the executable specification of runtime_c.

Every operation below has a twin in runtime_c/src; the two agree bit for bit (state,
events, influence matrix, weights, gradients, counters), which tests check over long
streams. Formats and the rounding rule are in :mod:`pyrtrl.fixed.arith` and
docs/numerics.md. Names follow the float engine (:mod:`pyrtrl.core.rtrl_sparse`).

One step (``step``):
 1. forward: pre-activations from the stored weights (event-driven in C), gates from the
    sigmoid table, state, events, pseudo-derivative psi and a = dy/dc;
 2. influence update on the live columns: M <- diag(d) M + J M[act] (J = A diag(a_prev)
    on active columns), then Mbar (non-threshold entries, threshold diagonal, threshold
    off-diagonal), each a saturating add; the (row, postsynaptic unit) blocks of M that are
    zero are tracked (``nzf``) and counted as skipped, as runtime_c skips them;
 3. readout over z = [y or c, input taps] and its loss gradient; gradient contraction
    row by row (rows with dL/dy * a != 0 for a y readout, dL/dc != 0 for a c readout), the
    threshold's immediate term (y readout), the readout gradient (SGD readout) or one RLS
    step (:mod:`pyrtrl.fixed.rls`);
 4. every K steps with a loss (a target or a label), SGD: w <- w - lr * clip(G), or Adam on
    clip(G) (:mod:`pyrtrl.fixed.adam`); thresholds clamped to [0, 1]. A step without a loss
    does not count: it moves no weight and no optimizer moment.

With ``lr_q = 0`` learning is off (evaluation, inference): the forward pass and the readout
run (output and loss as usual) and nothing else changes: weights, influence matrix,
gradients, RLS and optimizer state stay; the state advances.

With ``freeze_cell`` the cell does not learn: steps 2 and the cell's part of 3 and 4 are
skipped (forward and readout only), the ablation that shows what RTRL adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..errors import PyrtrlError
from ..run_defaults import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, CLIP, INFLUENCE_BITS, RLS_FORGETTING, RLS_P0
from .arith import (FRAC, INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, LIM24, LIM_DOUT, MFRAC,
                    ONE, WFRAC, WONE, neg_log_q, rnd, sat, sigmoid_q, softmax_q, tanh_q,
                    to_fixed)
from .adam import AdamConstants, FixedAdam, adam_constants
from .quantize import QuantizedModel
from .rls import FixedRLS, RLSConstants, rls_constants

GATES = ("u", "r", "g")


@dataclass
class FixedConfig:
    """Learning configuration, already in fixed point (see :func:`fixed_config`)."""

    lr_q: int  # per update, Q24: SGD round(lr / K * 2^24) (multiplies the summed gradient); Adam round(lr * 2^24); 0: learning off
    clip_q: int  # clip of the summed gradient, Q24 (0 = off): round(clip * K * 2^24)
    update_every: int
    influence_bits: int = INFLUENCE_BITS
    dense: bool = False  # sparsity exploitation off (same numbers, full cost)
    rls: Optional[RLSConstants] = None  # RLS readout (None: the readout learns by SGD)
    freeze_cell: bool = False  # only the readout learns
    delay: int = 0  # D = horizon - 1: learning runs D steps behind a forward-only forecast
    adam: Optional[AdamConstants] = None  # Adam (None: SGD)


def fixed_config(lr: float, clip: float = CLIP, update_every: int = 1, influence_bits: int = INFLUENCE_BITS,
                 dense: bool = False, readout_rule: str = "gradient", train: str = "all",
                 rls_forgetting: float = RLS_FORGETTING, rls_p0: float = RLS_P0, horizon: int = 1,
                 optimizer: str = "sgd", adam_beta1: float = ADAM_BETA1,
                 adam_beta2: float = ADAM_BETA2, adam_eps: float = ADAM_EPS) -> FixedConfig:
    """Learning rate and clip (float, per mean gradient) to their fixed-point form; the
    readout rule (``"gradient"`` or ``"rls"``) and what trains (``"all"`` or ``"readout"``)
    as in :class:`pyrtrl.OnlineLearner`; ``horizon`` H >= 1 (delay H - 1, see rtrl.h);
    ``optimizer`` ``"sgd"`` or ``"adam"`` (betas 1 - 2^-s, :mod:`pyrtrl.fixed.adam`)."""
    if optimizer not in ("sgd", "adam"):
        raise PyrtrlError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if int(horizon) != horizon or not (1 <= horizon <= 256):
        raise PyrtrlError(f"horizon must be an integer in [1, 256], got {horizon}")
    if readout_rule not in ("gradient", "rls"):
        raise PyrtrlError(f"readout_rule must be 'gradient' or 'rls', got {readout_rule!r}")
    if train not in ("all", "readout"):
        raise PyrtrlError(f"train must be 'all' or 'readout', got {train!r}")
    if influence_bits not in MFRAC:
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    if int(update_every) != update_every or not (1 <= update_every <= 65535):
        raise PyrtrlError(f"update_every must be an integer in [1, 65535], got {update_every}")
    if not (np.isfinite(lr) and 0 < lr < 128):
        raise PyrtrlError(f"learning rate must be in (0, 128), got {lr}")
    if not (np.isfinite(clip) and clip >= 0):
        raise PyrtrlError(f"clip must be >= 0, got {clip}")
    adam = adam_constants(adam_beta1, adam_beta2, adam_eps) if optimizer == "adam" else None
    lr_q = lr_fixed(lr, int(update_every), adam is not None)
    clip_q = min(int(to_fixed(clip * update_every, WFRAC)), INT32_MAX) if clip > 0 else 0
    rls = rls_constants(rls_forgetting, rls_p0) if readout_rule == "rls" else None
    return FixedConfig(lr_q, clip_q, int(update_every), influence_bits, dense, rls, train == "readout",
                       int(horizon) - 1, adam)


def lr_fixed(lr: float, update_every: int, adam: bool) -> int:
    """The Q24 rate runtime_c holds (``lr_q``) for a float rate per mean gradient (SGD: lr / K
    multiplies the summed gradient) or per update (Adam, whose step does not scale with the
    gradient). ``lr = 0`` gives 0: learning off (see :class:`FixedLearner`)."""
    if not (np.isfinite(lr) and 0 <= lr < 128):
        raise PyrtrlError(f"learning rate must be in [0, 128) (0: learning off), got {lr}")
    lr_q = int(to_fixed(lr if adam else lr / update_every, WFRAC))
    if lr_q < 1 and lr > 0:
        raise PyrtrlError(f"learning rate {lr} / {update_every} is below one Q24 step (6e-8)")
    return lr_q


@dataclass
class FixedCounters:
    """The counters runtime_c keeps, with the same meaning (docs/rtrl.md cost model)."""

    steps: int = 0
    events: int = 0
    active_cols: int = 0  # sum over steps of units with a_{t-1} != 0 (active Jacobian columns)
    macs: int = 0
    saturations: int = 0
    updates: int = 0
    #: of ``macs``, the products performed and those skipped because their block of M (one
    #: postsynaptic unit's live columns in one row) is zero: macs = products + skipped
    products: int = 0
    skipped: int = 0


class FixedLearner:
    """Online learner in fixed point (numpy int64, values kept within their C types)."""

    def __init__(self, q: QuantizedModel, cfg: FixedConfig) -> None:
        self.q = q
        self.cfg = cfg
        self.mfrac = MFRAC[cfg.influence_bits]
        self.mlo, self.mhi = ((INT16_MIN, INT16_MAX) if cfg.influence_bits == 16
                              else (INT32_MIN, INT32_MAX))
        n = q.n
        self.theta = q.theta.astype(np.int64).copy()
        self.w_o = q.w_o.astype(np.int64).copy()
        self.b_o = q.b_o.astype(np.int64).copy()
        self.off = q.offsets
        self.pat = q.patterns
        # column of every pattern entry, and the parameter id of every masked entry
        self.ucol = q.union.colidx
        self.urow = q.union.rowidx
        self.counters = FixedCounters()
        z = np.zeros(n, dtype=np.int64)
        self.c, self.h, self.y, self.o, self.psi, self.a = (z.copy() for _ in range(6))
        self.M = np.zeros((n, q.P), dtype=np.int64)
        self.live = np.zeros(q.P, dtype=bool)
        if cfg.dense:
            self.live[:] = True
        # M's blocks (runtime_c's layout, rtrl.h): segment s holds the columns of the
        # parameters of postsynaptic unit s (the row of their Mbar entry; thr_s's too).
        # nzf[i, s]: row i of segment s may be nonzero (False: exactly zero, skipped); after
        # the influence product it is exactly "some entry nonzero", and an Mbar add leaving a
        # nonzero entry sets it. Dense mode skips nothing: every flag stays set.
        self.seg_of = self._rows_of_params()
        self._seg_onehot = np.zeros((q.P, n), dtype=np.float32)
        self._seg_onehot[np.arange(q.P), self.seg_of] = 1.0
        self.nzf = np.full((n, n), bool(cfg.dense))
        self.G = np.zeros(q.P, dtype=np.int64)
        self.G_imm = np.zeros(n, dtype=np.int64)
        self.G_wo = np.zeros_like(self.w_o)
        self.G_bo = np.zeros_like(self.b_o)
        D = cfg.delay
        # the input ring, newest first: the readout's taps and, with a delay, the D older
        # inputs the learning pass runs on (runtime_c's RTRL_RING)
        self.ring = np.zeros(((D + max(q.taps, 1)) if D else q.taps, q.d), dtype=np.int64)
        self.fh, self.fy = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)  # forecast state
        self.seen = 0
        self.rls = FixedRLS(q.features + 1, cfg.rls) if cfg.rls is not None else None
        # Adam's moments: the cell's P parameters, then (SGD readout) W_o and b_o
        self.adam = (FixedAdam(q.P + (0 if self.rls else self.w_o.size + self.b_o.size), cfg.adam)
                     if cfg.adam is not None else None)
        self.since_update = 0
        self._param_rows = self._rows_of_params()
        #: max |value| seen per tensor (float units), filled when track_ranges is True;
        #: the measurements behind docs/numerics.md
        self.track_ranges = False
        self.ranges: Dict[str, float] = {}

    def set_learning_rate(self, lr_q: int) -> None:
        """runtime_c's rtrl_set_learning_rate: a Q24 rate >= 0 (0: learning off)."""
        if int(lr_q) != lr_q or not (0 <= lr_q <= INT32_MAX):
            raise PyrtrlError(f"lr_q must be an integer in [0, 2^31), got {lr_q}")
        self.cfg.lr_q = int(lr_q)

    def _track(self, **tensors: "tuple[np.ndarray, int]") -> None:
        for name, (v, frac) in tensors.items():
            if np.size(v):
                m = float(np.abs(v).max()) / (1 << frac)
                if m > self.ranges.get(name, 0.0):
                    self.ranges[name] = m

    # -- helpers -----------------------------------------------------------------------
    def _rows_of_params(self) -> np.ndarray:
        rows = []
        for name in ("W_u", "W_r", "W_g", "R_u", "R_r", "R_g"):
            rows.append(self.pat[name].rowidx)
        rows += [np.arange(self.q.n)] * 5
        return np.concatenate(rows)

    def _sat(self, x: np.ndarray, lo: int, hi: int) -> np.ndarray:
        v, k = sat(x, lo, hi)
        self.counters.saturations += k
        return v

    def _sat32(self, x: np.ndarray) -> np.ndarray:
        return self._sat(x, INT32_MIN, INT32_MAX)

    def weights(self) -> Dict[str, np.ndarray]:
        """Dense cell weights (Q24) by name, plus W_o and b_o."""
        dense = self.q.cell_dense(self.theta)
        dense["W_o"], dense["b_o"] = self.w_o.copy(), self.b_o.copy()
        return dense

    # -- one step ----------------------------------------------------------------------
    def step(self, x: np.ndarray, target: Optional[np.ndarray], label: int = -1) -> tuple:
        """One learning step with a Q16 input (d,), an optional Q16 target (k,) for squared
        error and an optional class label for softmax cross-entropy. Returns (out, loss_q)."""
        q, cnt = self.q, self.counters
        x = np.asarray(x, dtype=np.int64)
        if self.rls is not None and label >= 0:
            raise PyrtrlError("the RLS readout learns squared-error targets, not labels")
        if self.ring.shape[0]:
            self.ring[1:] = self.ring[:-1].copy()
            self.ring[0] = x
        cnt.steps += 1
        W = self.weights()
        D = self.cfg.delay
        out = None
        if D:
            # the forecast first, with the weights learned from the targets seen so far
            g = self._forward(W, x, self.fh, self.fy)
            cnt.macs += g["macs"]
            self.fh, self.fy = g["h"], g["y"]
            out = self._sat32(rnd(self.w_o @ self.features(g, 0) + (self.b_o << FRAC), WFRAC))
            ready = self.seen >= D
            self.seen += 1
            if not ready:
                cnt.products = cnt.macs - cnt.skipped
                return out, 0
            x = self.ring[D]
        f = self._forward(W, x, self.h, self.y)
        act = np.ones(q.n, dtype=bool) if self.cfg.dense else self.a != 0
        macs = f["macs"]
        # learning off (lr_q = 0): forward and readout only, nothing else changes
        learn = self.cfg.lr_q != 0
        if learn and not self.cfg.freeze_cell:
            macs += self._influence(W, x, f, act)
        if learn:
            out_l, loss_q, rmacs = self._readout(f, target, label)
        else:
            _, out_l, _, _, loss_q = self._readout_loss(f, target, label)
            rmacs = 0
        out = out_l if out is None else out
        macs += rmacs
        cnt.events += int(f["o"].sum())
        if learn and not self.cfg.freeze_cell:  # counted by the influence phase, as in runtime_c
            cnt.active_cols += int(act.sum())
        cnt.macs += macs
        self.c, self.h, self.y, self.o, self.psi, self.a = (f[k] for k in ("c", "h", "y", "o", "psi", "a"))

        # only steps with a loss count towards K: a step without one moves no weight or moment
        if learn and (target is not None or label >= 0):
            self.since_update += 1
            if self.since_update >= self.cfg.update_every:
                self._update()
        cnt.products = cnt.macs - cnt.skipped
        return out, loss_q

    # 1. forward (Q40 sums, one rounding to Q16 each)
    def _forward(self, W: Dict[str, np.ndarray], x: np.ndarray, h_prev: np.ndarray,
                 y_prev: np.ndarray) -> Dict[str, np.ndarray]:
        q = self.q
        thr16 = rnd(W["thr"], WFRAC - FRAC)
        xon = x != 0
        yon = y_prev != 0
        macs = 0
        for gate in GATES:
            wc = self.pat[f"W_{gate}"].col_nnz()
            rc = self.pat[f"R_{gate}"].col_nnz()
            macs += int(wc.sum() + rc.sum()) if self.cfg.dense else int(wc[xon].sum() + rc[yon].sum())
        sh = WFRAC  # Q24 weight x Q16 activation = Q40
        pre_u = self._sat32(rnd(W["W_u"] @ x + W["R_u"] @ y_prev + (W["b_u"] << FRAC), sh))
        pre_r = self._sat32(rnd(W["W_r"] @ x + W["R_r"] @ y_prev + (W["b_r"] << FRAC), sh))
        qv = self._sat32(rnd(W["R_g"] @ y_prev + (W["b_rg"] << FRAC), sh))
        u = sigmoid_q(pre_u)
        r = sigmoid_q(pre_r)
        pre_g = self._sat32(rnd(W["W_g"] @ x + (W["b_g"] << FRAC), sh) + rnd(r * qv, FRAC))
        g = tanh_q(pre_g)
        c = rnd(u * h_prev + (ONE - u) * g, FRAC)
        v = c - thr16
        o = (v > 0).astype(np.int64)
        y = o * c
        h = c - o * thr16
        av = np.abs(v)
        psi = np.where(av < q.eps_q, rnd(q.goe_q * (q.eps_q - av), FRAC), 0)
        a = o * ONE + rnd(c * psi, FRAC)
        if self.track_ranges:
            self._track(pre_u=(pre_u, FRAC), pre_r=(pre_r, FRAC), pre_g=(pre_g, FRAC), q=(qv, FRAC),
                        c=(c, FRAC), a=(a, FRAC))
        return dict(u=u, r=r, g=g, qv=qv, c=c, o=o, y=y, h=h, psi=psi, a=a, thr16=thr16, macs=macs)

    # 2. influence update: M <- diag(d) M + J M[act] on the live columns, then Mbar
    def _influence(self, W: Dict[str, np.ndarray], x: np.ndarray, f: Dict[str, np.ndarray],
                   act: np.ndarray) -> int:
        q = self.q
        n = q.n
        dense = self.cfg.dense
        u, r, g, qv, thr16 = f["u"], f["r"], f["g"], f["qv"], f["thr16"]
        h_prev, y_prev, c_prev = self.h, self.y, self.c
        o_prev, psi_prev, a_prev = self.o, self.psi, self.a
        macs = 0
        uu = rnd(u * (ONE - u), FRAC)
        alpha_u = rnd((h_prev - g) * uu, FRAC)
        beta_g = rnd((ONE - u) * (ONE - rnd(g * g, FRAC)), FRAC)
        alpha_g = rnd(beta_g * r, FRAC)
        alpha_r = self._sat(rnd(rnd(beta_g * qv, FRAC) * rnd(r * (ONE - r), FRAC), FRAC), -LIM24, LIM24)
        tp_prev = rnd(thr16 * psi_prev, FRAC)
        dvec = rnd(u * (ONE - tp_prev), FRAC)
        ent = np.flatnonzero(act[self.ucol])  # union entries in active columns
        er, ec = self.urow[ent], self.ucol[ent]
        A = self._sat32(rnd(alpha_u[er] * W["R_u"][er, ec] + alpha_r[er] * W["R_r"][er, ec]
                            + alpha_g[er] * W["R_g"][er, ec], WFRAC))
        macs += sum(int(self.pat[f"R_{g_}"].col_nnz()[act].sum()) for g_ in GATES)
        Jv = self._sat(rnd(A * a_prev[ec], FRAC), -LIM24, LIM24)
        live_before = self.live.copy()
        L = int(live_before.sum())
        if L:
            cols = np.flatnonzero(live_before)
            act_idx = np.flatnonzero(act)
            slot = np.zeros(n, dtype=np.int64)
            slot[act_idx] = np.arange(act_idx.size)
            Jd = np.zeros((n, act_idx.size), dtype=np.int64)
            Jd[er, slot[ec]] = Jv
            Mold = self.M[:, cols]
            acc = dvec[:, None] * Mold + Jd @ Mold[act_idx]
            self.M[:, cols] = self._sat(rnd(acc, FRAC), self.mlo, self.mhi)
            macs += n * L + ent.size * (L + 1)
            # what runtime_c performs: per (row i, segment s) with w_s live columns, the own
            # term if row i's block may be nonzero and one term per J entry (i, j) whose
            # source block (row j) may be nonzero; a pair with neither is zero and skipped
            w = np.bincount(self.seg_of[cols], minlength=n)
            own = self.nzf.astype(np.int64)
            jcnt = np.zeros((n, n), dtype=np.int64)
            jcnt[er, ec] = 1
            terms = own + jcnt @ own
            self.counters.skipped += n * L + ent.size * L - int((terms * w[None, :]).sum())
            if not dense:
                self.nzf = (terms > 0) & self._segment_nonzero()

        ms = 32 - self.mfrac  # Q16 x Q16 -> Q_M
        src = {"W": x, "R": y_prev}
        coef = {"u": alpha_u, "r": alpha_r, "g": beta_g}
        mb_count = 0
        for kind in ("W", "R"):
            for gate in GATES:
                name = f"{kind}_{gate}"
                pat = self.pat[name]
                cf = alpha_g if name == "R_g" else coef[gate]
                sv = src[kind][pat.colidx]
                on = np.ones(pat.nnz, dtype=bool) if dense else sv != 0
                ids = self.off[name] + np.flatnonzero(on)
                rows = pat.rowidx[on]
                vals = rnd(cf[rows] * sv[on], ms)
                self._mbar_add(ids, rows, vals)
                mb_count += int(on.sum())
        for name, cf in (("b_u", alpha_u), ("b_r", alpha_r), ("b_g", beta_g), ("b_rg", alpha_g)):
            ids = self.off[name] + np.arange(n)
            self._mbar_add(ids, np.arange(n), rnd(cf * ONE, ms))
            mb_count += n
        thr_on = np.ones(n, dtype=bool) if dense else (o_prev != 0) | (psi_prev != 0)
        j = np.flatnonzero(thr_on)
        self._mbar_add(self.off["thr"] + j, j, rnd(u[j] * (tp_prev[j] - o_prev[j] * ONE), ms))
        yp = np.flatnonzero(np.ones(ent.size, dtype=bool) if dense else psi_prev[ec] != 0)
        cpsi = -rnd(c_prev * psi_prev, FRAC)
        self._mbar_add(self.off["thr"] + ec[yp], er[yp], rnd(A[yp] * cpsi[ec[yp]], ms))
        mb_count += j.size + yp.size
        if self.track_ranges:
            self._track(alpha_u=(alpha_u, FRAC), alpha_r=(alpha_r, FRAC), alpha_g=(alpha_g, FRAC),
                        A=(A, FRAC), J=(Jv, FRAC), M=(self.M, self.mfrac))
        return macs + mb_count

    def features(self, f: Dict[str, np.ndarray], tap_off: int) -> np.ndarray:
        """The readout's input z = [y or c, taps newest first from ring position tap_off] (Q16)."""
        src = f["c"] if self.q.readout_c else f["y"]
        taps = self.ring[tap_off:tap_off + self.q.taps].ravel()
        return np.concatenate([src, taps]) if self.q.taps else src

    # 3. readout, loss, gradient (or RLS)
    def _readout_loss(self, f: Dict[str, np.ndarray], target: Optional[np.ndarray], label: int) -> tuple:
        """z, out, dL/dout, the clamped error (or None) and the loss (runtime_c's readout_loss)."""
        q, cfg = self.q, self.cfg
        z = self.features(f, cfg.delay)
        out = self._sat32(rnd(self.w_o @ z + (self.b_o << FRAC), WFRAC))
        dout = np.zeros(q.k, dtype=np.int64)
        loss = 0
        dmse = None
        if target is not None:
            dmse = self._sat(out - np.asarray(target, dtype=np.int64), -LIM_DOUT, LIM_DOUT)
            dout += dmse
            loss += int(rnd(np.array(int(dmse @ dmse)), FRAC + 1))
        if label >= 0:
            p = softmax_q(out)
            loss += neg_log_q(int(p[label]))
            p[label] -= ONE
            dout += p
        return z, out, dout, dmse, int(self._sat32(np.array(loss)))

    def _readout(self, f: Dict[str, np.ndarray], target: Optional[np.ndarray], label: int) -> tuple:
        q, cfg = self.q, self.cfg
        n = q.n
        z, out, dout, dmse, loss_q = self._readout_loss(f, target, label)
        macs = 0
        if not cfg.freeze_cell:
            # dL/ds for the state source s; for a c readout it reaches every unit's row
            dy = self._sat32(rnd(self.w_o[:, :n].T @ dout, WFRAC))
            a = f["a"]
            ga = dy if q.readout_c else self._sat32(rnd(dy * a, FRAC))
            cols = np.flatnonzero(self.live)
            gs = self.mfrac - 8  # Q16 x Q_M -> Q24
            rows = np.arange(n) if cfg.dense else np.flatnonzero(ga)
            for i in rows:
                self.G[cols] = self._sat32(self.G[cols] + rnd(ga[i] * self.M[i, cols], gs))
            macs += rows.size * cols.size
            # runtime_c skips the (row, segment) blocks whose flag is clear (they add 0)
            w = np.bincount(self.seg_of[cols], minlength=n)
            self.counters.skipped += rows.size * cols.size - int((self.nzf[rows] * w[None, :]).sum())
            if not q.readout_c:
                cpsi_now = rnd(f["c"] * f["psi"], FRAC)
                self.G_imm = self._sat32(self.G_imm + rnd(dy * (-cpsi_now), 2 * FRAC - WFRAC))
            if self.track_ranges:
                self._track(dy=(dy, FRAC), ga=(ga, FRAC), G=(self.G, WFRAC))
        if self.rls is None:
            self.G_wo = self._sat32(self.G_wo + rnd(dout[:, None] * z[None, :], 2 * FRAC - WFRAC))
            self.G_bo = self._sat32(self.G_bo + (dout << (WFRAC - FRAC)))
        elif dmse is not None:
            w1 = np.concatenate([self.w_o, self.b_o[:, None]], axis=1)
            w1, nsat, rmacs = self.rls.update(np.append(z, ONE), dmse, w1)
            self.counters.saturations += nsat
            macs += rmacs
            self.w_o, self.b_o = w1[:, :-1].copy(), w1[:, -1].copy()
        if self.track_ranges:
            self._track(out=(out, FRAC), theta=(self.theta, WFRAC), w_o=(self.w_o, WFRAC))
        return out, loss_q, macs

    def gradient(self) -> Dict[str, np.ndarray]:
        """The accumulated (pending) gradient as float arrays by parameter name, threshold
        immediate term included: comparable with :func:`pyrtrl.gradients`."""
        from .arith import from_fixed

        G = self.G.copy()
        thr = self.off["thr"]
        G[thr:thr + self.q.n] += self.G_imm
        named = self.q.cell_dense(G)
        named["W_o"], named["b_o"] = self.G_wo, self.G_bo
        return {k: from_fixed(v, WFRAC) for k, v in named.items()}

    def _mbar_add(self, ids: np.ndarray, rows: np.ndarray, vals: np.ndarray) -> None:
        """Saturating add of Mbar entries (distinct (row, param) pairs), bringing columns alive."""
        self.live[ids] = True
        new = self._sat(self.M[rows, ids] + vals, self.mlo, self.mhi)
        self.M[rows, ids] = new
        on = new != 0
        self.nzf[rows[on], self.seg_of[ids[on]]] = True

    def _segment_nonzero(self) -> np.ndarray:
        """(n, n) bool: row i of segment s has a nonzero entry."""
        return ((self.M != 0).astype(np.float32) @ self._seg_onehot) > 0

    def _update(self) -> None:
        cfg, n = self.cfg, self.q.n
        g = self.G.copy()
        thr = slice(self.off["thr"], self.off["thr"] + n)
        g[thr] = self._sat32(g[thr] + self.G_imm)

        lr_t = self.adam.rate(cfg.lr_q) if self.adam else 0

        def step(w: np.ndarray, grad: np.ndarray, at: int) -> np.ndarray:
            if cfg.clip_q:
                grad = np.clip(grad, -cfg.clip_q, cfg.clip_q)
            if self.adam is None:
                return self._sat32(w - rnd(cfg.lr_q * grad, WFRAC))
            new, nsat = self.adam.step(w, grad, lr_t, slice(at, at + w.size))
            self.counters.saturations += nsat
            return new

        P, nwo = self.q.P, self.w_o.size
        if not cfg.freeze_cell:
            self.theta = step(self.theta, g, 0)
            self.theta[thr] = np.clip(self.theta[thr], 0, WONE)
        if self.rls is None:
            self.w_o = step(self.w_o.ravel(), self.G_wo.ravel(), P).reshape(self.w_o.shape)
            self.b_o = step(self.b_o, self.G_bo, P + nwo)
        self.G[:] = 0
        self.G_imm[:] = 0
        self.G_wo[:] = 0
        self.G_bo[:] = 0
        self.since_update = 0
        self.counters.updates += 1
