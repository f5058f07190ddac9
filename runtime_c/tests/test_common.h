/*
 * test_common.h - shared helpers of the host unit tests (tests/test_*.c): a CHECK macro and a
 * hand-built tiny model (n = 4, d = 2, k = 1) with a deterministic integer input stream.
 * Header only: each test includes it once. Not part of the library.
 */
#ifndef RTRL_TEST_COMMON_H
#define RTRL_TEST_COMMON_H

#include <stdio.h>
#include <string.h>

#include "rtrl.h"

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* CHECK that a call returns the expected status; prints the status it got otherwise. */
#define CHECK_ST(call, want)                                                            \
    do {                                                                                \
        const rtrl_status_t got_ = (call);                                              \
        if (got_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (got %d: %s)\n", __FILE__,   \
                    __LINE__, #call, #want, (int)got_, rtrl_status_str(got_));          \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

/* ---- the tiny model ------------------------------------------------------------------- */

#define TM_N 4
#define TM_D 2
#define TM_K 1
#define TM_MAXP (3 * TM_N * TM_D + 3 * TM_N * TM_N + 5 * TM_N) /* every entry stored: 92 */
/* Buffer for any model of this size: sized at compile time by RTRL_REQUIRED_BYTES. */
#define TM_BUF_BYTES RTRL_REQUIRED_BYTES(TM_N, TM_D, TM_K, 3 * TM_N * TM_D, 3 * TM_N * TM_N, TM_N * TM_N)
#define TM_BUF_WORDS (TM_BUF_BYTES / 8u)

#define Q24(x) ((int32_t)((x) * 16777216.0 + ((x) < 0 ? -0.5 : 0.5)))
#define Q16(x) ((int32_t)((x) * 65536.0 + ((x) < 0 ? -0.5 : 0.5)))

#define ALL_W 0xFFu   /* 4 x 2: every entry, bit i*2 + j */
#define ALL_R 0xFFFFu /* 4 x 4: every entry, bit i*4 + j */

typedef struct {
    uint16_t colptr[TM_N + 1];
    uint16_t rowidx[TM_N * TM_N];
    uint16_t nnz;
} tpat_t;

typedef struct {
    rtrl_config_t cfg;
    rtrl_model_t model;
    tpat_t w[3], r[3], u;
    uint16_t umap[3][TM_N * TM_N];
    int32_t theta[TM_MAXP], w_o[TM_K * TM_N], b_o[TM_K];
    int shared;
} tmodel_t;

/* CSC pattern of an nrows x ncols mask given row-major as bits (bit i*ncols + j). */
/* xorshift64: a reproducible stream of random test values; each test file keeps and seeds
 * its own state. */
static inline uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static inline void pat_from_bits(tpat_t *p, uint16_t nrows, uint16_t ncols, uint32_t bits)
{
    uint16_t e = 0;
    memset(p, 0, sizeof *p);
    for (uint16_t j = 0; j < ncols; ++j) {
        p->colptr[j] = e;
        for (uint16_t i = 0; i < nrows; ++i)
            if (bits >> (i * ncols + j) & 1u)
                p->rowidx[e++] = i;
    }
    p->colptr[ncols] = e;
    p->nnz = e;
}

/* Point the model at t's own arrays (after building, or after copying a tmodel_t). */
static inline void tm_link(tmodel_t *t)
{
    for (int g = 0; g < 3; ++g) {
        t->model.w_colptr[g] = t->w[g].colptr;
        t->model.w_rowidx[g] = t->w[g].rowidx;
        t->model.r_colptr[g] = t->r[g].colptr;
        t->model.r_rowidx[g] = t->r[g].rowidx;
        t->model.u_map[g] = t->shared ? NULL : t->umap[g];
    }
    t->model.u_colptr = t->u.colptr;
    t->model.u_rowidx = t->u.rowidx;
    t->model.theta = t->theta;
    t->model.w_o = t->w_o;
    t->model.b_o = t->b_o;
}

/* A small nonzero Q24 weight, +-0.3 at most, from the entry's (gate, row, column). */
static inline int32_t tm_weight(int g, int i, int j, int salt)
{
    return (int32_t)(((i * 7 + j * 3 + g * 5 + salt) % 11) - 5) * Q24(0.06);
}

/* Build the model: W and R masks as bits; shared = one recurrent pattern (u_map NULL),
 * else the union of the three R masks with u_maps. Hyperparameters: thresholds 0.3,
 * eps 0.5, gamma/eps 1.4, lr 0.01, clip 1.0. */
static inline void tm_build(tmodel_t *t, const uint32_t wbits[3], const uint32_t rbits[3], int shared,
                     uint16_t update_every)
{
    memset(t, 0, sizeof *t);
    t->shared = shared;
    uint32_t ubits = 0;
    for (int g = 0; g < 3; ++g) {
        pat_from_bits(&t->w[g], TM_N, TM_D, wbits[g]);
        pat_from_bits(&t->r[g], TM_N, TM_N, rbits[g]);
        ubits |= rbits[g];
    }
    pat_from_bits(&t->u, TM_N, TM_N, ubits);
    for (int g = 0; g < 3; ++g)
        for (uint16_t j = 0; j < TM_N; ++j)
            for (uint16_t e = t->u.colptr[j]; e < t->u.colptr[j + 1]; ++e) {
                t->umap[g][e] = RTRL_ABSENT;
                for (uint16_t f = t->r[g].colptr[j]; f < t->r[g].colptr[j + 1]; ++f)
                    if (t->r[g].rowidx[f] == t->u.rowidx[e])
                        t->umap[g][e] = f;
            }

    rtrl_config_t *c = &t->cfg;
    c->n = TM_N;
    c->d = TM_D;
    c->k = TM_K;
    for (int g = 0; g < 3; ++g) {
        c->nnz_w[g] = t->w[g].nnz;
        c->nnz_r[g] = t->r[g].nnz;
    }
    c->nnz_union = t->u.nnz;
    c->update_every = update_every;
    c->dense_mode = 0;
    c->lr_q = Q24(0.01);
    c->clip_q = Q24(1.0);
    c->eps_q = Q16(0.5);
    c->goe_q = Q16(1.4);

    /* theta: W_u W_r W_g R_u R_r R_g (CSC order), b_u b_r b_g b_rg, thr */
    uint16_t p = 0;
    for (int g = 0; g < 3; ++g)
        for (uint16_t j = 0; j < TM_D; ++j)
            for (uint16_t e = t->w[g].colptr[j]; e < t->w[g].colptr[j + 1]; ++e)
                t->theta[p++] = tm_weight(g, t->w[g].rowidx[e], j, 0);
    for (int g = 0; g < 3; ++g)
        for (uint16_t j = 0; j < TM_N; ++j)
            for (uint16_t e = t->r[g].colptr[j]; e < t->r[g].colptr[j + 1]; ++e)
                t->theta[p++] = tm_weight(g, t->r[g].rowidx[e], j, 4);
    for (int i = 0; i < 4 * TM_N; ++i) /* biases: b_g slightly positive, others zero */
        t->theta[p++] = (i / TM_N == 2) ? Q24(0.1) : 0;
    for (int i = 0; i < TM_N; ++i)
        t->theta[p++] = Q24(0.3);
    for (int i = 0; i < TM_K * TM_N; ++i)
        t->w_o[i] = (i % 2 ? -1 : 1) * Q24(0.1);
    t->b_o[0] = 0;
    tm_link(t);
}

/* Number of cell parameters of a built model. */
static inline uint16_t tm_params(const tmodel_t *t)
{
    uint32_t p = 5u * t->cfg.n;
    for (int g = 0; g < 3; ++g)
        p += (uint32_t)t->cfg.nnz_w[g] + t->cfg.nnz_r[g];
    return (uint16_t)p;
}

static inline void tm_dense(tmodel_t *t, uint16_t update_every)
{
    const uint32_t w[3] = {ALL_W, ALL_W, ALL_W}, r[3] = {ALL_R, ALL_R, ALL_R};
    tm_build(t, w, r, 1, update_every);
}

/* Independent masks: different W and R patterns per gate; the union misses
 * (3, 0) and (3, 3), and most union entries are absent from some gate. */
static inline void tm_independent(tmodel_t *t, uint16_t update_every)
{
    const uint32_t w[3] = {0xB7u, 0x5Eu, 0xEDu};
    const uint32_t r[3] = {0x0A5Bu, 0x6C36u, 0x07E1u};
    tm_build(t, w, r, 0, update_every);
}

/* ---- the input stream ------------------------------------------------------------------ */

/* x[t] = (sin(2 pi t / 32), 0.5 sin(2 pi 3t / 32 + pi / 2)); target[t] = x[t - 1][0]. */
static inline void tm_stream(int32_t *x, int32_t *target, uint32_t steps)
{
    /* sin(2 pi i / 32) in Q16 */
    static const int32_t SINE32[32] = {
        0,      12785,  25080,  36410,  46341,  54491,  60547,  64277,  65536,  64277,  60547,
        54491,  46341,  36410,  25080,  12785,  0,      -12785, -25080, -36410, -46341, -54491,
        -60547, -64277, -65536, -64277, -60547, -54491, -46341, -36410, -25080, -12785};
    for (uint32_t t = 0; t < steps; ++t) {
        x[TM_D * t] = SINE32[t % 32u];
        x[TM_D * t + 1] = SINE32[(3u * t + 8u) % 32u] / 2;
        target[t] = t ? x[TM_D * (t - 1u)] : 0;
    }
}

/* ---- comparing learners ---------------------------------------------------------------- */

static inline rtrl_view_t view_of(const rtrl_t *ctx)
{
    rtrl_view_t v;
    memset(&v, 0, sizeof v);
    if (rtrl_get_view(ctx, &v) != RTRL_OK)
        fprintf(stderr, "view_of: rtrl_get_view failed\n");
    return v;
}

/* 1 when both learners hold byte-identical parameters, state and influence matrix. */
static inline int same_learner(const rtrl_t *a, const rtrl_t *b, uint16_t n, uint16_t k)
{
    const rtrl_view_t va = view_of(a), vb = view_of(b);
    if (va.theta == NULL || vb.theta == NULL || va.P != vb.P || va.live != vb.live)
        return 0;
    const size_t P = va.P;
    return memcmp(va.theta, vb.theta, 4u * P) == 0 &&
           memcmp(va.M, vb.M, sizeof(rtrl_m_t) * n * P) == 0 &&
           memcmp(va.w_o, vb.w_o, 4u * k * n) == 0 && memcmp(va.b_o, vb.b_o, 4u * k) == 0 &&
           memcmp(va.c, vb.c, 4u * n) == 0 && memcmp(va.h, vb.h, 4u * n) == 0 &&
           memcmp(va.y, vb.y, 4u * n) == 0 && memcmp(va.a, vb.a, 4u * n) == 0 &&
           memcmp(va.psi, vb.psi, 4u * n) == 0 && memcmp(va.grad, vb.grad, 4u * P) == 0 &&
           memcmp(va.col_of, vb.col_of, 2u * P) == 0;
}

/* Column of M holding cell parameter p (theta order), or RTRL_ABSENT while it is dead. */
static inline uint16_t column_of(const rtrl_view_t *v, const tmodel_t *t, uint16_t p)
{
    (void)t;
    return p < v->P ? v->col_of[p] : RTRL_ABSENT;
}

/* The postsynaptic unit of cell parameter p (theta order): its segment of M (rtrl.h). */
static inline uint16_t column_row(const tmodel_t *t, uint16_t p)
{
    uint16_t base = 0;
    for (int kind = 0; kind < 2; ++kind) {
        const tpat_t *pat = kind ? t->r : t->w;
        for (int g = 0; g < 3; ++g) {
            if (p < base + pat[g].nnz)
                return pat[g].rowidx[p - base];
            base = (uint16_t)(base + pat[g].nnz);
        }
    }
    return (uint16_t)((p - base) % t->cfg.n); /* biases (4n), then thresholds (n) */
}

static inline int all_zero(const void *p, size_t bytes)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; ++i)
        if (b[i])
            return 0;
    return 1;
}

#endif /* RTRL_TEST_COMMON_H */
