"""Memory budget of the C runtime: RAM of the learner's buffer by component, flash of the model.

RAM mirrors ``RTRL_REQUIRED_BYTES`` in ``runtime_c/include/rtrl.h`` (and the layout in
``rtrl_init``) exactly: the components below sum to the number ``rtrl_required_bytes``
returns. The buffer is four blocks, each padded to 8 bytes (the padding is its own line):

* int32 block: ``theta``, ``w_o``, ``b_o`` (weights); ``grad``, ``grad_wo``, ``grad_bo``,
  ``grad_thr`` (gradients); two banks of c, h, y, psi, a (state); the per-step vectors
  u, r, g, qv, alpha_u, alpha_r, alpha_g, beta_g, dvec, dy, ga and out, dout (work);
  J and A values, one per union entry (jacobian);
* int64 block: n forward accumulators (accumulators);
* influence block: ``M`` (n x P, influence) and the saved rows (n x RTRL_CHUNK, scratch);
  int32 or int16 by the influence width;
* uint16 block: ``group_start`` (d + 2n + 1: where each live-column group starts),
  ``act``, ``cursor`` (n each) (column_maps);
  ``jrow`` (n + 1) and ``jslot`` (one per union entry) (jacobian).

The ``rtrl_t`` context itself (:data:`CONTEXT_BYTES` on the 32-bit targets) is not in the
buffer: the firmware allocates it, and it is counted in the board's reserve.

Flash counts the model constants an ``rtrl_model_t`` points to (what
:func:`pyrtrl.runtime.c_model_arrays` holds): CSC patterns (uint16 column pointers and row
indices) of the six matrices and of the recurrent union, the union-to-gate maps when the
three recurrent patterns differ, and the initial theta, w_o, b_o (int32). The library's own
code is not included (``make -C runtime_c size`` reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .boards import Board, get_board
from .errors import PyrtrlError
from .fixed.quantize import MAX_PARAMS, MAX_UNITS  # RTRL_MAX_UNITS, RTRL_MAX_PARAMS
from .model import EGRU, init_egru

#: Columns of M updated together: RTRL_CHUNK's default in rtrl.h, what firmware builds use.
#: (The host binding is built with 32 for speed; pass ``chunk=`` to match another build.)
CHUNK = 16
#: sizeof(rtrl_t) on the 32-bit targets (Cortex-M and rv32, both widths), outside the buffer.
CONTEXT_BYTES = 360

#: RAM components in report order (they sum to the buffer size).
RAM_COMPONENTS = ("weights", "gradients", "influence", "state", "work", "accumulators",
                  "scratch", "jacobian", "column_maps", "padding")
#: Flash components in report order.
FLASH_COMPONENTS = ("input_patterns", "recurrent_patterns", "union_pattern", "gate_maps",
                    "initial_theta", "initial_readout")

_RAM_HELP = {
    "weights": "theta, w_o, b_o (int32)",
    "gradients": "grad, grad_wo, grad_bo, grad_thr (int32)",
    "influence": "influence matrix M, n x P",
    "state": "two banks of c, h, y, psi, a (int32)",
    "work": "gates, derivatives, dy, ga, out, dout (int32)",
    "accumulators": "n forward sums (int64)",
    "scratch": "saved rows of M, n x RTRL_CHUNK",
    "jacobian": "J and A values per union entry, jrow, jslot",
    "column_maps": "group starts (d + 2n + 1), act, cursor (n each) (uint16)",
    "padding": "8-byte alignment of the four blocks",
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

    @property
    def params(self) -> int:
        """P: cell parameters, the columns of the influence matrix."""
        return sum(self.nnz_w) + sum(self.nnz_r) + 5 * self.hidden

    @property
    def total_ram(self) -> int:
        """Bytes of the learner's buffer: RTRL_REQUIRED_BYTES."""
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
            "components": dict(self.components), "total_ram": self.total_ram,
            "flash_components": dict(self.flash_components), "flash": self.flash,
        }


def _check_sizes(n: int, d: int, k: int, params: int) -> None:
    for label, v in (("hidden", n), ("inputs", d), ("outputs", k)):
        if not 1 <= v <= MAX_UNITS:
            raise PyrtrlError(f"runtime_c supports {label} from 1 to {MAX_UNITS}, got {v}")
    if params > MAX_PARAMS:
        raise PyrtrlError(f"runtime_c supports at most {MAX_PARAMS} cell parameters, got {params} "
                          f"(hidden={n}, inputs={d})")


def ram_components(n: int, d: int, k: int, nnz_w_total: int, nnz_r_total: int, nnz_union: int,
                   influence_bits: int, chunk: int = CHUNK) -> Dict[str, int]:
    """Bytes of each part of the buffer, as RTRL_REQUIRED_BYTES lays them out.

    ``chunk`` is the build's RTRL_CHUNK.
    """
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    m = influence_bits // 8
    P = nnz_w_total + nnz_r_total + 5 * n
    readout = k * n + k
    # int32 block
    i32 = {
        "weights": 4 * (P + readout),
        "gradients": 4 * (P + readout + n),  # grad, grad_wo, grad_bo, grad_thr
        "state": 4 * 10 * n,
        "work": 4 * (11 * n + 2 * k),
        "jacobian": 4 * 2 * nnz_union,  # jval, aval
    }
    i32_bytes = sum(i32.values())
    # int64 block (always a multiple of 8)
    acc = 8 * n
    # influence block
    infl, scratch = m * n * P, m * n * chunk
    # uint16 block
    maps = 2 * ((d + 2 * n + 1) + 2 * n)  # group_start, act, cursor
    jidx = 2 * ((n + 1) + nnz_union)  # jrow, jslot
    padding = ((_align8(i32_bytes) - i32_bytes) + (_align8(acc) - acc)
               + (_align8(infl + scratch) - infl - scratch) + (_align8(maps + jidx) - maps - jidx))
    comp = {
        "weights": i32["weights"], "gradients": i32["gradients"], "influence": infl,
        "state": i32["state"], "work": i32["work"], "accumulators": acc, "scratch": scratch,
        "jacobian": i32["jacobian"] + jidx, "column_maps": maps, "padding": padding,
    }
    assert tuple(comp) == RAM_COMPONENTS
    return comp


def required_bytes(n: int, d: int, k: int, nnz_w_total: int, nnz_r_total: int, nnz_union: int,
                   influence_bits: int, chunk: int = CHUNK) -> int:
    """RTRL_REQUIRED_BYTES, written as the C macro is (an independent check of the components)."""
    P = nnz_w_total + nnz_r_total + 5 * n
    m = influence_bits // 8
    return (_align8(8 * n)
            + _align8(4 * (2 * P + 2 * (k * n + k) + 10 * n + 12 * n + 2 * k + 2 * nnz_union))
            + _align8(m * (n * P + n * chunk))
            + _align8(2 * ((d + 2 * n + 1) + 3 * n + 1 + nnz_union)))


def flash_components(n: int, d: int, k: int, nnz_w: Sequence[int], nnz_r: Sequence[int],
                     nnz_union: int, shared_recurrent: bool) -> Dict[str, int]:
    """Bytes of the model constants, as :func:`pyrtrl.runtime.c_model_arrays` holds them.

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
        "initial_readout": 4 * (k * n + k),
    }
    assert tuple(comp) == FLASH_COMPONENTS
    return comp


def _from_counts(n: int, d: int, k: int, nnz_w: Sequence[int], nnz_r: Sequence[int],
                 nnz_union: int, influence_bits: int, chunk: int = CHUNK) -> Budget:
    nnz_w, nnz_r = [int(v) for v in nnz_w], [int(v) for v in nnz_r]
    b = Budget(n, d, k, int(influence_bits), nnz_w, nnz_r, int(nnz_union),
               all(v == nnz_union for v in nnz_r))
    _check_sizes(n, d, k, b.params)
    b.components = ram_components(n, d, k, sum(nnz_w), sum(nnz_r), nnz_union, influence_bits, chunk)
    b.flash_components = flash_components(n, d, k, nnz_w, nnz_r, nnz_union, b.shared_recurrent)
    assert b.total_ram == required_bytes(n, d, k, sum(nnz_w), sum(nnz_r), nnz_union,
                                         influence_bits, chunk)
    return b


def budget_for_model(model: EGRU, influence_bits: int = 32, chunk: int = CHUNK) -> Budget:
    """The budget of running ``model`` in runtime_c (exact: its own masks)."""
    m = model.masks
    union = int(np.count_nonzero(m["R_u"] | m["R_r"] | m["R_g"]))
    return _from_counts(model.n, model.d, model.k,
                        [int(m[f"W_{g}"].sum()) for g in "urg"],
                        [int(m[f"R_{g}"].sum()) for g in "urg"], union, influence_bits, chunk)


def budget(hidden: int, inputs: int, outputs: int, density: float, shared_mask: bool,
           influence_bits: int = 32, seed: int = 0, chunk: int = CHUNK) -> Budget:
    """The budget of a fresh ``init_egru(hidden, inputs, outputs, density, shared_mask, seed)``.

    With shared masks the counts do not depend on the seed; with independent masks the
    size of the recurrent union (entries kept in at least one gate) depends on the draw,
    so the numbers are exact for this seed only.
    """
    for label, v in (("hidden", hidden), ("inputs", inputs), ("outputs", outputs)):
        if int(v) != v or not 1 <= v <= MAX_UNITS:
            raise PyrtrlError(f"runtime_c supports {label} from 1 to {MAX_UNITS}, got {v}")
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    model = init_egru(int(hidden), int(inputs), int(outputs), density=density,
                      shared_mask=shared_mask, seed=seed)
    return budget_for_model(model, influence_bits, chunk)


def _fits_at(board: Board, n: int, inputs: int, outputs: int, density: float, shared_mask: bool,
             influence_bits: int, seed: int, reserve: int) -> bool:
    model = init_egru(n, inputs, outputs, density=density, shared_mask=shared_mask, seed=seed)
    if model.num_params(cell_only=True) > MAX_PARAMS:  # the runtime rejects it: does not fit
        return False
    return budget_for_model(model, influence_bits).fits(board, reserve)


def largest_hidden(board: "Board | str", inputs: int, outputs: int, density: float,
                   shared_mask: bool, influence_bits: int = 32, seed: int = 0,
                   reserve: Optional[int] = None) -> int:
    """The largest hidden size in 1..255 whose buffer plus the reserve fits the board's RAM.

    Bisection over ``hidden``: the answer fits and ``answer + 1`` does not (or the answer is
    255). 0 when not even one unit fits. Configurations the runtime rejects (more than
    MAX_PARAMS cell parameters) do not fit. With independent masks the union, hence the
    size, depends on the draw (``seed``), so the size is not strictly monotone in hidden;
    the bisection still returns a boundary with the property above.
    """
    b = get_board(board) if isinstance(board, str) else board
    r = b.reserved_ram if reserve is None else reserve
    budget(1, inputs, outputs, density, shared_mask, influence_bits, seed)  # checks the arguments
    fits = lambda n: _fits_at(b, n, inputs, outputs, density, shared_mask,  # noqa: E731
                              influence_bits, seed, r)
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
