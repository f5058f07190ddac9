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
            acc += (int64_t)row[j] * z[j];
        ctx->rls_pz[i] = rtrl_sat32(rtrl_rnd(acc, PFRAC), &nsat);
    }
    int64_t s = 0;
    for (uint32_t i = 0; i < m1; ++i)
        s += (int64_t)z[i] * ctx->rls_pz[i];
    s = rtrl_rnd(s, RTRL_FRAC);
    const int64_t denom = (int64_t)ctx->cfg.rls_lam_q + (s > 0 ? s : 0);
    const int64_t inv = (((int64_t)1 << 46) + (denom >> 1)) / denom; /* Q30 of 1 / denom */
    for (uint32_t i = 0; i < m1; ++i)
        ctx->rls_gain[i] = rtrl_sat32(rtrl_rnd((int64_t)ctx->rls_pz[i] * inv, 46u - PFRAC), &nsat);
    return nsat;
}

void rtrl_rls_update(rtrl_t *ctx, const int32_t *e)
{
    const uint32_t m = ctx->m, m1 = m + 1u, k = ctx->cfg.k;
    uint64_t *sat = &ctx->counters.saturations;
    *sat += gain(ctx, m1);
    const int32_t *g = ctx->rls_gain, *pz = ctx->rls_pz;
    for (uint32_t q = 0; q < k; ++q) {
        int32_t *w = ctx->w_o + (size_t)q * m;
        const int64_t eq = e[q];
        for (uint32_t i = 0; i < m; ++i)
            w[i] = rtrl_sat32((int64_t)w[i] - rtrl_rnd(eq * g[i], RTRL_FRAC + PFRAC - RTRL_WFRAC), sat);
        ctx->b_o[q] = rtrl_sat32((int64_t)ctx->b_o[q] - rtrl_rnd(eq * g[m], RTRL_FRAC + PFRAC - RTRL_WFRAC), sat);
    }
    int32_t *P = ctx->rls_p;
    for (uint32_t i = 0; i < m1; ++i)
        for (uint32_t j = i; j < m1; ++j) {
            const int32_t v = rtrl_sat32((int64_t)P[i * m1 + j] - rtrl_rnd((int64_t)g[i] * pz[j], RTRL_FRAC), sat);
            P[i * m1 + j] = v;
            P[j * m1 + i] = v;
        }
    uint64_t macs = (uint64_t)m1 * m1 + 2u * m1 + (uint64_t)k * m1 + (uint64_t)m1 * (m1 + 1u) / 2u;
    const int64_t isl = ctx->cfg.rls_isl_q, il = rtrl_rnd(isl * isl, LFRAC);
    const int32_t p0 = ctx->cfg.rls_p0_q;
    for (uint32_t i = 0; i < m1; ++i) {
        const int low_i = P[i * m1 + i] < p0; /* diagonals are read before any is scaled */
        for (uint32_t j = i; j < m1; ++j) {
            const int low_j = j == i ? low_i : ctx->rls_p[j * m1 + j] < p0;
            if (!low_i && !low_j)
                continue;
            const int64_t f = low_i && low_j ? il : isl;
            const int32_t v = rtrl_sat32(rtrl_rnd((int64_t)P[i * m1 + j] * f, LFRAC), sat);
            P[i * m1 + j] = v;
            if (j != i)
                P[j * m1 + i] = v;
            ++macs;
        }
    }
    ctx->counters.macs += macs;
}
