/*
 * demo_learner.c - see demo_learner.h. The model is static (patterns const, parameters from
 * an integer formula), the buffer a static array; integers only.
 */
#include "demo_learner.h"

#define Q24_ONE 16777216
#define Q16_ONE 65536

/* Column pointers and row indices of the dense patterns (CSC). */
static const uint16_t w_colptr[DEMO_D + 1] = {0, 4};
static const uint16_t w_rowidx[DEMO_N * DEMO_D] = {0, 1, 2, 3};
static const uint16_t r_colptr[DEMO_N + 1] = {0, 4, 8, 12, 16};
static const uint16_t r_rowidx[DEMO_N * DEMO_N] = {0, 1, 2, 3, 0, 1, 2, 3,
                                                   0, 1, 2, 3, 0, 1, 2, 3};

#define DEMO_P (DEMO_NNZ_W + DEMO_NNZ_R + 5 * DEMO_N)

static int32_t theta[DEMO_P];
static int32_t w_o[DEMO_K * DEMO_N];
static int32_t b_o[DEMO_K];

static rtrl_t learner;
static uint64_t buffer[(DEMO_BUFFER_BYTES + 7u) / 8u]; /* 8-byte aligned */

/* Weight of gate g, row i, column j: a multiple of 0.06 between -0.3 and 0.3 (Q24). */
static int32_t weight(int g, int i, int j, int salt, int scale)
{
    return (int32_t)(((i * 7 + j * 3 + g * 5 + salt) % 11) - 5) * scale * 1006633; /* 0.06 */
}

static void build_model(rtrl_config_t *cfg, rtrl_model_t *model)
{
    int p = 0;
    for (int g = 0; g < 3; ++g) /* W_u, W_r, W_g: input weights twice as large */
        for (int i = 0; i < DEMO_N; ++i)
            theta[p++] = weight(g, i, 0, 0, 2);
    for (int g = 0; g < 3; ++g) /* R_u, R_r, R_g, column by column */
        for (int j = 0; j < DEMO_N; ++j)
            for (int i = 0; i < DEMO_N; ++i)
                theta[p++] = weight(g, i, j, 4, 1);
    for (int i = 0; i < 4 * DEMO_N; ++i) /* b_u, b_r, b_g (0.1), b_rg */
        theta[p++] = (i / DEMO_N == 2) ? Q24_ONE / 10 : 0;
    for (int i = 0; i < DEMO_N; ++i) /* thresholds 0.3 */
        theta[p++] = 3 * (Q24_ONE / 10);
    for (int i = 0; i < DEMO_K * DEMO_N; ++i)
        w_o[i] = (i % 2 ? -1 : 1) * (Q24_ONE / 10);
    b_o[0] = 0;

    *cfg = (rtrl_config_t){0};
    cfg->n = DEMO_N;
    cfg->d = DEMO_D;
    cfg->k = DEMO_K;
    for (int g = 0; g < 3; ++g) {
        cfg->nnz_w[g] = DEMO_N * DEMO_D;
        cfg->nnz_r[g] = DEMO_N * DEMO_N;
    }
    cfg->nnz_union = DEMO_NNZ_UNION;
    cfg->update_every = 1;
    cfg->lr_q = Q24_ONE / 100;     /* learning rate 0.01 */
    cfg->clip_q = Q24_ONE;         /* clip each gradient component at 1.0 */
    cfg->eps_q = Q16_ONE / 2;      /* pseudo-derivative half-width 0.5 */
    cfg->goe_q = 7 * Q16_ONE / 5;  /* gamma / eps = 1.4 */

    *model = (rtrl_model_t){0};
    for (int g = 0; g < 3; ++g) {
        model->w_colptr[g] = w_colptr;
        model->w_rowidx[g] = w_rowidx;
        model->r_colptr[g] = r_colptr;
        model->r_rowidx[g] = r_rowidx;
        model->u_map[g] = NULL; /* the three gates share one recurrent pattern */
    }
    model->u_colptr = r_colptr;
    model->u_rowidx = r_rowidx;
    model->theta = theta;
    model->w_o = w_o;
    model->b_o = b_o;
}

int32_t demo_signal(uint32_t t)
{
    const int32_t phase = (int32_t)(t % 24u);
    const int32_t tri = phase < 12 ? phase : 24 - phase; /* 0..12 */
    const int32_t wave = tri * (2 * Q16_ONE) / 12 - Q16_ONE;
    const uint32_t r = (t + 1u) * 2654435761u; /* Knuth's multiplicative hash */
    const int32_t noise = (int32_t)(r >> 21) - 1024;  /* -1024..1023, i.e. +-1/64 */
    return wave + 2 * noise;
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len--) {
        h ^= *p++;
        h *= 16777619u;
    }
    return h;
}

/* Byte order independent: hash each value's little-endian bytes. */
static uint32_t hash_i32(uint32_t h, const int32_t *v, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        const uint32_t u = (uint32_t)v[i];
        const uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16),
                              (uint8_t)(u >> 24)};
        h = fnv1a(h, b, 4);
    }
    return h;
}

rtrl_status_t demo_learner_run(uint32_t steps, demo_result_t *result)
{
    rtrl_config_t cfg;
    rtrl_model_t model;
    size_t needed = 0;
    build_model(&cfg, &model);
    rtrl_status_t st = rtrl_init(&learner, &cfg, &model, buffer, sizeof buffer, &needed);
    if (st != RTRL_OK)
        return st;

    int32_t x = demo_signal(0), out = 0, loss = 0;
    for (uint32_t t = 0; t < steps; ++t) {
        const int32_t target = demo_signal(t + 1u);
        st = rtrl_step(&learner, &x, &target, &out, &loss);
        if (st != RTRL_OK)
            return st;
        x = target;
    }

    rtrl_view_t view;
    st = rtrl_get_view(&learner, &view);
    if (st == RTRL_OK)
        st = rtrl_get_counters(&learner, &result->counters);
    if (st != RTRL_OK)
        return st;
    uint32_t h = 2166136261u;
    h = hash_i32(h, view.theta, view.P);
    h = hash_i32(h, view.w_o, DEMO_K * DEMO_N);
    h = hash_i32(h, view.b_o, DEMO_K);
    h = hash_i32(h, &out, 1);
    result->checksum = h;
    result->last_out = out;
    result->last_loss = loss;
    return RTRL_OK;
}
