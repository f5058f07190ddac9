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

/* sum_j P_ij z_j for cores without a widening multiply, from the 16-bit halves of both
 * factors (p = ph 2^16 + pl, z = zh 2^16 + zl; ph, zh the arithmetic shifts by 16, pl, zl
 * in [0, 2^16)) in three int32 accumulators instead of one composed int64 product per entry:
 * with y = pl zl and w = ph zl + (y >> 16) (the mulhs step above, in
 * [-2^31 + 2^15, 2^31 - 2^15)),
 *
 *   p z = (ph zh + (w >> 16)) 2^32 + (pl zh + (w mod 2^16)) 2^16 + (y mod 2^16).
 *
 * Scaling and overflow: for |z_j| <= 2^23 (zh in [-2^7, 2^7); the caller checks it) and any
 * int32 p, the three terms of an entry are within [-2^22 - 2^15, 2^22 + 2^15],
 * [-8388480, 8388480] and [0, 2^16), so their sums over m1 <= 256 entries stay within int32
 * (|A| < 2^31, |B| <= 2147450880, C < 2^24); the total is the exact int64 sum
 * (|sum| < 2^62). This C is the specification (host test: test_mul64.c, against the int64
 * sum); on ARMv6-M rtrl_dot_split is rtrl_dot_split_m0 below, the same arithmetic
 * instruction for instruction (checked on the board: the device runs equal the host's). */
int64_t rtrl_dot_split_c(const int32_t *row, const int32_t *z, uint32_t m1)
{
    int32_t A = 0, B = 0;
    uint32_t C = 0;
    for (uint32_t j = 0; j < m1; ++j) {
        const int32_t p = row[j], zj = z[j];
        const int32_t ph = p >> 16, zh = zj >> 16;
        const uint32_t pl = (uint32_t)p & 0xFFFFu, zl = (uint32_t)zj & 0xFFFFu;
        const uint32_t y = pl * zl;
        const int32_t w = ph * (int32_t)zl + (int32_t)(y >> 16);
        A += ph * zh + (w >> 16);
        B += (int32_t)pl * zh + (int32_t)((uint32_t)w & 0xFFFFu);
        C += y & 0xFFFFu;
    }
    return (int64_t)A * ((int64_t)1 << 32) + (int64_t)B * 65536 + (int64_t)C;
}

#if defined(__GNUC__) && defined(__ARM_ARCH_6M__) && !defined(RTRL_NO_ASM)
/* rtrl_dot_split_c on the Cortex-M0/M0+, its loop written out for Thumb-1 (GCC -Os spilled its
 * accumulators to the stack: ~34 instructions per entry against these 23): the eight low
 * registers hold the pointers and the entry's halves, A, B, C sit in r8-r10 (ADD reaches
 * them), the row's end in ip. r0 = row, r1 = z, r2 = m1 >= 1; returns the int64 in r0:r1.
 * -DRTRL_NO_ASM builds the C instead. */
__asm__(".pushsection .text.rtrl_dot_split_m0,\"ax\",%progbits\n"
        "    .syntax unified\n"
        "    .thumb\n"
        "    .balign 2\n"
        "    .global rtrl_dot_split_m0\n"
        "    .thumb_func\n"
        "    .type rtrl_dot_split_m0, %function\n"
        "rtrl_dot_split_m0:\n"
        "    push {r4, r5, r6, r7, lr}\n"
        "    mov r4, r8\n"
        "    mov r5, r9\n"
        "    mov r6, r10\n"
        "    push {r4, r5, r6}\n"
        "    lsls r2, r2, #2\n"
        "    adds r2, r0, r2\n"
        "    mov ip, r2\n"         /* end of the row */
        "    movs r2, #0\n"
        "    mov r8, r2\n"         /* A */
        "    mov r9, r2\n"         /* B */
        "    mov r10, r2\n"        /* C */
        "1:\n"
        "    ldm r0!, {r2}\n"      /* p */
        "    ldm r1!, {r3}\n"      /* z */
        "    asrs r4, r2, #16\n"   /* ph */
        "    uxth r2, r2\n"        /* pl */
        "    asrs r5, r3, #16\n"   /* zh */
        "    uxth r3, r3\n"        /* zl */
        "    movs r6, r2\n"
        "    muls r6, r3\n"        /* y = pl zl */
        "    muls r3, r4\n"        /* ph zl */
        "    lsrs r7, r6, #16\n"
        "    adds r3, r3, r7\n"    /* w = ph zl + (y >> 16) */
        "    uxth r6, r6\n"
        "    add r10, r6\n"        /* C += y mod 2^16 */
        "    muls r4, r5\n"        /* ph zh */
        "    asrs r7, r3, #16\n"
        "    adds r4, r4, r7\n"
        "    add r8, r4\n"         /* A += ph zh + (w >> 16) */
        "    muls r2, r5\n"        /* pl zh */
        "    uxth r3, r3\n"
        "    adds r2, r2, r3\n"
        "    add r9, r2\n"         /* B += pl zh + (w mod 2^16) */
        "    cmp r0, ip\n"
        "    bne 1b\n"
        "    mov r2, r9\n"         /* A 2^32 + B 2^16 + C */
        "    lsls r0, r2, #16\n"
        "    asrs r1, r2, #16\n"
        "    mov r3, r10\n"
        "    movs r2, #0\n"
        "    adds r0, r0, r3\n"
        "    adcs r1, r2\n"
        "    mov r3, r8\n"
        "    adds r1, r1, r3\n"
        "    pop {r4, r5, r6}\n"
        "    mov r8, r4\n"
        "    mov r9, r5\n"
        "    mov r10, r6\n"
        "    pop {r4, r5, r6, r7, pc}\n"
        "    .size rtrl_dot_split_m0, . - rtrl_dot_split_m0\n"
        "    .popsection\n");
#endif
