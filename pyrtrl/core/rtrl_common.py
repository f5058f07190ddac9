"""What dense and sparse RTRL share: the recurrent state, the previous step, counters.

An engine runs the EGRU forward one step at a time and keeps the influence matrix
M_t = dc_t / dtheta (n x P) up to date with

    M_t = J_t M_{t-1} + Mbar_t,   J_t = diag(u * (1 - thr * psi_{t-1})) + A_t diag(a_{t-1}),
    A_t = diag(alpha_u) R_u + diag(alpha_r) R_r + diag(alpha_g) R_g.

The caller hands it dL_t/dy_t after each step (:meth:`RTRLEngine.backprop_output`) and it
accumulates the exact gradient of the summed loss with respect to the cell parameters,
including the threshold's immediate term dL_t/dy_t * (-c_t * psi_t).

MAC counters count multiply-accumulates of matrix products (forward, influence update,
gradient contraction); O(n) elementwise gate arithmetic is not counted in either engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .forward import CellDerivs, StepCache, cell_derivs, push_tap, readout_input
from .model import EGRU
from .params import ParamIndex


@dataclass
class Counters:
    """Running totals of one engine since its last :meth:`RTRLEngine.reset`."""

    steps: int = 0
    macs_forward: int = 0
    macs_influence: int = 0
    macs_gradient: int = 0
    events: int = 0  # sum over steps of units with o != 0
    bwd_active: int = 0  # sum over steps of units with a != 0
    #: per-step (forward, influence, gradient) MACs, kept only when recording
    per_step: List[tuple] = field(default_factory=list)

    @property
    def macs(self) -> int:
        """All counted MACs."""
        return self.macs_forward + self.macs_influence + self.macs_gradient


@dataclass
class ActivityStats:
    """Averages over the steps an engine has run."""

    steps: int
    fwd_activity: float  # mean fraction of units emitting an event
    bwd_activity: float  # mean fraction of units with a_j = dy_j/dc_j != 0
    influence_nonzero: float  # nonzero fraction of the n x P influence matrix now
    macs_per_step: float
    macs_forward: int
    macs_influence: int
    macs_gradient: int


class RTRLEngine:
    """Base class: forward state, previous-step values, gradient accumulators.

    Parameters
    ----------
    model : EGRU
        Read live: parameter arrays updated in place by a learner are seen at the next
        step; the masks must not change.
    smooth : bool
        Test-only smooth event function (see :mod:`pyrtrl.core.forward`).
    record : bool
        Keep per-step MAC counts (memory grows with the stream; for tests).
    """

    method = "base"

    def __init__(self, model: EGRU, smooth: bool = False, record: bool = False) -> None:
        self.model = model
        self.p = model.params
        self.index = ParamIndex(model)
        self.smooth = smooth
        self.record = record
        self.n = model.n
        self.dtype = model.dtype
        th = self.index.groups["thr"]
        self.thr_ids = th.ids
        self.reset()

    # -- state -------------------------------------------------------------------------
    def reset(self) -> None:
        """Zero state, influence matrix, gradients and counters (start of a sequence)."""
        n, dt = self.n, self.dtype
        z = np.zeros(n, dtype=dt)
        self.y, self.h = z.copy(), z.copy()
        # values of the previous step that J_t and Mbar_t need; all zero before step 1
        # because the initial state is a constant, not a function of thr
        self.c_prev, self.o_prev, self.psi_prev, self.a_prev = z.copy(), z.copy(), z.copy(), z.copy()
        self.last: Optional[StepCache] = None
        self.counters = Counters()
        self.grad_thr_immediate = z.copy()
        # the readout's input delay line, newest first (x_t, x_{t-1}, ...); zeros before
        # the stream starts, like the state
        self.tap_line = np.zeros((self.model.taps, self.model.d), dtype=dt)
        self._reset_influence()

    def _reset_influence(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def zero_gradient(self) -> None:
        """Forget accumulated gradients; the influence matrix is kept (online learning)."""
        self.grad_thr_immediate[:] = 0
        self._zero_cell_gradient()

    def _zero_cell_gradient(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- step --------------------------------------------------------------------------
    def step(self, x: np.ndarray) -> StepCache:
        """Advance one step with input ``x`` (d,) and update the influence matrix."""
        s = self._forward(x)
        push_tap(self.tap_line, x)
        der = cell_derivs(s)
        self._update_influence(s, der)
        return self._advance_state(s)

    def advance(self, x: np.ndarray) -> StepCache:
        """Forward only (learning off): the state advances, the influence matrix and the
        gradients do not (the twin of runtime_c's step with lr_q = 0)."""
        s = self._forward(x)
        push_tap(self.tap_line, x)
        self._count(self._forward_macs(), 0)
        return self._advance_state(s)

    def _advance_state(self, s: StepCache) -> StepCache:
        """Count the step and make ``s`` the current state (both kinds of step)."""
        self.counters.steps += 1
        self.counters.events += int(np.count_nonzero(s.o))
        self.counters.bwd_active += int(np.count_nonzero(s.a))
        self.y, self.h = s.y, s.h
        self.c_prev, self.o_prev, self.psi_prev, self.a_prev = s.c, s.o, s.psi, s.a
        self.last = s
        return s

    def _forward_macs(self) -> int:
        """MACs of the last forward pass."""
        return int(getattr(self, "_fwd_macs", 0))

    def _forward(self, x: np.ndarray) -> StepCache:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update_influence(self, s: StepCache, der: CellDerivs) -> None:  # pragma: no cover
        raise NotImplementedError

    def features(self) -> np.ndarray:
        """The readout's input after the last step: [y or c, x_t, x_{t-1}, ...]."""
        s = self.last
        if s is None:
            raise RuntimeError("features() before step()")
        return readout_input(self.model.readout, s, self.tap_line)

    def backprop_output(self, dy: np.ndarray) -> None:
        """Accumulate the gradient of this step's loss, given dL_t/ds_t (n,) for the
        readout's state source s (y or c)."""
        s = self.last
        if s is None:
            raise RuntimeError("backprop_output() before step()")
        if self.model.readout == "c":
            # dL/dc directly: every unit's row of M, and no immediate threshold term
            self._contract(dy)
        else:
            self._contract(dy * s.a)
            self.grad_thr_immediate -= dy * s.c * s.psi
        if self.record:
            self.counters.per_step[-1] = self.counters.per_step[-1][:2] + (self._last_grad_macs,)

    def _contract(self, ga: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def cell_gradient(self) -> Dict[str, np.ndarray]:
        """Accumulated gradient of the cell parameters as named arrays (pruned = 0)."""
        flat = self._cell_gradient_flat().copy()
        flat[self.thr_ids] += self.grad_thr_immediate
        return self.index.to_dict(flat)

    def _cell_gradient_flat(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def influence_dense(self) -> np.ndarray:
        """The influence matrix as a dense n x P array in parameter order (a copy)."""
        raise NotImplementedError  # pragma: no cover

    # -- reporting ---------------------------------------------------------------------
    def _count(self, fwd: int, infl: int) -> None:
        c = self.counters
        c.macs_forward += fwd
        c.macs_influence += infl
        if self.record:
            c.per_step.append((fwd, infl, 0))

    def stats(self) -> ActivityStats:
        """Activity and cost averaged over the steps run so far."""
        c = self.counters
        steps = max(c.steps, 1)
        M = self.influence_dense()
        return ActivityStats(
            steps=c.steps,
            fwd_activity=c.events / (steps * self.n),
            bwd_activity=c.bwd_active / (steps * self.n),
            influence_nonzero=float(np.count_nonzero(M)) / max(M.size, 1),
            macs_per_step=c.macs / steps,
            macs_forward=c.macs_forward,
            macs_influence=c.macs_influence,
            macs_gradient=c.macs_gradient,
        )

    def thr_diag_values(self, s: StepCache) -> np.ndarray:
        """dc_t/dthr_j through h_{t-1} (the diagonal part of thr's Mbar column)."""
        return s.u * (self.p["thr"] * self.psi_prev - self.o_prev)

    def jacobian_diag(self, s: StepCache) -> np.ndarray:
        """Diagonal of J_t: u * dh_{t-1}/dc_{t-1}."""
        return s.u * (1 - self.p["thr"] * self.psi_prev)


#: Which dc/dpre each parameter array is scaled by in Mbar_t (its column's one nonzero).
COEF = {
    "W_u": "alpha_u", "R_u": "alpha_u", "b_u": "alpha_u",
    "W_r": "alpha_r", "R_r": "alpha_r", "b_r": "alpha_r",
    "W_g": "beta_g", "b_g": "beta_g",
    "R_g": "alpha_g", "b_rg": "alpha_g",
}


def source(name: str, s: StepCache) -> Optional[np.ndarray]:
    """The presynaptic signal a parameter multiplies: x for W, y_{t-1} for R, 1 for biases."""
    if name[0] == "W":
        return s.x
    if name[0] == "R":
        return s.y_prev
    return None
