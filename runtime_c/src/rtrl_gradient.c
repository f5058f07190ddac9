/*
 * rtrl_gradient.c - readout, squared-error loss and gradient accumulation.
 *
 * The cell gradient is (dy * a) M_t, accumulated row by row over the rows with
 * dy_i a_i != 0 as contiguous updates of the live columns, plus the threshold's immediate
 * term dy_i (-c_i psi_i); the readout gets dout y^T.
 *
 * Scaling and overflow: out, dy, ga are Q16 in int32 (saturated, counted); |out - target|
 * is bounded by 128.0 (counted) so that dy's int64 sum over k <= 255 outputs is exact.
 * Each product ga_i * M_ip is a single int64 (<= 2^62) rounded to Q24 and added to the
 * int32 accumulator with saturation (counted).
 */
#include "rtrl_internal.h"

#define GSHIFT (RTRL_MFRAC - 8u) /* Q16 x Q_M -> Q24 */

int32_t rtrl_gradient(rtrl_t *ctx, const int32_t *target)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const uint16_t n = cfg->n, k = cfg->k, P = ctx->P, L = ctx->live;
    int32_t *const *now = ctx->st[ctx->bank ^ 1u];
    const int32_t *y = now[RTRL_S_Y], *a = now[RTRL_S_A];
    uint64_t *sat = &ctx->counters.saturations;

    int64_t loss = 0;
    for (uint16_t q = 0; q < k; ++q) {
        const int32_t *wo = ctx->w_o + (size_t)q * n;
        int64_t s = (int64_t)ctx->b_o[q] * RTRL_ONE; /* not <<: negative */
        for (uint16_t i = 0; i < n; ++i)
            s += (int64_t)wo[i] * y[i];
        ctx->out[q] = rtrl_sat32(rtrl_rnd(s, RTRL_WFRAC), sat);
        const int64_t dout = rtrl_clamp((int64_t)ctx->out[q] - target[q], -RTRL_LIM_DOUT, RTRL_LIM_DOUT, sat);
        ctx->dout[q] = (int32_t)dout;
        loss += dout * dout;
    }
    const int32_t loss_q = rtrl_sat32(rtrl_rnd(loss, RTRL_FRAC + 1u), sat);

    uint64_t rows = 0;
    for (uint16_t i = 0; i < n; ++i) {
        int64_t s = 0;
        for (uint16_t q = 0; q < k; ++q)
            s += (int64_t)ctx->w_o[(size_t)q * n + i] * ctx->dout[q];
        ctx->dy[i] = rtrl_sat32(rtrl_rnd(s, RTRL_WFRAC), sat);
        ctx->ga[i] = rtrl_sat32(rtrl_rnd((int64_t)ctx->dy[i] * a[i], RTRL_FRAC), sat);
    }
    for (uint16_t i = 0; i < n; ++i) {
        const int64_t gi = ctx->ga[i];
        if (gi == 0 && !cfg->dense_mode)
            continue;
        const rtrl_m_t *restrict row = ctx->M + (size_t)i * P;
        int32_t *restrict grad = ctx->grad;
        uint64_t nsat = 0;
        for (uint16_t c = 0; c < L; ++c) { /* branch-free: vectorisable */
            int64_t v = (int64_t)grad[c] + rtrl_rnd(gi * row[c], GSHIFT);
            nsat += (uint64_t)((v < INT32_MIN) | (v > INT32_MAX));
            v = v < INT32_MIN ? INT32_MIN : v;
            v = v > INT32_MAX ? INT32_MAX : v;
            grad[c] = (int32_t)v;
        }
        *sat += nsat;
        ++rows;
    }
    ctx->counters.macs += rows * L;

    const int32_t *c = now[RTRL_S_C], *psi = now[RTRL_S_PSI];
    for (uint16_t i = 0; i < n; ++i) {
        const int64_t cpsi = rtrl_rnd((int64_t)c[i] * psi[i], RTRL_FRAC);
        ctx->grad_thr[i] = rtrl_sat32((int64_t)ctx->grad_thr[i] +
                                          rtrl_rnd((int64_t)ctx->dy[i] * -cpsi, 2u * RTRL_FRAC - RTRL_WFRAC),
                                      sat);
    }
    for (uint16_t q = 0; q < k; ++q) {
        int32_t *gw = ctx->grad_wo + (size_t)q * n;
        const int64_t dq = ctx->dout[q];
        for (uint16_t i = 0; i < n; ++i)
            gw[i] = rtrl_sat32((int64_t)gw[i] + rtrl_rnd(dq * y[i], 2u * RTRL_FRAC - RTRL_WFRAC), sat);
        ctx->grad_bo[q] = rtrl_sat32((int64_t)ctx->grad_bo[q] + dq * (1 << (RTRL_WFRAC - RTRL_FRAC)), sat);
    }
    return loss_q;
}
