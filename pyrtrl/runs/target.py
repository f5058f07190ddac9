"""One interface to a learner wherever it runs: the C library in this process, a board under
QEMU, a real board on a serial port, or the simulated device.

>>> import numpy as np, pyrtrl
>>> from pyrtrl.runs.target import open_target
>>> model = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=0)
>>> with open_target("host", model, lr=0.01) as t:
...     r = t.step(np.array([0.5]), np.array([0.25]))   # forecast, then learn from the truth
...     y = t.predict(np.array([[0.1], [0.2]]))          # forward only: no weight changes
...     learned = t.weights()                            # the float model it holds now
>>> r.output.shape, y.shape, learned.n
((1,), (2, 1), 8)

Every target runs the same fixed-point arithmetic (runtime_c, bit-identical to
:mod:`pyrtrl.fixed`), so the same calls give the same numbers on every target; the tests
check it. Semantics, the same everywhere:

* ``step(x, y)``: one step with its target (the output is the forecast made *before* the
  truth is learned); ``step(x, label=c)``: one step with a class label (softmax
  cross-entropy); ``step(x)``: a step without a loss (the state advances; nothing learns, no
  optimizer moment moves).
* ``run(x, targets=None, labels=None, learn=True)``: many steps in one call (one frame burst
  per credit on a device), with ``learn=False`` forward only.
* ``predict(x)``: ``run(x, learn=False)``'s outputs: the state advances, the weights,
  influence matrix, gradients and optimizer state do not change.
* ``reset_state()``: state, influence matrix and pending gradient to zero (weights and
  optimizer moments kept), as between labelled sequences.
* ``set_learning_rate(lr)``: ``0`` switches learning off until another rate is set.
* ``weights()``: the float model holding the target's current weights (a DUMP on a device).

Outputs and losses are the library's Q16 numbers as floats (``loss`` is the library's: half
the squared error summed over outputs, or the cross-entropy of a labelled step).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Optional

import numpy as np

from .. import run_defaults as D
from ..boards import board_names
from ..errors import PyrtrlError
from ..core.model import EGRU

#: Targets in this process: the C library itself, or the simulated device that speaks the
#: telemetry protocol over memory (what a board's host code sees, without a board).
LOCAL_TARGETS = ("host", "simulated")


class Target:
    """A learner on one target; made by :func:`open_target`, closed by :meth:`close` (or a
    ``with`` block).

    Attributes
    ----------
    name : str
        ``"host"``, ``"simulated"`` or a board name.
    model : EGRU
        The model the target started from (its weights do not change; see :meth:`weights`).
    deployment : Deployment
        ``model`` quantized once (:class:`pyrtrl.deploy.deployment.Deployment`): the C
        learner, the exported firmware and :meth:`weights` share it.
    """

    def __init__(self, name: str, model: EGRU, lr: float, settings: Dict[str, Any],
                 influence_bits: int, port: Optional[str], work_dir: Optional[str],
                 timeout: float) -> None:
        from ..deploy.deployment import Deployment
        from ..fixed.model import fixed_config

        self.name, self.model = name, model
        self.deployment = Deployment.from_model(model)  # one-line error if not representable
        self._settings, self._bits = dict(settings), influence_bits
        fc = fixed_config(lr, D.CLIP, 1, influence_bits, False, **settings)  # one-line error if bad
        # the rate asked for now, and the rate the device holds (both the exported one at first)
        self._lr_now = self._dev_rate = int(fc.lr_q)
        self._lib: Any = None  # the C library (host)
        self._dev: Any = None  # the protocol client (everything else)
        self._link = self._qemu = self._sim = None
        self._tmp: Optional[str] = None
        self._closed = False
        self.exit_status: Optional[int] = None
        if name == "host":
            from ..deploy.runtime import CLearner

            self._lib = CLearner(self.deployment, lr=lr, clip=D.CLIP, influence_bits=influence_bits, **settings)
            return
        from ..device.client import Device
        from .device import check_hello, start_backend

        if work_dir is None:
            self._tmp = work_dir = tempfile.mkdtemp(prefix="pyrtrl-target-")
        out = Path(work_dir)
        out.mkdir(parents=True, exist_ok=True)
        backend = "host" if name == "simulated" else name
        try:
            self._link, self._qemu, self._sim = start_backend(backend, self.deployment, out, lr,
                                                              influence_bits, self._settings, port,
                                                              timeout)
            self._dev = Device(self._link, timeout=timeout)
            hello = self._dev.hello()
            check_hello(hello, model, settings["readout_rule"], settings["train"], settings["optimizer"])
            self._dev.start()
        except BaseException:
            self.close()
            raise

    # -- learning ------------------------------------------------------------------------
    def run(self, x: Any, targets: Any = None, labels: Any = None, learn: bool = True) -> SimpleNamespace:
        """Steps over ``x`` (T x d) with ``targets`` (T x k) or ``labels`` (T,: -1 = none);
        ``output`` (T x k) and ``loss`` (T,)."""
        from ..fixed.quantize import quantize_samples
        from ..device.protocol import records_as_float

        self._check_open()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.model.d:
            raise PyrtrlError(f"x must be T x {self.model.d}, got shape {x.shape}")
        if targets is not None and labels is not None:
            raise PyrtrlError("give targets or labels, not both")
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float64)
            if targets.shape != (x.shape[0], self.model.k):
                raise PyrtrlError(f"targets must be {x.shape[0]} x {self.model.k}, got shape {targets.shape}")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (x.shape[0],) or labels.dtype.kind not in "iu":
                raise PyrtrlError(f"labels must be {x.shape[0]} integers (-1: none), got "
                                  f"{labels.dtype} of shape {labels.shape}")
        learn = learn and (targets is not None or labels is not None)  # no loss: forward only
        if self._lib is not None:
            r = self._lib.run(x, targets, labels, learn=learn)
            return SimpleNamespace(output=np.asarray(r.output), loss=np.asarray(r.loss))
        xq = quantize_samples(x, "x")[0].astype(np.int32)
        tq = None if targets is None else quantize_samples(targets, "target")[0].astype(np.int32)
        lab = None if labels is None else labels.astype(np.int16)
        self._rate(self._lr_now if learn else 0)
        try:
            recs = self._dev.stream(xq, tq, lab)
        finally:
            self._rate(self._lr_now)
        out, loss = records_as_float(recs, self.model.k)
        return SimpleNamespace(output=out, loss=loss)

    def step(self, x: Any, y: Any = None, label: Optional[int] = None) -> SimpleNamespace:
        """One step: ``output`` (k,) and ``loss``."""
        x = np.asarray(x, dtype=np.float64).reshape(1, -1)
        t = None if y is None else np.asarray(y, dtype=np.float64).reshape(1, -1)
        lab = None if label is None else np.array([int(label)], dtype=np.int64)
        r = self.run(x, t, lab)
        return SimpleNamespace(output=r.output[0], loss=float(r.loss[0]))

    def predict(self, x: Any) -> np.ndarray:
        """Outputs without learning: ``x`` (d,) gives (k,), (T, d) gives (T, k)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return self.run(x[None, :], learn=False).output[0]
        return self.run(x, learn=False).output

    def reset_state(self) -> None:
        """State, influence matrix and pending gradient to zero; weights and moments kept."""
        self._check_open()
        if self._lib is not None:
            self._lib.reset_state()
        else:
            self._dev.reset()

    def set_learning_rate(self, lr: float) -> None:
        """The cell's (and a gradient readout's) rate from now on; ``0`` switches learning off."""
        from ..fixed.model import lr_fixed

        self._check_open()
        lr_q = lr_fixed(lr, 1, self._settings["optimizer"] == "adam")
        if self._lib is not None:
            self._lib.set_learning_rate_q(lr_q)
        else:
            self._rate(lr_q)
        self._lr_now = lr_q

    def weights(self) -> EGRU:
        """The float model with the target's current weights (exactly its Q24 values)."""
        self._check_open()
        if self._lib is not None:
            return self._lib.model
        return self.deployment.model_from_image(self._dev.dump_weights())

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """End the target (QEMU exits; a real board is left running). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._dev is not None and self._qemu is not None:
                try:
                    self._dev.exit()
                except (PyrtrlError, OSError):
                    pass  # stopped below either way
            if self._link is not None or self._qemu is not None or self._sim is not None:
                from .device import stop_backend

                self.exit_status = stop_backend(self._qemu, self._sim, self._link)
                if self._qemu is None and self._sim is None and self._link is not None:
                    self._link.close()  # a real board's serial port
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise PyrtrlError(f"target {self.name} is closed")

    def _rate(self, lr_q: int) -> None:
        """SET_LR on the device, only when it changes."""
        if lr_q != self._dev_rate:
            self._dev.set_lr(lr_q)
            self._dev_rate = lr_q


def open_target(name: str, model: EGRU, *, lr: Optional[float] = None, port: Optional[str] = None,
                influence_bits: int = D.INFLUENCE_BITS, readout_rule: str = D.READOUT_RULE,
                train: str = D.TRAIN, optimizer: str = D.OPTIMIZER,
                rls_forgetting: float = D.RLS_FORGETTING, rls_p0: float = D.RLS_P0,
                horizon: int = D.HORIZON, work_dir: Optional[str] = None,
                timeout: float = 20.0) -> Target:
    """A learner for ``model`` on target ``name``, with a learning run's settings.

    Parameters
    ----------
    name : str
        ``"host"`` (the C library in this process), ``"simulated"`` (the simulated device,
        over the telemetry protocol in memory) or a board (:func:`pyrtrl.boards.board_names`):
        its learner firmware is built for ``model`` and booted under QEMU, or with ``port``
        (a serial port, e.g. ``/dev/ttyACM0``) the real board is used, flashed with the
        firmware for this model and these settings (``pyrtrl flash``).
    model : EGRU
        The model to learn (its sizes, masks, readout and taps).
    lr : float, optional
        The cell's rate (default :data:`pyrtrl.run_defaults.LR`, or ``ADAM_LR`` with Adam).
    influence_bits, readout_rule, train, optimizer, rls_forgetting, rls_p0, horizon
        As for ``pyrtrl run`` (defaults: :mod:`pyrtrl.run_defaults`).
    work_dir : str, optional
        Where a board's firmware is built (default: a temporary directory, removed on close).
    timeout : float
        Seconds without an answer before a device is declared unresponsive.

    Raises
    ------
    PyrtrlError
        An unknown target, bad settings, a model that does not fit the board, or a device
        that does not answer (one line).
    """
    if name not in LOCAL_TARGETS and name not in board_names():
        raise PyrtrlError(f"unknown target {name!r}; use {', '.join(LOCAL_TARGETS)} or a board: "
                          f"{', '.join(board_names())}")
    if port is not None and name in LOCAL_TARGETS:
        raise PyrtrlError(f"port goes with a board, not with target {name!r}")
    if lr is None:
        lr = D.ADAM_LR if optimizer == "adam" else D.LR
    settings = dict(readout_rule=readout_rule, train=train, optimizer=optimizer,
                    rls_forgetting=rls_forgetting, rls_p0=rls_p0, horizon=horizon)
    return Target(name, model, lr, settings, influence_bits, port, work_dir, timeout)
