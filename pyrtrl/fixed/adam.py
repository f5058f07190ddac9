"""Adam in fixed point: the specification of runtime_c/src/rtrl_adam.c (bit for bit), twin of
the float :class:`pyrtrl.core.optim.Adam` (which computes the same formula in float).

Why the device needs it: the cell's gradients span several decades from parameter to
parameter, so one SGD rate is either too small for most weights or unstable for a few;
measured on ppg (docs/quality.md), SGD on the cell bought nothing over a frozen cell at any
rate, and per-parameter scaling did.

The rule, per parameter with clipped summed gradient g (Q24, int32):

* m <- m + rnd(g - m, a)                      (beta1 = 1 - 2^-a; a = 0: m = g, RMSprop)
* v <- v - (v >> b) + ((g * g) >> b)          (beta2 = 1 - 2^-b; v is g^2 in Q48, int64)
* u  = m / sqrt(max(v, eps2))                 (Q24, from a table of 1/sqrt, below)
* w <- w - rnd(lr_t * u, 24)

with the bias correction folded into one rate per update,
``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``: beta^t is kept as a Q30 running power
(``pw <- pw - (pw >> a)``, truncating, the same in both languages), the root by an exact
integer square root, and one division per update.

1 / sqrt(v): v (>= eps2 >= 2^8) is shifted right by an even s until idx = v >> s lies in
[2^8, 2^10); the table holds round(2^19 / sqrt(idx)) (uint16, 768 entries) and
u = m * T[idx] * 2^(5 - s/2), rounded. Its relative error is below 2^-9 (the truncation of
v to 10 bits), which only perturbs each step's size: the gradient is unaffected.

Scaling and overflow: |g| <= 2^31 so g^2 < 2^63 - 1 and v stays below 2^62 + 1 (an
average of values below 2^62, each truncation rounding down); |m| <= max |g| < 2^31;
m * T < 2^46 and the left shift (s < 10) adds at most 5 bits; u is saturated to int32
(counted); lr_t < 2^31 (saturated: with b1 >> b2 early rates can exceed lr), so lr_t * u
< 2^62 and the weight is saturated to int32 (counted) like SGD's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import PyrtrlError
from .arith import INT32_MAX, INT32_MIN, WFRAC, rnd, to_fixed

#: fraction bits of g^2 and v
VFRAC = 2 * WFRAC
#: fraction bits of the running powers beta^t
PFRAC = 30
#: table index range [RSQ_LO, RSQ_HI): 10 significant bits of v
RSQ_BITS = 10
RSQ_LO, RSQ_HI = 1 << (RSQ_BITS - 2), 1 << RSQ_BITS
#: fraction bits of the table entries
RSQ_FRAC = 19
#: smallest eps2 (Q48): keeps v's table index in range without a left shift
EPS2_MIN = RSQ_LO


def rsqrt_table() -> np.ndarray:
    """round(2^19 / sqrt(i)) for i in [256, 1024), as int64 (fits uint16: at most 32768)."""
    # floor(2^19 / sqrt(i) + 1/2) = floor((floor(2^20 / sqrt(i)) + 1) / 2), in integers only
    return np.array([(math.isqrt((1 << 40) // i) + 1) // 2 for i in range(RSQ_LO, RSQ_HI)],
                    dtype=np.int64)


RSQ_TABLE = rsqrt_table()


@dataclass(frozen=True)
class AdamConstants:
    """The Adam hyperparameters as runtime_c holds them."""

    a: int  # beta1 = 1 - 2^-a (0: no momentum)
    b: int  # beta2 = 1 - 2^-b
    eps2_q48: int  # floor of v: eps^2 in Q48


def _beta_shift(beta: float, what: str, lo: int) -> int:
    if beta == 0 and lo == 0:
        return 0
    s = -math.log2(1 - beta) if 0 <= beta < 1 else float("nan")
    if not (math.isfinite(s) and s == round(s) and lo <= s <= 16):
        raise PyrtrlError(f"the device's Adam needs {what} = 1 - 2^-s with s in [{max(lo, 1)}, 16]"
                          f"{' or 0' if lo == 0 else ''}, got {beta}")
    return int(round(s))


def adam_constants(beta1: float, beta2: float, eps: float) -> AdamConstants:
    """Fixed-point form of :class:`pyrtrl.core.optim.Adam`'s hyperparameters (checked)."""
    a = _beta_shift(beta1, "beta1", 0)
    b = _beta_shift(beta2, "beta2", 1)
    e2 = int(to_fixed(eps * eps, VFRAC)) if np.isfinite(eps) and 0 < eps < 1 else -1
    if not (EPS2_MIN <= e2 <= INT32_MAX):
        raise PyrtrlError(f"Adam eps must be in [1e-6, 2.7e-3] on the device, got {eps}")
    return AdamConstants(a, b, e2)


def bit_length(v: np.ndarray) -> np.ndarray:
    """Bits of each non-negative int64 (exact; float conversion would round near 2^k)."""
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros(v.shape, dtype=np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        big = (v >> s) > 0
        out += np.where(big, s, 0)
        v = np.where(big, v >> s, v)
    return out + (v > 0)


class FixedAdam:
    """Moments of ``size`` parameters and the running powers; :meth:`step` updates weights."""

    def __init__(self, size: int, consts: AdamConstants) -> None:
        self.c = consts
        self.m = np.zeros(size, dtype=np.int64)
        self.v = np.zeros(size, dtype=np.int64)
        self.pw1 = 1 << PFRAC
        self.pw2 = 1 << PFRAC

    def rate(self, lr_q: int) -> int:
        """Advance the powers one update and return lr_t (Q24, saturated to int32)."""
        self.pw1 -= self.pw1 >> self.c.a  # a = 0: beta1^t = 0
        self.pw2 -= self.pw2 >> self.c.b
        c1 = (1 << PFRAC) - self.pw1
        sc2 = math.isqrt(((1 << PFRAC) - self.pw2) << PFRAC)  # sqrt(1 - beta2^t), Q30
        return min(lr_q * sc2 // c1, INT32_MAX)

    def step(self, w: np.ndarray, g: np.ndarray, lr_t: int, sl: slice) -> "tuple[np.ndarray, int]":
        """New weights for parameters ``sl`` of the state, and the saturations counted."""
        c = self.c
        m = self.m[sl] + rnd(g - self.m[sl], c.a)
        v = self.v[sl] - (self.v[sl] >> c.b) + ((g * g) >> c.b)
        self.m[sl], self.v[sl] = m, v
        vv = np.maximum(v, c.eps2_q48)
        s = np.maximum(bit_length(vv) - RSQ_BITS + 1, 0) & ~1
        t = RSQ_TABLE[(vv >> s) - RSQ_LO]
        mt = m * t
        sh = (s >> 1) - (WFRAC - RSQ_FRAC)  # u = m * t * 2^(5 - s/2), Q24
        right = np.where(sh > 0, sh, 1)
        u = np.where(sh > 0, (mt + (np.int64(1) << (right - 1))) >> right,
                     mt << np.where(sh > 0, 0, -sh))
        us = np.clip(u, INT32_MIN, INT32_MAX)
        nsat = int(np.count_nonzero(us != u))
        nw = w - rnd(np.int64(lr_t) * us, WFRAC)
        out = np.clip(nw, INT32_MIN, INT32_MAX)
        return out, nsat + int(np.count_nonzero(out != nw))
