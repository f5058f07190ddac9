/*
 * rtrl_influence_rows.c - the hot loop of sparse RTRL: one chunk of columns of M, every row,
 *
 *     row_i <- sat(rnd(d_i * row_i + sum_e J_ie * saved_slot(e), 16))
 *
 * where saved holds the chunk of the active rows as they were before this step. The
 * implementations give identical integers and saturation counts: portable C (every target;
 * on Cortex-M3 and up the product is one SMLAL; on the M0/M0+/M23 rtrl_row_split, two 32-bit
 * MULS per product into 32-bit split accumulators, its inner loop in Thumb-1) and vector kernels for hosts built for them (pip
 * builds the Python binding with -march=native; rtrl_simd.h picks one): AVX-512 (16
 * columns per vector, RTRL_CHUNK 16 or 32), AVX2 (8 columns per vector pair; a whole chunk
 * per call, rtrl_chunk_rows, since at ~16 live columns and ~3 entries per row the per-row
 * call and set-up cost more than the products) and AArch64 NEON (4 columns per vector pair).
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

/* the kernel is chosen in rtrl_internal.h (RTRL_ROWS_*, from rtrl_simd.h) */
#if defined(RTRL_ROWS_AVX512)
#include "rtrl_avx512.h"
#elif defined(RTRL_ROWS_AVX2)
#include "rtrl_avx2.h"
#elif defined(RTRL_ROWS_NEON)
#include "rtrl_neon.h"
#endif
#if defined(RTRL_ROWS_AVX512) || defined(RTRL_ROWS_AVX2) || defined(RTRL_ROWS_NEON)
#define RTRL_ROWS_VECTOR 1
#endif

#define RTRL_HALF ((int64_t)1 << (RTRL_FRAC - 1))

#ifndef RTRL_ROWS_VECTOR
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
#endif

/* One product j r of the row update (j = d or J, r an entry of M). Where RTRL_GRAD_MUL32 is
 * on (cores without a 32 x 32 -> 64 multiply, 16-bit M; rtrl_internal.h), j is split once
 * into jh 2^16 + jl and every j r is (jh r) 2^16 + jl r from two exact 32-bit multiplies
 * instead of a call of libgcc's __aeabi_lmul: the same int64 products, the same sums. */
#if RTRL_GRAD_MUL32
#define RTRL_SPLIT(J) const int32_t J##_h = rtrl_hi16(J), J##_l = rtrl_lo16(J)
#define RTRL_PROD(J, R) rtrl_mul_split(J##_h, J##_l, (R))
#else
#define RTRL_SPLIT(J) (void)0
#define RTRL_PROD(J, R) ((int64_t)(J) * (R))
#endif

#ifndef RTRL_ROWS_VECTOR
/* Columns [0, w4) of one row (w4 a multiple of 4), four at a time: the four accumulators
 * stay in registers while the entries stream by (on Cortex-M4 and up: LDRSH + SMLAL per
 * product instead of reloading and storing an accumulator array). Without `own` the row is
 * zero and its diagonal products are not formed. */
RTRL_INLINE uint32_t row_quads(rtrl_m_t *restrict row, uint32_t w4, int32_t d, int own,
                                        const int32_t *jv_row, const uint16_t *slot, uint16_t ne,
                                        const rtrl_m_t *restrict saved, uint32_t *nz)
{
    uint32_t nsat = 0; /* at most RTRL_CHUNK */
    int32_t any = 0;
    RTRL_SPLIT(d);
    for (uint32_t c = 0; c < w4; c += 4u) {
        int64_t a0 = RTRL_HALF, a1 = RTRL_HALF, a2 = RTRL_HALF, a3 = RTRL_HALF;
        if (own) {
            a0 += RTRL_PROD(d, row[c]);
            a1 += RTRL_PROD(d, row[c + 1u]);
            a2 += RTRL_PROD(d, row[c + 2u]);
            a3 += RTRL_PROD(d, row[c + 3u]);
        }
        for (uint16_t e = 0; e < ne; ++e) {
            const int32_t jv = jv_row[e];
            RTRL_SPLIT(jv);
            const rtrl_m_t *src = saved + (size_t)slot[e] * RTRL_CHUNK + c;
            a0 += RTRL_PROD(jv, src[0]);
            a1 += RTRL_PROD(jv, src[1]);
            a2 += RTRL_PROD(jv, src[2]);
            a3 += RTRL_PROD(jv, src[3]);
        }
        const rtrl_m_t r0 = finish1(a0, &nsat), r1 = finish1(a1, &nsat);
        const rtrl_m_t r2 = finish1(a2, &nsat), r3 = finish1(a3, &nsat);
        row[c] = r0;
        row[c + 1u] = r1;
        row[c + 2u] = r2;
        row[c + 3u] = r3;
        any |= r0 | r1 | r2 | r3;
    }
    *nz |= any != 0;
    return nsat;
}

/* Any number of columns, one at a time, one accumulator (no array on the stack: the
 * micro:bit has 1 KiB of it): the 1-3 columns row_quads leaves. */
static RTRL_NOINLINE uint32_t row_part(rtrl_m_t *restrict row, uint32_t w, int32_t d, int own,
                                       const int32_t *jv_row, const uint16_t *slot, uint16_t ne,
                                       const rtrl_m_t *restrict saved, uint32_t *nz)
{
    uint32_t nsat = 0;
    int32_t any = 0;
    RTRL_SPLIT(d);
    for (uint32_t c = 0; c < w; ++c) {
        int64_t acc = RTRL_HALF;
        if (own)
            acc += RTRL_PROD(d, row[c]);
        for (uint16_t e = 0; e < ne; ++e) {
            const int32_t jv = jv_row[e];
            RTRL_SPLIT(jv);
            acc += RTRL_PROD(jv, saved[(size_t)slot[e] * RTRL_CHUNK + c]);
        }
        const rtrl_m_t r = finish1(acc, &nsat);
        row[c] = r;
        any |= r;
    }
    *nz |= any != 0;
    return nsat;
}
#endif

#if RTRL_GRAD_MUL32 && !defined(RTRL_ROWS_VECTOR)
/* Cores without a 32 x 32 -> 64 multiply (RTRL_GRAD_MUL32, 16-bit M): the row update in
 * 32-bit accumulators instead of int64 ones (on the Cortex-M0 four int64 accumulators live on
 * the stack, ~25 instructions per product). With j = jh 2^16 + jl (jh = j >> 16, jl in
 * [0, 2^16)) and u = jl r,
 *
 *   j r = (jh r + (u >> 16)) 2^16 + (u mod 2^16),
 *
 * so the column's sum HALF + sum_e j_e r_e is H 2^16 + L with H = sum_e (jh r + (u >> 16))
 * and L = 2^15 + sum_e (u mod 2^16), and its floor by 2^16 (the rounded result) is
 * H + (L >> 16).
 * Scaling and overflow: each H term is floor(j r / 2^16), within 2^23 in magnitude for
 * |j| <= 2^24 (J is clamped there; the caller checks d) and |r| <= 2^15, so for at most 255
 * terms (the caller checks own + ne) |H| < 2^31 - 2^23; L < 2^15 + 255 * 2^16 < 2^24; the
 * result is within int32 and clamped to rtrl_m_t as finish1 does (counted). The same
 * integers as row_quads / row_part. */
#define RTRL_MAC_SPLIT(JH, JL, R, H, L)                                                    \
    do {                                                                                   \
        const int32_t r_ = (R);                                                            \
        const int32_t u_ = (JL) * r_;                                                      \
        (H) += (JH) * r_ + (u_ >> 16);                                                     \
        (L) += (uint32_t)u_ & 0xFFFFu;                                                     \
    } while (0)

static inline rtrl_m_t finish_split(int32_t H, uint32_t L, uint32_t *nsat)
{
    const int32_t v = H + (int32_t)(L >> 16);
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

/* acc = {H0, L0, H1, L1} += the split sums of the entries [jv, jend) (jend > jv) over the
 * two columns at base[slot * RTRL_CHUNK] and the one after it: the specification of the
 * Thumb-1 loop below. */
void rtrl_split2_c(const int32_t *jv, const uint16_t *slot, const rtrl_m_t *base, const int32_t *jend,
                   int32_t acc[4])
{
    int32_t H0 = acc[0], H1 = acc[2];
    uint32_t L0 = (uint32_t)acc[1], L1 = (uint32_t)acc[3];
    for (; jv != jend; ++jv, ++slot) {
        const int32_t j = *jv;
        const int32_t jh = j >> 16, jl = (int32_t)((uint32_t)j & 0xFFFFu);
        const rtrl_m_t *src = base + (size_t)*slot * RTRL_CHUNK;
        RTRL_MAC_SPLIT(jh, jl, src[0], H0, L0);
        RTRL_MAC_SPLIT(jh, jl, src[1], H1, L1);
    }
    acc[0] = H0;
    acc[1] = (int32_t)L0;
    acc[2] = H1;
    acc[3] = (int32_t)L1;
}

#if defined(__GNUC__) && defined(__ARM_ARCH_6M__) && !defined(RTRL_NO_ASM) && (RTRL_CHUNK == 16 || RTRL_CHUNK == 32)
/* rtrl_split2_c on the Cortex-M0/M0+ (GCC spilled the four accumulators: ~22 instructions per
 * product; this loop takes 15.5): the accumulators in r8-r11, the list's end in ip, the
 * entry's u = jl r as j r - (jh r) 2^16 modulo 2^32 (exact: |jl r| < 2^31), so that j, its
 * product and two temporaries fit the low registers beside the three pointers.
 * r0 = jv, r1 = slot, r2 = base, r3 = jend, [sp] = acc. -DRTRL_NO_ASM builds the C. */
void rtrl_split2_m0(const int32_t *jv, const uint16_t *slot, const rtrl_m_t *base, const int32_t *jend,
                    int32_t acc[4]);
#if RTRL_CHUNK == 16
#define RTRL_SPLIT2_SHIFT "5"
#else
#define RTRL_SPLIT2_SHIFT "6"
#endif
__asm__(".pushsection .text.rtrl_split2_m0,\"ax\",%progbits\n"
        "    .syntax unified\n"
        "    .thumb\n"
        "    .balign 2\n"
        "    .global rtrl_split2_m0\n"
        "    .thumb_func\n"
        "    .type rtrl_split2_m0, %function\n"
        "rtrl_split2_m0:\n"
        "    push {r4, r5, r6, r7, lr}\n"
        "    mov r4, r8\n"
        "    mov r5, r9\n"
        "    mov r6, r10\n"
        "    mov r7, r11\n"
        "    push {r4, r5, r6, r7}\n"
        "    ldr r4, [sp, #36]\n"          /* acc */
        "    ldm r4, {r4, r5, r6, r7}\n"
        "    mov r8, r4\n"                 /* H0 */
        "    mov r9, r5\n"                 /* L0 */
        "    mov r10, r6\n"                /* H1 */
        "    mov r11, r7\n"                /* L1 */
        "    mov ip, r3\n"                 /* jend */
        "1:\n"
        "    ldm r0!, {r3}\n"              /* j */
        "    ldrh r4, [r1]\n"
        "    adds r1, #2\n"
        "    lsls r4, r4, #" RTRL_SPLIT2_SHIFT "\n" /* slot * RTRL_CHUNK * 2 bytes */
        "    ldrsh r5, [r2, r4]\n"         /* r = src[0] */
        "    movs r6, r5\n"
        "    muls r6, r3\n"                /* j r mod 2^32 */
        "    asrs r7, r3, #16\n"
        "    muls r5, r7\n"                /* jh r */
        "    lsls r7, r5, #16\n"
        "    subs r6, r6, r7\n"            /* u = jl r */
        "    asrs r7, r6, #16\n"
        "    adds r5, r5, r7\n"
        "    add r8, r5\n"                 /* H0 += jh r + (u >> 16) */
        "    uxth r6, r6\n"
        "    add r9, r6\n"                 /* L0 += u mod 2^16 */
        "    adds r4, #2\n"
        "    ldrsh r5, [r2, r4]\n"         /* r = src[1] */
        "    movs r6, r5\n"
        "    muls r6, r3\n"
        "    asrs r7, r3, #16\n"
        "    muls r5, r7\n"
        "    lsls r7, r5, #16\n"
        "    subs r6, r6, r7\n"
        "    asrs r7, r6, #16\n"
        "    adds r5, r5, r7\n"
        "    add r10, r5\n"                /* H1 */
        "    uxth r6, r6\n"
        "    add r11, r6\n"                /* L1 */
        "    cmp r0, ip\n"
        "    bne 1b\n"
        "    ldr r4, [sp, #36]\n"
        "    mov r0, r8\n"
        "    mov r1, r9\n"
        "    mov r2, r10\n"
        "    mov r3, r11\n"
        "    stm r4!, {r0, r1, r2, r3}\n"
        "    pop {r4, r5, r6, r7}\n"
        "    mov r8, r4\n"
        "    mov r9, r5\n"
        "    mov r10, r6\n"
        "    mov r11, r7\n"
        "    pop {r4, r5, r6, r7, pc}\n"
        "    .size rtrl_split2_m0, . - rtrl_split2_m0\n"
        "    .popsection\n");
#define RTRL_SPLIT2 rtrl_split2_m0
#else
#define RTRL_SPLIT2 rtrl_split2_c
#endif

/* Columns [0, w) of one row: pairs of columns through RTRL_SPLIT2, the last one alone when
 * w is odd. Called straight from the influence update (rtrl_internal.h), whose rows are a
 * few columns wide: rtrl_row_update's frame costs more than their products. */
uint32_t rtrl_row_split(rtrl_m_t *restrict row, uint32_t w, int32_t d, int own, const int32_t *jv_row,
                        const uint16_t *slot, uint16_t ne, const rtrl_m_t *restrict saved, uint32_t *nz)
{
    uint32_t nsat = 0;
    int32_t any = 0;
    const int32_t dh = d >> 16, dl = (int32_t)((uint32_t)d & 0xFFFFu);
    const int32_t *const jend = jv_row + ne;
    uint32_t c = 0;
    for (; c + 1u < w; c += 2u) {
        int32_t acc[4] = {0, 0x8000, 0, 0x8000};
        if (own) {
            uint32_t L0 = 0x8000u, L1 = 0x8000u;
            RTRL_MAC_SPLIT(dh, dl, row[c], acc[0], L0);
            RTRL_MAC_SPLIT(dh, dl, row[c + 1u], acc[2], L1);
            acc[1] = (int32_t)L0;
            acc[3] = (int32_t)L1;
        }
        if (ne)
            RTRL_SPLIT2(jv_row, slot, saved + c, jend, acc);
        const rtrl_m_t r0 = finish_split(acc[0], (uint32_t)acc[1], &nsat);
        const rtrl_m_t r1 = finish_split(acc[2], (uint32_t)acc[3], &nsat);
        row[c] = r0;
        row[c + 1u] = r1;
        any |= r0 | r1;
    }
    if (c < w) {
        int32_t H = 0;
        uint32_t L = 0x8000u;
        if (own)
            RTRL_MAC_SPLIT(dh, dl, row[c], H, L);
        const rtrl_m_t *const base = saved + c;
        const uint16_t *sp = slot;
        for (const int32_t *jp = jv_row; jp != jend; ++jp, ++sp) {
            const int32_t j = *jp;
            RTRL_MAC_SPLIT(j >> 16, (int32_t)((uint32_t)j & 0xFFFFu), base[(size_t)*sp * RTRL_CHUNK], H, L);
        }
        const rtrl_m_t r = finish_split(H, L, &nsat);
        row[c] = r;
        any |= r;
    }
    *nz |= any != 0;
    return nsat;
}
#endif

#ifdef RTRL_ROWS_AVX2
/* acc_even/odd += x * j for 8 columns (x: 8 int32 lanes; j: an int32 in every 64-bit lane):
 * VPMULDQ multiplies the low 32 bits of each 64-bit lane, sign-extended, so the even
 * columns are x itself and the odd ones x shifted down by 32 bits. */
#define RTRL_MAC8(E, O, X, J)                                                              \
    do {                                                                                   \
        const __m256i x_ = (X);                                                            \
        (E) = _mm256_add_epi64((E), _mm256_mul_epi32(x_, (J)));                            \
        (O) = _mm256_add_epi64((O), _mm256_mul_epi32(_mm256_srli_epi64(x_, 32), (J)));     \
    } while (0)

/* 8 finished columns: acc >> RTRL_FRAC clamped to rtrl_m_t, decided on acc before the
 * shift (acc >> F < MIN iff acc < MIN 2^F; acc >> F > MAX iff acc > (MAX + 1) 2^F - 1). In
 * range, the low 32 bits of the logical shift are those of the arithmetic one. The even and
 * odd columns are interleaved back into 8 int32 lanes. */
static inline __m256i finish8(__m256i e, __m256i o, __m256i *cnt)
{
    const __m256i lo = _mm256_set1_epi64x((long long)((int64_t)RTRL_M_MIN * ((int64_t)1 << RTRL_FRAC)));
    const __m256i hi =
        _mm256_set1_epi64x((long long)(((int64_t)RTRL_M_MAX + 1) * ((int64_t)1 << RTRL_FRAC) - 1));
    const __m256i vmin = _mm256_set1_epi64x(RTRL_M_MIN), vmax = _mm256_set1_epi64x(RTRL_M_MAX);
    const __m256i ce = rtrl_v4_clamp(e, _mm256_srli_epi64(e, RTRL_FRAC), lo, hi, vmin, vmax, cnt);
    const __m256i co = rtrl_v4_clamp(o, _mm256_srli_epi64(o, RTRL_FRAC), lo, hi, vmin, vmax, cnt);
    /* dword 2k <- even column k, dword 2k+1 <- odd column k */
    return _mm256_blend_epi32(ce, _mm256_slli_epi64(co, 32), 0xAA);
}

/* Saturation is rare: the clamps above (16 instructions per 8 columns) run only for rows
 * where some accumulator is out of range. acc is in range iff acc - MIN 2^F, as an unsigned
 * number, is below 2^(bits + F), i.e. its top 48 - bits bits are zero (an acc so large that
 * the subtraction wraps has them set too). RTRL_INRANGE accumulates those differences. */
#define RTRL_INRANGE(T, E, O)                                                              \
    (T) = _mm256_or_si256(                                                                 \
        (T), _mm256_or_si256(_mm256_sub_epi64((E), rtrl_lo_acc()), _mm256_sub_epi64((O), rtrl_lo_acc())))

static inline __m256i rtrl_lo_acc(void)
{
    return _mm256_set1_epi64x((long long)((int64_t)RTRL_M_MIN * ((int64_t)1 << RTRL_FRAC)));
}

/* nonzero when every accumulator behind T is in range */
static inline int in_range(__m256i t)
{
    const __m256i top = _mm256_set1_epi64x((long long)~(((uint64_t)1 << (RTRL_INFLUENCE_BITS + RTRL_FRAC)) - 1u));
    return _mm256_testz_si256(t, top);
}

/* finish8 for accumulators known to be in range: acc >> F's low 32 bits are bits F..F+31
 * of acc; the odd column's go to the high dword (bits F..F+31 of o << (32 - F)). */
static inline __m256i finish8_fast(__m256i e, __m256i o)
{
    return _mm256_blend_epi32(_mm256_srli_epi64(e, RTRL_FRAC), _mm256_slli_epi64(o, 32 - RTRL_FRAC), 0xAA);
}

/* 8 columns of one row: saved points at the block's first column in slot 0. The result's
 * lanes are ORed into *any (in range, a lane is the stored value). */
static inline void row_block8(rtrl_m_t *restrict row, int32_t d, int own, const int32_t *jv_row,
                              const uint16_t *slot, uint16_t ne, const rtrl_m_t *restrict saved,
                              __m256i *cnt, __m256i *any)
{
    const __m256i half = _mm256_set1_epi64x(RTRL_HALF);
    __m256i e0 = half, o0 = half;
    if (own)
        RTRL_MAC8(e0, o0, rtrl_v8_load_m(row), _mm256_set1_epi64x(d));
    for (uint16_t e = 0; e < ne; ++e)
        RTRL_MAC8(e0, o0, rtrl_v8_load_m(saved + (size_t)slot[e] * RTRL_CHUNK),
                  _mm256_set1_epi64x(jv_row[e]));
    __m256i t = _mm256_setzero_si256();
    RTRL_INRANGE(t, e0, o0);
    const __m256i r = in_range(t) ? finish8_fast(e0, o0) : finish8(e0, o0, cnt);
    *any = _mm256_or_si256(*any, r);
    rtrl_v8_store_m(row, r);
}

#if RTRL_CHUNK == 16 || RTRL_CHUNK == 32
/* A full chunk with every accumulator named, so that they stay in registers (4 or 8 of the
 * 16 ymm registers) and each entry's factor is broadcast once. */
static inline void row_full_v(rtrl_m_t *restrict row, int32_t d, int own, const int32_t *jv_row,
                              const uint16_t *slot, uint16_t ne, const rtrl_m_t *restrict saved,
                              __m256i *cnt, __m256i *any)
{
    const __m256i half = _mm256_set1_epi64x(RTRL_HALF);
    const __m256i dv = _mm256_set1_epi64x(d);
    __m256i e0 = half, o0 = half, e1 = half, o1 = half;
#if RTRL_CHUNK == 32
    __m256i e2 = half, o2 = half, e3 = half, o3 = half;
#endif
    if (own) {
        RTRL_MAC8(e0, o0, rtrl_v8_load_m(row), dv);
        RTRL_MAC8(e1, o1, rtrl_v8_load_m(row + 8), dv);
#if RTRL_CHUNK == 32
        RTRL_MAC8(e2, o2, rtrl_v8_load_m(row + 16), dv);
        RTRL_MAC8(e3, o3, rtrl_v8_load_m(row + 24), dv);
#endif
    }
    for (uint16_t e = 0; e < ne; ++e) {
        const __m256i jv = _mm256_set1_epi64x(jv_row[e]);
        const rtrl_m_t *src = saved + (size_t)slot[e] * RTRL_CHUNK;
        RTRL_MAC8(e0, o0, rtrl_v8_load_m(src), jv);
        RTRL_MAC8(e1, o1, rtrl_v8_load_m(src + 8), jv);
#if RTRL_CHUNK == 32
        RTRL_MAC8(e2, o2, rtrl_v8_load_m(src + 16), jv);
        RTRL_MAC8(e3, o3, rtrl_v8_load_m(src + 24), jv);
#endif
    }
    __m256i t = _mm256_setzero_si256();
    RTRL_INRANGE(t, e0, o0);
    RTRL_INRANGE(t, e1, o1);
#if RTRL_CHUNK == 32
    RTRL_INRANGE(t, e2, o2);
    RTRL_INRANGE(t, e3, o3);
#endif
    const int fast = in_range(t);
    __m256i r0 = fast ? finish8_fast(e0, o0) : finish8(e0, o0, cnt);
    __m256i r1 = fast ? finish8_fast(e1, o1) : finish8(e1, o1, cnt);
    rtrl_v8_store_m(row, r0);
    rtrl_v8_store_m(row + 8, r1);
    r0 = _mm256_or_si256(r0, r1);
#if RTRL_CHUNK == 32
    const __m256i r2 = fast ? finish8_fast(e2, o2) : finish8(e2, o2, cnt);
    const __m256i r3 = fast ? finish8_fast(e3, o3) : finish8(e3, o3, cnt);
    rtrl_v8_store_m(row + 16, r2);
    rtrl_v8_store_m(row + 24, r3);
    r0 = _mm256_or_si256(r0, _mm256_or_si256(r2, r3));
#endif
    *any = _mm256_or_si256(*any, r0);
}
#endif
#endif

#ifdef RTRL_ROWS_NEON
/* 4 columns of one row (saved points at the block's first column in slot 0): SMLAL widens
 * each int32 x int32 product exactly into the int64 accumulators of columns 0-1 and 2-3. */
static inline void row_block4(rtrl_m_t *restrict row, int32_t d, int own, const int32_t *jv_row,
                              const uint16_t *slot, uint16_t ne, const rtrl_m_t *restrict saved,
                              int64x2_t *cnt, int32x4_t *any)
{
    const int64x2_t half = vdupq_n_s64(RTRL_HALF);
    int64x2_t a0 = half, a1 = half;
    if (own) {
        const int32x4_t x = rtrl_n4_load_m(row);
        a0 = vmlal_n_s32(half, vget_low_s32(x), d);
        a1 = vmlal_high_n_s32(half, x, d);
    }
    for (uint16_t e = 0; e < ne; ++e) {
        const int32x4_t s = rtrl_n4_load_m(saved + (size_t)slot[e] * RTRL_CHUNK);
        a0 = vmlal_n_s32(a0, vget_low_s32(s), jv_row[e]);
        a1 = vmlal_high_n_s32(a1, s, jv_row[e]);
    }
    a0 = rtrl_n2_clamp(vshrq_n_s64(a0, RTRL_FRAC), RTRL_M_MIN, RTRL_M_MAX, cnt);
    a1 = rtrl_n2_clamp(vshrq_n_s64(a1, RTRL_FRAC), RTRL_M_MIN, RTRL_M_MAX, cnt);
    const int32x4_t r = rtrl_n4_narrow(a0, a1);
    *any = vorrq_s32(*any, r);
    rtrl_n4_store_m(row, r);
}
#endif

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

/* 16 columns of one row: saved points at the block's first column in slot 0. */
static inline void row_block16(rtrl_m_t *restrict row, int32_t d, int own, const int32_t *jv_row,
                               const uint16_t *slot, uint16_t ne, const rtrl_m_t *restrict saved,
                               __m512i *cnt, __m512i *any)
{
    const __m512i half = _mm512_set1_epi64(RTRL_HALF);
    __m512i e0 = half, o0 = half;
    if (own)
        RTRL_MAC16(e0, o0, rtrl_v_load_m(row), _mm512_set1_epi64(d));
    for (uint16_t e = 0; e < ne; ++e)
        RTRL_MAC16(e0, o0, rtrl_v_load_m(saved + (size_t)slot[e] * RTRL_CHUNK),
                   _mm512_set1_epi64(jv_row[e]));
    const __m512i r = finish16(e0, o0, cnt);
    *any = _mm512_or_si512(*any, r);
    rtrl_v_store_m(row, r);
}
#endif

#ifdef RTRL_HAVE_CHUNK_ROWS
/* RTRL_MAC8 on the 8 columns at P, for a block that is not the row's last (so P[8] is an
 * entry of the same row): with 32-bit M the odd columns are loaded one entry on, each in
 * the low half of its 64-bit lane (VPMULDQ ignores the high half), a load folded into the
 * multiply instead of a shift. The factor J may be broadcast as 32 bits: VPMULDQ reads the
 * low half of each lane. */
#if RTRL_INFLUENCE_BITS == 32
#define RTRL_MAC8_IN(E, O, P, J)                                                           \
    do {                                                                                   \
        const rtrl_m_t *p_ = (P);                                                          \
        (E) = _mm256_add_epi64((E), _mm256_mul_epi32(rtrl_v8_load_m(p_), (J)));            \
        (O) = _mm256_add_epi64((O), _mm256_mul_epi32(rtrl_v8_load_m(p_ + 1), (J)));        \
    } while (0)
#else
#define RTRL_MAC8_IN(E, O, P, J) RTRL_MAC8(E, O, rtrl_v8_load_m(P), J)
#endif

static const rtrl_m_t zero_row[RTRL_CHUNK]; /* the source of the entries not counted */

/* Every row of todo over NB blocks of 8 columns, the last one partial when TAIL (NB and TAIL
 * constants after inlining: the 2 NB accumulators stay in registers and each entry's factor
 * is broadcast once per row). The arithmetic is row_full_v's / row_block8's; what this saves
 * is a call, its set-up and a loop over blocks per row, which cost more than the products at
 * the sparse configurations' ~16 live columns and ~3 entries per row. A partial last block
 * goes through a copy padded with zeros, as in rtrl_row_update. src[q] is source q's saved
 * row (zero_row when not counted), cnt1[q] 1 when counted. */
RTRL_INLINE uint32_t chunk_rows_nb(const int NB, const int TAIL, const rtrl_t *ctx, size_t off,
                                   uint32_t kw, uint32_t cw, const rtrl_m_t *const *src,
                                   const uint8_t *cnt1, const uint32_t *todo, const uint32_t *flags,
                                   uint32_t *fresh, uint64_t *done)
{
    const size_t nw = RTRL_NZ_WORDS(ctx->cfg.n), P = ctx->P;
    rtrl_m_t *const M = ctx->M + off;
    const int32_t *const dvec = ctx->dvec, *const lval = ctx->lval;
    const uint16_t *const jrow = ctx->jrow, *const jslot = ctx->jslot;
    const uint32_t rem = kw - 8u * (uint32_t)(NB - 1); /* columns of the last block */
    const __m256i half = _mm256_set1_epi64x(RTRL_HALF);
    __m256i cnt = _mm256_setzero_si256();
    uint64_t dn = 0;
    for (size_t q = 0; q < nw; ++q) {
        const uint32_t own_bits = flags[q];
        uint32_t nzb = 0;
        for (uint32_t bits = todo[q]; bits != 0; bits &= bits - 1u) {
            const uint32_t b = (uint32_t)__builtin_ctz(bits);
            const size_t i = q * 32u + b;
            const uint32_t own = (own_bits >> b) & 1u;
            const uint32_t e0 = jrow[i], e1 = jrow[i + 1u];
            rtrl_m_t *restrict row = M + i * P;
            rtrl_m_t tmp[8];
            rtrl_m_t *const last = TAIL ? tmp : row + 8 * (NB - 1);
            __m256i e[4], o[4];
            for (int k = 0; k < NB; ++k)
                e[k] = o[k] = half;
            if (own) {
                if (TAIL)
                    for (uint32_t c = 0; c < 8u; ++c)
                        tmp[c] = c < rem ? row[8u * (uint32_t)(NB - 1) + c] : 0;
                const __m256i dv = _mm256_set1_epi32(dvec[i]);
                for (int k = 0; k < NB - 1; ++k)
                    RTRL_MAC8_IN(e[k], o[k], row + 8 * k, dv);
                RTRL_MAC8(e[NB - 1], o[NB - 1], rtrl_v8_load_m(last), dv);
            }
            uint32_t ne = 0;
            for (uint32_t x = e0; x < e1; ++x) {
                const __m256i jx = _mm256_set1_epi32(lval[x]);
                const uint16_t sq = jslot[x];
                const rtrl_m_t *s = src[sq];
                ne += cnt1[sq];
                for (int k = 0; k < NB - 1; ++k)
                    RTRL_MAC8_IN(e[k], o[k], s + 8 * k, jx);
                RTRL_MAC8(e[NB - 1], o[NB - 1], rtrl_v8_load_m(s + 8 * (NB - 1)), jx);
            }
            __m256i t = _mm256_setzero_si256(), any = _mm256_setzero_si256();
            for (int k = 0; k < NB; ++k)
                RTRL_INRANGE(t, e[k], o[k]);
            if (in_range(t)) {
                for (int k = 0; k < NB; ++k) {
                    const __m256i r = finish8_fast(e[k], o[k]);
                    rtrl_v8_store_m(k == NB - 1 ? last : row + 8 * k, r);
                    any = _mm256_or_si256(any, r);
                }
            } else {
                for (int k = 0; k < NB; ++k) {
                    const __m256i r = finish8(e[k], o[k], &cnt);
                    rtrl_v8_store_m(k == NB - 1 ? last : row + 8 * k, r);
                    any = _mm256_or_si256(any, r);
                }
            }
            if (TAIL)
                for (uint32_t c = 0; c < rem; ++c)
                    row[8u * (uint32_t)(NB - 1) + c] = tmp[c];
            nzb |= (uint32_t)!_mm256_testz_si256(any, any) << b;
            dn += (uint64_t)cw * (own + ne);
        }
        fresh[q] |= nzb;
    }
    *done += dn;
    return (uint32_t)rtrl_v4_sum(cnt);
}

uint32_t rtrl_chunk_rows(const rtrl_t *ctx, size_t off, uint32_t kw, uint32_t cw, uint16_t nact,
                         const uint32_t *todo, const uint32_t *flags, uint32_t *fresh, uint64_t *done)
{
    const rtrl_m_t *src[RTRL_MAX_UNITS];
    uint8_t cnt1[RTRL_MAX_UNITS];
    for (uint16_t q = 0; q < nact; ++q) {
        const uint16_t slot = ctx->cursor[q];
        cnt1[q] = slot != RTRL_ABSENT;
        src[q] = slot != RTRL_ABSENT ? ctx->saved + (size_t)slot * RTRL_CHUNK : zero_row;
    }
#define RTRL_NB(NB, TAIL) chunk_rows_nb(NB, TAIL, ctx, off, kw, cw, src, cnt1, todo, flags, fresh, done)
    const uint32_t nb = (kw + 7u) / 8u;
    if (kw % 8u == 0) {
        switch (nb) {
        case 1:
            return RTRL_NB(1, 0);
        case 2:
            return RTRL_NB(2, 0);
        case 3:
            return RTRL_NB(3, 0);
        default:
            return RTRL_NB(4, 0);
        }
    }
    switch (nb) {
    case 1:
        return RTRL_NB(1, 1);
    case 2:
        return RTRL_NB(2, 1);
    case 3:
        return RTRL_NB(3, 1);
    default:
        return RTRL_NB(4, 1);
    }
#undef RTRL_NB
}
#endif

/* Vector builds: the block width, and the columns of a partial block go through a copy padded
 * with zeros (the caller pads each saved row with zeros up to a multiple of the width, so the
 * padding lanes compute exactly zero: no clamp, nothing ORed into *nz). */
#if defined(RTRL_ROWS_AVX512)
#define RTRL_VW 16
#elif defined(RTRL_ROWS_AVX2)
#define RTRL_VW 8
#elif defined(RTRL_ROWS_NEON)
#define RTRL_VW 4
#endif

uint32_t rtrl_row_update(rtrl_m_t *row, uint32_t w, int32_t d, int own, const int32_t *jv,
                         const uint16_t *slot, uint16_t ne, const rtrl_m_t *saved, uint32_t *nz)
{
#if defined(RTRL_ROWS_VECTOR)
#if defined(RTRL_ROWS_AVX512)
    __m512i cnt = _mm512_setzero_si512(), any = _mm512_setzero_si512();
#define RTRL_BLOCK(R, S) row_block16((R), d, own, jv, slot, ne, (S), &cnt, &any)
#elif defined(RTRL_ROWS_AVX2)
    __m256i cnt = _mm256_setzero_si256(), any = _mm256_setzero_si256();
#define RTRL_BLOCK(R, S) row_block8((R), d, own, jv, slot, ne, (S), &cnt, &any)
#if RTRL_CHUNK == 16 || RTRL_CHUNK == 32
    if (w == RTRL_CHUNK) {
        row_full_v(row, d, own, jv, slot, ne, saved, &cnt, &any);
        *nz |= !_mm256_testz_si256(any, any);
        return (uint32_t)rtrl_v4_sum(cnt);
    }
#endif
#else
    int64x2_t cnt = vdupq_n_s64(0);
    int32x4_t any = vdupq_n_s32(0);
#define RTRL_BLOCK(R, S) row_block4((R), d, own, jv, slot, ne, (S), &cnt, &any)
#endif
    uint32_t c = 0;
    for (; c + RTRL_VW <= w; c += RTRL_VW)
        RTRL_BLOCK(row + c, saved + c);
    if (c < w) {
        rtrl_m_t tmp[RTRL_VW] = {0};
        for (uint32_t q = 0; q < w - c; ++q)
            tmp[q] = row[c + q];
        RTRL_BLOCK(tmp, saved + c);
        for (uint32_t q = 0; q < w - c; ++q)
            row[c + q] = tmp[q];
    }
#undef RTRL_BLOCK
#if defined(RTRL_ROWS_AVX512)
    *nz |= _mm512_test_epi32_mask(any, any) != 0;
    return (uint32_t)_mm512_reduce_add_epi64(cnt);
#elif defined(RTRL_ROWS_AVX2)
    *nz |= !_mm256_testz_si256(any, any);
    return (uint32_t)rtrl_v4_sum(cnt);
#else
    *nz |= vmaxvq_u32(vreinterpretq_u32_s32(any)) != 0;
    return (uint32_t)vaddvq_s64(cnt);
#endif
#else
#if RTRL_GRAD_MUL32
    if (rtrl_row_split_ok(d, own, ne))
        return rtrl_row_split(row, w, d, own, jv, slot, ne, saved, nz);
#endif
    const uint32_t w4 = w & ~3u;
    uint32_t nsat = 0;
    if (w4)
        nsat += row_quads(row, w4, d, own, jv, slot, ne, saved, nz);
    if (w4 < w)
        nsat += row_part(row + w4, w - w4, d, own, jv, slot, ne, saved + w4, nz);
    return nsat;
#endif
}
