"""Cost of exact RTRL, measured: sparse vs dense on the same model, and vs the unpruned model.

For each configuration a model is briefly trained online (sparse RTRL, delayed-recall task)
so that its activity is realistic; then, with the parameters frozen, dense and sparse RTRL
run the same stream window from the same state and their counters and wall time per step
are compared. Timings are single-threaded (BLAS pinned to one thread) and interleaved in
one run, so only their ratio is meaningful.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, replace
from typing import Iterable, List, Optional, Sequence

import numpy as np

from ..core import bptt as _bptt_mod
from ..core.bptt import bptt_bytes, forward_sequence
from ..deploy.budget import budget_for_model
from ..core.gradients import make_engine, readout_backward
from ..core.learner import OnlineLearner
from ..core.optim import Adam
from ..core.model import init_egru
from ..core.rtrl_common import RTRLEngine
from ..core.rtrl_dense import dense_step_macs
from ..data.tasks import delayed_recall

HIDDEN = (16, 32, 64)
DENSITY = (1.0, 0.5, 0.2, 0.1)
EPS = (1.0, 0.5, 0.2)
MASKS = ("independent", "shared")


@dataclass
class BenchRow:
    """One configuration's measurements (the keys of ``pyrtrl bench --json``)."""

    hidden: int
    density: float
    eps: float
    shared_mask: bool
    params: int  # trainable parameters (cell + readout)
    live_columns: int  # influence columns alive at the end of the window (of P)
    fwd_activity: float
    bwd_activity: float
    influence_nonzero: float
    macs_full: float  # per step: dense RTRL of the unpruned model of the same size
    macs_dense: float  # per step: dense RTRL on the pruned parameters
    macs_sparse: float  # per step: sparse RTRL, measured counters
    us_dense: float
    us_sparse: float
    us_c_sparse: float  # runtime_c through cffi (fixed point, whole window in one call)
    us_c_dense: float  # runtime_c in dense mode (sparsity exploitation off)
    c_kernel: str  # runtime_c's compiled vector kernel: avx512, avx2, neon or portable
    influence_bytes: int  # n x P influence matrix, float64
    bptt_bytes_T1000: int  # what BPTT stores for a 1000-step sequence
    bptt_bytes_per_step: float  # the same per step of sequence (BPTT memory is linear in T)
    sparse_live_bytes: int  # live columns of the sparse engine's influence matrix, float64
    c_ram_bytes16: int  # runtime_c learner buffer with 16-bit influence (budget_for_model)
    macs_bptt: float  # per step, cell only: products of pyrtrl/core/bptt.py counted over a sequence
    macs_bptt_pruned: float  # the same products restricted to the kept weights (formula)
    initial_loss: float  # mean loss over the first training steps
    final_loss: float  # mean loss over the last training steps
    train_steps: int


class _CountedMatrix(np.ndarray):
    """A parameter matrix whose ``@`` products are counted (ufuncs return plain arrays)."""

    counter = [0]

    def __matmul__(self, other):
        a, b = np.asarray(self), np.asarray(other)
        _CountedMatrix.counter[0] += a.size * (b.shape[1] if b.ndim == 2 else 1)
        return a @ b

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = lambda v: np.asarray(v) if isinstance(v, _CountedMatrix) else v  # noqa: E731
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(o) for o in kwargs["out"])
        return getattr(ufunc, method)(*(plain(i) for i in inputs), **kwargs)


def bptt_step_macs(model, x: np.ndarray, target: np.ndarray) -> tuple:
    """(cell, readout) MACs per step of :func:`pyrtrl.core.bptt.bptt` over ``x``, counted.

    Every matrix product (``@``) with a parameter matrix and every ``np.outer`` that
    bptt.py executes over the whole sequence (forward and backward) is counted at its dense
    size, then divided by the number of steps. The readout's share (W_o y forward,
    W_o^T dout and outer(dout, y) backward: 3 k n per step) is returned separately because
    the RTRL counters leave the readout out (it costs the same in both methods).
    """
    from unittest import mock

    m = model.copy()
    for name in ("W_u", "W_r", "W_g", "R_u", "R_r", "R_g", "W_o"):
        m.params[name] = m.params[name].view(_CountedMatrix)
    real_outer = np.outer

    def outer(a, b, out=None):
        _CountedMatrix.counter[0] += np.size(a) * np.size(b)
        return real_outer(np.asarray(a), np.asarray(b), out)

    _CountedMatrix.counter[0] = 0
    with mock.patch.object(_bptt_mod.np, "outer", outer):
        _bptt_mod.bptt(m, x, target)
    T = x.shape[0]
    readout = 3 * model.k * model.n
    total = _CountedMatrix.counter[0] / T
    return total - readout, readout


def bptt_pruned_step_macs(model) -> int:
    """Per-step cell MACs of the same products if BPTT skipped pruned weights: forward W x
    and R y, backward the outer products into W and R and the carry R^T dpre, each over
    the kept entries only (a lower bound; pyrtrl/core/bptt.py does not do this)."""
    m = model.masks
    nw = sum(int(m[f"W_{g}"].sum()) for g in "urg")
    nr = sum(int(m[f"R_{g}"].sum()) for g in "urg")
    return 2 * nw + 3 * nr


def _run_window(engine: RTRLEngine, x: np.ndarray, target: np.ndarray) -> float:
    """Run the engine over a window with readout gradients; return seconds per step."""
    model = engine.model
    ro = {"W_o": np.zeros_like(model.params["W_o"]), "b_o": np.zeros_like(model.params["b_o"])}
    t0 = time.perf_counter()
    for t in range(x.shape[0]):
        engine.step(x[t])
        _, _, dy = readout_backward(model, engine.features(), target[t], -1, ro)
        engine.backprop_output(dy)
    return (time.perf_counter() - t0) / x.shape[0]


def _time_c(model, x: np.ndarray, target: np.ndarray, warmup: int, repeats: int) -> dict:
    """us/step of runtime_c (sparse and dense mode) over the same window, parameters frozen.

    The inputs are quantized before timing; updates are pushed beyond the window
    (update_every = 65535) so that, like the numpy engines, only forward, influence and
    gradient are timed.
    """
    from ..fixed.quantize import quantize_samples
    from ..deploy.runtime import CLearner, kernel_name

    xq = quantize_samples(x)[0].astype(np.int32)
    tq = quantize_samples(target)[0].astype(np.int32)
    out = {}
    for dense in (False, True):
        c = CLearner(model, lr=1.0, clip=0.0, update_every=65535, dense=dense, influence_bits=32)
        best = np.inf
        for _ in range(repeats):
            c.reset_state()
            c.run_fixed(xq[:warmup], tq[:warmup])
            t0 = time.perf_counter()
            c.run_fixed(xq[warmup:], tq[warmup:])
            best = min(best, (time.perf_counter() - t0) / (x.shape[0] - warmup))
        out[dense] = best * 1e6
    out["kernel"] = kernel_name(32)  # the width timed above (32-bit, like the numpy engines' exactness)
    return out


def bench_config(
    hidden: int, density: float, eps: float, shared: bool,
    train_steps: int = 1500, warmup: int = 100, window: int = 200, repeats: int = 3, seed: int = 0,
    bptt_steps: int = 20,
) -> BenchRow:
    """Train briefly, then measure dense and sparse RTRL on one configuration.

    The timing window is run ``repeats`` times per engine, interleaved, and the fastest
    run of each is kept (the least disturbed by the machine's other work).
    """
    model = init_egru(hidden, 1, 2, density=density, shared_mask=shared, eps=eps, seed=seed)
    x, target = delayed_recall(train_steps + warmup + window, seed=seed + 1)
    learner = OnlineLearner(model, lr=3e-3)
    # the textbook betas and eps, as this benchmark was defined and documented (the library's
    # default betas are the device's 1 - 2^-s): the trained activity sets the MAC counts
    learner.optimizer = Adam(3e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    losses = learner.run(x[:train_steps], target[:train_steps]).loss
    head = max(1, min(200, train_steps // 5))
    xm, tm = x[train_steps:], target[train_steps:]
    engines = {m: make_engine(model, m) for m in ("rtrl_dense", "rtrl_sparse")}
    best = {m: np.inf for m in engines}
    for _ in range(repeats):
        for m, e in engines.items():
            e.reset()
            _run_window(e, xm[:warmup], tm[:warmup])  # let live columns fill as in a stream
            before = replace(e.counters)
            best[m] = min(best[m], _run_window(e, xm[warmup:], tm[warmup:]))
    us_c = _time_c(model, xm, tm, warmup, repeats)
    # counters over the last window of the sparse engine (its last repeat)
    sparse, dense = engines["rtrl_sparse"], engines["rtrl_dense"]
    cs = sparse.counters
    steps = cs.steps - before.steps
    n, d = model.n, model.d
    P_full = 3 * n * d + 3 * n * n + 5 * n
    caches = forward_sequence(model, xm[:window])
    macs_bptt, _ = bptt_step_macs(model, xm[:bptt_steps], tm[:bptt_steps])
    dmacs = sum(dense_step_macs(n, d, dense.index.P))
    # dense counters must equal the formula: checked here rather than assumed
    assert dense.counters.macs == dense.counters.steps * dmacs
    return BenchRow(
        hidden=n, density=density, eps=eps, shared_mask=shared,
        params=model.num_params(),
        live_columns=sparse.live_columns,
        fwd_activity=(cs.events - before.events) / (steps * n),
        bwd_activity=(cs.bwd_active - before.bwd_active) / (steps * n),
        influence_nonzero=float(np.count_nonzero(sparse.influence_dense())) / (n * sparse.index.P),
        macs_full=float(sum(dense_step_macs(n, d, P_full))),
        macs_dense=float(dmacs),
        macs_sparse=(cs.macs - before.macs) / steps,
        us_dense=best["rtrl_dense"] * 1e6,
        us_sparse=best["rtrl_sparse"] * 1e6,
        us_c_sparse=us_c[False],
        us_c_dense=us_c[True],
        c_kernel=us_c["kernel"],
        influence_bytes=n * dense.index.P * 8,
        bptt_bytes_T1000=int(round(bptt_bytes(caches) / window * 1000)),
        bptt_bytes_per_step=bptt_bytes(caches) / window,
        sparse_live_bytes=n * sparse.live_columns * 8,
        c_ram_bytes16=budget_for_model(model, influence_bits=16).total_ram,
        macs_bptt=float(macs_bptt),
        macs_bptt_pruned=float(bptt_pruned_step_macs(model)),
        initial_loss=float(losses[:head].mean()),
        final_loss=float(losses[-head:].mean()),
        train_steps=train_steps,
    )


def grid(
    hidden: Optional[Sequence[int]] = None, density: Optional[Sequence[float]] = None,
    eps: Optional[Sequence[float]] = None, masks: Optional[Sequence[str]] = None,
) -> List[tuple]:
    """The configurations (hidden, density, eps, shared) selected by the filters."""
    return list(itertools.product(
        hidden or HIDDEN, density or DENSITY, eps or EPS,
        [m == "shared" for m in (masks or MASKS)]))


def run_bench(configs: Iterable[tuple], quick: bool = False, progress: bool = True) -> List[dict]:
    """Measure every configuration; ``quick`` trains and times fewer steps."""
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    configs = list(configs)
    kw = dict(train_steps=400, warmup=50, window=60, repeats=2) if quick else {}
    rows = []
    with threadpool_limits(limits=1):
        for cfg in tqdm(configs, desc="bench", unit="config", disable=not progress):
            rows.append(asdict(bench_config(*cfg, **kw)))
    return rows
