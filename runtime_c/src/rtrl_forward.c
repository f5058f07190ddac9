/*
 * rtrl_forward.c - one EGRU step, event-driven.
 *
 * Input contributions come only from nonzero inputs, recurrent ones only from units that
 * emitted an event (y != 0): the cost scales with activity. dense_mode visits every
 * column (same numbers). One int64 accumulator per unit serves the four pre-activations
 * in turn.
 *
 * Scaling and overflow: Q24 weight x Q16 activation summed in int64 (Q40), every product of
 * two int32 (rtrl_mul64: a widening multiply, on the Cortex-M0 the composed one); with
 * n, d <= 255, |x| <= 128 and |y| <= 1 every sum is below 2^63. Pre-activations are
 * rounded once to Q16 and saturated to int32 (counted). States stay within [-1, 1]
 * (convex combination of h and g), so c, h, y, psi, a need no saturation.
 */
#include "rtrl_internal.h"

/* acc[row] += theta[off + e] * v[col] over stored entries of nonzero columns. */
static uint64_t accumulate(int64_t *acc, const uint16_t *colptr, const uint16_t *rowidx,
                           const int32_t *w, uint16_t ncols, const int32_t *v, int dense)
{
    uint64_t macs = 0;
    for (uint16_t j = 0; j < ncols; ++j) {
        const int32_t vj = v[j];
        if (vj == 0 && !dense)
            continue;
        const uint16_t e1 = colptr[j + 1];
        for (uint16_t e = colptr[j]; e < e1; ++e)
            acc[rowidx[e]] += rtrl_mul64(w[e], vj);
        macs += (uint64_t)(e1 - colptr[j]);
    }
    return macs;
}

/* One pre-activation (Q16, saturated) per unit: rnd(bias << 16 + W x + R y, 24), where the
 * W or R term is skipped when its pattern pointer is NULL. */
static uint64_t pre_activation(rtrl_t *ctx, int g_w, int g_r, const int32_t *bias,
                               const int32_t *x, const int32_t *y_prev, int32_t *out)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const rtrl_model_t *m = &ctx->model;
    const uint16_t n = cfg->n;
    int64_t *acc = ctx->acc;
    uint64_t macs = 0;
    for (uint16_t i = 0; i < n; ++i)
        acc[i] = (int64_t)bias[i] * RTRL_ONE; /* not <<: negative */
    if (g_w >= 0)
        macs += accumulate(acc, m->w_colptr[g_w], m->w_rowidx[g_w], ctx->theta + ctx->off_w[g_w],
                           cfg->d, x, cfg->dense_mode);
    if (g_r >= 0)
        macs += accumulate(acc, m->r_colptr[g_r], m->r_rowidx[g_r], ctx->theta + ctx->off_r[g_r],
                           n, y_prev, cfg->dense_mode);
    for (uint16_t i = 0; i < n; ++i)
        out[i] = rtrl_sat32(rtrl_rnd(acc[i], RTRL_WFRAC), &ctx->counters.saturations);
    return macs;
}

void rtrl_forward(rtrl_t *ctx, const int32_t *x)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t n = cfg->n;
    int32_t *const *prev = ctx->st[ctx->bank];
    int32_t *const *now = ctx->st[ctx->bank ^ 1u];
    const int32_t *y_prev = prev[RTRL_S_Y], *h_prev = prev[RTRL_S_H];
    const int32_t *thr = ctx->theta + ctx->off_thr;
    const int32_t *b = ctx->theta + ctx->off_b; /* b_u b_r b_g b_rg, n each */
    uint64_t *sat = &ctx->counters.saturations;
    uint64_t macs = 0;

    /* the gate arrays hold pre-activations first, then the gates */
    macs += pre_activation(ctx, 0, 0, b, x, y_prev, ctx->u);
    macs += pre_activation(ctx, 1, 1, b + n, x, y_prev, ctx->r);
    macs += pre_activation(ctx, -1, 2, b + 3 * n, x, y_prev, ctx->qv);
    macs += pre_activation(ctx, 2, -1, b + 2 * n, x, y_prev, ctx->g);
    ctx->counters.macs += macs;

    uint32_t events = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const int32_t u = rtrl_sigmoid(ctx->u[i]);
        const int32_t r = rtrl_sigmoid(ctx->r[i]);
        const int32_t q = ctx->qv[i];
        const int64_t pre_g = (int64_t)ctx->g[i] + rtrl_rnd(rtrl_mul64(r, q), RTRL_FRAC);
        const int32_t g = rtrl_tanh(rtrl_sat32(pre_g, sat));
        const int32_t c = (int32_t)rtrl_rnd(rtrl_mul64(u, h_prev[i]) + rtrl_mul64(RTRL_ONE - u, g),
                                            RTRL_FRAC);
        const int32_t thr16 = (int32_t)rtrl_rnd(thr[i], RTRL_WFRAC - RTRL_FRAC);
        const int32_t v = c - thr16;
        const int32_t o = v > 0; /* o = 1 implies c > thr >= 0, so events are y != 0 */
        const int32_t av = v < 0 ? -v : v;
        const int32_t psi = av < cfg->eps_q
                                ? (int32_t)rtrl_rnd(rtrl_mul64(cfg->goe_q, cfg->eps_q - av), RTRL_FRAC)
                                : 0;
        ctx->u[i] = u;
        ctx->r[i] = r;
        ctx->g[i] = g;
        now[RTRL_S_C][i] = c;
        now[RTRL_S_Y][i] = o ? c : 0;
        now[RTRL_S_H][i] = o ? c - thr16 : c;
        now[RTRL_S_PSI][i] = psi;
        now[RTRL_S_A][i] = (o ? RTRL_ONE : 0) + (int32_t)rtrl_rnd(rtrl_mul64(c, psi), RTRL_FRAC);
        events += (uint32_t)o;
    }
    ctx->counters.events += events;
}
