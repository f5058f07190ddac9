/*
 * rtrl_mul.c - the composed 32 x 32 -> 64 signed product of rtrl_mul.h.
 *
 * With a = a1 2^16 + a0 and b = b1 2^16 + b0 (a1, b1 = the arithmetic shifts a >> 16,
 * b >> 16 in [-2^15, 2^15); a0, b0 the low halves in [0, 2^16)), the high and low words of
 * a b follow Hacker's Delight's mulhs (section 8-2), every step exact in 32 bits:
 *
 *   w0 = a0 b0                         in [0, 2^32)           (uint32)
 *   t  = a1 b0 + (w0 >> 16)            |t| <= 2^15 (2^16 - 1)  (int32)
 *   w1 = a0 b1 + (t & 0xFFFF)          in (-2^31, 2^31)        (int32)
 *   hi = a1 b1 + (t >> 16) + (w1 >> 16)   the high word, lo = (w1 << 16) | (w0 & 0xFFFF)
 *
 * so a b = hi 2^32 + lo. On Cortex-M0 -Os this is 4 MULS and ~22 instructions with the
 * push/pop, against __aeabi_lmul's ~45 plus two sign extensions at the call site.
 * Kept out of line on purpose: inlined into the RLS loops, its six live values spill the
 * M0's eight low registers and it costs more than the call.
 *
 * Scaling and overflow: exact for every pair of int32 (test_mul64.c checks it against the
 * int64 product on the edges and random pairs); the int64 is the two words side by side.
 */
#include "rtrl_mul.h"

int64_t rtrl_mul64_composed(int32_t a, int32_t b)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0;
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    const int32_t w1 = (int32_t)a0 * b1 + (t & 0xFFFF);
    const int32_t hi = a1 * b1 + (t >> 16) + (w1 >> 16);
    const uint32_t lo = ((uint32_t)w1 << 16) | (w0 & 0xFFFFu);
    /* the two words as one: uint64 -> int64 wraps modulo 2^64 (GCC and Clang document it;
     * hi * 2^32 + lo, the same value, costs the M0 six more instructions) */
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
}
