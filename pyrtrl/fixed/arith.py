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
