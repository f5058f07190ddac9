"""Online learning with exact RTRL: one sample in, one prediction out, an update every K steps.

The influence matrix carries the exact gradient of the loss since the last update with
respect to the parameters as they were when each step ran (the standard online-RTRL
setting: after an update it is carried on, not recomputed). Memory is fixed by the model
size; nothing grows with the stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Optional

import numpy as np

from ..errors import PyrtrlError
from .forward import cell_step, push_tap, readout_input
from .gradients import make_engine, readout_backward
from .losses import check_label, check_labels, step_loss
from .model import EGRU, MASKED
from .optim import clip_global_norm, make_optimizer
from .rls import DEFAULT_FORGETTING, DEFAULT_P0, RLSReadout


#: The one error for a learning run without a loss (the float and the C learner).
NO_LOSS = ("give a target, labels or both: there is no loss otherwise "
           "(predict(x) or run(x, learn=False) runs without learning)")


@dataclass
class StepResult:
    """What one online step produced."""

    loss: float
    output: np.ndarray  # readout before this step's update
    events: int  # units that emitted an event
    updated: bool  # whether the parameters were updated after this step


@dataclass
class RunResult:
    """Per-step records of :meth:`OnlineLearner.run` (the caller's memory, not the learner's)."""

    loss: np.ndarray
    output: np.ndarray
    events: np.ndarray


class OnlineLearner:
    """Learns an :class:`~pyrtrl.core.model.EGRU` online from a stream, with exact RTRL.

    Parameters
    ----------
    model : EGRU
        Updated in place (take a copy to keep the original).
    lr : float
        Learning rate.
    optimizer : {"adam", "sgd"}
    update_every : int
        K: parameters are updated after every K steps that have a loss (a target or a
        label), with the mean gradient of those steps. A step without a loss advances the
        state and the influence matrix and moves no weight or optimizer moment.
    clip : float
        Maximum global L2 norm of that gradient (0 disables clipping); with
        ``clip_mode="value"``, the bound on each component instead (what runtime_c does).
    method : {"rtrl_sparse", "rtrl_dense"}
        Same gradients; the sparse one costs less.
    readout_rule : {"gradient", "rls"}
        How the readout learns: with the optimizer from its gradient, or by recursive
        least squares (:class:`~pyrtrl.core.rls.RLSReadout`, squared-error targets only) at
        every step while the optimizer trains the cell.
    train : {"all", "readout"}
        ``"readout"`` freezes the cell (the ablation that shows what RTRL adds).
    rls_forgetting, rls_p0 : float
        RLS forgetting factor and initial P (``readout_rule="rls"``).
    horizon : int
        H >= 1. With H = 1 a step's target belongs to its own output (for forecasting: the
        next sample). With H > 1 the output of a step is the forecast H steps ahead, made by
        a forward-only copy of the state on the newest input with the current weights, and
        learning runs H - 1 steps behind on the input that ``target`` belongs to: exact
        RTRL needs the influence matrix of that step, and running behind costs one forward
        pass where keeping H - 1 influence matrices would cost H - 1 times the memory.
        For forecasting the stream is the same for every H: x_t with target x_{t+1}.

    Notes
    -----
    After every update the pruned weights are re-zeroed (their gradients are zero anyway)
    and thresholds are clamped to [0, 1].

    Examples
    --------
    >>> import numpy as np, pyrtrl
    >>> m = pyrtrl.init_egru(16, 1, 1, density=0.5, seed=0)
    >>> learner = pyrtrl.OnlineLearner(m, lr=3e-3)
    >>> r = learner.step(np.array([0.5]), target=np.array([0.0]))
    >>> r.output.shape
    (1,)
    """

    def __init__(
        self,
        model: EGRU,
        lr: float = 3e-3,
        optimizer: str = "adam",
        update_every: int = 1,
        clip: float = 1.0,
        method: str = "rtrl_sparse",
        clip_mode: str = "norm",
        readout_rule: str = "gradient",
        train: str = "all",
        rls_forgetting: float = DEFAULT_FORGETTING,
        rls_p0: float = DEFAULT_P0,
        horizon: int = 1,
    ) -> None:
        if int(horizon) != horizon or not (1 <= horizon <= 256):
            raise PyrtrlError(f"horizon must be an integer in [1, 256], got {horizon}")
        self.delay = int(horizon) - 1
        if int(update_every) != update_every or update_every < 1:
            raise PyrtrlError(f"update_every must be a positive integer, got {update_every}")
        if not (np.isfinite(clip) and clip >= 0):
            raise PyrtrlError(f"clip must be >= 0, got {clip}")
        if clip_mode not in ("norm", "value"):
            raise PyrtrlError(f"clip_mode must be 'norm' or 'value', got {clip_mode!r}")
        if readout_rule not in ("gradient", "rls"):
            raise PyrtrlError(f"readout_rule must be 'gradient' or 'rls', got {readout_rule!r}")
        if train not in ("all", "readout"):
            raise PyrtrlError(f"train must be 'all' or 'readout', got {train!r}")
        self.clip_mode = clip_mode
        self.readout_rule = readout_rule
        self.train = train
        self.rls = (RLSReadout(model.features, rls_forgetting, rls_p0)
                    if readout_rule == "rls" else None)
        self.model = model
        self.engine = make_engine(model, method)
        self.optimizer = make_optimizer(optimizer, lr)
        self.lr = float(lr)
        self.update_every = int(update_every)
        self.clip = float(clip)
        self.steps = 0
        self.updates = 0
        self.skipped_updates = 0  # updates dropped because the gradient was not finite
        self._readout = {name: np.zeros_like(model.params[name]) for name in ("W_o", "b_o")}
        self._since_update = 0
        self._reset_forecast()

    def _reset_forecast(self) -> None:
        n, d, dt = self.model.n, self.model.d, self.model.dtype
        self._fy, self._fh = np.zeros(n, dtype=dt), np.zeros(n, dtype=dt)
        self._ftaps = np.zeros((self.model.taps, d), dtype=dt)
        self._ring: Deque[np.ndarray] = deque(maxlen=self.delay + 1)

    def _forecast(self, x: np.ndarray) -> np.ndarray:
        """Advance the forward-only forecast state on ``x``; its readout."""
        m = self.model
        s = cell_step(m.params, x, self._fy, self._fh, m.gamma, m.eps)
        self._fy, self._fh = s.y, s.h
        push_tap(self._ftaps, x)
        return m.params["W_o"] @ readout_input(m.readout, s, self._ftaps) + m.params["b_o"]

    def reset_state(self) -> None:
        """Start a new sequence: zero the recurrent state and influence matrix, drop pending gradients."""
        self.engine.reset()
        self._reset_forecast()
        if self.rls is not None:
            self.rls.reset()
        for g in self._readout.values():
            g[:] = 0
        self._since_update = 0

    @property
    def learning(self) -> bool:
        """False while the learning rate is 0 (every step is then forward only)."""
        return self.lr > 0

    def set_learning_rate(self, lr: float) -> None:
        """Change the learning rate; ``lr = 0`` switches learning off: steps run forward only
        (outputs and losses as usual) and change no weight, influence matrix, gradient, RLS
        or optimizer state. The state advances, so call :meth:`reset_state` before learning
        again for exact gradients (as :meth:`pyrtrl.deploy.runtime.CLearner.set_learning_rate`)."""
        if not (np.isfinite(lr) and lr >= 0):
            raise PyrtrlError(f"learning rate must be >= 0 (0: learning off), got {lr}")
        self.lr = float(lr)
        if lr > 0:
            self.optimizer.lr = float(lr)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs without learning: ``x`` (d,) gives (k,), a sequence (T, d) gives (T, k).

        Forward only (``run(x, learn=False)``): the state advances, weights, influence
        matrix, gradients and optimizer state do not change."""
        x = np.asarray(x)
        if x.ndim == 1:
            return self.step(x, learn=False).output
        return self.run(x, learn=False).output

    def step(self, x: np.ndarray, target: Optional[np.ndarray] = None, label: int = -1,
             learn: bool = True) -> StepResult:
        """Consume one sample, accumulate its exact gradient and update every K steps with a loss.

        Parameters
        ----------
        x : ndarray (d,)
        target : ndarray (k,), optional
            Regression target of this step (squared error).
        label : int
            Class of this step for softmax cross-entropy, -1 for none.
        learn : bool
            False: forward only (the loss is scored, nothing learns), as with a learning
            rate of 0.
        """
        x = self._check_x(x)
        model = self.model
        if target is not None:
            target = np.asarray(target, dtype=model.dtype)
            if target.shape != (model.k,) or not np.all(np.isfinite(target)):
                raise PyrtrlError(f"target must be {model.k} finite numbers, got {target!r}")
        label = check_label(label, model.k)
        if label >= 0 and self.rls is not None:
            raise PyrtrlError("the RLS readout learns squared-error targets, not labels; "
                              "use readout_rule='gradient' for classification")
        forecast = None
        if self.delay:
            forecast = self._forecast(x)  # before anything learns from this call's target
            self._ring.append(x)
            if len(self._ring) <= self.delay:
                self.steps += 1
                return StepResult(0.0, forecast, 0, False)
            x = self._ring[0]  # the input `target` belongs to, D steps back
        if not (learn and self.learning):
            s = self.engine.advance(x)
            p = model.params
            out = p["W_o"] @ self.engine.features() + p["b_o"]
            loss, _ = step_loss(out, target, label)
            self.steps += 1
            return StepResult(loss, out if forecast is None else forecast, int(np.count_nonzero(s.o)), False)
        s = self.engine.step(x)
        z = self.engine.features()
        loss, out, dy = readout_backward(model, z, target, int(label), self._readout)
        if self.train == "all":
            self.engine.backprop_output(dy)
        if self.rls is not None and target is not None:
            # after the cell's gradient took dL/ds under the weights that made `out`
            self.rls.update(model.params, z, out - target)
        self.steps += 1
        updated = False
        if target is not None or label >= 0:  # a step without a loss does not count
            self._since_update += 1
            if self._since_update >= self.update_every:
                self._update()
                updated = True
        return StepResult(loss, out if forecast is None else forecast, int(np.count_nonzero(s.o)), updated)

    def run(
        self,
        x: np.ndarray,
        target: Optional[np.ndarray] = None,
        labels: Optional[np.ndarray] = None,
        callback: Optional[Callable[[int, StepResult], None]] = None,
        learn: bool = True,
    ) -> RunResult:
        """Learn from a whole stream, step by step; returns per-step loss, output and events.

        ``target`` (T, k) adds squared error, ``labels`` (T,) integers (-1 = none) softmax
        cross-entropy; one of them is required while learning. ``learn=False`` (or a
        learning rate of 0) evaluates: forward only, losses scored, nothing learns.
        """
        x = np.asarray(x)
        T = x.shape[0] if x.ndim == 2 else 0
        if x.ndim != 2 or x.shape[1] != self.model.d:
            raise PyrtrlError(f"x must have shape (T, {self.model.d}), got {x.shape}")
        if target is not None and np.shape(target) != (T, self.model.k):
            raise PyrtrlError(f"target must have shape ({T}, {self.model.k}), got {np.shape(target)}")
        if labels is not None:
            labels = check_labels(labels, T, self.model.k)
        if target is None and labels is None and learn and self.learning:
            raise PyrtrlError(NO_LOSS)
        loss = np.empty(T)
        outs = np.empty((T, self.model.k), dtype=self.model.dtype)
        events = np.empty(T, dtype=np.int64)
        for t in range(T):
            r = self.step(x[t], None if target is None else target[t],
                          -1 if labels is None else int(labels[t]), learn=learn)
            loss[t], outs[t], events[t] = r.loss, r.output, r.events
            if callback is not None:
                callback(t, r)
        return RunResult(loss, outs, events)

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.model.dtype)  # any strides (a transposed array's rows)
        if x.shape != (self.model.d,):
            raise PyrtrlError(f"sample must have {self.model.d} values, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise PyrtrlError(f"sample has non-finite values: {x!r}")
        return x

    def _update(self) -> None:
        grads: Dict[str, np.ndarray] = self.engine.cell_gradient() if self.train == "all" else {}
        if self.rls is None:
            grads.update({k: v.copy() for k, v in self._readout.items()})
        scale = 1.0 / self._since_update
        for g in grads.values():
            g *= scale
        if self.clip_mode == "value" and self.clip > 0:
            for g in grads.values():
                np.clip(g, -self.clip, self.clip, out=g)
            norm = float(sum(np.abs(g).sum() for g in grads.values()))
        else:
            norm = clip_global_norm(grads, self.clip)
        p = self.model.params
        if grads:  # empty when nothing learns by gradient (frozen cell, RLS readout)
            if np.isfinite(norm):
                self.optimizer.update(p, grads)
            else:  # never write NaN into the weights; the skip is counted
                self.skipped_updates += 1
        for name in MASKED:
            p[name][~self.model.masks[name]] = 0
        np.clip(p["thr"], 0.0, 1.0, out=p["thr"])
        self.engine.zero_gradient()
        for g in self._readout.values():
            g[:] = 0
        self._since_update = 0
        self.updates += 1
