/*
 * rtrl_update.c - the step every K samples: SGD w <- w - lr * clip(G), or Adam on clip(G)
 * (rtrl_adam.c); masks kept (pruned weights have no storage), thresholds clamped to [0, 1].
 *
 * Scaling and overflow: lr_q (Q24) x G (Q24, int32) is one int64 product (< 2^62; int32
 * factors: rtrl_mul64, a widening multiply or the M0's composed one), rounded
 * to Q24; the result is saturated to int32 (counted). Master weights are Q7.24 so that an
 * update of lr * g with lr ~ 1e-3 and g ~ 1e-4 is still several LSB: small updates do not
 * vanish.
 */
#include "rtrl_mem.h"

#include "rtrl_internal.h"

/* Parameter i of the optimiser's order (the cell's theta, then W_o, then b_o). */
static int32_t step(rtrl_t *ctx, uint32_t i, int32_t w, int64_t g)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    if (cfg->clip_q) {
        if (g > cfg->clip_q)
            g = cfg->clip_q;
        else if (g < -(int64_t)cfg->clip_q)
            g = -(int64_t)cfg->clip_q;
    }
    if (cfg->adam)
        return rtrl_adam_param(ctx, i, w, g);
    /* g is an int32 gradient (every caller's; a clip keeps it so): one int32 x int32 product */
    return rtrl_sgd(w, cfg->lr_q, (int32_t)g, &ctx->counters.saturations);
}

static void update_cell(rtrl_t *ctx);

void rtrl_update(rtrl_t *ctx)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t n = cfg->n, k = cfg->k;

    if (cfg->adam)
        rtrl_adam_rate(ctx);
    if (!cfg->freeze_cell)
        update_cell(ctx);
    if (!cfg->readout_rls) {
        const uint32_t wo = (uint32_t)k * ctx->m;
        for (uint32_t q = 0; q < wo; ++q)
            ctx->w_o[q] = step(ctx, ctx->P + q, ctx->w_o[q], ctx->grad_wo[q]);
        for (uint16_t q = 0; q < k; ++q)
            ctx->b_o[q] = step(ctx, ctx->P + wo + q, ctx->b_o[q], ctx->grad_bo[q]);
    }
    /* the cell's grad was cleared by update_cell, column by column (dead columns stay 0) */
    memset(ctx->grad_thr, 0, 4u * n);
    memset(ctx->grad_wo, 0, 4u * (size_t)k * ctx->m);
    memset(ctx->grad_bo, 0, 4u * k);
    ctx->since_update = 0;
    ++ctx->counters.updates;
}

/* The cell's parameters in theta order, each gradient read and cleared; a parameter whose
 * column never came alive has an exactly zero gradient and is left alone (as its optimiser
 * moments). With SGD a zero gradient changes nothing (w - rnd(0) = w): skipped. */
static void update_cell(rtrl_t *ctx)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t n = cfg->n;
    uint64_t *sat = &ctx->counters.saturations;
    int32_t *grad = ctx->grad;
    if (cfg->adam) {
        for (uint16_t p = 0; p < ctx->off_thr; ++p) {
            const uint16_t col = ctx->col_of[p];
            if (col == RTRL_ABSENT)
                continue;
            ctx->theta[p] = step(ctx, p, ctx->theta[p], grad[col]);
            grad[col] = 0;
        }
    } else {
        const int32_t lr = cfg->lr_q, clip = cfg->clip_q;
        for (uint16_t p = 0; p < ctx->off_thr; ++p) {
            const uint16_t col = ctx->col_of[p];
            if (col == RTRL_ABSENT)
                continue;
            int32_t g = grad[col];
            if (g == 0)
                continue;
            grad[col] = 0;
            if (clip)
                g = g > clip ? clip : (g < -clip ? -clip : g);
            ctx->theta[p] = rtrl_sgd(ctx->theta[p], lr, g, sat);
        }
    }
    for (uint16_t j = 0; j < n; ++j) {
        const uint16_t p = (uint16_t)(ctx->off_thr + j);
        const uint16_t c = ctx->col_of[p];
        const int64_t g = rtrl_sat32((int64_t)(c == RTRL_ABSENT ? 0 : grad[c]) + ctx->grad_thr[j], sat);
        if (c != RTRL_ABSENT)
            grad[c] = 0;
        int32_t t = step(ctx, p, ctx->theta[p], g);
        ctx->theta[p] = t < 0 ? 0 : (t > RTRL_WONE ? RTRL_WONE : t);
    }
}
