/*
 * rtrl_step.c - the learning step: validate, forward, influence, gradient, update.
 */
#include "rtrl_internal.h"

static int in_range(const int32_t *v, uint16_t len)
{
    for (uint16_t i = 0; i < len; ++i)
        if (v[i] > RTRL_SAMPLE_MAX || v[i] < -RTRL_SAMPLE_MAX)
            return 0;
    return 1;
}

rtrl_status_t rtrl_step_labelled(rtrl_t *ctx, const int32_t *x, const int32_t *target,
                                 int32_t label, int32_t *out, int32_t *loss)
{
    if (ctx == NULL || x == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    if (!in_range(x, ctx->cfg.d) || (target != NULL && !in_range(target, ctx->cfg.k)) ||
        label < -1 || label >= (int32_t)ctx->cfg.k)
        return RTRL_ERR_RANGE;
    if (label >= 0 && ctx->cfg.readout_rls)
        return RTRL_ERR_CONFIG;
    const uint16_t d = ctx->cfg.d, k = ctx->cfg.k;
    const uint32_t D = ctx->cfg.delay;
    const uint32_t ring = (uint32_t)RTRL_RING(ctx->cfg.taps, d, D);
    if (ring > 0) { /* the input ring, newest first: x becomes position 0 */
        for (uint32_t i = ring - 1u; i >= d; --i)
            ctx->taps_ring[i] = ctx->taps_ring[i - d];
        for (uint16_t i = 0; i < d; ++i)
            ctx->taps_ring[i] = x[i];
    }
    ++ctx->counters.steps;
    if (D > 0) {
        /* the forecast first, with the weights learned from the targets seen so far */
        rtrl_forecast(ctx, x);
        if (out != NULL)
            for (uint16_t q = 0; q < k; ++q)
                out[q] = ctx->out[q];
        const int ready = ctx->seen >= D; /* the input D steps back exists */
        if (ctx->seen < UINT32_MAX)
            ++ctx->seen;
        if (!ready) {
            if (loss != NULL)
                *loss = 0;
            ctx->counters.products = ctx->counters.macs - ctx->counters.skipped;
            return RTRL_OK;
        }
        x = ctx->taps_ring + (size_t)D * d;
    }
    rtrl_forward(ctx, x);
    /* learning off (lr_q == 0): forward and readout only; the influence matrix, gradients,
     * RLS readout, optimiser state and weights stay as they are */
    const int learn = ctx->cfg.lr_q != 0;
    if (learn && !ctx->cfg.freeze_cell)
        rtrl_influence(ctx, x);
    const int32_t l = learn ? rtrl_gradient(ctx, target, label) : rtrl_evaluate(ctx, target, label);
    ctx->bank ^= 1u;
    if (out != NULL && D == 0)
        for (uint16_t q = 0; q < k; ++q)
            out[q] = ctx->out[q];
    if (loss != NULL)
        *loss = l;
    /* only steps with a loss count towards the K of an update: a step without one changes
     * no weight and no optimiser moment */
    if (learn && (target != NULL || label >= 0) && ++ctx->since_update >= ctx->cfg.update_every)
        rtrl_update(ctx);
    ctx->counters.products = ctx->counters.macs - ctx->counters.skipped;
    return RTRL_OK;
}

rtrl_status_t rtrl_step(rtrl_t *ctx, const int32_t *x, const int32_t *target, int32_t *out,
                        int32_t *loss)
{
    if (ctx != NULL && target == NULL)
        return RTRL_ERR_NULL;
    return rtrl_step_labelled(ctx, x, target, -1, out, loss);
}

rtrl_status_t rtrl_run_record(rtrl_t *ctx, uint32_t steps, const int32_t *x,
                              const int32_t *target, const int16_t *labels, int32_t *out,
                              int32_t *loss, uint16_t *events, uint32_t *done)
{
    if (done != NULL)
        *done = 0;
    if (ctx == NULL || (steps > 0 && x == NULL))
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    const uint16_t d = ctx->cfg.d, k = ctx->cfg.k;
    for (uint32_t t = 0; t < steps; ++t) {
        const uint64_t before = ctx->counters.events;
        rtrl_status_t st = rtrl_step_labelled(ctx, x + (size_t)t * d,
                                              target ? target + (size_t)t * k : NULL,
                                              labels ? labels[t] : -1,
                                              out ? out + (size_t)t * k : NULL, loss ? loss + t : NULL);
        if (st != RTRL_OK)
            return st;
        if (events != NULL)
            events[t] = (uint16_t)(ctx->counters.events - before);
        if (done != NULL)
            *done = t + 1u;
    }
    return RTRL_OK;
}

rtrl_status_t rtrl_run(rtrl_t *ctx, uint32_t steps, const int32_t *x, const int32_t *target,
                       int32_t *out, int32_t *loss, uint32_t *done)
{
    if (done != NULL)
        *done = 0;
    if (ctx != NULL && steps > 0 && target == NULL)
        return RTRL_ERR_NULL;
    return rtrl_run_record(ctx, steps, x, target, NULL, out, loss, NULL, done);
}
