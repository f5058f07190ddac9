"""The C runtime (runtime_c) through cffi: an online learner with the float learner's interface.

Whole streams go to C in one call (:meth:`CLearner.run`) so that the binding's per-call
cost does not dominate. The weights, state, influence matrix, gradients and counters can be
read back (:meth:`CLearner.snapshot`) for bit-exact comparison with :mod:`pyrtrl.fixed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Union

import numpy as np

from ..errors import PyrtrlError
from .. import run_defaults as D
from ..fixed.arith import FRAC, from_fixed
from ..fixed.model import FixedConfig, FixedCounters, fixed_config, lr_fixed
from ..fixed.quantize import quantize_samples
from ..core.learner import NO_LOSS, RunResult, StepResult
from ..core.losses import check_label, check_labels
from ..core.model import EGRU
from .deployment import ABSENT, Deployment, c_model_arrays, shares_recurrent_pattern

__all__ = ["ABSENT", "CLearner", "CRunResult", "KERNEL_NAMES", "Snapshot", "c_model_arrays",
           "kernel_name", "param_columns", "required_bytes", "shares_recurrent_pattern"]


def _lib(bits: int):
    try:
        if bits == 32:
            from .. import _rtrl32 as mod
        elif bits == 16:
            from .. import _rtrl16 as mod
        else:
            raise PyrtrlError(f"influence_bits must be 16 or 32, got {bits}")
    except ImportError as e:  # pragma: no cover - depends on the install
        raise PyrtrlError("the C runtime is not built: install pyrtrl with pip "
                          f"(pip install -e .) ({e})") from None
    return mod.ffi, mod.lib


def param_columns(col_of: np.ndarray) -> np.ndarray:
    """Column of M of every cell parameter (-1 while dead), from runtime_c's ``col_of``
    (M is laid out by postsynaptic unit, each parameter at the next free column of its
    unit's segment when it comes alive: rtrl.h)."""
    col = np.asarray(col_of, dtype=np.int64)
    return np.where(col == ABSENT, -1, col)


@dataclass
class Snapshot:
    """Integer arrays read back from the C learner, in the numpy model's orders."""

    theta: np.ndarray
    w_o: np.ndarray
    b_o: np.ndarray
    state: Dict[str, np.ndarray]  # c, h, y, o, psi, a
    M: np.ndarray  # n x P in parameter order (dead columns zero)
    live: np.ndarray  # (P,) bool
    grad: np.ndarray  # (P,) in parameter order
    grad_thr: np.ndarray
    grad_wo: np.ndarray
    grad_bo: np.ndarray
    counters: FixedCounters


class CLearner:
    """Online learner running in runtime_c (fixed point), with the float learner's interface.

    Parameters
    ----------
    model : EGRU or Deployment
        The model: a :class:`~pyrtrl.deploy.deployment.Deployment` is used as it is (a run
        hands the same one to every learner, export and device client); an EGRU is
        quantized here (one-line error if not representable). Neither is modified.
    lr, clip, update_every :
        As for :class:`pyrtrl.OnlineLearner` with ``clip_mode="value"``.
    optimizer : {"sgd", "adam"}
        The cell's (and an SGD readout's) rule: SGD, or Adam in fixed point
        (:mod:`pyrtrl.fixed.adam`; betas 1 - 2^-s, see :class:`pyrtrl.core.optim.Adam`).
    adam_beta1, adam_beta2, adam_eps : float
        Adam's hyperparameters (the betas must be 1 - 2^-s; beta1 may be 0).
    influence_bits : {32, 16}
        Storage width of the influence matrix.
    dense : bool
        Sparsity exploitation off (same numbers, full cost): the same-run baseline.
    readout_rule, train, rls_forgetting, rls_p0 :
        As for :class:`pyrtrl.OnlineLearner`: the readout learns by SGD (``"gradient"``) or
        RLS (``"rls"``); ``train="readout"`` freezes the cell.
    horizon : int
        H >= 1. With H > 1 each call's output is the forecast H steps ahead and learning
        runs H - 1 steps behind (see :class:`pyrtrl.OnlineLearner` and rtrl.h).
    """

    def __init__(self, model: Union[EGRU, Deployment], lr: float = D.LR, clip: float = D.CLIP,
                 update_every: int = 1, influence_bits: int = D.INFLUENCE_BITS, dense: bool = False,
                 readout_rule: str = "gradient", train: str = "all", rls_forgetting: float = D.RLS_FORGETTING, rls_p0: float = D.RLS_P0,
                 horizon: int = 1, optimizer: str = "sgd", adam_beta1: float = D.ADAM_BETA1,
                 adam_beta2: float = D.ADAM_BETA2, adam_eps: float = D.ADAM_EPS) -> None:
        self.ffi, self.lib = _lib(influence_bits)
        self.deployment = Deployment.of(model)
        self.template = self.deployment.template
        self.q = self.deployment.quantized
        self.fcfg: FixedConfig = fixed_config(lr, clip, update_every, influence_bits, dense,
                                              readout_rule, train, rls_forgetting, rls_p0, horizon,
                                              optimizer, adam_beta1, adam_beta2, adam_eps)
        ffi, lib, q = self.ffi, self.lib, self.q
        self._arrays = self.deployment.c_arrays()  # the library points into these
        cfg = ffi.new("rtrl_config_t *")
        cfg.n, cfg.d, cfg.k = q.n, q.d, q.k
        for gi, g in enumerate(("u", "r", "g")):
            cfg.nnz_w[gi] = q.patterns[f"W_{g}"].nnz
            cfg.nnz_r[gi] = q.patterns[f"R_{g}"].nnz
        cfg.nnz_union = q.union.nnz
        cfg.update_every = self.fcfg.update_every
        cfg.dense_mode = int(dense)
        cfg.lr_q, cfg.clip_q = self.fcfg.lr_q, self.fcfg.clip_q
        cfg.eps_q, cfg.goe_q = q.eps_q, q.goe_q
        cfg.readout_c, cfg.taps = int(q.readout_c), q.taps
        cfg.freeze_cell = int(self.fcfg.freeze_cell)
        cfg.delay = self.fcfg.delay
        if self.fcfg.rls is not None:
            cfg.readout_rls = 1
            r = self.fcfg.rls
            cfg.rls_lam_q, cfg.rls_isl_q, cfg.rls_p0_q = r.lam_q16, r.isl_q30, r.p0_q28
        if self.fcfg.adam is not None:
            ad = self.fcfg.adam
            cfg.adam, cfg.adam_a, cfg.adam_b, cfg.adam_eps2_q = 1, ad.a, ad.b, ad.eps2_q48
        self.cfg = cfg
        m = ffi.new("rtrl_model_t *")
        a = self._arrays
        ptr = lambda name, t: ffi.cast(t, ffi.from_buffer(a[name]))  # noqa: E731
        for gi, g in enumerate(("u", "r", "g")):
            m.w_colptr[gi] = ptr(f"W_{g}_colptr", "uint16_t *")
            m.w_rowidx[gi] = ptr(f"W_{g}_rowidx", "uint16_t *")
            m.r_colptr[gi] = ptr(f"R_{g}_colptr", "uint16_t *")
            m.r_rowidx[gi] = ptr(f"R_{g}_rowidx", "uint16_t *")
            m.u_map[gi] = ptr(f"U_map_{g}", "uint16_t *") if f"U_map_{g}" in a else ffi.NULL
        m.u_colptr = ptr("U_colptr", "uint16_t *")
        m.u_rowidx = ptr("U_rowidx", "uint16_t *")
        m.theta = ptr("theta", "int32_t *")
        m.w_o = ptr("w_o", "int32_t *")
        m.b_o = ptr("b_o", "int32_t *")
        self.model_c = m
        size = ffi.new("size_t *")
        self._check(lib.rtrl_required_bytes(cfg, size), "size query")
        self.required_bytes = int(size[0])
        raw = np.zeros(self.required_bytes + 8, dtype=np.uint8)
        start = (-raw.ctypes.data) % 8
        self._buffer = raw
        self._buf = raw[start:start + self.required_bytes]
        self.ctx = ffi.new("rtrl_t *")
        needed = ffi.new("size_t *")
        self._check(lib.rtrl_init(self.ctx, cfg, m, ffi.from_buffer(self._buf), self.required_bytes,
                                  needed), "init")

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            msg = self.ffi.string(self.lib.rtrl_status_str(status)).decode()
            raise PyrtrlError(f"runtime_c {what}: {msg} (status {status})")

    @property
    def model(self) -> EGRU:
        """The current weights as a float model (masks, gamma, eps of the original)."""
        s = self.snapshot()
        return self.deployment.model_from_weights(s.theta, s.w_o, s.b_o)

    def weights_image(self) -> bytes:
        """The current weights as a weights image (what a device's DUMP sends)."""
        s = self.snapshot()
        return self.deployment.image(s.theta, s.w_o, s.b_o)

    def load_image(self, image: bytes) -> None:
        """Replace the weights with a weights image (a DUMP's or a checkpoint's); one-line
        :class:`PyrtrlError` if its size is not the model's or the library refuses it."""
        self.load_weights_fixed(*self.deployment.split_image(image))

    def load_weights_fixed(self, theta: np.ndarray, w_o: np.ndarray, b_o: np.ndarray) -> None:
        """Replace the weights with Q24 integers (the layout of a weights dump)."""
        ffi = self.ffi
        arrs = [np.ascontiguousarray(a, dtype=np.int32).ravel() for a in (theta, w_o, b_o)]
        sizes = (self.q.P, self.q.k * self.q.features, self.q.k)
        if tuple(a.size for a in arrs) != sizes:
            raise PyrtrlError(f"weights image has {tuple(a.size for a in arrs)} values, expected {sizes}")
        self._check(self.lib.rtrl_load_weights(self.ctx, *(ffi.cast("int32_t *", ffi.from_buffer(a))
                                                           for a in arrs)), "load weights")

    def reset_state(self) -> None:
        """New sequence: zero state, influence matrix and pending gradients; keep weights
        (and the optimizer's moments). The counters restart too."""
        self._check(self.lib.rtrl_reset_state(self.ctx), "reset")

    @property
    def lr(self) -> float:
        """The learning rate as given (per mean gradient for SGD, per update for Adam)."""
        K = 1 if self.fcfg.adam is not None else self.fcfg.update_every
        return self.fcfg.lr_q * K / float(1 << 24)

    @property
    def learning(self) -> bool:
        """False while the learning rate is 0 (every step is then forward only)."""
        return self.fcfg.lr_q != 0

    def set_learning_rate(self, lr: float) -> None:
        """Change the learning rate (``rtrl_set_learning_rate``); ``lr = 0`` switches learning
        off: steps run forward only (outputs and losses as usual) and change no weight,
        influence matrix, gradient, RLS or optimizer state. The state advances, so call
        :meth:`reset_state` before learning again for exact gradients."""
        self.set_learning_rate_q(lr_fixed(lr, self.fcfg.update_every, self.fcfg.adam is not None))

    def set_learning_rate_q(self, lr_q: int) -> None:
        """:meth:`set_learning_rate` with the rate already in the library's fixed point (as
        the device protocol's SET_LR carries it); refused rates raise and change nothing."""
        self._check(self.lib.rtrl_set_learning_rate(self.ctx, int(lr_q)), "set learning rate")
        self.fcfg.lr_q = int(lr_q)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs without learning: ``x`` (d,) gives (k,), a sequence (T, d) gives (T, k).

        Forward only (``run(x, learn=False)``): the state advances, weights, influence
        matrix, gradients and optimizer state do not change."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return self.run(x[None, :], learn=False).output[0]
        return self.run(x, learn=False).output

    def run(self, x: np.ndarray, target: Optional[np.ndarray] = None,
            labels: Optional[np.ndarray] = None, callback: None = None,
            learn: bool = True) -> "CRunResult":
        """Learn from a whole stream in one C call (same interface as OnlineLearner.run).

        ``target`` (T, k) adds squared error, ``labels`` (T,) integers (-1 = none) softmax
        cross-entropy. Returns per-step loss (float: 0.5 * squared error + cross-entropy),
        output and events. ``learn=False`` (or a learning rate of 0) evaluates: forward
        only, the losses are scored and nothing learns; then target and labels are optional.
        """
        if callback is not None:
            raise PyrtrlError("runtime_c runs the whole stream in one call: no per-step callback")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.q.d:
            raise PyrtrlError(f"x must have shape (T, {self.q.d}), got {x.shape}")
        T = x.shape[0]
        if target is None and labels is None and learn and self.learning:
            raise PyrtrlError(NO_LOSS)
        xq, sat = quantize_samples(x, "x")
        tq = None
        if target is not None:
            target = np.asarray(target, dtype=np.float64)
            if target.shape != (T, self.q.k):
                raise PyrtrlError(f"target must have shape ({T}, {self.q.k}), got {target.shape}")
            tq, st = quantize_samples(target, "target")
            sat += st
            tq = tq.astype(np.int32)
        lab = None if labels is None else check_labels(labels, T, self.q.k)
        return self.run_fixed(xq.astype(np.int32), tq, saturated_inputs=sat, labels=lab, learn=learn)

    def run_fixed(self, xq: np.ndarray, tq: Optional[np.ndarray], saturated_inputs: int = 0,
                  labels: Optional[np.ndarray] = None, learn: bool = True) -> "CRunResult":
        """As :meth:`run` with inputs (and targets) already in Q16 (int32)."""
        if not learn and self.learning:
            self._check(self.lib.rtrl_set_learning_rate(self.ctx, 0), "set learning rate")
            try:
                return self.run_fixed(xq, tq, saturated_inputs, labels)
            finally:
                self._check(self.lib.rtrl_set_learning_rate(self.ctx, self.fcfg.lr_q), "set learning rate")
        ffi = self.ffi
        xq = np.ascontiguousarray(xq, dtype=np.int32)
        T = xq.shape[0]
        out = np.zeros((T, self.q.k), dtype=np.int32)
        loss = np.zeros(T, dtype=np.int32)
        events = np.zeros(T, dtype=np.uint16)
        done = ffi.new("uint32_t *")
        cast = lambda a, t: ffi.cast(t, ffi.from_buffer(a))  # noqa: E731
        tp = ffi.NULL
        if tq is not None:
            tq = np.ascontiguousarray(tq, dtype=np.int32)
            tp = cast(tq, "int32_t *")
        lp = ffi.NULL
        if labels is not None:
            labels = np.ascontiguousarray(labels, dtype=np.int16)
            lp = cast(labels, "int16_t *")
        st = self.lib.rtrl_run_record(self.ctx, T, cast(xq, "int32_t *"), tp, lp,
                                      cast(out, "int32_t *"), cast(loss, "int32_t *"),
                                      cast(events, "uint16_t *"), done)
        self._check(st, f"run (stopped after {done[0]} of {T} steps)")
        return CRunResult(from_fixed(loss, FRAC), from_fixed(out, FRAC), events.astype(np.int64),
                          out, loss, saturated_inputs)

    def step(self, x: np.ndarray, target: Optional[np.ndarray] = None, label: int = -1,
             learn: bool = True) -> StepResult:
        """One sample (same interface as OnlineLearner.step); prefer :meth:`run` for streams.

        A step with neither target nor label advances the state and the influence matrix
        and changes no weight (it does not count towards ``update_every``)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.q.d,):
            raise PyrtrlError(f"sample must have {self.q.d} values, got shape {x.shape}")
        label = check_label(label, self.q.k)
        T = np.asarray(target, dtype=np.float64)[None, :] if target is not None else None
        updates = self.counters().updates
        if T is None and label < 0:
            xq, sat = quantize_samples(x[None, :], "x")
            r = self.run_fixed(xq.astype(np.int32), None, saturated_inputs=sat, learn=learn)
        else:
            r = self.run(x[None, :], T, None if label < 0 else np.array([label]), learn=learn)
        return StepResult(float(r.loss[0]), r.output[0], int(r.events[0]),
                          self.counters().updates > updates)

    def rls_matrix(self) -> Optional[np.ndarray]:
        """The RLS readout's P (features + 1 square, Q28 integers), or None without RLS."""
        ffi = self.ffi
        v = ffi.new("rtrl_view_t *")
        self._check(self.lib.rtrl_get_view(self.ctx, v), "view")
        if v.rls_p == ffi.NULL:
            return None
        m1 = int(v.features) + 1
        raw = ffi.buffer(v.rls_p, 4 * m1 * m1)
        return np.frombuffer(raw, dtype=np.int32).astype(np.int64).reshape(m1, m1)

    def counters(self) -> FixedCounters:
        c = self.ffi.new("rtrl_counters_t *")
        self._check(self.lib.rtrl_get_counters(self.ctx, c), "counters")
        return FixedCounters(steps=c.steps, events=c.events, active_cols=c.active_cols,
                             macs=c.macs, saturations=c.saturations, updates=c.updates,
                             products=c.products, skipped=c.skipped)

    def snapshot(self) -> Snapshot:
        """Copies of every array, mapped to the numpy fixed model's layout."""
        ffi, q = self.ffi, self.q
        v = ffi.new("rtrl_view_t *")
        self._check(self.lib.rtrl_get_view(self.ctx, v), "view")
        n, k, P, L, m = q.n, q.k, int(v.P), int(v.live), int(v.features)

        def arr(p, count, dtype):
            return np.frombuffer(ffi.buffer(p, count * np.dtype(dtype).itemsize), dtype=dtype).astype(np.int64)

        mt = np.int32 if self.fcfg.influence_bits == 32 else np.int16
        Mraw = arr(v.M, n * P, mt).reshape(n, P)
        col = param_columns(arr(v.col_of, P, np.uint16))
        live = col >= 0
        assert int(live.sum()) == L
        M = np.zeros((n, P), dtype=np.int64)
        M[:, live] = Mraw[:, col[live]]
        graw = arr(v.grad, P, np.int32)
        grad = np.zeros(P, dtype=np.int64)
        grad[live] = graw[col[live]]
        state = {name: arr(getattr(v, name), n, np.int32) for name in ("c", "h", "y", "psi", "a")}
        state["o"] = (state["y"] != 0).astype(np.int64)  # an event implies y = c > thr >= 0
        return Snapshot(arr(v.theta, P, np.int32), arr(v.w_o, k * m, np.int32).reshape(k, m),
                        arr(v.b_o, k, np.int32), state, M, live, grad, arr(v.grad_thr, n, np.int32),
                        arr(v.grad_wo, k * m, np.int32).reshape(k, m), arr(v.grad_bo, k, np.int32),
                        self.counters())


@dataclass
class CRunResult(RunResult):
    """Per-step records of the C learner (the float learner's fields first)."""

    output_q: np.ndarray = None  # (T, k) Q16
    loss_q: np.ndarray = None  # (T,) Q16 of 0.5 * sum of squared errors
    saturated_inputs: int = 0  # samples clamped to +-128 by the quantizer


def required_bytes(model: Union[EGRU, Deployment], influence_bits: int = D.INFLUENCE_BITS) -> int:
    """The C size query for ``model`` (what :class:`CLearner` allocates)."""
    return CLearner(model, influence_bits=influence_bits).required_bytes


#: What :func:`kernel_name` can return: the vector kernels of runtime_c/src/rtrl_simd.h.
KERNEL_NAMES = ("avx512", "avx2", "neon", "portable")


def kernel_name(influence_bits: int = D.INFLUENCE_BITS) -> str:
    """The vector kernel the installed C runtime was compiled with (``rtrl_kernel_name()``):
    ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"portable"``. The binding is built with
    -march=native on the machine that installs it; every kernel gives the same integers."""
    ffi, lib = _lib(influence_bits)
    return ffi.string(lib.rtrl_kernel_name()).decode()
