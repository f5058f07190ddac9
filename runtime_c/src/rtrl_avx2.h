/*
 * rtrl_avx2.h - vector helpers shared by the AVX2 kernels (rtrl_influence_rows.c,
 * rtrl_gradient.c). Included only when rtrl_simd.h selects RTRL_SIMD_AVX2 (x86 hosts with
 * AVX2 and without AVX-512; the Python binding is built with -march=native).
 *
 * AVX2 has VPMULDQ (int32 x int32 -> int64 on the low 32 bits of each 64-bit lane,
 * sign-extended: exact) but no 64-bit min/max or arithmetic right shift; clamps are done
 * with VPCMPGTQ + VPBLENDVB, and each clamped lane subtracts its all-ones mask (-1) from a
 * counter lane, so the counts are exactly the scalar code's.
 */
#ifndef RTRL_AVX2_H
#define RTRL_AVX2_H

#include <immintrin.h>

#include "rtrl_internal.h"

/* 8 values of M as 8 int32 lanes. */
static inline __m256i rtrl_v8_load_m(const rtrl_m_t *p)
{
#if RTRL_INFLUENCE_BITS == 32
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
#else
    return _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
#endif
}

/* 8 int32 lanes already within rtrl_m_t's range into 8 values of M (exact). */
static inline void rtrl_v8_store_m(rtrl_m_t *p, __m256i v)
{
#if RTRL_INFLUENCE_BITS == 32
    _mm256_storeu_si256((__m256i *)(void *)p, v);
#else
    /* packs works within 128-bit halves: words 0-3 and 8-11 hold lanes 0-3 and 4-7 */
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);
    _mm_storeu_si128((__m128i *)(void *)p, _mm256_castsi256_si128(w));
#endif
}

/* 4 values of M sign-extended to 4 int64 lanes (column order). */
static inline __m256i rtrl_v4_load_m64(const rtrl_m_t *p)
{
#if RTRL_INFLUENCE_BITS == 32
    return _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)p));
#else
    return _mm256_cvtepi16_epi64(_mm_loadl_epi64((const __m128i *)(const void *)p));
#endif
}

/* Clamp selected by x: lanes with x < lo take vmin, lanes with x > hi take vmax, the others
 * keep v; each clamped lane adds one to its lane of *cnt. */
static inline __m256i rtrl_v4_clamp(__m256i x, __m256i v, __m256i lo, __m256i hi, __m256i vmin,
                                    __m256i vmax, __m256i *cnt)
{
    const __m256i under = _mm256_cmpgt_epi64(lo, x);
    const __m256i over = _mm256_cmpgt_epi64(x, hi);
    *cnt = _mm256_sub_epi64(_mm256_sub_epi64(*cnt, under), over);
    return _mm256_blendv_epi8(_mm256_blendv_epi8(v, vmin, under), vmax, over);
}

/* Arithmetic right shift of int64 lanes by a constant S (1 <= S <= 62): logical shift, then
 * the shifted sign bit flipped and subtracted (two's complement sign extension). A macro:
 * the shift count of VPSRLQ must be an immediate. */
#define RTRL_V4_SRA64(X, S)                                                                \
    _mm256_sub_epi64(                                                                      \
        _mm256_xor_si256(_mm256_srli_epi64((X), (S)),                                      \
                         _mm256_set1_epi64x((long long)((uint64_t)1 << (63 - (S))))),      \
        _mm256_set1_epi64x((long long)((uint64_t)1 << (63 - (S)))))

/* Sum of the 4 int64 lanes. */
static inline uint64_t rtrl_v4_sum(__m256i v)
{
    const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

#endif /* RTRL_AVX2_H */
