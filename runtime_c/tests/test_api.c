/*
 * test_api.c - the API contract of rtrl.h: size query, configuration and model validation,
 * buffer checks, uninitialised contexts, NULL arguments, status strings.
 * Host-only unit test (uses stdio); exits 0 on success, 1 on failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rtrl.h"
#include "test_common.h"

/* RTRL_REQUIRED_BYTES is an integer constant expression: it sizes file-scope arrays and
 * passes a compile-time assertion (a negative array size would not compile). */
static uint64_t buf[TM_BUF_WORDS];   /* exactly the dense tiny model: ASan sees overruns */
static uint64_t buf2[TM_BUF_WORDS];
static uint64_t big_buf[TM_BUF_WORDS + 2]; /* room for a misaligned start */
static uint64_t small_buf[RTRL_REQUIRED_BYTES(1, 1, 1, 0, 0, 0) / 8u]; /* exact: see typedef */
typedef char required_bytes_is_a_constant[RTRL_REQUIRED_BYTES(1, 1, 1, 0, 0, 0) % 8u == 0 ? 1 : -1];

static const int32_t X0[TM_D] = {0, 0}, T0[TM_K] = {0};

/* rtrl_step on ctx answers RTRL_ERR_NOT_INITIALISED (the context is unusable). */
static int not_initialised(rtrl_t *ctx)
{
    return rtrl_step(ctx, X0, T0, NULL, NULL) == RTRL_ERR_NOT_INITIALISED;
}

/* rtrl_required_bytes(cfg) == RTRL_REQUIRED_BYTES(...) from the same fields. */
static void check_size(const rtrl_config_t *cfg)
{
    size_t bytes = 0;
    CHECK_ST(rtrl_required_bytes(cfg, &bytes), RTRL_OK);
    const uint32_t nnzw = (uint32_t)cfg->nnz_w[0] + cfg->nnz_w[1] + cfg->nnz_w[2];
    const uint32_t nnzr = (uint32_t)cfg->nnz_r[0] + cfg->nnz_r[1] + cfg->nnz_r[2];
    CHECK(bytes == RTRL_REQUIRED_BYTES(cfg->n, cfg->d, cfg->k, nnzw, nnzr, cfg->nnz_union));
    CHECK(bytes % 8u == 0);
}

static rtrl_config_t base_config(void)
{
    tmodel_t t;
    tm_dense(&t, 1);
    return t.cfg;
}

/* A configuration that is invalid in exactly one field: size query and init refuse it. */
static void expect_config_error(const rtrl_config_t *cfg, int line)
{
    size_t bytes = 0, needed = 0;
    tmodel_t t;
    tm_dense(&t, 1);
    rtrl_t ctx = {0};
    const rtrl_status_t s1 = rtrl_required_bytes(cfg, &bytes);
    const rtrl_status_t s2 = rtrl_init(&ctx, cfg, &t.model, buf, sizeof buf, &needed);
    if (s1 != RTRL_ERR_CONFIG || s2 != RTRL_ERR_CONFIG || !not_initialised(&ctx)) {
        fprintf(stderr, "%s:%d: config case of line %d: required_bytes %d, init %d (want %d)\n",
                __FILE__, __LINE__, line, (int)s1, (int)s2, (int)RTRL_ERR_CONFIG);
        failures++;
    }
}
#define EXPECT_CONFIG_ERROR(cfg) expect_config_error(&(cfg), __LINE__)

static void test_size_query(void)
{
    tmodel_t dense, indep;
    tm_dense(&dense, 1);
    tm_independent(&indep, 3);
    check_size(&dense.cfg);
    check_size(&indep.cfg);

    size_t bytes = 0;
    CHECK_ST(rtrl_required_bytes(&dense.cfg, &bytes), RTRL_OK);
    CHECK(bytes == TM_BUF_BYTES);
    CHECK(sizeof buf == TM_BUF_BYTES);

    rtrl_config_t c = base_config();
    memset(c.nnz_w, 0, sizeof c.nnz_w);
    memset(c.nnz_r, 0, sizeof c.nnz_r);
    c.n = c.d = c.k = 1;
    c.nnz_union = 0;
    check_size(&c); /* smallest network */
    CHECK_ST(rtrl_required_bytes(&c, &bytes), RTRL_OK);
    CHECK(bytes == sizeof small_buf);

    c = base_config();
    c.n = 255, c.d = 255, c.k = 255;
    c.nnz_w[0] = 64259; /* P = 64259 + 5 * 255 = 65534 = RTRL_MAX_PARAMS: largest allowed */
    c.nnz_w[1] = c.nnz_w[2] = 0;
    memset(c.nnz_r, 0, sizeof c.nnz_r);
    c.nnz_union = 0;
    check_size(&c);
    c.nnz_w[0] = 10000, c.nnz_w[1] = 20000, c.nnz_w[2] = 30000, c.nnz_r[0] = 1, c.nnz_r[1] = 1;
    c.nnz_r[2] = 3, c.nnz_union = 3, c.k = 7, c.d = 200; /* odd sizes: padding matters */
    check_size(&c);
    c = base_config();
    c.n = 3, c.d = 5, c.k = 3, c.nnz_w[0] = 1, c.nnz_w[1] = 15, c.nnz_w[2] = 0;
    c.nnz_r[0] = 9, c.nnz_r[1] = 0, c.nnz_r[2] = 5, c.nnz_union = 9;
    check_size(&c);

    /* boundary values that are valid */
    c = base_config();
    c.eps_q = 1, c.goe_q = 0, c.lr_q = 0, c.clip_q = 0, c.dense_mode = 1, c.update_every = 65535;
    check_size(&c);
    c.lr_q = INT32_MAX, c.clip_q = INT32_MAX, c.eps_q = INT32_MAX, c.goe_q = INT32_MAX;
    check_size(&c);

    /* NULL arguments */
    CHECK_ST(rtrl_required_bytes(NULL, &bytes), RTRL_ERR_NULL);
    CHECK_ST(rtrl_required_bytes(&dense.cfg, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_required_bytes(NULL, NULL), RTRL_ERR_NULL);

    /* every invalid field, one at a time */
    const rtrl_config_t ok = base_config();
    c = ok, c.n = 0;               EXPECT_CONFIG_ERROR(c);
    c = ok, c.n = 256;             EXPECT_CONFIG_ERROR(c);
    c = ok, c.d = 0;               EXPECT_CONFIG_ERROR(c);
    c = ok, c.d = 256;             EXPECT_CONFIG_ERROR(c);
    c = ok, c.k = 0;               EXPECT_CONFIG_ERROR(c);
    c = ok, c.k = 256;             EXPECT_CONFIG_ERROR(c);
    c = ok, c.update_every = 0;    EXPECT_CONFIG_ERROR(c);
    c = ok, c.eps_q = 0;           EXPECT_CONFIG_ERROR(c);
    c = ok, c.eps_q = -1;          EXPECT_CONFIG_ERROR(c);
    c = ok, c.eps_q = INT32_MIN;   EXPECT_CONFIG_ERROR(c);
    c = ok, c.goe_q = -1;          EXPECT_CONFIG_ERROR(c);
    c = ok, c.lr_q = -1;           EXPECT_CONFIG_ERROR(c);
    c = ok, c.clip_q = -1;         EXPECT_CONFIG_ERROR(c);
    c = ok, c.dense_mode = 2;      EXPECT_CONFIG_ERROR(c);
    c = ok, c.dense_mode = 255;    EXPECT_CONFIG_ERROR(c);
    for (int g = 0; g < 3; ++g) {
        c = ok, c.nnz_w[g] = TM_N * TM_D + 1;   EXPECT_CONFIG_ERROR(c); /* > n * d */
        c = ok, c.nnz_r[g] = TM_N * TM_N + 1;   EXPECT_CONFIG_ERROR(c); /* > n * n */
    }
    const rtrl_config_t iok = indep.cfg; /* nnz_r[g] < nnz_union */
    for (int g = 0; g < 3; ++g) {
        c = iok, c.nnz_r[g] = (uint16_t)(c.nnz_union + 1);   EXPECT_CONFIG_ERROR(c);
    }
    c = iok, c.nnz_union = (uint16_t)(c.nnz_r[1] - 1);       EXPECT_CONFIG_ERROR(c);
    c = ok, c.nnz_union = TM_N * TM_N + 1;                   EXPECT_CONFIG_ERROR(c); /* > n * n */
    /* total parameters: 65535 > RTRL_MAX_PARAMS while every field is valid on its own */
    c = ok, c.n = 255, c.d = 255, c.nnz_w[0] = 64260, c.nnz_w[1] = c.nnz_w[2] = 0;
    memset(c.nnz_r, 0, sizeof c.nnz_r), c.nnz_union = 0;
    EXPECT_CONFIG_ERROR(c);
    c.nnz_w[0] = 64259; /* one less: accepted */
    CHECK_ST(rtrl_required_bytes(&c, &bytes), RTRL_OK);
    c = ok, c.n = 255, c.d = 255, c.nnz_w[0] = c.nnz_w[1] = c.nnz_w[2] = 65025;
    EXPECT_CONFIG_ERROR(c); /* sum of uint16 counts far above the limit */
    c = ok, c.n = 255, c.d = 1, c.nnz_w[0] = c.nnz_w[1] = c.nnz_w[2] = 0;
    c.nnz_r[0] = c.nnz_r[1] = c.nnz_r[2] = 21653, c.nnz_union = 21653; /* 64959 + 1275 */
    EXPECT_CONFIG_ERROR(c);
}

/* ---- init: buffer, NULL, model validation ---------------------------------------------- */

/* rtrl_init of a model that is invalid for `want` reasons, on a zeroed context and on one
 * that was initialised before: both end up unusable. */
static void expect_init_error(const tmodel_t *t, rtrl_status_t want, int line)
{
    rtrl_t ctx = {0};
    const rtrl_status_t s = rtrl_init(&ctx, &t->cfg, &t->model, buf, sizeof buf, NULL);
    int ok = s == want && not_initialised(&ctx);

    tmodel_t good;
    tm_dense(&good, 1);
    rtrl_t ctx2 = {0};
    ok = ok && rtrl_init(&ctx2, &good.cfg, &good.model, buf2, sizeof buf2, NULL) == RTRL_OK;
    const rtrl_status_t s2 = rtrl_init(&ctx2, &t->cfg, &t->model, buf2, sizeof buf2, NULL);
    ok = ok && s2 == want && not_initialised(&ctx2);
    if (!ok) {
        fprintf(stderr, "%s:%d: init case of line %d: got %d / %d, want %d (%s)\n", __FILE__,
                __LINE__, line, (int)s, (int)s2, (int)want, rtrl_status_str(want));
        failures++;
    }
}
#define EXPECT_MODEL_ERROR(t) expect_init_error(&(t), RTRL_ERR_MODEL, __LINE__)

/* Copy a built model (and re-point its arrays at the copy). */
static void copy_model(tmodel_t *dst, const tmodel_t *src)
{
    *dst = *src;
    tm_link(dst);
}

static void test_init_buffer_and_null(void)
{
    tmodel_t t;
    tm_dense(&t, 1);
    size_t bytes = 0, needed = 0;
    CHECK_ST(rtrl_required_bytes(&t.cfg, &bytes), RTRL_OK);

    /* one byte short */
    rtrl_t ctx = {0};
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, buf, bytes - 1, &needed), RTRL_ERR_BUFFER_TOO_SMALL);
    CHECK(needed == bytes);
    CHECK(not_initialised(&ctx));
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, buf, bytes - 1, NULL), RTRL_ERR_BUFFER_TOO_SMALL);
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, buf, 0, NULL), RTRL_ERR_BUFFER_TOO_SMALL);
    CHECK(not_initialised(&ctx));

    /* misaligned by 1..7 bytes (inside an 8-aligned array, the size left is ample) */
    for (size_t off = 1; off < 8; ++off) {
        needed = 0;
        rtrl_t c2 = {0};
        CHECK_ST(rtrl_init(&c2, &t.cfg, &t.model, (unsigned char *)big_buf + off,
                           sizeof big_buf - off, &needed),
                 RTRL_ERR_ALIGNMENT);
        CHECK(not_initialised(&c2));
    }
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, (unsigned char *)big_buf + 4, sizeof big_buf - 4, NULL),
             RTRL_ERR_ALIGNMENT);
    CHECK(not_initialised(&ctx));
    {
        rtrl_t c2 = {0}; /* the same array, aligned: fine */
        CHECK_ST(rtrl_init(&c2, &t.cfg, &t.model, big_buf, sizeof big_buf, NULL), RTRL_OK);
    }

    /* NULL arguments */
    CHECK_ST(rtrl_init(NULL, &t.cfg, &t.model, buf, sizeof buf, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_init(&ctx, NULL, &t.model, buf, sizeof buf, NULL), RTRL_ERR_NULL);
    CHECK(not_initialised(&ctx));
    CHECK_ST(rtrl_init(&ctx, &t.cfg, NULL, buf, sizeof buf, NULL), RTRL_ERR_NULL);
    CHECK(not_initialised(&ctx));
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, NULL, sizeof buf, NULL), RTRL_ERR_NULL);
    CHECK(not_initialised(&ctx));
    tmodel_t m;
    copy_model(&m, &t);
    m.model.theta = NULL;
    expect_init_error(&m, RTRL_ERR_NULL, __LINE__);
    copy_model(&m, &t);
    m.model.w_o = NULL;
    expect_init_error(&m, RTRL_ERR_NULL, __LINE__);
    copy_model(&m, &t);
    m.model.b_o = NULL;
    expect_init_error(&m, RTRL_ERR_NULL, __LINE__);

    /* a too-small buffer or a bad alignment also invalidates an initialised context */
    rtrl_t c3 = {0};
    CHECK_ST(rtrl_init(&c3, &t.cfg, &t.model, buf, sizeof buf, &needed), RTRL_OK);
    CHECK(needed == bytes);
    CHECK_ST(rtrl_step(&c3, X0, T0, NULL, NULL), RTRL_OK);
    CHECK_ST(rtrl_init(&c3, &t.cfg, &t.model, buf, bytes - 1, NULL), RTRL_ERR_BUFFER_TOO_SMALL);
    CHECK(not_initialised(&c3));
    CHECK_ST(rtrl_init(&c3, &t.cfg, &t.model, buf, sizeof buf, NULL), RTRL_OK);
    CHECK_ST(rtrl_init(&c3, &t.cfg, &t.model, (unsigned char *)big_buf + 4, sizeof big_buf - 4, NULL),
             RTRL_ERR_ALIGNMENT);
    CHECK(not_initialised(&c3));

    /* exact size works; so does a larger buffer and the smallest network */
    rtrl_t c4 = {0};
    CHECK_ST(rtrl_init(&c4, &t.cfg, &t.model, buf, bytes, NULL), RTRL_OK);
    CHECK_ST(rtrl_step(&c4, X0, T0, NULL, NULL), RTRL_OK);

    static const uint16_t cp1[2] = {0, 0};
    static const int32_t th1[5] = {0, 0, 0, 0, Q24(0.3)}, wo1[1] = {Q24(0.5)}, bo1[1] = {0};
    rtrl_config_t c1 = t.cfg;
    c1.n = c1.d = c1.k = 1;
    memset(c1.nnz_w, 0, sizeof c1.nnz_w);
    memset(c1.nnz_r, 0, sizeof c1.nnz_r);
    c1.nnz_union = 0;
    const rtrl_model_t m1 = {{cp1, cp1, cp1}, {NULL, NULL, NULL}, {cp1, cp1, cp1},
                             {NULL, NULL, NULL}, cp1, NULL, {NULL, NULL, NULL}, th1, wo1, bo1};
    rtrl_t c5 = {0};
    CHECK_ST(rtrl_init(&c5, &c1, &m1, small_buf, sizeof small_buf, NULL), RTRL_OK);
    const int32_t x1[1] = {Q16(1.0)}, t1[1] = {Q16(0.5)};
    for (int s = 0; s < 10; ++s)
        CHECK_ST(rtrl_step(&c5, x1, t1, NULL, NULL), RTRL_OK);
}

static void test_init_model_errors(void)
{
    tmodel_t dense, indep, m;
    tm_dense(&dense, 1);
    tm_independent(&indep, 3);

    /* both models are valid to begin with */
    rtrl_t ctx = {0};
    CHECK_ST(rtrl_init(&ctx, &dense.cfg, &dense.model, buf, sizeof buf, NULL), RTRL_OK);
    CHECK_ST(rtrl_init(&ctx, &indep.cfg, &indep.model, buf, sizeof buf, NULL), RTRL_OK);

    /* colptr[0] != 0 */
    copy_model(&m, &dense), m.w[0].colptr[0] = 1;              EXPECT_MODEL_ERROR(m);
    copy_model(&m, &dense), m.r[2].colptr[0] = 1;              EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.u.colptr[0] = 1;                 EXPECT_MODEL_ERROR(m);
    /* colptr not ending at nnz (below and above) */
    copy_model(&m, &dense), m.w[1].colptr[TM_D] = (uint16_t)(m.cfg.nnz_w[1] - 1); EXPECT_MODEL_ERROR(m);
    copy_model(&m, &dense), m.r[1].colptr[TM_N] = (uint16_t)(m.cfg.nnz_r[1] - 1); EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.r[0].colptr[TM_N] = (uint16_t)(m.cfg.nnz_r[0] + 1); EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.u.colptr[TM_N] = (uint16_t)(m.cfg.nnz_union - 1);   EXPECT_MODEL_ERROR(m);
    /* the config's count disagrees with a valid pattern */
    copy_model(&m, &indep), m.cfg.nnz_w[2] = (uint16_t)(m.cfg.nnz_w[2] - 1);      EXPECT_MODEL_ERROR(m);
    /* decreasing colptr (never above nnz: see test_regressions for that case) */
    copy_model(&m, &dense), m.r[0].colptr[3] = 3;              EXPECT_MODEL_ERROR(m); /* 0 4 8 3 16 */
    copy_model(&m, &dense), m.r[2].colptr[2] = 2;              EXPECT_MODEL_ERROR(m); /* 0 4 2 12 16 */
    copy_model(&m, &indep), m.u.colptr[2] = (uint16_t)(m.u.colptr[1] - 1); EXPECT_MODEL_ERROR(m);
    /* row index >= n */
    copy_model(&m, &dense), m.w[2].rowidx[m.cfg.nnz_w[2] - 1] = TM_N;     EXPECT_MODEL_ERROR(m);
    copy_model(&m, &dense), m.w[0].rowidx[3] = 0xFFFF;                    EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.r[1].rowidx[m.cfg.nnz_r[1] - 1] = TM_N;     EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.u.rowidx[m.cfg.nnz_union - 1] = TM_N;       EXPECT_MODEL_ERROR(m);
    /* rows not strictly increasing within a column: swapped, repeated */
    copy_model(&m, &dense), m.w[1].rowidx[0] = 1, m.w[1].rowidx[1] = 0;   EXPECT_MODEL_ERROR(m);
    copy_model(&m, &dense), m.r[0].rowidx[5] = m.r[0].rowidx[4];          EXPECT_MODEL_ERROR(m);
    copy_model(&m, &indep), m.u.rowidx[1] = m.u.rowidx[0];                EXPECT_MODEL_ERROR(m);
    /* shared dense model whose gate pattern is broken the same way in R and the union */
    copy_model(&m, &dense);
    m.u.rowidx[1] = m.u.rowidx[0];
    for (int g = 0; g < 3; ++g)
        m.r[g].rowidx[1] = m.r[g].rowidx[0];
    EXPECT_MODEL_ERROR(m);

    /* u_map set for only some gates */
    for (int g = 0; g < 3; ++g) {
        copy_model(&m, &indep), m.model.u_map[g] = NULL;      EXPECT_MODEL_ERROR(m);
        copy_model(&m, &dense), m.model.u_map[g] = m.umap[g]; /* only gate g has a map */
        EXPECT_MODEL_ERROR(m);
    }
    /* the shared dense model given explicit (identity) maps for all three gates is valid */
    copy_model(&m, &dense), m.shared = 0, tm_link(&m);
    CHECK(m.umap[0][5] == 5 && m.umap[2][15] == 15);
    CHECK_ST(rtrl_init(&ctx, &m.cfg, &m.model, buf, sizeof buf, NULL), RTRL_OK);
    /* u_map entries that point to the wrong row, another column, past the gate, or that
     * miss a gate entry (ABSENT where the gate has one) */
    int wrong_row = 0, other_col = 0, absent = 0;
    for (int g = 0; g < 3; ++g) {
        for (uint16_t j = 0; j < TM_N; ++j)
            for (uint16_t e = indep.u.colptr[j]; e < indep.u.colptr[j + 1]; ++e) {
                const uint16_t idx = indep.umap[g][e];
                if (idx == RTRL_ABSENT)
                    continue;
                /* another entry of the same gate column: same column, different row */
                for (uint16_t f = indep.r[g].colptr[j]; f < indep.r[g].colptr[j + 1]; ++f)
                    if (f != idx) {
                        copy_model(&m, &indep), m.umap[g][e] = f;
                        EXPECT_MODEL_ERROR(m);
                        ++wrong_row;
                    }
                /* an entry of the same row in another column */
                for (uint16_t f = 0; f < indep.cfg.nnz_r[g]; ++f)
                    if ((f < indep.r[g].colptr[j] || f >= indep.r[g].colptr[j + 1]) &&
                        indep.r[g].rowidx[f] == indep.u.rowidx[e]) {
                        copy_model(&m, &indep), m.umap[g][e] = f;
                        EXPECT_MODEL_ERROR(m);
                        ++other_col;
                    }
                copy_model(&m, &indep), m.umap[g][e] = RTRL_ABSENT;      EXPECT_MODEL_ERROR(m);
                copy_model(&m, &indep), m.umap[g][e] = indep.cfg.nnz_r[g]; EXPECT_MODEL_ERROR(m);
                copy_model(&m, &indep), m.umap[g][e] = 0xFFFE;          EXPECT_MODEL_ERROR(m);
                ++absent;
            }
        /* a union entry absent from gate g mapped onto some entry of g */
        for (uint16_t e = 0; e < indep.cfg.nnz_union; ++e)
            if (indep.umap[g][e] == RTRL_ABSENT) {
                for (uint16_t f = 0; f < indep.cfg.nnz_r[g]; ++f) {
                    copy_model(&m, &indep), m.umap[g][e] = f;
                    EXPECT_MODEL_ERROR(m);
                }
            }
    }
    CHECK(wrong_row > 10 && other_col > 10 && absent > 10); /* the cases above exist */

    /* shared (u_map NULL) but the R patterns differ from the union pattern */
    copy_model(&m, &indep), m.shared = 1, tm_link(&m);          EXPECT_MODEL_ERROR(m);
    {
        /* bits 0x0A5B: columns {0,1} {0,2} {1} {0,2}. 0x825B moves (2,3) to (3,3): same
         * colptr, other rows. 0x065B moves (2,3) to (2,2): same nnz, other colptr. */
        const uint32_t w[3] = {ALL_W, ALL_W, ALL_W}, r[3] = {0x0A5Bu, 0x0A5Bu, 0x0A5Bu};
        tmodel_t shared;
        tm_build(&shared, w, r, 1, 1);
        CHECK(shared.u.nnz == 7);
        rtrl_t c2 = {0};
        CHECK_ST(rtrl_init(&c2, &shared.cfg, &shared.model, buf, sizeof buf, NULL), RTRL_OK);
        for (int g = 0; g < 3; ++g) {
            copy_model(&m, &shared), pat_from_bits(&m.r[g], TM_N, TM_N, 0x825Bu);
            CHECK(m.r[g].nnz == 7 && memcmp(m.r[g].colptr, m.u.colptr, sizeof m.u.colptr) == 0);
            EXPECT_MODEL_ERROR(m);
            copy_model(&m, &shared), pat_from_bits(&m.r[g], TM_N, TM_N, 0x065Bu);
            CHECK(m.r[g].nnz == 7);
            EXPECT_MODEL_ERROR(m);
            copy_model(&m, &shared), pat_from_bits(&m.u, TM_N, TM_N, 0x825Bu);
            EXPECT_MODEL_ERROR(m);
        }
    }
}

/* Regressions: problems this test found in the library (fixed). */
static void test_regressions(void)
{
    /* INCONSISTENCY (rtrl_init.c): every failed rtrl_init leaves the context unusable
     * (magic cleared) except when cfg, model or buffer is NULL: then a previously
     * initialised context stays usable. */
    tmodel_t t;
    tm_dense(&t, 1);
    rtrl_t ctx = {0};
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, buf, sizeof buf, NULL), RTRL_OK);
    CHECK_ST(rtrl_init(&ctx, NULL, &t.model, buf, sizeof buf, NULL), RTRL_ERR_NULL);
    CHECK(not_initialised(&ctx));

    /* BUG (rtrl_init.c, pattern_ok): a column pointer above nnz followed by a decrease back
     * to nnz is used before it is rejected: the entries of that column are read past the
     * end of rowidx (global-buffer-overflow under ASan, aborts the test).
     * n = 1, d = 2, W_u colptr {0, 2, 1}, nnz 1. */
    static const uint16_t wcp_bad[3] = {0, 2, 1}, wri_bad[1] = {0};
    static const uint16_t wcp[3] = {0, 1, 1}, wri[1] = {0};
    static const uint16_t rcp[2] = {0, 1}, rri[1] = {0};
    static const int32_t theta[11] = {0}, wo[1] = {0}, bo[1] = {0};
    rtrl_config_t cfg = base_config();
    cfg.n = 1, cfg.d = 2, cfg.k = 1;
    cfg.nnz_w[0] = cfg.nnz_w[1] = cfg.nnz_w[2] = 1;
    cfg.nnz_r[0] = cfg.nnz_r[1] = cfg.nnz_r[2] = 1, cfg.nnz_union = 1;
    const rtrl_model_t m = {{wcp_bad, wcp, wcp}, {wri_bad, wri, wri}, {rcp, rcp, rcp},
                            {rri, rri, rri}, rcp, rri, {NULL, NULL, NULL}, theta, wo, bo};
    rtrl_t c2 = {0};
    CHECK_ST(rtrl_init(&c2, &cfg, &m, buf, sizeof buf, NULL), RTRL_ERR_MODEL);
}

/* ---- uninitialised contexts and NULL arguments ------------------------------------------ */

static void check_uninitialised(rtrl_t *ctx)
{
    const int32_t x[TM_D * 2] = {0}, tg[TM_K * 2] = {0};
    int32_t out[TM_K * 2] = {0}, loss[2] = {0};
    uint32_t done = 99;
    rtrl_counters_t cn;
    rtrl_view_t v;
    CHECK_ST(rtrl_step(ctx, x, tg, out, loss), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_step(ctx, x, tg, NULL, NULL), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_run(ctx, 2, x, tg, out, loss, &done), RTRL_ERR_NOT_INITIALISED);
    CHECK(done == 0);
    CHECK_ST(rtrl_run(ctx, 0, x, tg, NULL, NULL, NULL), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_reset_state(ctx), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_set_learning_rate(ctx, Q24(0.01)), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_get_counters(ctx, &cn), RTRL_ERR_NOT_INITIALISED);
    CHECK_ST(rtrl_get_view(ctx, &v), RTRL_ERR_NOT_INITIALISED);
}

static void test_uninitialised_and_null(void)
{
    rtrl_t ctx = {0};
    check_uninitialised(&ctx);
    memset(&ctx, 0xA5, sizeof ctx); /* garbage, not zero: still refused */
    check_uninitialised(&ctx);

    /* NULL context everywhere */
    const int32_t x[TM_D] = {0}, tg[TM_K] = {0};
    rtrl_counters_t cn;
    rtrl_view_t v;
    uint32_t done = 99;
    CHECK_ST(rtrl_step(NULL, x, tg, NULL, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_run(NULL, 1, x, tg, NULL, NULL, &done), RTRL_ERR_NULL);
    CHECK(done == 0);
    CHECK_ST(rtrl_run(NULL, 0, NULL, NULL, NULL, NULL, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_reset_state(NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_set_learning_rate(NULL, 0), RTRL_ERR_NULL);
    CHECK_ST(rtrl_get_counters(NULL, &cn), RTRL_ERR_NULL);
    CHECK_ST(rtrl_get_view(NULL, &v), RTRL_ERR_NULL);

    /* NULL data pointers on an initialised context */
    tmodel_t t;
    tm_dense(&t, 1);
    CHECK_ST(rtrl_init(&ctx, &t.cfg, &t.model, buf, sizeof buf, NULL), RTRL_OK);
    CHECK_ST(rtrl_step(&ctx, NULL, tg, NULL, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_step(&ctx, x, NULL, NULL, NULL), RTRL_ERR_NULL);
    done = 99;
    CHECK_ST(rtrl_run(&ctx, 1, NULL, tg, NULL, NULL, &done), RTRL_ERR_NULL);
    CHECK(done == 0);
    CHECK_ST(rtrl_run(&ctx, 1, x, NULL, NULL, NULL, &done), RTRL_ERR_NULL);
    CHECK_ST(rtrl_get_counters(&ctx, NULL), RTRL_ERR_NULL);
    CHECK_ST(rtrl_get_view(&ctx, NULL), RTRL_ERR_NULL);
    /* zero steps need no data */
    done = 99;
    CHECK_ST(rtrl_run(&ctx, 0, NULL, NULL, NULL, NULL, &done), RTRL_OK);
    CHECK(done == 0);
    CHECK_ST(rtrl_get_counters(&ctx, &cn), RTRL_OK);
    CHECK(cn.steps == 0 && cn.updates == 0);

    /* learning rate: negative refused (and the old one kept), zero and positive accepted */
    CHECK_ST(rtrl_set_learning_rate(&ctx, -1), RTRL_ERR_CONFIG);
    CHECK_ST(rtrl_set_learning_rate(&ctx, INT32_MIN), RTRL_ERR_CONFIG);
    CHECK_ST(rtrl_set_learning_rate(&ctx, 0), RTRL_OK);
    CHECK_ST(rtrl_set_learning_rate(&ctx, INT32_MAX), RTRL_OK);
    CHECK_ST(rtrl_step(&ctx, x, tg, NULL, NULL), RTRL_OK);
}

/* ---- status strings ------------------------------------------------------------------- */

static void test_status_str(void)
{
    static const rtrl_status_t all[] = {RTRL_OK, RTRL_ERR_NULL, RTRL_ERR_CONFIG, RTRL_ERR_MODEL,
                                        RTRL_ERR_BUFFER_TOO_SMALL, RTRL_ERR_ALIGNMENT,
                                        RTRL_ERR_RANGE, RTRL_ERR_NOT_INITIALISED};
    const size_t count = sizeof all / sizeof all[0];
    for (size_t i = 0; i < count; ++i) {
        const char *s = rtrl_status_str(all[i]);
        CHECK(s != NULL);
#ifndef RTRL_NO_ERROR_STRINGS
        CHECK(s != NULL && s[0] != '\0');
        for (size_t j = 0; j < i; ++j) /* each status has its own text */
            CHECK(s != NULL && strcmp(s, rtrl_status_str(all[j])) != 0);
#endif
    }
    CHECK(rtrl_status_str((rtrl_status_t)8) != NULL);
    CHECK(rtrl_status_str((rtrl_status_t)-1) != NULL);
    CHECK(rtrl_status_str((rtrl_status_t)1000) != NULL);
}

int main(void)
{
    test_size_query();
    test_init_buffer_and_null();
    test_init_model_errors();
    test_regressions();
    test_uninitialised_and_null();
    test_status_str();
    if (failures != 0) {
        fprintf(stderr, "test_api: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
