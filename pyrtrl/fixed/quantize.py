"""A float :class:`~pyrtrl.core.model.EGRU` turned into the integer arrays runtime_c runs on.

Layout (shared with runtime_c and the exporter):

* every masked matrix is stored compressed by columns (CSC): ``colptr`` (ncols + 1) and
  ``rowidx`` (nnz) per matrix; with shared masks the three gates share one pattern;
* the recurrent *union* pattern (entries unmasked in at least one gate) in CSC, with, per
  gate, the index of each union entry in that gate's own entry list (-1 when absent); it
  is where the Jacobian A_t has nonzeros;
* ``theta``: all cell parameters in one int32 vector, Q7.24, in influence-column order:
  W_u, W_r, W_g, R_u, R_r, R_g (each in its CSC entry order), b_u, b_r, b_g, b_rg, thr;
* ``w_o`` (k x (n + taps * d)) and ``b_o`` (k), Q7.24; the readout reads y or c
  (``readout_c``) followed by ``taps`` recent inputs, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from ..errors import PyrtrlError
from ..core.model import CELL, MASKED, EGRU
from .arith import FRAC, INT32_MAX, INT32_MIN, WFRAC, from_fixed, to_fixed

#: sizes runtime_c accepts: keeps every 64-bit sum provably exact (docs/numerics.md)
MAX_UNITS = 255
MAX_PARAMS = 65534


@dataclass
class Pattern:
    """Compressed-column nonzero pattern of an (nrows x ncols) mask."""

    colptr: np.ndarray
    rowidx: np.ndarray
    shape: Tuple[int, int]

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "Pattern":
        cols, rows = np.nonzero(mask.T)
        colptr = np.concatenate([[0], np.cumsum(mask.sum(axis=0))]).astype(np.int64)
        return cls(colptr, rows.astype(np.int64), mask.shape)

    @property
    def nnz(self) -> int:
        return int(self.rowidx.size)

    @property
    def colidx(self) -> np.ndarray:
        """Column of every entry."""
        return np.repeat(np.arange(self.shape[1]), np.diff(self.colptr))

    def col_nnz(self) -> np.ndarray:
        return np.diff(self.colptr)


@dataclass
class QuantizedModel:
    """Integer model: patterns, Q24 parameters, Q16 pseudo-derivative constants."""

    n: int
    d: int
    k: int
    shared: bool
    patterns: Dict[str, Pattern]
    union: Pattern
    gate_map: np.ndarray  # (3, nnz_union) index into each R gate's entries, -1 = absent
    theta: np.ndarray  # (P,) Q24
    w_o: np.ndarray  # (k, n + taps * d) Q24
    b_o: np.ndarray  # (k,) Q24
    eps_q: int  # eps, Q16
    goe_q: int  # gamma / eps, Q16
    offsets: Dict[str, int] = field(default_factory=dict)
    readout_c: bool = False  # the readout reads c (True) or the events y (False)
    taps: int = 0  # recent inputs the readout also reads

    @property
    def features(self) -> int:
        """Columns of ``w_o``."""
        return self.n + self.taps * self.d

    @property
    def P(self) -> int:
        return int(self.theta.size)

    def cell_dense(self, theta: "np.ndarray | None" = None) -> Dict[str, np.ndarray]:
        """Cell parameters (``theta``, default the model's) as dense int64 arrays, pruned = 0."""
        theta = self.theta if theta is None else theta
        out: Dict[str, np.ndarray] = {}
        for name in CELL:
            off = self.offsets[name]
            if name in MASKED:
                pat = self.patterns[name]
                a = np.zeros(pat.shape, dtype=np.int64)
                a[pat.rowidx, pat.colidx] = theta[off:off + pat.nnz]
            else:
                a = theta[off:off + self.n].astype(np.int64)
            out[name] = a
        return out

    def to_float(self, template: EGRU) -> EGRU:
        """The float model these integers represent (masks and gamma/eps from ``template``)."""
        params = {k: from_fixed(v, WFRAC) for k, v in self.cell_dense().items()}
        params["W_o"] = from_fixed(self.w_o, WFRAC)
        params["b_o"] = from_fixed(self.b_o, WFRAC)
        return EGRU(params, {k: v.copy() for k, v in template.masks.items()},
                    template.gamma, template.eps, "c" if self.readout_c else "y", self.taps)


def cell_offsets(patterns: Dict[str, Pattern], n: int) -> Tuple[Dict[str, int], int]:
    """Start of each named array in ``theta`` and the total P."""
    off: Dict[str, int] = {}
    pos = 0
    for name in CELL:
        off[name] = pos
        pos += patterns[name].nnz if name in MASKED else n
    return off, pos


def quantize(model: EGRU) -> QuantizedModel:
    """Quantize a float model; one-line :class:`PyrtrlError` if it cannot be represented.

    Weights, biases and thresholds become Q7.24 int32 (range +-128): a value outside is an
    error naming the array, not a silent saturation.
    """
    n, d, k = model.n, model.d, model.k
    if n > MAX_UNITS or d > MAX_UNITS or k > MAX_UNITS:
        raise PyrtrlError(f"runtime_c supports at most {MAX_UNITS} units, inputs and outputs; "
                          f"got hidden={n} inputs={d} outputs={k}")
    if model.features > MAX_UNITS:
        raise PyrtrlError(f"runtime_c supports at most {MAX_UNITS} readout features (hidden + "
                          f"taps x inputs); got {n} + {model.taps} x {d} = {model.features}")
    limit = INT32_MAX / (1 << WFRAC)
    for name, a in model.params.items():
        a = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise PyrtrlError(f"parameter {name} has non-finite values")
        big = float(np.abs(a).max(initial=0.0))
        if big >= limit:
            raise PyrtrlError(f"parameter {name} has |value| {big:.3g}, beyond the fixed-point "
                              f"range +-{limit:.1f} (Q7.24)")
    patterns = {name: Pattern.from_mask(model.masks[name]) for name in MASKED}
    union_mask = model.masks["R_u"] | model.masks["R_r"] | model.masks["R_g"]
    union = Pattern.from_mask(union_mask)
    gate_map = np.full((3, union.nnz), -1, dtype=np.int64)
    ucols = union.colidx
    for gi, gate in enumerate(("u", "r", "g")):
        pat = patterns[f"R_{gate}"]
        # entry index of (row, col) in the gate's CSC list
        lookup = -np.ones((n, n), dtype=np.int64)
        lookup[pat.rowidx, pat.colidx] = np.arange(pat.nnz)
        gate_map[gi] = lookup[union.rowidx, ucols]
    offsets, P = cell_offsets(patterns, n)
    if P > MAX_PARAMS:
        raise PyrtrlError(f"runtime_c supports at most {MAX_PARAMS} cell parameters, got {P}")
    parts = []
    for name in CELL:
        a = model.params[name]
        if name in MASKED:
            pat = patterns[name]
            parts.append(a[pat.rowidx, pat.colidx])
        else:
            parts.append(a)
    theta = to_fixed(np.concatenate(parts), WFRAC)
    eps_q = int(to_fixed(model.eps, FRAC))
    goe_q = int(to_fixed(model.gamma / model.eps, FRAC))
    if eps_q < 1 or goe_q < 0 or goe_q > INT32_MAX:
        raise PyrtrlError(f"gamma={model.gamma}, eps={model.eps} are not representable in Q16")
    q = QuantizedModel(n, d, k, model.shared_mask, patterns, union, gate_map, theta,
                       to_fixed(model.params["W_o"], WFRAC), to_fixed(model.params["b_o"], WFRAC),
                       eps_q, goe_q, offsets, model.readout == "c", model.taps)
    assert q.theta.min(initial=0) >= INT32_MIN and q.theta.max(initial=0) <= INT32_MAX
    return q


def quantize_samples(x: np.ndarray, label: str = "samples") -> Tuple[np.ndarray, int]:
    """Floats to Q16 int64; non-finite values are an error, |x| > 128 saturates (counted).

    Returns (quantized, number saturated).
    """
    from .arith import SAMPLE_MAX

    x = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise PyrtrlError(f"{label} has a non-finite value at index {tuple(int(i) for i in where)}")
    q = to_fixed(np.clip(x, -256.0, 256.0), FRAC)
    over = int(np.count_nonzero(np.abs(q) > SAMPLE_MAX))
    return np.clip(q, -SAMPLE_MAX, SAMPLE_MAX), over
