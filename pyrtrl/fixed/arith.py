"""Fixed-point arithmetic shared by the numpy model and runtime_c: formats, the rounding rule,
saturation, and the sigmoid table.

The one rounding rule, used everywhere: ``rnd(x, s) = (x + 2^(s-1)) >> s`` with an
arithmetic shift (round half up, i.e. towards +infinity), for s >= 1; ``rnd(x, 0) = x``.
Every sum inside one rounding is exact in 64-bit integers (the bounds are in
docs/numerics.md), so the order of summation never matters and numpy's vectorised sums equal
the C loops bit for bit. Results are then saturated to their storage type, and every
saturation is counted.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

#: fraction bits of activations, states, gates, inputs and targets (Q15.16 in int32)
FRAC = 16
ONE = 1 << FRAC
#: fraction bits of weights, master weights and gradient accumulators (Q7.24 in int32)
WFRAC = 24
WONE = 1 << WFRAC
#: fraction bits of the influence matrix per storage width (int32: Q11.20, int16: Q4.11)
MFRAC = {32: 20, 16: 11}

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
#: clamp of a few intermediates so that 64-bit sums provably cannot overflow
LIM24 = 1 << 24  # |alpha_r|, |J_ij| <= 256.0 (Q16)
LIM_DOUT = 1 << 23  # |out - target| <= 128.0 (Q16)
#: sample range accepted by the quantizer (|x| <= 128.0)
SAMPLE_MAX = (1 << 23) - 1

#: sigmoid table: sigma(i / 32) in Q16 for i = 0..384 (z in [0, 12]), linear interpolation;
#: stored in C as uint16 (sigma - 1/2 fits 15 bits). Size chosen by measurement: see
#: docs/numerics.md (max error < 1.5 LSB of Q16 for sigma, < 3 for tanh)
SIG_STEP_BITS = 11  # table step = 2^11 / 2^16 = 1/32
SIG_ENTRIES = 385


def rnd(x: np.ndarray, s: int) -> np.ndarray:
    """Round-half-up shift right by ``s`` bits (int64 in, int64 out)."""
    x = np.asarray(x, dtype=np.int64)
    if s == 0:
        return x
    if s < 0:
        return x << (-s)
    return (x + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)


def sat(x: np.ndarray, lo: int, hi: int) -> Tuple[np.ndarray, int]:
    """Clamp to [lo, hi]; returns (clamped, number of entries that were clamped)."""
    x = np.asarray(x, dtype=np.int64)
    n = int(np.count_nonzero((x < lo) | (x > hi)))
    return (np.clip(x, lo, hi) if n else x), n


def sigmoid_table() -> np.ndarray:
    """The table shared with runtime_c: round(sigma(i/32) * 2^16), i = 0..384."""
    z = np.arange(SIG_ENTRIES, dtype=np.float64) / (1 << (FRAC - SIG_STEP_BITS))
    return np.floor(1.0 / (1.0 + np.exp(-z)) * ONE + 0.5).astype(np.int64)


SIG_TABLE = sigmoid_table()


def sigmoid_q(z: np.ndarray) -> np.ndarray:
    """sigma(z) in Q16 for z in Q16 (any int64): table on |z|, symmetric, linear interpolation."""
    z = np.asarray(z, dtype=np.int64)
    az = np.abs(z)
    idx = az >> SIG_STEP_BITS
    inside = idx < SIG_ENTRIES - 1
    i = np.where(inside, idx, SIG_ENTRIES - 2)
    fr = az & ((1 << SIG_STEP_BITS) - 1)
    lo, hi = SIG_TABLE[i], SIG_TABLE[i + 1]
    s = np.where(inside, lo + rnd((hi - lo) * fr, SIG_STEP_BITS), SIG_TABLE[-1])
    return np.where(z >= 0, s, ONE - s)


def tanh_q(z: np.ndarray) -> np.ndarray:
    """tanh(z) = 2 sigma(2z) - 1 in Q16 (one table for both)."""
    return 2 * sigmoid_q(2 * np.asarray(z, dtype=np.int64)) - ONE


def to_fixed(a: np.ndarray, frac: int) -> np.ndarray:
    """Round floats to fixed point (round half up, like rnd) as int64."""
    return np.floor(np.asarray(a, dtype=np.float64) * (1 << frac) + 0.5).astype(np.int64)


def from_fixed(a: np.ndarray, frac: int) -> np.ndarray:
    """Fixed point back to float64."""
    return np.asarray(a, dtype=np.float64) / (1 << frac)


#: softmax and cross-entropy: 2^f and log2(1 + f) on [0, 1] in 1/256 steps (Q16),
#: linearly interpolated; log2(e) and ln(2) in Q16
EXP_STEP_BITS = 8
EXP_ENTRIES = 257
LOG2E_Q = 94548  # round(log2(e) * 2^16)
LN2_Q = 45426  # round(ln(2) * 2^16)


def pow2_table() -> np.ndarray:
    """round(2^(j/256) * 2^16), j = 0..256."""
    j = np.arange(EXP_ENTRIES, dtype=np.float64) / (1 << EXP_STEP_BITS)
    return np.floor(2.0 ** j * ONE + 0.5).astype(np.int64)


def log2_table() -> np.ndarray:
    """round(log2(1 + j/256) * 2^16), j = 0..256."""
    j = np.arange(EXP_ENTRIES, dtype=np.float64) / (1 << EXP_STEP_BITS)
    return np.floor(np.log2(1.0 + j) * ONE + 0.5).astype(np.int64)


POW2_TABLE = pow2_table()
LOG2_TABLE = log2_table()


def _interp(table: np.ndarray, frac16: np.ndarray) -> np.ndarray:
    idx = frac16 >> EXP_STEP_BITS
    fr = frac16 & ((1 << EXP_STEP_BITS) - 1)
    lo = table[idx]
    hi = table[np.minimum(idx + 1, EXP_ENTRIES - 1)]
    return lo + rnd((hi - lo) * fr, EXP_STEP_BITS)


def softmax_q(out: np.ndarray) -> np.ndarray:
    """softmax(out) in Q16 for out in Q16: exp via 2^(z log2 e) with the pow2 table, then
    p_i = round(e_i * 2^16 / sum e) (integer division, half up)."""
    out = np.asarray(out, dtype=np.int64)
    z = out - out.max()
    y = rnd(z * LOG2E_Q, FRAC)  # <= 0, Q16
    ip = y >> FRAC  # floor, <= 0
    f = y - (ip << FRAC)  # in [0, 2^16)
    v = _interp(POW2_TABLE, f)  # 2^f in Q16, [2^16, 2^17)
    sh = -ip
    e = np.where(sh >= 31, 0, np.where(sh == 0, v, (v + (np.int64(1) << np.maximum(sh - 1, 0))) >> sh))
    total = int(e.sum())
    return (e * ONE + (total >> 1)) // total


def neg_log_q(p: int) -> int:
    """-ln(p) in Q16 for a probability p in Q16 (p = 0 is taken as one LSB)."""
    v = max(int(p), 1)
    m = v.bit_length() - 1  # floor(log2 v), 0..16
    r = v << (FRAC - m) if m <= FRAC else v >> (m - FRAC)  # mantissa in [2^16, 2^17)
    lg = int(_interp(LOG2_TABLE, np.array(r - ONE)))
    log2p = (m - FRAC) * ONE + lg  # Q16, <= 0
    return int(rnd(np.array(-log2p * LN2_Q), FRAC))
