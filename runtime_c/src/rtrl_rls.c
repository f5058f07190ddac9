/*
 * rtrl_rls.c - recursive least squares for the readout (specification: pyrtrl.fixed.rls).
 *
 * With z1 = [y or c, taps, 1.0] (ctx->z, m1 = m + 1 values, Q16), the clamped error
 * e = out - target (Q16) and W1 = [w_o | b_o] (Q24):
 *
 *   Pz = P z1;  s = max(z1 . Pz, 0);  g = Pz / (lam + s)
 *   W1 -= e g^T;  P -= g Pz^T (upper triangle, mirrored);  P <- S P S
 *
 * with S_ii = lam^-1/2 where P_ii < p0 and 1 elsewhere: forgetting only along the features
 * whose own variance is below its prior, so P cannot wind up (grow as lam^-t) along a
 * feature the stream does not excite (a silent unit, a constant input), and such a feature
 * does not stop the others from forgetting. Entry factors: 1, lam^-1/2 or
 * lam^-1 = rnd(lam^-1/2 * lam^-1/2, 30), Q30.
 *
 * Scaling and overflow: P is Q3.28 and P_ii <= p0 / lam, so |P_ij| <= p0 / lam <= 4.45, z1 is
 * at most 128.0 and m1 <= 256, so sum_j P_ij z_j (< 2^62) and sum_i z_i Pz_i (Pz int32)
 * are exact in int64; Pz is rounded to Q16, the gain to Q28 (|g_i| <= sqrt(P_ii) / 2 by
 * Cauchy-Schwarz); each product e_q g_i, g_i Pz_j, P_ij / lam is one int64 (< 2^62),
 * rounded once, and every stored value is saturated to int32 (counted). The one division
 * per step is (2^46 + denom / 2) / denom with denom = lam + s >= 0.9 (Q16), both positive.
 * Every product has two int32 factors (1 / denom < 1.2 2^30, lam^-1/2 and lam^-1 < 1.2 2^30,
 * |e| <= 2^23, the rest stored int32), so each is one rtrl_mul64 (rtrl_mul.h): a widening
 * multiply, or on the Cortex-M0 the composed one instead of libgcc's 64 x 64 __aeabi_lmul.
 */
#include "rtrl_internal.h"

#define PFRAC 28u
#define LFRAC 30u

void rtrl_rls_reset(rtrl_t *ctx)
{
    const uint32_t m1 = ctx->m + 1u;
    for (uint32_t i = 0; i < m1; ++i)
        for (uint32_t j = 0; j < m1; ++j)
            ctx->rls_p[i * m1 + j] = i == j ? ctx->cfg.rls_p0_q : 0;
}

/* Pz = P z1 and the gain g; returns the saturations. */
static RTRL_NOINLINE uint64_t gain(rtrl_t *ctx, uint32_t m1)
{
    uint64_t nsat = 0;
    const int32_t *z = ctx->z;
    for (uint32_t i = 0; i < m1; ++i) {
        const int32_t *row = ctx->rls_p + i * m1;
        int64_t acc = 0;
        for (uint32_t j = 0; j < m1; ++j)
            acc += rtrl_mul64(row[j], z[j]);
        ctx->rls_pz[i] = rtrl_sat32(rtrl_rnd(acc, PFRAC), &nsat);
    }
    int64_t s = 0;
    for (uint32_t i = 0; i < m1; ++i)
        s += rtrl_mul64(z[i], ctx->rls_pz[i]);
    s = rtrl_rnd(s, RTRL_FRAC);
    const int64_t denom = (int64_t)ctx->cfg.rls_lam_q + (s > 0 ? s : 0);
    /* Q30 of 1 / denom: denom >= lam >= 58982 (rtrl_init), so inv < 1.2e9 fits int32 */
    const int32_t inv = (int32_t)((((int64_t)1 << 46) + (denom >> 1)) / denom);
    for (uint32_t i = 0; i < m1; ++i)
        ctx->rls_gain[i] = rtrl_sat32(rtrl_rnd(rtrl_mul64(ctx->rls_pz[i], inv), 46u - PFRAC), &nsat);
    return nsat;
}

/* One entry of P -= g Pz^T: P_ij - g_i Pz_j.
 * Scaling and overflow: Q28 x Q16 in one int64 (< 2^62), rounded once to Q28, saturated to
 * int32 (counted). */
static inline int32_t p_minus_exact(int32_t p, int32_t gi, int32_t pzj, uint64_t *sat)
{
    return rtrl_sat32((int64_t)p - rtrl_rnd(rtrl_mul64(gi, pzj), RTRL_FRAC), sat);
}

/* The forgetting of one entry of P: v f with f = lam^-1/2 or lam^-1 (Q30).
 * Scaling and overflow: Q28 x Q30 in one int64 (< 2^62), rounded once to Q28, saturated to
 * int32 (counted). */
static inline int32_t p_scale_exact(int32_t v, int32_t f, uint64_t *sat)
{
    return rtrl_sat32(rtrl_rnd(rtrl_mul64(v, f), LFRAC), sat);
}

#if RTRL_MUL64_COMPOSED
/* Cores without a widening multiply (rtrl_mul.h): the two entry operations out of line,
 * each one call per entry with its operands in registers, from the 16-bit halves of the
 * product as rtrl_mul.c composes it (a = a1 2^16 + a0, b = b1 2^16 + b0; the bounds there)
 * with the rounding half added on the way, so that rnd(a b, s) = (a b + 2^(s-1)) >> s is
 * read off the words: hi 2^32 + (w1 mod 2^16) 2^16 + (w0 mod 2^16) = a b + c.
 * Where the rounded product or the result leaves int32 (never in practice: P is bounded),
 * the exact int64 expression above decides, saturating and counting as it does.
 * Scaling and overflow: the same integers as p_minus_exact / p_scale_exact for every int32
 * operand (test: the library's results with -DRTRL_MUL64_COMPOSED=1 on the host). */
static RTRL_NOINLINE int32_t p_minus(int32_t p, int32_t a, int32_t b, uint64_t *sat)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0 + 0x8000u; /* c = 2^15 (s = 16): < 2^32 */
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    const int32_t w1 = (int32_t)a0 * b1 + (t & 0xFFFF);
    const int32_t hi = a1 * b1 + (t >> 16) + (w1 >> 16);
    /* (a b + 2^15) >> 16 = hi 2^16 + (w1 mod 2^16): its low word r, high word hi >> 16 */
    const int32_t r = (int32_t)(((uint32_t)hi << 16) | ((uint32_t)w1 & 0xFFFFu));
    if ((hi >> 16) == (r >> 31)) { /* the rounded product fits int32 */
        const int32_t d = (int32_t)((uint32_t)p - (uint32_t)r);
        if (((p ^ r) & (p ^ d)) >= 0) /* p - r did not overflow */
            return d;
    }
    return p_minus_exact(p, a, b, sat);
}

static RTRL_NOINLINE int32_t p_scale(int32_t a, int32_t b, uint64_t *sat)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0;
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    /* c = 2^29 (s = 30) as 2^13 2^16: w1 < 2^31 - 2^15 + 2^13 */
    const int32_t w1 = (int32_t)a0 * b1 + (t & 0xFFFF) + 0x2000;
    const int32_t hi = a1 * b1 + (t >> 16) + (w1 >> 16);
    /* (a b + 2^29) >> 30 = hi 4 + (w1 mod 2^16) >> 14 */
    const int32_t r = (int32_t)(((uint32_t)hi << 2) | (((uint32_t)w1 >> 14) & 3u));
    if ((hi >> 30) == (r >> 31))
        return r;
    return p_scale_exact(a, b, sat);
}
#else
#define p_minus p_minus_exact
#define p_scale p_scale_exact
#endif

void rtrl_rls_update(rtrl_t *ctx, const int32_t *e)
{
    const uint32_t m = ctx->m, m1 = m + 1u, k = ctx->cfg.k;
    uint64_t *sat = &ctx->counters.saturations;
    *sat += gain(ctx, m1);
    const int32_t *g = ctx->rls_gain, *pz = ctx->rls_pz;
    for (uint32_t q = 0; q < k; ++q) {
        int32_t *w = ctx->w_o + (size_t)q * m;
        const int32_t eq = e[q];
        for (uint32_t i = 0; i < m; ++i)
            w[i] = rtrl_sat32((int64_t)w[i] - rtrl_rnd(rtrl_mul64(eq, g[i]), RTRL_FRAC + PFRAC - RTRL_WFRAC), sat);
        ctx->b_o[q] = rtrl_sat32((int64_t)ctx->b_o[q] - rtrl_rnd(rtrl_mul64(eq, g[m]), RTRL_FRAC + PFRAC - RTRL_WFRAC),
                                 sat);
    }
    /* P -= g Pz^T and the forgetting P <- S P S in one pass over the upper triangle (the
     * same integers as two passes: each entry's update and its scaling depend only on that
     * entry, g, Pz and the flags): the diagonal first, whose updated values, before any is
     * scaled, say which features forget (low, a bit per feature: m1 <= 256) */
    int32_t *P = ctx->rls_p;
    uint64_t macs = (uint64_t)(m1 * m1 + 2u * m1 + k * m1 + m1 * (m1 + 1u) / 2u);
    /* isl = lam^-1/2 <= 1131823261 (rtrl_init) and il = lam^-1 <= 1.2e9: both fit int32 */
    const int32_t isl = ctx->cfg.rls_isl_q, il = (int32_t)rtrl_rnd(rtrl_mul64(isl, isl), LFRAC);
    const int32_t p0 = ctx->cfg.rls_p0_q;
    uint32_t low[(RTRL_MAX_FEATURES + 32u) / 32u] = {0};
    for (uint32_t i = 0; i < m1; ++i) {
        int32_t v = p_minus(P[i * m1 + i], g[i], pz[i], sat);
        if (v < p0) {
            low[i >> 5] |= 1u << (i & 31u);
            v = p_scale(v, il, sat);
            ++macs;
        }
        P[i * m1 + i] = v;
    }
    for (uint32_t i = 0; i + 1u < m1; ++i) {
        const uint32_t low_i = (low[i >> 5] >> (i & 31u)) & 1u;
        const int32_t gi = g[i];
        int32_t *row = P + i * m1;
        for (uint32_t j = i + 1u; j < m1; ++j) {
            int32_t v = p_minus(row[j], gi, pz[j], sat);
            const uint32_t low_j = (low[j >> 5] >> (j & 31u)) & 1u;
            if (low_i | low_j) {
                v = p_scale(v, low_i & low_j ? il : isl, sat);
                ++macs;
            }
            row[j] = v;
            P[j * m1 + i] = v;
        }
    }
    ctx->counters.macs += macs;
}
