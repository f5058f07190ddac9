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

/* sgd() inline in the cell's loop on the cores that take its fast path (a call per
 * parameter otherwise costs more than the path); plain inline elsewhere. */
#if RTRL_MUL64_COMPOSED && (defined(__GNUC__) || defined(__clang__))
#define RTRL_INLINE_SGD inline __attribute__((always_inline))
#else
#define RTRL_INLINE_SGD inline
#endif

/* One SGD step of a parameter: w - rnd(lr g, 24), saturated (counted). */
static RTRL_INLINE_SGD int32_t sgd(int32_t w, int32_t lr, int32_t g, uint64_t *sat)
{
#if RTRL_MUL64_COMPOSED
    /* Cores without a widening multiply: with lr = lh 2^16 + ll and g = gh 2^16 + gl (lh, gh
     * the arithmetic shifts, ll, gl in [0, 2^16)),
     *   R = floor((lr g + 2^23) / 2^16) = lh g + ll gh + 2^7 + ((ll gl) >> 16)
     * exactly (ll gh within int32, ll gl < 2^32), and rnd(lr g, 24) = R >> 8. Where
     * ((|g| >> 15) + 1) ((|lr| >> 16) + 1) <= 2^15 (so |lr g| < 2^46; the product of the two
     * factors stays below 2^32) R is within 2^30 + 2^7 + 1 and its value modulo 2^32 (three
     * MULS) is R itself; w - R >> 8 is then checked for overflow. Elsewhere the int64
     * expression below decides, saturating and counting. The same integers for every int32
     * w, lr, g (host test: the library with -DRTRL_MUL64_COMPOSED=1). */
    const uint32_t ag = g < 0 ? 0u - (uint32_t)g : (uint32_t)g, al = lr < 0 ? 0u - (uint32_t)lr : (uint32_t)lr;
    if (((ag >> 15) + 1u) * ((al >> 16) + 1u) <= (1u << 15)) {
        const uint32_t ll = (uint32_t)lr & 0xFFFFu;
        const uint32_t R = (uint32_t)(lr >> 16) * (uint32_t)g + (uint32_t)((int32_t)ll * (g >> 16)) + 0x80u +
                           ((ll * ((uint32_t)g & 0xFFFFu)) >> 16);
        const int32_t r = (int32_t)R >> 8;
        const int32_t v = (int32_t)((uint32_t)w - (uint32_t)r);
        if (((w ^ r) & (w ^ v)) >= 0) /* w - r did not overflow */
            return v;
    }
#endif
    return rtrl_sat32((int64_t)w - rtrl_rnd(rtrl_mul64(lr, g), RTRL_WFRAC), sat);
}

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
    return sgd(w, cfg->lr_q, (int32_t)g, &ctx->counters.saturations);
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
            ctx->theta[p] = sgd(ctx->theta[p], lr, g, sat);
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
