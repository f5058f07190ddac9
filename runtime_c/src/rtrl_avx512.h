/*
 * rtrl_avx512.h - vector helpers shared by the AVX-512 kernels (rtrl_influence_rows.c,
 * rtrl_gradient.c). Included only when the compiler targets AVX-512 (x86 hosts; the Python
 * binding is built with -march=native); every other build uses the portable loops.
 *
 * The kernels hold 16 columns as 16 int32 lanes and form their int64 products with VPMULDQ
 * (low 32 bits of each 64-bit lane, sign-extended: exactly int32 x int32 -> int64), the even
 * columns in one vector of 8 int64 lanes and the odd ones in another.
 */
#ifndef RTRL_AVX512_H
#define RTRL_AVX512_H

#include <immintrin.h>

#include "rtrl_internal.h"

/* 16 values of M as 16 int32 lanes. */
static inline __m512i rtrl_v_load_m(const rtrl_m_t *p)
{
#if RTRL_INFLUENCE_BITS == 32
    return _mm512_loadu_si512((const void *)p);
#else
    return _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
#endif
}

/* 16 int32 lanes already within rtrl_m_t's range into 16 values of M (exact). */
static inline void rtrl_v_store_m(rtrl_m_t *p, __m512i v)
{
#if RTRL_INFLUENCE_BITS == 32
    _mm512_storeu_si512((void *)p, v);
#else
    _mm256_storeu_si256((__m256i *)(void *)p, _mm512_cvtepi32_epi16(v));
#endif
}

/* Even and odd columns (int64 lanes) clamped to [lo, hi] (within int32) and interleaved back
 * into 16 int32 lanes; each clamped lane adds one to its lane of *cnt. */
static inline __m512i rtrl_v_clamp_pack(__m512i even, __m512i odd, int64_t lo, int64_t hi,
                                        __m512i *cnt)
{
    const __m512i vlo = _mm512_set1_epi64(lo), vhi = _mm512_set1_epi64(hi);
    const __m512i one = _mm512_set1_epi64(1);
    /* dword 2k <- even lane k, dword 2k+1 <- odd lane k */
    const __m512i mix = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
    const __m512i ce = _mm512_max_epi64(_mm512_min_epi64(even, vhi), vlo);
    const __m512i co = _mm512_max_epi64(_mm512_min_epi64(odd, vhi), vlo);
    *cnt = _mm512_mask_add_epi64(*cnt, _mm512_cmpneq_epi64_mask(ce, even), *cnt, one);
    *cnt = _mm512_mask_add_epi64(*cnt, _mm512_cmpneq_epi64_mask(co, odd), *cnt, one);
    return _mm512_permutex2var_epi32(ce, mix, co);
}

#endif /* RTRL_AVX512_H */
