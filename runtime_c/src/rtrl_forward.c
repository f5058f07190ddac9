/*
 * rtrl_forward.c - one EGRU step, event-driven.
 *
 * Input contributions come only from nonzero inputs, recurrent ones only from units that
 * emitted an event (y != 0): the cost scales with activity. dense_mode visits every
 * column (same numbers).
 *
 * Scaling and overflow: Q24 weight x Q16 activation summed in int64 (Q40); with
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
        const int64_t vj = v[j];
        if (vj == 0 && !dense)
            continue;
        const uint16_t e1 = colptr[j + 1];
        for (uint16_t e = colptr[j]; e < e1; ++e)
            acc[rowidx[e]] += (int64_t)w[e] * vj;
        macs += (uint64_t)(e1 - colptr[j]);
    }
    return macs;
}

void rtrl_forward(rtrl_t *ctx, const int32_t *x)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const rtrl_model_t *m = &ctx->model;
    const uint16_t n = cfg->n;
    const int dense = cfg->dense_mode;
    int32_t *const *prev = ctx->st[ctx->bank];
    int32_t *const *now = ctx->st[ctx->bank ^ 1u];
    const int32_t *y_prev = prev[RTRL_S_Y], *h_prev = prev[RTRL_S_H];
    const int32_t *thr = ctx->theta + ctx->off_thr;
    const int32_t *b = ctx->theta + ctx->off_b; /* b_u b_r b_g b_rg, n each */
    uint64_t *sat = &ctx->counters.saturations;
    int64_t *acc_u = ctx->acc, *acc_r = ctx->acc + n, *acc_wg = ctx->acc + 2 * n,
            *acc_q = ctx->acc + 3 * n;
    uint64_t macs = 0;

    for (uint16_t i = 0; i < n; ++i) {
        acc_u[i] = (int64_t)b[i] << RTRL_FRAC;
        acc_r[i] = (int64_t)b[n + i] << RTRL_FRAC;
        acc_wg[i] = (int64_t)b[2 * n + i] << RTRL_FRAC;
        acc_q[i] = (int64_t)b[3 * n + i] << RTRL_FRAC;
    }
    int64_t *const w_acc[3] = {acc_u, acc_r, acc_wg};
    int64_t *const r_acc[3] = {acc_u, acc_r, acc_q};
    for (int g = 0; g < 3; ++g) {
        macs += accumulate(w_acc[g], m->w_colptr[g], m->w_rowidx[g], ctx->theta + ctx->off_w[g],
                           cfg->d, x, dense);
        macs += accumulate(r_acc[g], m->r_colptr[g], m->r_rowidx[g], ctx->theta + ctx->off_r[g],
                           n, y_prev, dense);
    }
    ctx->counters.macs += macs;

    uint32_t events = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const int32_t u = rtrl_sigmoid(rtrl_sat32(rtrl_rnd(acc_u[i], RTRL_WFRAC), sat));
        const int32_t r = rtrl_sigmoid(rtrl_sat32(rtrl_rnd(acc_r[i], RTRL_WFRAC), sat));
        const int32_t q = rtrl_sat32(rtrl_rnd(acc_q[i], RTRL_WFRAC), sat);
        const int64_t pre_g = rtrl_rnd(acc_wg[i], RTRL_WFRAC) + rtrl_rnd((int64_t)r * q, RTRL_FRAC);
        const int32_t g = rtrl_tanh(rtrl_sat32(pre_g, sat));
        const int32_t c = (int32_t)rtrl_rnd((int64_t)u * h_prev[i] + (int64_t)(RTRL_ONE - u) * g,
                                            RTRL_FRAC);
        const int32_t thr16 = (int32_t)rtrl_rnd(thr[i], RTRL_WFRAC - RTRL_FRAC);
        const int32_t v = c - thr16;
        const int32_t o = v > 0;
        const int32_t av = v < 0 ? -v : v;
        const int32_t psi = av < cfg->eps_q
                                ? (int32_t)rtrl_rnd((int64_t)cfg->goe_q * (cfg->eps_q - av), RTRL_FRAC)
                                : 0;
        ctx->u[i] = u;
        ctx->r[i] = r;
        ctx->g[i] = g;
        ctx->qv[i] = q;
        now[RTRL_S_C][i] = c;
        now[RTRL_S_O][i] = o;
        now[RTRL_S_Y][i] = o ? c : 0;
        now[RTRL_S_H][i] = o ? c - thr16 : c;
        now[RTRL_S_PSI][i] = psi;
        now[RTRL_S_A][i] = (o ? RTRL_ONE : 0) + (int32_t)rtrl_rnd((int64_t)c * psi, RTRL_FRAC);
        events += (uint32_t)o;
    }
    ctx->counters.events += events;
}
