/*
 * rtrl_neon.h - vector helpers shared by the NEON kernels (rtrl_influence_rows.c,
 * rtrl_gradient.c). Included only when rtrl_simd.h selects RTRL_SIMD_NEON (AArch64 hosts:
 * Raspberry Pi 4/5, Apple silicon, Graviton; never the Cortex-M firmware).
 *
 * Four columns are held as int32x4; their products are widened exactly by SMLAL/SMULL
 * (int32 x int32 -> int64) into two int64x2 accumulators (columns 0-1 and 2-3). AArch64 has
 * 64-bit compares but no 64-bit min/max: clamps are compare + select, and each clamped lane
 * subtracts its all-ones mask (-1) from a counter lane.
 */
#ifndef RTRL_NEON_H
#define RTRL_NEON_H

#include <arm_neon.h>

#include "rtrl_internal.h"

/* 4 values of M as 4 int32 lanes. */
static inline int32x4_t rtrl_n4_load_m(const rtrl_m_t *p)
{
#if RTRL_INFLUENCE_BITS == 32
    return vld1q_s32(p);
#else
    return vmovl_s16(vld1_s16(p));
#endif
}

/* 4 int32 lanes already within rtrl_m_t's range into 4 values of M (exact). */
static inline void rtrl_n4_store_m(rtrl_m_t *p, int32x4_t v)
{
#if RTRL_INFLUENCE_BITS == 32
    vst1q_s32(p, v);
#else
    vst1_s16(p, vmovn_s32(v));
#endif
}

/* x clamped to [lo, hi]; each clamped lane adds one to its lane of *cnt. */
static inline int64x2_t rtrl_n2_clamp(int64x2_t x, int64_t lo, int64_t hi, int64x2_t *cnt)
{
    const int64x2_t vlo = vdupq_n_s64(lo), vhi = vdupq_n_s64(hi);
    const uint64x2_t under = vcltq_s64(x, vlo), over = vcgtq_s64(x, vhi);
    *cnt = vsubq_s64(vsubq_s64(*cnt, vreinterpretq_s64_u64(under)), vreinterpretq_s64_u64(over));
    return vbslq_s64(under, vlo, vbslq_s64(over, vhi, x));
}

/* Two pairs of int64 lanes within int32 into 4 int32 lanes (exact). */
static inline int32x4_t rtrl_n4_narrow(int64x2_t lo, int64x2_t hi)
{
    return vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
}

#endif /* RTRL_NEON_H */
