"""Memory budget of the C runtime: RAM of the learner's buffer by component, flash of the model.

RAM mirrors ``RTRL_REQUIRED_BYTES_OPT`` in ``runtime_c/include/rtrl.h`` (delay H - 1 for a
forecast horizon H; with SGD ``RTRL_REQUIRED_BYTES_H``, and ``RTRL_REQUIRED_BYTES_RO`` at H = 1)
and the layout in ``rtrl_init`` exactly: the components below sum to the number ``rtrl_required_bytes``
returns. The readout reads ``features = n + taps * d`` values (the state source y or c, then
the ``taps`` most recent inputs); whether it reads y or c does not change any size. The
buffer is four blocks, each padded to 8 bytes, and with Adam a fifth (the padding is its own
line):

* int32 block: ``theta``, ``w_o`` (k x features), ``b_o`` (weights); ``grad``, ``grad_wo``,
  ``grad_bo``, ``grad_thr`` (gradients); two banks of c, h, y, psi, a, the input ring
  (taps x d; with a delay D = H - 1, (D + max(taps, 1)) x d) and with a delay the two
  forecast-state banks (10 n) (state); the per-step vectors u, r, g, qv, alpha_u, alpha_r, alpha_g, beta_g,
  dvec, dy, ga, out, dout and the readout's input z (features + 1) (work); with an RLS
  readout its P ((features + 1)^2), Pz and gain (features + 1 each) (rls); J and A values,
  one per union entry, and one segment's J row lists (one per union entry) (jacobian); the
  row flags of M's blocks, n x ceil(n / 32) uint32 (column_maps);
* int64 block: n forward accumulators (accumulators);
* influence block: ``M`` (n x P, influence) and the saved rows (n x RTRL_CHUNK, scratch);
  int32 or int16 by the influence width;
* uint16 block: ``col_of`` (P: each parameter's column of M), ``seg_off`` (n + 1) and
  ``seg_live`` (n): M's layout by postsynaptic unit; ``act``, ``cursor``, ``srcs`` (n each)
  (column_maps);
  ``jrow`` (n + 1) and ``jslot`` (one per union entry) (jacobian);
* with Adam (``optimizer="adam"``): its moments, an int64 v and an int32 m for each
  parameter learned by gradient, 12 bytes each: the cell's P parameters and, unless the
  readout learns by RLS, its k x features + k (optimizer; 0 with SGD).

The ``rtrl_t`` context itself (:data:`CONTEXT_BYTES` on the 32-bit targets) is not in the
buffer: the firmware allocates it, and it is counted in the board's reserve.

Flash counts the model constants an ``rtrl_model_t`` points to (what
:func:`pyrtrl.deploy.runtime.c_model_arrays` holds): CSC patterns (uint16 column pointers and row
indices) of the six matrices and of the recurrent union, the union-to-gate maps when the
three recurrent patterns differ, and the initial theta, w_o (k x features), b_o (int32). The
RLS constants live in the ``rtrl_config_t``. The library's own code is not included
(``make -C runtime_c size`` reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..boards import Board, get_board
from ..errors import PyrtrlError
from ..run_defaults import INFLUENCE_BITS
from ..fixed.quantize import MAX_PARAMS, MAX_UNITS  # RTRL_MAX_UNITS, RTRL_MAX_PARAMS
from ..core.model import EGRU, init_egru

#: RTRL_MAX_FEATURES: most readout features n + taps * d runtime_c accepts
MAX_FEATURES = 255
#: RTRL_MAX_DELAY: the longest delay (forecast horizon - 1)
MAX_DELAY = 255
#: the readout rules runtime_c implements (``readout_rls`` 0 / 1)
READOUT_RULES = ("gradient", "rls")
#: the optimizers runtime_c implements (``adam`` 0 / 1) for what learns by gradient
OPTIMIZERS = ("sgd", "adam")
#: bytes of Adam's moments per parameter learned by gradient: int64 v + int32 m
ADAM_BYTES_PER_PARAM = 12

#: Columns of M updated together: RTRL_CHUNK's default in rtrl.h, what firmware builds use.
#: (The host binding is built with 32 for speed; pass ``chunk=`` to match another build.)
CHUNK = 16
#: sizeof(rtrl_t) on the 32-bit targets (Cortex-M and rv32, both widths), outside the buffer.
CONTEXT_BYTES = 512

#: RAM components in report order (they sum to the buffer size).
RAM_COMPONENTS = ("weights", "gradients", "influence", "rls", "optimizer", "state", "work",
                  "accumulators", "scratch", "jacobian", "column_maps", "padding")
#: Flash components in report order.
FLASH_COMPONENTS = ("input_patterns", "recurrent_patterns", "union_pattern", "gate_maps",
                    "initial_theta", "initial_readout")

_RAM_HELP = {
    "weights": "theta, w_o (k x features), b_o (int32)",
    "gradients": "grad, grad_wo, grad_bo, grad_thr (int32)",
    "influence": "influence matrix M, n x P",
    "rls": "RLS readout: P (features+1)^2, Pz, gain (int32; 0 with SGD)",
    "optimizer": "Adam's moments: 12 B (int64 v, int32 m) per gradient-learned parameter; 0 with SGD",
    "state": "two banks of c, h, y, psi, a; input taps x d; forecast banks if H > 1 (int32)",
    "work": "gates, derivatives, dy, ga, out, dout; readout input z (int32)",
    "accumulators": "n forward sums (int64)",
    "scratch": "saved rows of M, n x RTRL_CHUNK",
    "jacobian": "J, A values and row lists per union entry, jrow, jslot",
    "column_maps": "column of each parameter (P), segments (2n + 1), act, cursor, srcs (uint16); block flags (n x ceil(n/32) uint32)",
    "padding": "8-byte alignment of the blocks",
}


def component_help(name: str) -> str:
    """What a RAM component holds (one short phrase)."""
    return _RAM_HELP[name]


def _align8(x: int) -> int:
    return (x + 7) & ~7


@dataclass
class Budget:
    """RAM (learner buffer) and flash (model constants) of one configuration, in bytes."""

    hidden: int
    inputs: int
    outputs: int
    influence_bits: int
    nnz_w: List[int]  # per gate u, r, g
    nnz_r: List[int]
    nnz_union: int
    shared_recurrent: bool  # the three recurrent patterns are one (no gate maps)
    components: Dict[str, int] = field(default_factory=dict)
    flash_components: Dict[str, int] = field(default_factory=dict)
    taps: int = 0  # recent inputs the readout also reads
    readout: str = "y"  # what the readout reads of the cell: "y" (events) or "c" (state)
    readout_rule: str = "gradient"  # how it learns: "gradient" (SGD) or "rls"
    horizon: int = 1  # forecast horizon H: learning runs H - 1 steps behind the stream
    optimizer: str = "sgd"  # the step of what learns by gradient: "sgd" or "adam"

    @property
    def params(self) -> int:
        """P: cell parameters, the columns of the influence matrix."""
        return sum(self.nnz_w) + sum(self.nnz_r) + 5 * self.hidden

    @property
    def features(self) -> int:
        """Columns of the readout: hidden + taps x inputs."""
        return self.hidden + self.taps * self.inputs

    @property
    def total_ram(self) -> int:
        """Bytes of the learner's buffer: RTRL_REQUIRED_BYTES_OPT."""
        return sum(self.components.values())

    @property
    def flash(self) -> int:
        """Bytes of model constants in flash."""
        return sum(self.flash_components.values())

    def fits(self, board: "Board | str", reserve: Optional[int] = None) -> bool:
        """Whether the buffer plus ``reserve`` (default: the board's) fits the board's RAM."""
        b = get_board(board) if isinstance(board, str) else board
        r = b.reserved_ram if reserve is None else reserve
        return self.total_ram + r <= b.ram_bytes

    def flash_fits(self, board: "Board | str") -> bool:
        """Whether the model constants alone fit the board's flash (code not counted)."""
        b = get_board(board) if isinstance(board, str) else board
        return self.flash <= b.flash_bytes

    def to_dict(self) -> Dict[str, object]:
        return {
            "hidden": self.hidden, "inputs": self.inputs, "outputs": self.outputs,
            "influence_bits": self.influence_bits, "params": self.params,
            "nnz_w": list(self.nnz_w), "nnz_r": list(self.nnz_r), "nnz_union": self.nnz_union,
            "shared_recurrent": self.shared_recurrent,
            "readout": self.readout, "taps": self.taps, "features": self.features,
            "readout_rule": self.readout_rule, "horizon": self.horizon, "optimizer": self.optimizer,
            "components": dict(self.components), "total_ram": self.total_ram,
            "flash_components": dict(self.flash_components), "flash": self.flash,
        }


def _check_horizon(horizon: int) -> int:
    """``horizon`` checked; the delay H - 1."""
    if int(horizon) != horizon or not 1 <= horizon <= MAX_DELAY + 1:
        raise PyrtrlError(f"horizon must be an integer in [1, {MAX_DELAY + 1}], got {horizon}")
    return int(horizon) - 1


def _ring(taps: int, d: int, delay: int) -> int:
    """RTRL_RING: int32 values of the input ring."""
    return (delay + (taps if taps else 1)) * d if delay else taps * d


def _check_rule(readout_rule: str) -> bool:
    """``readout_rule`` checked; True for RLS."""
    if readout_rule not in READOUT_RULES:
        raise PyrtrlError(f"readout_rule must be 'gradient' or 'rls', got {readout_rule!r}")
    return readout_rule == "rls"


def _check_optimizer(optimizer: str) -> bool:
    """``optimizer`` checked; True for Adam."""
    if optimizer not in OPTIMIZERS:
        raise PyrtrlError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    return optimizer == "adam"


def adam_params(n: int, d: int, k: int, nnz_w_total: int, nnz_r_total: int, *, taps: int = 0,
                rls: bool = False) -> int:
    """RTRL_ADAM_PARAMS: parameters Adam keeps moments for (the cell's P, and the readout's
    k x features + k unless it learns by RLS)."""
    P = nnz_w_total + nnz_r_total + 5 * n
    return P + (0 if rls else k * (n + taps * d) + k)


def _check_sizes(n: int, d: int, k: int, params: int, taps: int = 0) -> None:
    for label, v in (("hidden", n), ("inputs", d), ("outputs", k)):
        if not 1 <= v <= MAX_UNITS:
            raise PyrtrlError(f"runtime_c supports {label} from 1 to {MAX_UNITS}, got {v}")
    if int(taps) != taps or taps < 0:
        raise PyrtrlError(f"taps must be a non-negative integer, got {taps}")
    if n + taps * d > MAX_FEATURES:
        raise PyrtrlError(f"runtime_c supports at most {MAX_FEATURES} readout features (hidden + "
                          f"taps x inputs), got {n} + {taps} x {d} = {n + taps * d}")
    if params > MAX_PARAMS:
        raise PyrtrlError(f"runtime_c supports at most {MAX_PARAMS} cell parameters, got {params} "
                          f"(hidden={n}, inputs={d})")


def check_runtime_sizes(hidden: int, inputs: int, outputs: int, taps: int = 0) -> None:
    """One-line :class:`PyrtrlError` unless runtime_c takes these sizes: checked before a
    model is built or written (a model of 5,000 units takes gigabytes)."""
    _check_sizes(hidden, inputs, outputs, 0, taps)


def ram_components(n: int, d: int, k: int, nnz_w_total: int, nnz_r_total: int, nnz_union: int,
                   influence_bits: int, chunk: int = CHUNK, *, taps: int = 0,
                   rls: bool = False, delay: int = 0, adam: bool = False) -> Dict[str, int]:
    """Bytes of each part of the buffer, as RTRL_REQUIRED_BYTES_OPT lays them out.

    ``chunk`` is the build's RTRL_CHUNK; ``taps`` the readout's input taps, ``rls`` whether
    the readout learns by RLS, ``delay`` the forecast horizon - 1, ``adam`` whether what
    learns by gradient does so by Adam (its moments: the "optimizer" component).
    """
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    m = influence_bits // 8
    P = nnz_w_total + nnz_r_total + 5 * n
    f = n + taps * d  # readout features
    readout = k * f + k
    # int32 block
    i32 = {
        "weights": 4 * (P + readout),
        "gradients": 4 * (P + readout + n),  # grad, grad_wo, grad_bo, grad_thr
        "rls": 4 * ((f + 1) * (f + 1) + 2 * (f + 1)) if rls else 0,  # P, Pz, gain
        "state": 4 * (10 * n + _ring(taps, d, delay) + (10 * n if delay else 0)),  # banks, ring
        "work": 4 * (11 * n + 2 * k + (f + 1)),  # ...; the readout input z
        "jacobian": 4 * 3 * nnz_union,  # jval, aval, lval (one segment's row lists)
        "column_maps": 4 * (n + 5) * ((n + 31) // 32),  # row flags per segment, 5 unit masks (nzm)
    }
    i32_bytes = sum(i32.values())
    # int64 block (always a multiple of 8)
    acc = 8 * n
    # influence block
    infl, scratch = m * n * P, m * n * chunk
    # uint16 block
    maps = 2 * (P + (2 * n + 1) + 3 * n)  # col_of, seg_off, seg_live, act, cursor, srcs
    jidx = 2 * ((n + 1) + nnz_union)  # jrow, jslot
    # Adam block: int64 v then int32 m per gradient-learned parameter
    opt = ADAM_BYTES_PER_PARAM * adam_params(n, d, k, nnz_w_total, nnz_r_total, taps=taps,
                                             rls=rls) if adam else 0
    padding = ((_align8(i32_bytes) - i32_bytes) + (_align8(acc) - acc)
               + (_align8(infl + scratch) - infl - scratch) + (_align8(maps + jidx) - maps - jidx)
               + (_align8(opt) - opt))
    comp = {
        "weights": i32["weights"], "gradients": i32["gradients"], "influence": infl,
        "rls": i32["rls"], "optimizer": opt, "state": i32["state"], "work": i32["work"], "accumulators": acc,
        "scratch": scratch, "jacobian": i32["jacobian"] + jidx, "column_maps": maps + i32["column_maps"],
        "padding": padding,
    }
    assert tuple(comp) == RAM_COMPONENTS
    return comp


def required_bytes(n: int, d: int, k: int, nnz_w_total: int, nnz_r_total: int, nnz_union: int,
                   influence_bits: int, chunk: int = CHUNK, *, taps: int = 0,
                   rls: bool = False, delay: int = 0, adam: bool = False) -> int:
    """RTRL_REQUIRED_BYTES_OPT (RTRL_REQUIRED_BYTES_H without ``adam``, RTRL_REQUIRED_BYTES_RO
    for ``delay`` 0 too), written as the C macro is (an independent check of the components)."""
    P = nnz_w_total + nnz_r_total + 5 * n
    m = influence_bits // 8
    ring = (delay + (taps if taps else 1)) * d if delay else taps * d
    return (_align8(8 * n)
            + _align8(4 * (2 * P
                           + 2 * (k * (n + taps * d) + k)
                           + 10 * n
                           + 12 * n
                           + 2 * k
                           + 3 * nnz_union
                           + (n + 5) * ((n + 31) // 32)
                           + ring
                           + (10 * n if delay else 0)
                           + (n + taps * d + 1)
                           + ((n + taps * d + 1) * (n + taps * d + 3) if rls else 0)))
            + _align8(m * (n * P + n * chunk))
            + _align8(2 * (P + (2 * n + 1) + (4 * n + 1) + nnz_union))
            + (_align8(12 * (P + (0 if rls else k * (n + taps * d) + k))) if adam else 0))


def flash_components(n: int, d: int, k: int, nnz_w: Sequence[int], nnz_r: Sequence[int],
                     nnz_union: int, shared_recurrent: bool, *, taps: int = 0) -> Dict[str, int]:
    """Bytes of the model constants, as :func:`pyrtrl.deploy.runtime.c_model_arrays` holds them.

    Each gate's pattern is counted even when the gates share one (an exporter may alias
    them; these numbers do not assume it).
    """
    P = sum(nnz_w) + sum(nnz_r) + 5 * n
    comp = {
        "input_patterns": 2 * (3 * (d + 1) + sum(nnz_w)),
        "recurrent_patterns": 2 * (3 * (n + 1) + sum(nnz_r)),
        "union_pattern": 2 * ((n + 1) + nnz_union),
        "gate_maps": 0 if shared_recurrent else 2 * 3 * nnz_union,
        "initial_theta": 4 * P,
        "initial_readout": 4 * (k * (n + taps * d) + k),
    }
    assert tuple(comp) == FLASH_COMPONENTS
    return comp


def _from_counts(n: int, d: int, k: int, nnz_w: Sequence[int], nnz_r: Sequence[int],
                 nnz_union: int, influence_bits: int, chunk: int = CHUNK, taps: int = 0,
                 readout: str = "y", readout_rule: str = "gradient", horizon: int = 1,
                 optimizer: str = "sgd") -> Budget:
    rls = _check_rule(readout_rule)
    delay = _check_horizon(horizon)
    adam = _check_optimizer(optimizer)
    nnz_w, nnz_r = [int(v) for v in nnz_w], [int(v) for v in nnz_r]
    b = Budget(n, d, k, int(influence_bits), nnz_w, nnz_r, int(nnz_union),
               all(v == nnz_union for v in nnz_r), taps=int(taps), readout=readout,
               readout_rule=readout_rule, horizon=int(horizon), optimizer=optimizer)
    _check_sizes(n, d, k, b.params, taps)
    b.components = ram_components(n, d, k, sum(nnz_w), sum(nnz_r), nnz_union, influence_bits, chunk,
                                  taps=taps, rls=rls, delay=delay, adam=adam)
    b.flash_components = flash_components(n, d, k, nnz_w, nnz_r, nnz_union, b.shared_recurrent,
                                          taps=taps)
    assert b.total_ram == required_bytes(n, d, k, sum(nnz_w), sum(nnz_r), nnz_union,
                                         influence_bits, chunk, taps=taps, rls=rls, delay=delay,
                                         adam=adam)
    return b


def budget_for_model(model: EGRU, influence_bits: int = INFLUENCE_BITS, chunk: int = CHUNK, *,
                     readout_rule: str = "gradient", horizon: int = 1,
                     optimizer: str = "sgd") -> Budget:
    """The budget of running ``model`` in runtime_c (exact: its own masks, readout and taps)
    with the readout learning by ``readout_rule`` ("gradient" or "rls") at forecast
    ``horizon`` (1: no delay), what learns by gradient stepping by ``optimizer`` ("sgd" or
    "adam": Adam keeps 12 bytes of moments per such parameter)."""
    m = model.masks
    union = int(np.count_nonzero(m["R_u"] | m["R_r"] | m["R_g"]))
    return _from_counts(model.n, model.d, model.k,
                        [int(m[f"W_{g}"].sum()) for g in "urg"],
                        [int(m[f"R_{g}"].sum()) for g in "urg"], union, influence_bits, chunk,
                        model.taps, model.readout, readout_rule, horizon, optimizer)


def _check_readout(readout: str, taps: int, readout_rule: str, horizon: int = 1,
                   optimizer: str = "sgd") -> None:
    if readout not in ("y", "c"):
        raise PyrtrlError(f"readout must be 'y' or 'c', got {readout!r}")
    if int(taps) != taps or not 0 <= taps <= MAX_FEATURES:
        raise PyrtrlError(f"taps must be an integer in [0, {MAX_FEATURES}], got {taps}")
    _check_rule(readout_rule)
    _check_horizon(horizon)
    _check_optimizer(optimizer)


def budget(hidden: int, inputs: int, outputs: int, density: float, shared_mask: bool,
           influence_bits: int = INFLUENCE_BITS, seed: int = 0, chunk: int = CHUNK, *, taps: int = 0,
           readout: str = "y", readout_rule: str = "gradient", horizon: int = 1,
           optimizer: str = "sgd") -> Budget:
    """The budget of a fresh ``init_egru(hidden, inputs, outputs, density, shared_mask, seed,
    readout=readout, taps=taps)`` whose readout learns by ``readout_rule``, at forecast
    ``horizon``, with ``optimizer`` ("sgd" or "adam") for what learns by gradient.

    With shared masks the counts do not depend on the seed; with independent masks the
    size of the recurrent union (entries kept in at least one gate) depends on the draw,
    so the numbers are exact for this seed only. The defaults (events readout, no taps,
    SGD, as :class:`pyrtrl.deploy.runtime.CLearner`'s) are the runtime's original configuration; a
    learning run's are in :mod:`pyrtrl.run_defaults`.
    """
    for label, v in (("hidden", hidden), ("inputs", inputs), ("outputs", outputs)):
        if int(v) != v or not 1 <= v <= MAX_UNITS:
            raise PyrtrlError(f"runtime_c supports {label} from 1 to {MAX_UNITS}, got {v}")
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    _check_readout(readout, taps, readout_rule, horizon, optimizer)
    _check_sizes(int(hidden), int(inputs), int(outputs), 0, int(taps))
    model = init_egru(int(hidden), int(inputs), int(outputs), density=density,
                      shared_mask=shared_mask, seed=seed, readout=readout, taps=int(taps))
    return budget_for_model(model, influence_bits, chunk, readout_rule=readout_rule, horizon=horizon,
                            optimizer=optimizer)


def _fits_at(board: Board, n: int, inputs: int, outputs: int, density: float, shared_mask: bool,
             influence_bits: int, seed: int, reserve: int, taps: int = 0, readout: str = "y",
             readout_rule: str = "gradient", horizon: int = 1, optimizer: str = "sgd") -> bool:
    if n + taps * inputs > MAX_FEATURES:  # the runtime rejects it: does not fit
        return False
    model = init_egru(n, inputs, outputs, density=density, shared_mask=shared_mask, seed=seed,
                      readout=readout, taps=taps)
    if model.num_params(cell_only=True) > MAX_PARAMS:  # the runtime rejects it: does not fit
        return False
    return budget_for_model(model, influence_bits, readout_rule=readout_rule,
                            horizon=horizon, optimizer=optimizer).fits(board, reserve)


def largest_hidden(board: "Board | str", inputs: int, outputs: int, density: float,
                   shared_mask: bool, influence_bits: int = INFLUENCE_BITS, seed: int = 0,
                   reserve: Optional[int] = None, *, taps: int = 0, readout: str = "y",
                   readout_rule: str = "gradient", horizon: int = 1, optimizer: str = "sgd") -> int:
    """The largest hidden size in 1..255 whose buffer plus the reserve fits the board's RAM.

    Bisection over ``hidden``: the answer fits and ``answer + 1`` does not (or the answer is
    255). 0 when not even one unit fits. Configurations the runtime rejects (more than
    MAX_PARAMS cell parameters, more than MAX_FEATURES readout features) do not fit. With
    independent masks the union, hence the size, depends on the draw (``seed``), so the
    size is not strictly monotone in hidden; the bisection still returns a boundary with
    the property above. ``taps``, ``readout``, ``readout_rule``, ``horizon`` and
    ``optimizer`` are as for :func:`budget`.
    """
    b = get_board(board) if isinstance(board, str) else board
    r = b.reserved_ram if reserve is None else reserve
    # checks the arguments
    budget(1, inputs, outputs, density, shared_mask, influence_bits, seed, taps=taps,
           readout=readout, readout_rule=readout_rule, horizon=horizon, optimizer=optimizer)
    fits = lambda n: _fits_at(b, n, inputs, outputs, density, shared_mask,  # noqa: E731
                              influence_bits, seed, r, int(taps), readout, readout_rule, horizon,
                              optimizer)
    if not fits(1):
        return 0
    if fits(MAX_UNITS):
        return MAX_UNITS
    lo, hi = 1, MAX_UNITS  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
