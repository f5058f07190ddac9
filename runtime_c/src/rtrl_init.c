/*
 * rtrl_init.c - size query, validation, buffer layout, reset, accessors.
 */
#include "rtrl_mem.h"

#include "rtrl_internal.h"

static uint32_t params_of(const rtrl_config_t *cfg)
{
    uint32_t p = 5u * cfg->n;
    for (int g = 0; g < 3; ++g)
        p += (uint32_t)cfg->nnz_w[g] + cfg->nnz_r[g];
    return p;
}

static rtrl_status_t check_config(const rtrl_config_t *cfg)
{
    if (cfg->n < 1 || cfg->n > RTRL_MAX_UNITS || cfg->d < 1 || cfg->d > RTRL_MAX_UNITS ||
        cfg->k < 1 || cfg->k > RTRL_MAX_UNITS)
        return RTRL_ERR_CONFIG;
    if (params_of(cfg) > RTRL_MAX_PARAMS)
        return RTRL_ERR_CONFIG;
    for (int g = 0; g < 3; ++g)
        if (cfg->nnz_w[g] > (uint32_t)cfg->n * cfg->d || cfg->nnz_r[g] > (uint32_t)cfg->n * cfg->n ||
            cfg->nnz_r[g] > cfg->nnz_union)
            return RTRL_ERR_CONFIG;
    if (cfg->nnz_union > (uint32_t)cfg->n * cfg->n)
        return RTRL_ERR_CONFIG;
    if (cfg->update_every < 1 || cfg->lr_q < 0 || cfg->clip_q < 0 || cfg->eps_q < 1 ||
        cfg->goe_q < 0 || cfg->dense_mode > 1)
        return RTRL_ERR_CONFIG;
    if (cfg->readout_c > 1 || cfg->readout_rls > 1 || cfg->freeze_cell > 1 || cfg->reserved != 0 ||
        (uint32_t)cfg->n + (uint32_t)cfg->taps * cfg->d > RTRL_MAX_FEATURES || cfg->delay > RTRL_MAX_DELAY)
        return RTRL_ERR_CONFIG;
    /* RLS: lam in [0.9, 1], lam^-1/2 in [1, 0.9^-1/2] (Q30), p0 in (0, 4] (Q28): the bounds
     * the formats of rtrl_rls.c rest on */
    if (cfg->readout_rls &&
        (cfg->rls_lam_q < 58982 || cfg->rls_lam_q > RTRL_ONE || cfg->rls_isl_q < (1L << 30) ||
         cfg->rls_isl_q > 1131823261L || cfg->rls_p0_q < 1 || cfg->rls_p0_q > (1L << 30)))
        return RTRL_ERR_CONFIG;
    /* Adam: the shifts and the floor rtrl_adam.c's bounds rest on */
    if (cfg->adam > 1 || cfg->reserved2 != 0 ||
        (cfg->adam && (cfg->adam_a > 16 || cfg->adam_b < 1 || cfg->adam_b > 16 ||
                       cfg->adam_eps2_q < 256u || cfg->adam_eps2_q > (uint32_t)INT32_MAX)))
        return RTRL_ERR_CONFIG;
    return RTRL_OK;
}

rtrl_status_t rtrl_required_bytes(const rtrl_config_t *cfg, size_t *bytes)
{
    if (cfg == NULL || bytes == NULL)
        return RTRL_ERR_NULL;
    rtrl_status_t st = check_config(cfg);
    if (st != RTRL_OK)
        return st;
    uint32_t nnzw = (uint32_t)cfg->nnz_w[0] + cfg->nnz_w[1] + cfg->nnz_w[2];
    uint32_t nnzr = (uint32_t)cfg->nnz_r[0] + cfg->nnz_r[1] + cfg->nnz_r[2];
    *bytes = RTRL_REQUIRED_BYTES_OPT(cfg->n, cfg->d, cfg->k, nnzw, nnzr, cfg->nnz_union, cfg->taps,
                                     cfg->readout_rls, cfg->delay, cfg->adam);
    return RTRL_OK;
}

/* A pattern is valid when its column pointers start at 0, never decrease, end at nnz,
 * and every row index is below nrows and increasing within a column. */
static int pattern_ok(const uint16_t *colptr, const uint16_t *rowidx, uint16_t ncols,
                      uint16_t nrows, uint16_t nnz)
{
    if (colptr == NULL || (nnz > 0 && rowidx == NULL) || colptr[0] != 0 || colptr[ncols] != nnz)
        return 0;
    for (uint16_t j = 0; j < ncols; ++j) {
        if (colptr[j + 1] < colptr[j] || colptr[j + 1] > nnz)
            return 0;
        for (uint32_t e = colptr[j]; e < colptr[j + 1]; ++e)
            if (rowidx[e] >= nrows || (e > colptr[j] && rowidx[e] <= rowidx[e - 1]))
                return 0;
    }
    return 1;
}

static rtrl_status_t check_model(const rtrl_config_t *cfg, const rtrl_model_t *m)
{
    if (m->theta == NULL || m->w_o == NULL || m->b_o == NULL)
        return RTRL_ERR_NULL;
    for (int g = 0; g < 3; ++g) {
        if (!pattern_ok(m->w_colptr[g], m->w_rowidx[g], cfg->d, cfg->n, cfg->nnz_w[g]) ||
            !pattern_ok(m->r_colptr[g], m->r_rowidx[g], cfg->n, cfg->n, cfg->nnz_r[g]))
            return RTRL_ERR_MODEL;
    }
    if (!pattern_ok(m->u_colptr, m->u_rowidx, cfg->n, cfg->n, cfg->nnz_union))
        return RTRL_ERR_MODEL;
    const int shared = m->u_map[0] == NULL;
    for (int g = 0; g < 3; ++g) {
        if ((m->u_map[g] == NULL) != shared)
            return RTRL_ERR_MODEL;
        if (shared && (cfg->nnz_r[g] != cfg->nnz_union ||
                       memcmp(m->r_colptr[g], m->u_colptr, 2u * (cfg->n + 1u)) != 0 ||
                       (cfg->nnz_union > 0 &&
                        memcmp(m->r_rowidx[g], m->u_rowidx, 2u * cfg->nnz_union) != 0)))
            return RTRL_ERR_MODEL;
    }
    /* every union entry maps to the same (row, column) in its gates, and each gate entry
     * is reached exactly once: count per gate */
    for (int g = 0; g < 3 && !shared; ++g) {
        uint32_t seen = 0;
        for (uint16_t j = 0; j < cfg->n; ++j) {
            for (uint32_t e = m->u_colptr[j]; e < m->u_colptr[j + 1]; ++e) {
                uint16_t idx = m->u_map[g][e];
                if (idx == RTRL_ABSENT)
                    continue;
                if (idx >= cfg->nnz_r[g] || idx < m->r_colptr[g][j] || idx >= m->r_colptr[g][j + 1] ||
                    m->r_rowidx[g][idx] != m->u_rowidx[e])
                    return RTRL_ERR_MODEL;
                ++seen;
            }
        }
        if (seen != cfg->nnz_r[g])
            return RTRL_ERR_MODEL;
    }
    return RTRL_OK;
}

/* Thresholds lie in [0, 1] (Q24): the same check for rtrl_init and rtrl_load_weights. */
static int thresholds_ok(const int32_t *thr, uint16_t n)
{
    for (uint16_t j = 0; j < n; ++j)
        if (thr[j] < 0 || thr[j] > RTRL_WONE)
            return 0;
    return 1;
}

static void *take(uint8_t **cursor, size_t bytes)
{
    void *p = *cursor;
    *cursor += bytes;
    return p;
}

rtrl_status_t rtrl_init(rtrl_t *ctx, const rtrl_config_t *cfg, const rtrl_model_t *model,
                        void *buffer, size_t size, size_t *needed)
{
    if (ctx == NULL)
        return RTRL_ERR_NULL;
    ctx->magic = 0; /* a failed init always leaves the context unusable */
    if (cfg == NULL || model == NULL || buffer == NULL)
        return RTRL_ERR_NULL;
    size_t bytes;
    rtrl_status_t st = rtrl_required_bytes(cfg, &bytes);
    if (st != RTRL_OK)
        return st;
    if (needed != NULL)
        *needed = bytes;
    if (((uintptr_t)buffer & 7u) != 0)
        return RTRL_ERR_ALIGNMENT;
    if (size < bytes)
        return RTRL_ERR_BUFFER_TOO_SMALL;
    st = check_model(cfg, model);
    if (st != RTRL_OK)
        return st;
    if (!thresholds_ok(model->theta + params_of(cfg) - cfg->n, cfg->n))
        return RTRL_ERR_RANGE;

    const uint16_t n = cfg->n, k = cfg->k;
    const uint32_t P = params_of(cfg);
    const uint16_t m = (uint16_t)(n + (uint16_t)cfg->taps * cfg->d);
    ctx->m = m;
    ctx->cfg = *cfg;
    ctx->model = *model;
    ctx->P = (uint16_t)P;
    uint16_t off = 0;
    for (int g = 0; g < 3; ++g) {
        ctx->off_w[g] = off;
        off = (uint16_t)(off + cfg->nnz_w[g]);
    }
    for (int g = 0; g < 3; ++g) {
        ctx->off_r[g] = off;
        off = (uint16_t)(off + cfg->nnz_r[g]);
    }
    ctx->off_b = off;
    ctx->off_thr = (uint16_t)(off + 4u * n);

    uint8_t *cur = (uint8_t *)buffer;
    /* blocks in order of decreasing alignment; each padded to 8 bytes (RTRL_REQUIRED_BYTES) */
    uint8_t *start = cur;
    ctx->acc = take(&cur, 8u * n);
    cur = start + RTRL_ALIGN8(cur - start);
    start = cur;
    ctx->theta = take(&cur, 4u * P);
    ctx->grad = take(&cur, 4u * P);
    ctx->w_o = take(&cur, 4u * k * m);
    ctx->b_o = take(&cur, 4u * k);
    ctx->grad_wo = take(&cur, 4u * k * m);
    ctx->grad_bo = take(&cur, 4u * k);
    for (int b = 0; b < 2; ++b)
        for (int v = 0; v < RTRL_S_COUNT; ++v)
            ctx->st[b][v] = take(&cur, 4u * n);
    int32_t **tmp[] = {&ctx->u, &ctx->r, &ctx->g, &ctx->qv, &ctx->alpha_u, &ctx->alpha_r,
                       &ctx->alpha_g, &ctx->beta_g, &ctx->dvec, &ctx->dy, &ctx->ga, &ctx->grad_thr};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; ++i)
        *tmp[i] = take(&cur, 4u * n);
    ctx->out = take(&cur, 4u * k);
    ctx->dout = take(&cur, 4u * k);
    ctx->jval = take(&cur, 4u * cfg->nnz_union);
    ctx->aval = take(&cur, 4u * cfg->nnz_union);
    ctx->lval = take(&cur, 4u * cfg->nnz_union);
    ctx->nzm = take(&cur, 4u * (n + 5u) * RTRL_NZ_WORDS(n));
    ctx->taps_ring = take(&cur, 4u * RTRL_RING(cfg->taps, cfg->d, cfg->delay));
    for (int b = 0; b < 2; ++b)
        for (int v = 0; v < RTRL_S_COUNT; ++v)
            ctx->fst[b][v] = cfg->delay ? take(&cur, 4u * n) : NULL;
    ctx->z = take(&cur, 4u * (m + 1u));
    ctx->rls_p = ctx->rls_pz = ctx->rls_gain = NULL;
    if (cfg->readout_rls) {
        ctx->rls_p = take(&cur, 4u * (size_t)(m + 1u) * (m + 1u));
        ctx->rls_pz = take(&cur, 4u * (m + 1u));
        ctx->rls_gain = take(&cur, 4u * (m + 1u));
    }
    cur = start + RTRL_ALIGN8(cur - start);
    start = cur;
    ctx->M = take(&cur, sizeof(rtrl_m_t) * (size_t)n * P);
    ctx->saved = take(&cur, sizeof(rtrl_m_t) * (size_t)n * RTRL_CHUNK);
    cur = start + RTRL_ALIGN8(cur - start);
    start = cur;
    ctx->col_of = take(&cur, 2u * P);
    ctx->seg_off = take(&cur, 2u * (n + 1u));
    ctx->seg_live = take(&cur, 2u * n);
    ctx->act = take(&cur, 2u * n);
    ctx->cursor = take(&cur, 2u * n);
    ctx->srcs = take(&cur, 2u * n);
    ctx->jrow = take(&cur, 2u * (n + 1u));
    ctx->jslot = take(&cur, 2u * cfg->nnz_union);
    ctx->adam_v = NULL;
    ctx->adam_m = NULL;
    if (cfg->adam) {
        const size_t na = RTRL_ADAM_PARAMS(n, cfg->d, k, 0u, P - 5u * n, cfg->taps, cfg->readout_rls);
        cur = start + RTRL_ALIGN8(cur - start);
        ctx->adam_v = take(&cur, 8u * na);
        ctx->adam_m = take(&cur, 4u * na);
    }

    /* segment i's capacity: the W and R entries in row i, 4 biases and thr_i */
    memset(ctx->seg_off, 0, 2u * (n + 1u));
    for (int g = 0; g < 3; ++g) {
        for (uint16_t e = 0; e < cfg->nnz_w[g]; ++e)
            ++ctx->seg_off[model->w_rowidx[g][e] + 1u];
        for (uint16_t e = 0; e < cfg->nnz_r[g]; ++e)
            ++ctx->seg_off[model->r_rowidx[g][e] + 1u];
    }
    for (uint16_t i = 0; i < n; ++i)
        ctx->seg_off[i + 1u] = (uint16_t)(ctx->seg_off[i + 1u] + ctx->seg_off[i] + 5u);
    memcpy(ctx->theta, model->theta, 4u * P);
    memcpy(ctx->w_o, model->w_o, 4u * k * m);
    memcpy(ctx->b_o, model->b_o, 4u * k);
    ctx->magic = RTRL_MAGIC;
    if (cfg->adam) /* optimiser state, like the weights, survives rtrl_reset_state */
        rtrl_adam_reset(ctx);
    return rtrl_reset_state(ctx);
}

rtrl_status_t rtrl_reset_state(rtrl_t *ctx)
{
    if (ctx == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    const uint16_t n = ctx->cfg.n, k = ctx->cfg.k, P = ctx->P;
    for (int b = 0; b < 2; ++b)
        for (int v = 0; v < RTRL_S_COUNT; ++v)
            memset(ctx->st[b][v], 0, 4u * n);
    ctx->bank = 0;
    memset(ctx->M, 0, sizeof(rtrl_m_t) * (size_t)n * P);
    memset(ctx->grad, 0, 4u * P);
    memset(ctx->grad_thr, 0, 4u * n);
    memset(ctx->grad_wo, 0, 4u * k * ctx->m);
    memset(ctx->grad_bo, 0, 4u * k);
    memset(ctx->taps_ring, 0, 4u * RTRL_RING(ctx->cfg.taps, ctx->cfg.d, ctx->cfg.delay));
    if (ctx->cfg.delay)
        for (int b = 0; b < 2; ++b)
            for (int v = 0; v < RTRL_S_COUNT; ++v)
                memset(ctx->fst[b][v], 0, 4u * n);
    ctx->fbank = 0;
    ctx->seen = 0;
    if (ctx->cfg.readout_rls)
        rtrl_rls_reset(ctx);
    memset(ctx->col_of, 0xFF, 2u * P);
    memset(ctx->seg_live, 0, 2u * n);
    ctx->live = 0;
    /* no (row, segment) block nonzero; in dense mode every flag stays set (nothing skipped) */
    memset(ctx->nzm, 0, 4u * n * RTRL_NZ_WORDS(n));
    if (ctx->cfg.dense_mode)
        for (uint16_t s = 0; s < n; ++s)
            for (uint16_t i = 0; i < n; ++i)
                rtrl_nz_set(rtrl_nz(ctx, s), i);
    if (ctx->cfg.dense_mode) /* every column alive from the start, in parameter order */
        for (uint16_t p = 0; p < P; ++p)
            rtrl_col_alive(ctx, p, rtrl_seg_of(ctx, p));
    ctx->since_update = 0;
    memset(&ctx->counters, 0, sizeof ctx->counters);
    return RTRL_OK;
}

rtrl_status_t rtrl_set_learning_rate(rtrl_t *ctx, int32_t lr_q)
{
    if (ctx == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    if (lr_q < 0)
        return RTRL_ERR_CONFIG;
    ctx->cfg.lr_q = lr_q;
    return RTRL_OK;
}

rtrl_status_t rtrl_load_weights(rtrl_t *ctx, const int32_t *theta, const int32_t *w_o,
                                const int32_t *b_o)
{
    if (ctx == NULL || theta == NULL || w_o == NULL || b_o == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    if (!thresholds_ok(theta + ctx->off_thr, ctx->cfg.n))
        return RTRL_ERR_RANGE;
    memcpy(ctx->theta, theta, 4u * ctx->P);
    memcpy(ctx->w_o, w_o, 4u * (size_t)ctx->cfg.k * ctx->m);
    memcpy(ctx->b_o, b_o, 4u * ctx->cfg.k);
    return RTRL_OK;
}

uint32_t rtrl_weights_image_bytes(const rtrl_t *ctx)
{
    if (ctx == NULL || ctx->magic != RTRL_MAGIC)
        return 0;
    return 4u * ((uint32_t)ctx->P + (uint32_t)ctx->cfg.k * ctx->m + ctx->cfg.k);
}

/* The staging area: grad (P), grad_wo (k x m), grad_bo (k), in image order. */
static uint8_t *staging_at(rtrl_t *ctx, uint32_t offset, uint32_t *room)
{
    const uint32_t a = 4u * ctx->P, b = a + 4u * (uint32_t)ctx->cfg.k * ctx->m;
    const uint32_t c = b + 4u * ctx->cfg.k;
    if (offset < a) {
        *room = a - offset;
        return (uint8_t *)ctx->grad + offset;
    }
    if (offset < b) {
        *room = b - offset;
        return (uint8_t *)ctx->grad_wo + (offset - a);
    }
    *room = c - offset;
    return (uint8_t *)ctx->grad_bo + (offset - b);
}

static void clear_staging(rtrl_t *ctx)
{
    memset(ctx->grad, 0, 4u * ctx->P);
    memset(ctx->grad_thr, 0, 4u * ctx->cfg.n);
    memset(ctx->grad_wo, 0, 4u * (size_t)ctx->cfg.k * ctx->m);
    memset(ctx->grad_bo, 0, 4u * ctx->cfg.k);
    ctx->since_update = 0;
}

rtrl_status_t rtrl_stage_weights(rtrl_t *ctx, uint32_t offset, const uint8_t *data, uint32_t len)
{
    if (ctx == NULL || (data == NULL && len > 0))
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    const uint32_t total = rtrl_weights_image_bytes(ctx);
    if (offset > total || len > total - offset)
        return RTRL_ERR_RANGE;
    if (offset == 0) /* a new image: the pending gradient is given up */
        clear_staging(ctx);
    while (len > 0) {
        uint32_t room;
        uint8_t *dst = staging_at(ctx, offset, &room);
        const uint32_t n = len < room ? len : room;
        memcpy(dst, data, n);
        data += n;
        offset += n;
        len -= n;
    }
    return RTRL_OK;
}

rtrl_status_t rtrl_commit_weights(rtrl_t *ctx)
{
    if (ctx == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    const rtrl_status_t st = rtrl_load_weights(ctx, ctx->grad, ctx->grad_wo, ctx->grad_bo);
    clear_staging(ctx);
    return st;
}

rtrl_status_t rtrl_get_counters(const rtrl_t *ctx, rtrl_counters_t *counters)
{
    if (ctx == NULL || counters == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    *counters = ctx->counters;
    return RTRL_OK;
}

rtrl_status_t rtrl_get_view(const rtrl_t *ctx, rtrl_view_t *view)
{
    if (ctx == NULL || view == NULL)
        return RTRL_ERR_NULL;
    if (rtrl_check_ctx(ctx) != RTRL_OK)
        return rtrl_check_ctx(ctx);
    int32_t *const *s = ctx->st[ctx->bank];
    view->theta = ctx->theta;
    view->w_o = ctx->w_o;
    view->b_o = ctx->b_o;
    view->c = s[RTRL_S_C];
    view->h = s[RTRL_S_H];
    view->y = s[RTRL_S_Y];
    view->psi = s[RTRL_S_PSI];
    view->a = s[RTRL_S_A];
    view->M = ctx->M;
    view->col_of = ctx->col_of;
    view->grad = ctx->grad;
    view->grad_thr = ctx->grad_thr;
    view->grad_wo = ctx->grad_wo;
    view->grad_bo = ctx->grad_bo;
    view->P = ctx->P;
    view->live = ctx->live;
    view->features = ctx->m;
    view->rls_p = ctx->rls_p;
    return RTRL_OK;
}

const char *rtrl_status_str(rtrl_status_t status)
{
#ifdef RTRL_NO_ERROR_STRINGS
    (void)status;
    return "";
#else
    switch (status) {
    case RTRL_OK: return "ok";
    case RTRL_ERR_NULL: return "a required pointer is NULL";
    case RTRL_ERR_CONFIG: return "configuration out of range";
    case RTRL_ERR_MODEL: return "model patterns inconsistent with the configuration";
    case RTRL_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case RTRL_ERR_ALIGNMENT: return "buffer not 8-byte aligned";
    case RTRL_ERR_RANGE: return "sample, target or threshold out of range";
    case RTRL_ERR_NOT_INITIALISED: return "learner not initialised";
    case RTRL_ERR_WIDTH: return "learner initialised by a build of the other influence width";
    }
    return "unknown status";
#endif
}
