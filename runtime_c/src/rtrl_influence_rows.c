/*
 * rtrl_influence_rows.c - the hot loop of sparse RTRL: one chunk of columns of M, every row,
 *
 *     row_i <- sat(rnd(d_i * row_i + sum_e J_ie * saved_slot(e), 16))
 *
 * where saved holds the chunk of the active rows as they were before this step. Two
 * implementations give identical integers: portable C (every target; on Cortex-M the
 * product is one SMLAL), and an AVX-512 one for x86 hosts built with it (pip builds the
 * Python binding with -march=native).
 *
 * Scaling and overflow: d, J in Q16 with |J| <= 2^24 (clamped by the caller), M in Q_M;
 * every product is int32 x int32 and the sum of at most n + 1 <= 256 of them stays below
 * 2^63 (docs/numerics.md), so the int64 accumulation is exact in any order. The rounding
 * half is added once; the result is clamped to rtrl_m_t and every clamped entry counted.
 */
#include "rtrl_internal.h"

#if RTRL_CHUNK < 4 || RTRL_CHUNK % 4 != 0
#error "RTRL_CHUNK must be a positive multiple of 4"
#endif

#if defined(__AVX512F__) && (RTRL_CHUNK == 16 || RTRL_CHUNK == 32)
#include "rtrl_avx512.h"
#define RTRL_ROWS_AVX512 1
#endif

#define RTRL_HALF ((int64_t)1 << (RTRL_FRAC - 1))

/* rnd and clamp of one accumulator. Saturation is rare: the branches are almost never
 * taken, cheaper on a 32-bit core than a branch-free 64-bit clamp. */
static inline rtrl_m_t finish1(int64_t acc, uint32_t *nsat)
{
    const int64_t v = acc >> RTRL_FRAC;
    if (v < RTRL_M_MIN) {
        ++*nsat;
        return RTRL_M_MIN;
    }
    if (v > RTRL_M_MAX) {
        ++*nsat;
        return RTRL_M_MAX;
    }
    return (rtrl_m_t)v;
}

#ifndef RTRL_ROWS_AVX512
/* A full chunk, four columns at a time: the four accumulators stay in registers while the
 * entries stream by (on Cortex-M4 and up: LDRSH + SMLAL per product instead of reloading
 * and storing an accumulator array). RTRL_CHUNK is a multiple of 4. */
static RTRL_NOINLINE uint64_t row_full(rtrl_m_t *restrict row, int32_t d, const int32_t *jv_row,
                                       const uint16_t *slot, uint16_t ne,
                                       const rtrl_m_t *restrict saved)
{
    uint32_t nsat = 0; /* at most RTRL_CHUNK */
    for (uint32_t c = 0; c < RTRL_CHUNK; c += 4u) {
        int64_t a0 = (int64_t)d * row[c] + RTRL_HALF, a1 = (int64_t)d * row[c + 1u] + RTRL_HALF;
        int64_t a2 = (int64_t)d * row[c + 2u] + RTRL_HALF, a3 = (int64_t)d * row[c + 3u] + RTRL_HALF;
        for (uint16_t e = 0; e < ne; ++e) {
            const int32_t jv = jv_row[e];
            const rtrl_m_t *src = saved + (size_t)slot[e] * RTRL_CHUNK + c;
            a0 += (int64_t)jv * src[0];
            a1 += (int64_t)jv * src[1];
            a2 += (int64_t)jv * src[2];
            a3 += (int64_t)jv * src[3];
        }
        row[c] = finish1(a0, &nsat);
        row[c + 1u] = finish1(a1, &nsat);
        row[c + 2u] = finish1(a2, &nsat);
        row[c + 3u] = finish1(a3, &nsat);
    }
    return nsat;
}
#endif

/* The last, partial chunk (w < RTRL_CHUNK columns): one column at a time, one accumulator
 * (no array on the stack: the micro:bit has 1 KiB of it). */
static RTRL_NOINLINE uint64_t row_part(rtrl_m_t *restrict row, uint32_t w, int32_t d,
                                       const int32_t *jv_row, const uint16_t *slot, uint16_t ne,
                                       const rtrl_m_t *restrict saved)
{
    uint32_t nsat = 0;
    for (uint32_t c = 0; c < w; ++c) {
        int64_t acc = (int64_t)d * row[c] + RTRL_HALF;
        for (uint16_t e = 0; e < ne; ++e)
            acc += (int64_t)jv_row[e] * saved[(size_t)slot[e] * RTRL_CHUNK + c];
        row[c] = finish1(acc, &nsat);
    }
    return nsat;
}

#ifdef RTRL_ROWS_AVX512
/* acc_even/odd += x * j for 16 columns: the products of the even and of the odd columns go
 * to two int64 accumulators (VPMULDQ multiplies the low 32 bits of each 64-bit lane,
 * sign-extended: exactly int32 x int32 -> int64). */
#define RTRL_MAC16(E, O, X, J)                                                             \
    do {                                                                                   \
        const __m512i x_ = (X);                                                            \
        (E) = _mm512_add_epi64((E), _mm512_mul_epi32(x_, (J)));                            \
        (O) = _mm512_add_epi64((O), _mm512_mul_epi32(_mm512_srli_epi64(x_, 32), (J)));     \
    } while (0)

/* 16 finished columns from their accumulators: shift, clamp to rtrl_m_t, interleave. */
static inline __m512i finish16(__m512i e, __m512i o, __m512i *cnt)
{
    return rtrl_v_clamp_pack(_mm512_srai_epi64(e, RTRL_FRAC), _mm512_srai_epi64(o, RTRL_FRAC),
                             RTRL_M_MIN, RTRL_M_MAX, cnt);
}

/* The same row update, 16 columns per vector, the accumulators named so that they stay
 * in registers (RTRL_CHUNK is 16 or 32 here). */
static inline void row_full_v(rtrl_m_t *restrict row, int32_t d, const int32_t *jv_row,
                              const uint16_t *slot, uint16_t ne,
                              const rtrl_m_t *restrict saved, __m512i *cnt)
{
    const __m512i half = _mm512_set1_epi64(RTRL_HALF);
    const __m512i dv = _mm512_set1_epi64(d);
    __m512i e0 = half, o0 = half;
    RTRL_MAC16(e0, o0, rtrl_v_load_m(row), dv);
#if RTRL_CHUNK == 32
    __m512i e1 = half, o1 = half;
    RTRL_MAC16(e1, o1, rtrl_v_load_m(row + 16), dv);
#endif
    for (uint16_t e = 0; e < ne; ++e) {
        const __m512i jv = _mm512_set1_epi64(jv_row[e]);
        const rtrl_m_t *src = saved + (size_t)slot[e] * RTRL_CHUNK;
        RTRL_MAC16(e0, o0, rtrl_v_load_m(src), jv);
#if RTRL_CHUNK == 32
        RTRL_MAC16(e1, o1, rtrl_v_load_m(src + 16), jv);
#endif
    }
    rtrl_v_store_m(row, finish16(e0, o0, cnt));
#if RTRL_CHUNK == 32
    rtrl_v_store_m(row + 16, finish16(e1, o1, cnt));
#endif
}
#endif

uint64_t rtrl_influence_rows(rtrl_m_t *M, size_t ld, uint16_t n, uint32_t w, const int32_t *d,
                             const uint16_t *jrow, const uint16_t *jslot, const int32_t *jval,
                             const rtrl_m_t *saved)
{
    uint64_t nsat = 0;
#ifdef RTRL_ROWS_AVX512
    if (w == RTRL_CHUNK) {
        __m512i cnt = _mm512_setzero_si512();
        for (uint16_t i = 0; i < n; ++i) {
            const uint16_t e0 = jrow[i], ne = (uint16_t)(jrow[i + 1u] - e0);
            row_full_v(M + (size_t)i * ld, d[i], jval + e0, jslot + e0, ne, saved, &cnt);
        }
        return (uint64_t)_mm512_reduce_add_epi64(cnt);
    }
#endif
    for (uint16_t i = 0; i < n; ++i) {
        rtrl_m_t *row = M + (size_t)i * ld;
        const uint16_t e0 = jrow[i], ne = (uint16_t)(jrow[i + 1u] - e0);
#ifndef RTRL_ROWS_AVX512
        if (w == RTRL_CHUNK) { /* fixed trip count: the accumulators stay in registers */
            nsat += row_full(row, d[i], jval + e0, jslot + e0, ne, saved);
            continue;
        }
#endif
        nsat += row_part(row, w, d[i], jval + e0, jslot + e0, ne, saved);
    }
    return nsat;
}
