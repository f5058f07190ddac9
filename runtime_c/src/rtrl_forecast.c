/*
 * rtrl_forecast.c - the forward-only forecast state of a delayed learner (rtrl.h, rtrl_step).
 *
 * It runs the same forward pass and readout as a learning step, on its own two state banks
 * and on the newest input, with the current weights; nothing learns from it. Events are
 * counted for the learning pass only; its multiply-accumulates and saturations count.
 *
 * Scaling and overflow: those of rtrl_forward.c and rtrl_readout (rtrl_gradient.c).
 */
#include "rtrl_mem.h"

#include "rtrl_internal.h"

void rtrl_forecast(rtrl_t *ctx, const int32_t *x)
{
    int32_t *learning[2][RTRL_S_COUNT];
    const uint8_t bank = ctx->bank;
    const uint64_t events = ctx->counters.events;
    memcpy(learning, ctx->st, sizeof learning);
    memcpy(ctx->st, ctx->fst, sizeof learning);
    ctx->bank = ctx->fbank;
    rtrl_forward(ctx, x);
    rtrl_readout(ctx, ctx->st[ctx->bank ^ 1u], 0);
    ctx->fbank = (uint8_t)(ctx->bank ^ 1u);
    memcpy(ctx->st, learning, sizeof learning);
    ctx->bank = bank;
    ctx->counters.events = events;
}
