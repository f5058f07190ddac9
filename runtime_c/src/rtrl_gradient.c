/*
 * rtrl_gradient.c - readout, squared-error loss and gradient accumulation.
 *
 * The readout reads z = [y or c, taps, 1.0]. With dy = dL/ds for its state source s, the
 * cell gradient is (dy * a) M_t for s = y (rows with dy_i a_i != 0, plus the threshold's
 * immediate term dy_i (-c_i psi_i)) or dy M_t for s = c (every row with dy_i != 0),
 * accumulated row by row as contiguous updates of each segment's live columns, skipping the
 * (row, segment) blocks of M that are zero (their flag is clear, rtrl.h); the readout gets
 * dout z^T (SGD) or one RLS step (rtrl_rls.c).
 *
 * Softmax and -ln p use the pow2 and log2 tables (errors <= 1.8 and 1.6 LSB of Q16).
 *
 * Scaling and overflow: out, dy, ga are Q16 in int32 (saturated, counted); |out - target|
 * is bounded by 128.0 (counted) and |p - onehot| by 1, so dy's int64 sum over k <= 255
 * outputs is exact.
 * Each product ga_i * M_ip is a single int64 (<= 2^62) rounded to Q24 and added to the
 * int32 accumulator with saturation (counted). Every product of two int32 factors is one
 * rtrl_mul64 (rtrl_mul.h: a widening multiply, on the Cortex-M0 the composed one instead of
 * libgcc's 64 x 64 __aeabi_lmul); c psi, an int64 after rounding, is used as an int32
 * factor where it fits (always, |c| <= 1.0) and as the int64 it is otherwise.
 */
#include "rtrl_internal.h"
#include "rtrl_tables.h"

#include "rtrl_simd.h"
#if defined(RTRL_SIMD_AVX512)
#include "rtrl_avx512.h"
#elif defined(RTRL_SIMD_AVX2)
#include "rtrl_avx2.h"
#elif defined(RTRL_SIMD_NEON)
#include "rtrl_neon.h"
#endif

#define GSHIFT (RTRL_MFRAC - 8u) /* Q16 x Q_M -> Q24 */

/* Linear interpolation in a 257-entry table at a Q16 fraction f in [0, 2^16). */
static int64_t interp(const int32_t *table, int64_t f)
{
    const int64_t idx = f >> RTRL_EXP_STEP_BITS;
    const int64_t fr = f & ((1 << RTRL_EXP_STEP_BITS) - 1);
    const int64_t lo = table[idx], hi = table[idx + 1];
    return lo + rtrl_rnd((hi - lo) * fr, RTRL_EXP_STEP_BITS);
}

/* p = softmax(out) in Q16, into p (k entries). exp(z) = 2^(z log2 e): integer part a shift,
 * fractional part the pow2 table; p_i = round(e_i 2^16 / sum e) (division, half up). */
static void softmax(const int32_t *out, uint16_t k, int32_t *p)
{
    int32_t mx = out[0];
    for (uint16_t q = 1; q < k; ++q)
        mx = out[q] > mx ? out[q] : mx;
    int64_t total = 0;
    for (uint16_t q = 0; q < k; ++q) {
        const int64_t y = rtrl_rnd(((int64_t)out[q] - mx) * RTRL_LOG2E_Q, RTRL_FRAC); /* <= 0 */
        const int64_t ip = y >> RTRL_FRAC; /* floor */
        const int64_t v = interp(rtrl_pow2_table, y - ip * RTRL_ONE);
        const int64_t sh = -ip;
        p[q] = (int32_t)(sh >= 31 ? 0 : (sh == 0 ? v : rtrl_rnd(v, (unsigned)sh)));
        total += p[q];
    }
    for (uint16_t q = 0; q < k; ++q)
        p[q] = (int32_t)(((int64_t)p[q] * RTRL_ONE + (total >> 1)) / total);
}

/* -ln(p) in Q16 for a probability p in Q16 (0 taken as one LSB): log2 from the position of
 * the leading one and the log2 table on the mantissa. */
static int32_t neg_log(int32_t p)
{
    int64_t v = p < 1 ? 1 : p;
    int m = 0;
    while ((v >> (m + 1)) != 0)
        ++m; /* floor(log2 v), at most 16 */
    const int64_t r = v << (RTRL_FRAC - m); /* mantissa in [2^16, 2^17) */
    const int64_t log2p = (int64_t)(m - (int)RTRL_FRAC) * RTRL_ONE + interp(rtrl_log2_table, r - RTRL_ONE);
    return (int32_t)rtrl_rnd(-log2p * RTRL_LN2_Q, RTRL_FRAC);
}

/* grad[c] <- sat32(grad[c] + rnd(g * row[c], GSHIFT)) for c < L; returns the clamps.
 * Branch-free over contiguous memory (vectorised by the compiler); on hosts built with a
 * vector kernel (rtrl_simd.h) the first multiple of 16 (AVX-512) or 4 (AVX2, NEON) columns
 * goes through the same arithmetic in vectors, int64 per product as here. */
uint64_t rtrl_grad_row(int32_t *restrict grad, const rtrl_m_t *restrict row, int32_t g, uint16_t L)
{
    uint64_t nsat = 0;
    uint16_t c = 0;
#if defined(RTRL_SIMD_AVX512)
    const __m512i gv = _mm512_set1_epi64(g);
    const __m512i half = _mm512_set1_epi64((int64_t)1 << (GSHIFT - 1u));
    __m512i cnt = _mm512_setzero_si512();
    for (; c + 16u <= L; c += 16u) {
        const __m512i x = rtrl_v_load_m(row + c);
        const __m512i gr = _mm512_loadu_si512((const void *)(grad + c));
        /* products of the even and odd columns, rounded */
        const __m512i te = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, gv), half), GSHIFT);
        const __m512i to = _mm512_srai_epi64(
            _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), gv), half), GSHIFT);
        const __m512i ve = _mm512_add_epi64(_mm512_srai_epi64(_mm512_slli_epi64(gr, 32), 32), te);
        const __m512i vo = _mm512_add_epi64(_mm512_srai_epi64(gr, 32), to);
        _mm512_storeu_si512((void *)(grad + c), rtrl_v_clamp_pack(ve, vo, INT32_MIN, INT32_MAX, &cnt));
    }
    nsat = (uint64_t)_mm512_reduce_add_epi64(cnt);
#elif defined(RTRL_SIMD_AVX2)
    const __m256i gv = _mm256_set1_epi64x(g);
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << (GSHIFT - 1u));
    const __m256i lo = _mm256_set1_epi64x(INT32_MIN), hi = _mm256_set1_epi64x(INT32_MAX);
    /* the low dwords of the 4 int64 lanes, in order, into the low 128 bits */
    const __m256i low = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i cnt = _mm256_setzero_si256();
    {
        /* 8 columns at a time while no sum saturates (a block where one does is left to the
         * loop below). p = g r (|p| < 2^62): p + half + 2^63 is within [0, 2^64), and its
         * logical shift is rnd(p) + 2^(63 - S) exactly, so no 64-bit arithmetic shift is
         * needed; u = rnd(p) + grad + 2^31 (grad's dword with its sign bit flipped is
         * grad + 2^31, zero-extended) lies in [0, 2^32) iff the sum fits int32, and then its
         * low dword with the sign bit flipped back is the sum. */
        const __m256i g32 = _mm256_set1_epi32(g);
        const __m256i bias = _mm256_set1_epi64x((long long)(((uint64_t)1 << (GSHIFT - 1u)) + ((uint64_t)1 << 63)));
        const __m256i unbias = _mm256_set1_epi64x(-(long long)((uint64_t)1 << (63u - GSHIFT)));
        const __m256i flip = _mm256_set1_epi32(INT32_MIN);
        const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFll);
        const __m256i high32 = _mm256_set1_epi64x((long long)0xFFFFFFFF00000000ull);
        for (; c + 8u <= L; c += 8u) {
            const __m256i x = rtrl_v8_load_m(row + c);
            const __m256i gx = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(grad + c)), flip);
            const __m256i te = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, g32), bias), GSHIFT);
            const __m256i to =
                _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), g32), bias), GSHIFT);
            const __m256i ue = _mm256_add_epi64(_mm256_add_epi64(te, unbias), _mm256_and_si256(gx, low32));
            const __m256i uo = _mm256_add_epi64(_mm256_add_epi64(to, unbias), _mm256_srli_epi64(gx, 32));
            if (!_mm256_testz_si256(_mm256_or_si256(ue, uo), high32))
                break;
            const __m256i r = _mm256_xor_si256(_mm256_blend_epi32(ue, _mm256_slli_epi64(uo, 32), 0xAA), flip);
            _mm256_storeu_si256((__m256i *)(void *)(grad + c), r);
        }
    }
    for (; c + 4u <= L; c += 4u) { /* 4 columns as int64 lanes, in column order */
        const __m256i p = _mm256_add_epi64(_mm256_mul_epi32(rtrl_v4_load_m64(row + c), gv), half);
        const __m256i gr = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(grad + c)));
        const __m256i v = _mm256_add_epi64(gr, RTRL_V4_SRA64(p, GSHIFT));
        const __m256i r = _mm256_permutevar8x32_epi32(rtrl_v4_clamp(v, v, lo, hi, lo, hi, &cnt), low);
        _mm_storeu_si128((__m128i *)(void *)(grad + c), _mm256_castsi256_si128(r));
    }
    nsat = rtrl_v4_sum(cnt);
#elif defined(RTRL_SIMD_NEON)
    const int64x2_t half = vdupq_n_s64((int64_t)1 << (GSHIFT - 1u));
    int64x2_t cnt = vdupq_n_s64(0);
    for (; c + 4u <= L; c += 4u) {
        const int32x4_t x = rtrl_n4_load_m(row + c), gr = vld1q_s32(grad + c);
        const int64x2_t t0 = vshrq_n_s64(vaddq_s64(vmull_n_s32(vget_low_s32(x), g), half), GSHIFT);
        const int64x2_t t1 = vshrq_n_s64(vaddq_s64(vmull_high_n_s32(x, g), half), GSHIFT);
        const int64x2_t v0 = rtrl_n2_clamp(vaddw_s32(t0, vget_low_s32(gr)), INT32_MIN, INT32_MAX, &cnt);
        const int64x2_t v1 = rtrl_n2_clamp(vaddw_high_s32(t1, gr), INT32_MIN, INT32_MAX, &cnt);
        vst1q_s32(grad + c, rtrl_n4_narrow(v0, v1));
    }
    nsat = (uint64_t)vaddvq_s64(cnt);
#endif
    /* The sum fits in int32 when its high word is the sign of its low word: one compare of
     * the two words on a 32-bit core (a 64-bit two-sided clamp and a 64-bit count were ~33
     * instructions per column on the Cortex-M4 at -Os, this is ~16); the clamps are counted
     * in 32 bits (c < L < 2^16) and added once. */
    uint32_t nclamp = 0;
#if RTRL_GRAD_MUL32
    /* Cores without a 32 x 32 -> 64 multiply (Cortex-M0/M0+/M23: libgcc's __aeabi_lmul per
     * product) and 16-bit M: g = gh 2^16 + gl (gh = g >> 16 arithmetic, 0 <= gl < 2^16), so
     * g r = (gh r) 2^16 + gl r with both products exact in int32 (|gh r| <= 2^30,
     * |gl r| < 2^31), and since 2^16 is a multiple of 2^GSHIFT,
     * rnd(g r, GSHIFT) = (gh r) 2^(16 - GSHIFT) + rnd(gl r, GSHIFT) exactly, the last in int32. */
    const int32_t gh = rtrl_hi16(g), gl = rtrl_lo16(g); /* rtrl_internal.h */
    for (; c < L; ++c) {
        const int32_t r = row[c];
        const int64_t v = (int64_t)grad[c] + (int64_t)(gh * r) * (1 << (16u - GSHIFT)) +
                          ((gl * r + (1 << (GSHIFT - 1u))) >> GSHIFT);
#else
    for (; c < L; ++c) {
        const int64_t v = (int64_t)grad[c] + rtrl_rnd((int64_t)g * row[c], GSHIFT);
#endif
        const uint32_t lo = (uint32_t)((uint64_t)v & 0xFFFFFFFFu);
        const int32_t hi = (int32_t)(v >> 32);
        if (hi == -(int32_t)(lo >> 31)) {
            grad[c] = (int32_t)v; /* in range: the low word */
        } else {
            ++nclamp;
            grad[c] = hi < 0 ? INT32_MIN : INT32_MAX;
        }
    }
    return nsat + nclamp;
}

/* z = [y or c, taps (from ring position tap_off), 1.0] and out = W_o z + b_o */
void rtrl_readout(rtrl_t *ctx, int32_t *const *now, uint32_t tap_off)
{
    const uint16_t n = ctx->cfg.n, k = ctx->cfg.k, m = ctx->m;
    const uint16_t nt = (uint16_t)(ctx->cfg.taps * ctx->cfg.d);
    const int32_t *src = now[ctx->cfg.readout_c ? RTRL_S_C : RTRL_S_Y];
    const int32_t *taps = ctx->taps_ring + (size_t)tap_off * ctx->cfg.d;
    int32_t *z = ctx->z;
    for (uint16_t i = 0; i < n; ++i)
        z[i] = src[i];
    for (uint16_t i = 0; i < nt; ++i)
        z[n + i] = taps[i];
    z[m] = RTRL_ONE;
    for (uint16_t q = 0; q < k; ++q) {
        const int32_t *wo = ctx->w_o + (size_t)q * m;
        int64_t s = (int64_t)ctx->b_o[q] * RTRL_ONE; /* not <<: may be negative */
        for (uint16_t i = 0; i < m; ++i)
            s += rtrl_mul64(wo[i], z[i]);
        ctx->out[q] = rtrl_sat32(rtrl_rnd(s, RTRL_WFRAC), &ctx->counters.saturations);
    }
}

/* The cell's part: dy, ga, the contraction with M and the threshold's immediate term. */
static RTRL_NOINLINE void cell_gradient(rtrl_t *ctx, int32_t *const *now)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t n = cfg->n, k = cfg->k, P = ctx->P, L = ctx->live, m = ctx->m;
    const int32_t *a = now[RTRL_S_A];
    uint64_t *sat = &ctx->counters.saturations;
    uint64_t rows = 0;
    for (uint16_t i = 0; i < n; ++i) {
        int64_t s = 0;
        for (uint16_t q = 0; q < k; ++q)
            s += rtrl_mul64(ctx->w_o[(size_t)q * m + i], ctx->dout[q]);
        ctx->dy[i] = rtrl_sat32(rtrl_rnd(s, RTRL_WFRAC), sat);
        ctx->ga[i] = cfg->readout_c ? ctx->dy[i]
                                    : rtrl_sat32(rtrl_rnd(rtrl_mul64(ctx->dy[i], a[i]), RTRL_FRAC), sat);
    }
    uint64_t done = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const int64_t gi = ctx->ga[i];
        if (gi == 0 && !cfg->dense_mode)
            continue;
        /* segment by segment: a (row, segment) block whose flag is clear is zero and adds 0 */
        const rtrl_m_t *row = ctx->M + (size_t)i * P;
        for (uint16_t s = 0; s < n; ++s) {
            const uint16_t w = ctx->seg_live[s];
            if (w == 0 || !rtrl_nz_get(rtrl_nz(ctx, s), i))
                continue;
            const uint16_t c0 = ctx->seg_off[s];
            *sat += rtrl_grad_row(ctx->grad + c0, row + c0, (int32_t)gi, w);
            done += w;
        }
        ++rows;
    }
    ctx->counters.macs += rows * L;
    ctx->counters.skipped += rows * L - done;
    if (cfg->readout_c) /* c does not depend on thr within the step */
        return;
    const int32_t *c = now[RTRL_S_C], *psi = now[RTRL_S_PSI];
    for (uint16_t i = 0; i < n; ++i) {
        const int64_t cpsi = rtrl_rnd(rtrl_mul64(c[i], psi[i]), RTRL_FRAC), ncpsi = -cpsi;
        /* an int32 factor where it fits (always: |c| <= 1.0), else the int64 product */
        const int64_t dc = ncpsi == (int32_t)ncpsi ? rtrl_mul64(ctx->dy[i], (int32_t)ncpsi) : (int64_t)ctx->dy[i] * ncpsi;
        ctx->grad_thr[i] = rtrl_sat32((int64_t)ctx->grad_thr[i] +
                                          rtrl_rnd(dc, 2u * RTRL_FRAC - RTRL_WFRAC),
                                      sat);
    }
}

/* Readout of the step just run forward, its loss (Q16, returned) and dL/dout in ctx->dout. */
static int32_t readout_loss(rtrl_t *ctx, int32_t *const *now, const int32_t *target, int32_t label)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t k = cfg->k;
    uint64_t *sat = &ctx->counters.saturations;

    rtrl_readout(ctx, now, cfg->delay);
    for (uint16_t q = 0; q < k; ++q)
        ctx->dout[q] = 0;
    int64_t loss = 0;
    if (label >= 0) { /* softmax cross-entropy: dout = p - onehot(label) */
        softmax(ctx->out, k, ctx->dout);
        loss += neg_log(ctx->dout[label]);
        ctx->dout[label] -= RTRL_ONE;
    }
    if (target != NULL) { /* squared error: dout += out - target */
        int64_t se = 0;
        for (uint16_t q = 0; q < k; ++q) {
            const int64_t d = rtrl_clamp((int64_t)ctx->out[q] - target[q], -RTRL_LIM_DOUT, RTRL_LIM_DOUT, sat);
            ctx->dout[q] += (int32_t)d;
            se += rtrl_mul64((int32_t)d, (int32_t)d); /* |d| <= 2^23 */
        }
        loss += rtrl_rnd(se, RTRL_FRAC + 1u);
    }
    return rtrl_sat32(loss, sat);
}

int32_t rtrl_evaluate(rtrl_t *ctx, const int32_t *target, int32_t label)
{
    return readout_loss(ctx, ctx->st[ctx->bank ^ 1u], target, label);
}

int32_t rtrl_gradient(rtrl_t *ctx, const int32_t *target, int32_t label)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t k = cfg->k, m = ctx->m;
    int32_t *const *now = ctx->st[ctx->bank ^ 1u];
    uint64_t *sat = &ctx->counters.saturations;
    const int32_t loss_q = readout_loss(ctx, now, target, label);
    const int32_t *z = ctx->z;

    if (!cfg->freeze_cell) /* dL/ds under the readout weights that made `out` */
        cell_gradient(ctx, now);
    if (cfg->readout_rls) {
        /* label steps are refused up front, so dout is exactly the clamped error */
        if (target != NULL)
            rtrl_rls_update(ctx, ctx->dout);
        return loss_q;
    }
    for (uint16_t q = 0; q < k; ++q) {
        int32_t *gw = ctx->grad_wo + (size_t)q * m;
        const int32_t dq = ctx->dout[q];
        for (uint16_t i = 0; i < m; ++i)
            gw[i] = rtrl_sat32((int64_t)gw[i] + rtrl_rnd(rtrl_mul64(dq, z[i]), 2u * RTRL_FRAC - RTRL_WFRAC), sat);
        ctx->grad_bo[q] = rtrl_sat32((int64_t)ctx->grad_bo[q] + (int64_t)dq * (1 << (RTRL_WFRAC - RTRL_FRAC)), sat);
    }
    return loss_q;
}
