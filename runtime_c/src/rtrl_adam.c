/*
 * rtrl_adam.c - Adam on the summed, clipped gradient: per-parameter step sizes. Its
 * specification is pyrtrl/fixed/adam.py (bit for bit); the float twin pyrtrl.optim.Adam.
 *
 *   m <- m + rnd(g - m, a)                 beta1 = 1 - 2^-a   (Q24, int32)
 *   v <- v - (v >> b) + ((g * g) >> b)     beta2 = 1 - 2^-b   (Q48, int64)
 *   w <- w - rnd(lr_t * m / sqrt(max(v, eps2)), 24)
 *   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)   (once per update)
 *
 * 1/sqrt(v) comes from a 768-entry table over v's 10 leading bits (an even shift s brings
 * v into [2^8, 2^10)), so a step costs no division: the one division per update is lr_t's.
 *
 * Scaling and overflow: |g| <= 2^31, so g^2 <= 2^62 and v, an average of such values with
 * truncation, stays <= 2^62 + 1; |m| <= max |g|; m * T < 2^31 * 2^15 and the left shift for
 * small v (s/2 < 5) adds at most 5 bits: exact in int64. The step u is saturated to int32
 * (counted); lr_t is saturated to int32 (early rates exceed lr when beta1 decays faster
 * than sqrt(beta2)), so lr_t * u < 2^62, and the weight is saturated to int32 (counted).
 */
#include "rtrl_mem.h"

#include "rtrl_internal.h"
#include "rtrl_tables.h"

#define PW_ONE ((uint32_t)1 << 30)

static uint32_t adam_params(const rtrl_t *ctx)
{
    return (uint32_t)ctx->P + (ctx->cfg.readout_rls ? 0u : (uint32_t)ctx->cfg.k * ctx->m + ctx->cfg.k);
}

void rtrl_adam_reset(rtrl_t *ctx)
{
    const uint32_t na = adam_params(ctx);
    memset(ctx->adam_v, 0, 8u * na);
    memset(ctx->adam_m, 0, 4u * na);
    ctx->adam_pw1 = ctx->adam_pw2 = PW_ONE;
    ctx->adam_lr = 0;
}

/* floor(sqrt(x)) of a 64-bit value, bit by bit (deterministic; once per update). */
static uint64_t isqrt64(uint64_t x)
{
    uint64_t r = 0, bit = (uint64_t)1 << 62;
    while (bit > x)
        bit >>= 2;
    while (bit) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

void rtrl_adam_rate(rtrl_t *ctx)
{
    ctx->adam_pw1 -= ctx->adam_pw1 >> ctx->cfg.adam_a; /* a = 0: beta1^t = 0 */
    ctx->adam_pw2 -= ctx->adam_pw2 >> ctx->cfg.adam_b;
    const uint64_t c1 = PW_ONE - ctx->adam_pw1;                           /* > 0 from t = 1 */
    const uint64_t sc2 = isqrt64((uint64_t)(PW_ONE - ctx->adam_pw2) << 30); /* Q30 */
    const uint64_t lr = (uint64_t)ctx->cfg.lr_q * sc2 / c1;
    ctx->adam_lr = lr > (uint64_t)INT32_MAX ? INT32_MAX : (int32_t)lr;
}

/* Bits of v > 0. */
static unsigned bit_length(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return 64u - (unsigned)__builtin_clzll(v);
#else
    unsigned b = 0;
    while (v) {
        ++b;
        v >>= 1;
    }
    return b;
#endif
}

int32_t rtrl_adam_param(rtrl_t *ctx, uint32_t i, int32_t w, int64_t g)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    uint64_t *sat = &ctx->counters.saturations;
    int32_t m = ctx->adam_m[i];
    if (cfg->adam_a)
        m = (int32_t)(m + rtrl_rnd(g - m, cfg->adam_a));
    else
        m = (int32_t)g;
    int64_t v = ctx->adam_v[i];
    /* g is an int32 (every caller's: a clipped gradient or a saturated one), so g^2 is one
     * rtrl_mul64 (on the Cortex-M0 not libgcc's 64 x 64 multiply) */
    v = v - (v >> cfg->adam_b) + (rtrl_mul64((int32_t)g, (int32_t)g) >> cfg->adam_b);
    ctx->adam_m[i] = m;
    ctx->adam_v[i] = v;
    if (m == 0)
        return w; /* no step: also what the formula gives */
    const uint64_t vv = (uint64_t)v > cfg->adam_eps2_q ? (uint64_t)v : cfg->adam_eps2_q;
    const unsigned L = bit_length(vv);
    const unsigned s = L > RTRL_RSQ_BITS ? (L - RTRL_RSQ_BITS + 1u) & ~1u : 0u;
    const int64_t mt = rtrl_mul64(m, (int32_t)rtrl_rsqrt_table[(vv >> s) - RTRL_RSQ_LO]);
    const int sh = (int)(s >> 1) - (RTRL_WFRAC - RTRL_RSQ_FRAC); /* u = m T 2^(5 - s/2), Q24 */
    /* the left shift as a shift of the two's complement bits (|mt 2^-sh| < 2^51: exact), not
     * a multiply (a libgcc call on the Cortex-M0) */
    const int64_t u = sh > 0 ? rtrl_rnd(mt, (unsigned)sh) : (int64_t)((uint64_t)mt << -sh);
    const int32_t us = (int32_t)rtrl_clamp(u, INT32_MIN, INT32_MAX, sat);
    return rtrl_sgd(w, ctx->adam_lr, us, sat); /* w - rnd(lr_t us, 24), saturated */
}
