/*
 * rtrl_mul.h - exact 32 x 32 -> 64 products, also on cores without a widening multiply.
 *
 * Cortex-M0/M0+/M23 (ARMv6-M, ARMv8-M baseline) have only MULS (32 x 32 -> low 32 bits):
 * GCC calls libgcc's __aeabi_lmul, a 64 x 64 multiply (~45 instructions plus the caller's
 * sign extensions), for every (int64_t)a * b even when a and b are int32. rtrl_mul64 is
 * that product for int32 operands: on those cores one out-of-line call to
 * rtrl_mul64_composed (rtrl_mul.c: four MULS on 16-bit halves, ~22 instructions, its
 * operands already in r0/r1), elsewhere the plain widening product (Cortex-M3/M4/M7:
 * SMULL; RV32IM: MUL + MULH; x86-64: IMUL). -DRTRL_MUL64_COMPOSED=1 forces the composed
 * path (host tests of it), =0 forbids it.
 *
 * Scaling and overflow: exact for every pair of int32 (|a b| <= 2^62); no rounding.
 */
#ifndef RTRL_MUL_H
#define RTRL_MUL_H

#include <stdint.h>

#ifndef RTRL_MUL64_COMPOSED
#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_8M_BASE__)
#define RTRL_MUL64_COMPOSED 1
#else
#define RTRL_MUL64_COMPOSED 0
#endif
#endif

/* a b from 16-bit halves (rtrl_mul.c); compiled on every target so the host tests it. */
int64_t rtrl_mul64_composed(int32_t a, int32_t b);

/* sum_j p_j z_j exactly for n >= 1 entries with |z_j| <= 2^23 (any int32 p_j, n <= 256),
 * from 32-bit multiplies only (rtrl_mul.c). The C (compiled on every target so the host
 * tests it) and, on ARMv6-M, the same arithmetic in Thumb-1 (unless -DRTRL_NO_ASM). */
int64_t rtrl_dot_split_c(const int32_t *p, const int32_t *z, uint32_t n);
#if defined(__GNUC__) && defined(__ARM_ARCH_6M__) && !defined(RTRL_NO_ASM)
int64_t rtrl_dot_split_m0(const int32_t *p, const int32_t *z, uint32_t n);
#define rtrl_dot_split rtrl_dot_split_m0
#else
#define rtrl_dot_split rtrl_dot_split_c
#endif

/* a b exactly, any int32 a, b. Scaling and overflow: see the file comment. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline int64_t rtrl_mul64(int32_t a, int32_t b)
{
#if RTRL_MUL64_COMPOSED
    return rtrl_mul64_composed(a, b);
#else
    return (int64_t)a * b;
#endif
}

#endif
