/*
 * test_run.c - running a real tiny model (n = 4, d = 2, k = 1; dense shared patterns and
 * independent per-gate masks): learning, counters, determinism, rtrl_run == rtrl_step,
 * range errors that change nothing, rtrl_reset_state, learning rate, dense_mode.
 * Host-only unit test (uses stdio); exits 0 on success, 1 on failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rtrl.h"
#include "test_common.h"

#define T 2000u   /* steps of the stream */
#define WINDOW 100u /* loss averaged over the first and the last WINDOW steps */

static int32_t xs[T * TM_D], ts[T * TM_K];
static int32_t out_a[T * TM_K], loss_a[T], out_b[T * TM_K], loss_b[T], out_c[T * TM_K], loss_c[T];
static uint64_t buf_a[TM_BUF_WORDS], buf_b[TM_BUF_WORDS], buf_c[TM_BUF_WORDS];

/* Zero the buffer, then initialise: two learners fed the same stream must then hold
 * byte-identical buffers. */
static rtrl_status_t init_zeroed(rtrl_t *ctx, const tmodel_t *t, uint64_t *buffer)
{
    memset(buffer, 0, TM_BUF_BYTES);
    memset(ctx, 0, sizeof *ctx);
    return rtrl_init(ctx, &t->cfg, &t->model, buffer, TM_BUF_BYTES, NULL);
}

static rtrl_counters_t counters_of(const rtrl_t *ctx)
{
    rtrl_counters_t c;
    memset(&c, 0, sizeof c);
    CHECK_ST(rtrl_get_counters(ctx, &c), RTRL_OK);
    return c;
}

/* rtrl_step over steps [t0, t1) of the stream; returns the number of failed steps. */
static uint32_t step_range(rtrl_t *ctx, uint32_t t0, uint32_t t1, int32_t *out, int32_t *loss)
{
    uint32_t bad = 0;
    for (uint32_t t = t0; t < t1; ++t)
        bad += rtrl_step(ctx, xs + (size_t)t * TM_D, ts + (size_t)t * TM_K,
                         out ? out + (size_t)t * TM_K : NULL, loss ? loss + t : NULL) != RTRL_OK;
    return bad;
}

static int64_t sum_range(const int32_t *v, uint32_t t0, uint32_t t1)
{
    int64_t s = 0;
    for (uint32_t t = t0; t < t1; ++t)
        s += v[t];
    return s;
}

/* ---- 4. learning, counters, determinism, run == step ------------------------------------ */

static void test_learning(const tmodel_t *t, const char *name, int must_learn)
{
    rtrl_t a, b, c;
    CHECK_ST(init_zeroed(&a, t, buf_a), RTRL_OK);
    CHECK_ST(init_zeroed(&b, t, buf_b), RTRL_OK);
    CHECK_ST(init_zeroed(&c, t, buf_c), RTRL_OK);

    CHECK(step_range(&a, 0, T, out_a, loss_a) == 0); /* status OK at every step */
    CHECK(step_range(&b, 0, T, out_b, loss_b) == 0);
    uint32_t done = 0;
    CHECK_ST(rtrl_run(&c, T, xs, ts, out_c, loss_c, &done), RTRL_OK);
    CHECK(done == T);

    const rtrl_counters_t ca = counters_of(&a), cb = counters_of(&b), cc = counters_of(&c);
    CHECK(ca.steps == T);
    CHECK(ca.updates == T / t->cfg.update_every);
    CHECK(ca.events > 0);
    CHECK(ca.macs > 0);
    CHECK(ca.active_cols > 0);
    CHECK(memcmp(&ca, &cb, sizeof ca) == 0);
    CHECK(memcmp(&ca, &cc, sizeof ca) == 0);

    /* determinism, and rtrl_run == T x rtrl_step: parameters, state, M, outputs, losses,
     * and the whole buffer */
    CHECK(same_learner(&a, &b, TM_N, TM_K));
    CHECK(same_learner(&a, &c, TM_N, TM_K));
    CHECK(memcmp(buf_a, buf_b, TM_BUF_BYTES) == 0);
    CHECK(memcmp(buf_a, buf_c, TM_BUF_BYTES) == 0);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0 && memcmp(loss_a, loss_b, sizeof loss_a) == 0);
    CHECK(memcmp(out_a, out_c, sizeof out_a) == 0 && memcmp(loss_a, loss_c, sizeof loss_a) == 0);

    /* outputs stay sane; the loss is never negative */
    int sane = 1;
    for (uint32_t s = 0; s < T; ++s)
        sane &= out_a[s] > -Q16(64.0) && out_a[s] < Q16(64.0) && loss_a[s] >= 0;
    CHECK(sane);

    /* the weights moved, and the loss went down */
    const rtrl_view_t v = view_of(&a);
    const uint16_t P = tm_params(t);
    CHECK(v.P == P);
    CHECK(v.theta != NULL && memcmp(v.theta, t->theta, 4u * P) != 0);
    CHECK(v.w_o != NULL && memcmp(v.w_o, t->w_o, sizeof t->w_o) != 0);
    const int64_t first = sum_range(loss_a, 0, WINDOW), last = sum_range(loss_a, T - WINDOW, T);
    printf("%s (INFLUENCE_BITS=%d): loss first %u = %.5f, last %u = %.5f; events %llu, "
           "active cols %llu, macs %llu, saturations %llu, live %u of %u\n",
           name, RTRL_INFLUENCE_BITS, WINDOW, first / (65536.0 * WINDOW), WINDOW,
           last / (65536.0 * WINDOW), (unsigned long long)ca.events,
           (unsigned long long)ca.active_cols, (unsigned long long)ca.macs,
           (unsigned long long)ca.saturations, (unsigned)v.live, (unsigned)P);
    if (must_learn)
        CHECK(last < first / 2);
}

/* ---- 5. range errors -------------------------------------------------------------------- */

static unsigned char snap_buf[TM_BUF_BYTES];
static rtrl_t snap_ctx;

static void snapshot(const rtrl_t *ctx, const uint64_t *buffer)
{
    memcpy(snap_buf, buffer, TM_BUF_BYTES);
    memcpy(&snap_ctx, ctx, sizeof snap_ctx);
}

static int unchanged(const rtrl_t *ctx, const uint64_t *buffer)
{
    return memcmp(snap_buf, buffer, TM_BUF_BYTES) == 0 && memcmp(&snap_ctx, ctx, sizeof snap_ctx) == 0;
}

/* One step with x[i] or target[0] replaced by v: refused with RTRL_ERR_RANGE, nothing
 * written (buffer, context, out, loss). */
static void expect_range(rtrl_t *ctx, const uint64_t *buffer, int which, int32_t v, int line)
{
    int32_t x[TM_D] = {Q16(0.25), Q16(-0.5)}, tg[TM_K] = {Q16(0.1)};
    if (which < TM_D)
        x[which] = v;
    else
        tg[which - TM_D] = v;
    int32_t out[TM_K] = {0x5A5A5A5A}, loss = 0x5A5A5A5A;
    uint32_t done = 77;
    snapshot(ctx, buffer);
    const rtrl_status_t s1 = rtrl_step(ctx, x, tg, out, &loss);
    const rtrl_status_t s2 = rtrl_run(ctx, 1, x, tg, out, &loss, &done);
    if (s1 != RTRL_ERR_RANGE || s2 != RTRL_ERR_RANGE || done != 0 || !unchanged(ctx, buffer) ||
        out[0] != 0x5A5A5A5A || loss != 0x5A5A5A5A) {
        fprintf(stderr, "%s:%d: range case of line %d (value %ld at %d): step %d, run %d, done %u\n",
                __FILE__, __LINE__, line, (long)v, which, (int)s1, (int)s2, (unsigned)done);
        failures++;
    }
}

static void test_range(const tmodel_t *t)
{
    rtrl_t ctx, ref;
    CHECK_ST(init_zeroed(&ctx, t, buf_a), RTRL_OK);
    CHECK(step_range(&ctx, 0, 50, NULL, NULL) == 0); /* some state, M and pending gradient */

    const int32_t big = RTRL_SAMPLE_MAX + 1;
    for (int which = 0; which < TM_D + TM_K; ++which) {
        expect_range(&ctx, buf_a, which, big, __LINE__);
        expect_range(&ctx, buf_a, which, -big, __LINE__);
        expect_range(&ctx, buf_a, which, INT32_MAX, __LINE__);
        expect_range(&ctx, buf_a, which, INT32_MIN, __LINE__);
    }
    CHECK(counters_of(&ctx).steps == 50);
    /* the limits themselves are accepted */
    const int32_t xmax[TM_D] = {RTRL_SAMPLE_MAX, -RTRL_SAMPLE_MAX}, tmax[TM_K] = {-RTRL_SAMPLE_MAX};
    const int32_t xmax2[TM_D] = {-RTRL_SAMPLE_MAX, RTRL_SAMPLE_MAX}, tmax2[TM_K] = {RTRL_SAMPLE_MAX};
    CHECK_ST(rtrl_step(&ctx, xmax, tmax, NULL, NULL), RTRL_OK);
    CHECK_ST(rtrl_step(&ctx, xmax2, tmax2, NULL, NULL), RTRL_OK);
    CHECK(counters_of(&ctx).steps == 52);

    /* rtrl_run stops at the first bad sample (step 37; another at 50): 37 steps ran, exactly
     * as 37 rtrl_step calls; later outputs and losses untouched; then it resumes cleanly */
    static int32_t xbad[T * TM_D], out_r[T * TM_K], loss_r[T];
    memcpy(xbad, xs, sizeof xbad);
    xbad[37 * TM_D + 1] = -RTRL_SAMPLE_MAX - 1;
    xbad[50 * TM_D] = RTRL_SAMPLE_MAX + 1;
    for (uint32_t s = 0; s < T; ++s)
        out_r[s] = loss_r[s] = 0x7EEEEEEE;
    CHECK_ST(init_zeroed(&ctx, t, buf_a), RTRL_OK);
    CHECK_ST(init_zeroed(&ref, t, buf_b), RTRL_OK);
    uint32_t done = 12345;
    CHECK_ST(rtrl_run(&ctx, T, xbad, ts, out_r, loss_r, &done), RTRL_ERR_RANGE);
    CHECK(done == 37);
    CHECK(counters_of(&ctx).steps == 37);
    CHECK(step_range(&ref, 0, 37, out_b, loss_b) == 0);
    CHECK(memcmp(buf_a, buf_b, TM_BUF_BYTES) == 0);
    CHECK(same_learner(&ctx, &ref, TM_N, TM_K));
    CHECK(memcmp(out_r, out_b, 37 * 4u) == 0 && memcmp(loss_r, loss_b, 37 * 4u) == 0);
    int untouched = 1;
    for (uint32_t s = 37; s < T; ++s)
        untouched &= out_r[s] == 0x7EEEEEEE && loss_r[s] == 0x7EEEEEEE;
    CHECK(untouched);
    /* resume after the bad sample: stops again at 50 (13 more steps) */
    CHECK_ST(rtrl_run(&ctx, T - 38, xbad + 38 * TM_D, ts + 38 * TM_K, NULL, NULL, &done), RTRL_ERR_RANGE);
    CHECK(done == 12);
    CHECK(step_range(&ref, 38, 50, NULL, NULL) == 0);
    CHECK(same_learner(&ctx, &ref, TM_N, TM_K));
    CHECK(memcmp(buf_a, buf_b, TM_BUF_BYTES) == 0);
    /* without *done */
    snapshot(&ctx, buf_a);
    CHECK_ST(rtrl_run(&ctx, 5, xbad + 50 * TM_D, ts + 50 * TM_K, NULL, NULL, NULL), RTRL_ERR_RANGE);
    CHECK(unchanged(&ctx, buf_a));

    /* a bad target at step 0: nothing ran, nothing changed */
    static int32_t tbad[T * TM_K];
    memcpy(tbad, ts, sizeof tbad);
    tbad[0] = RTRL_SAMPLE_MAX + 1;
    snapshot(&ctx, buf_a);
    done = 12345;
    CHECK_ST(rtrl_run(&ctx, T, xs, tbad, out_r, loss_r, &done), RTRL_ERR_RANGE);
    CHECK(done == 0);
    CHECK(unchanged(&ctx, buf_a));
}

/* ---- 6. rtrl_reset_state ---------------------------------------------------------------- */

static void test_reset(const tmodel_t *t)
{
    rtrl_t ctx, fresh;
    CHECK(t->cfg.update_every == 3);
    CHECK_ST(init_zeroed(&ctx, t, buf_a), RTRL_OK);
    CHECK(step_range(&ctx, 0, 500, NULL, NULL) == 0); /* 500 = 3 * 166 + 2: gradient pending */

    rtrl_view_t v = view_of(&ctx);
    const uint16_t P = tm_params(t), n = TM_N, k = TM_K;
    CHECK(v.P == P && v.live > 0);
    CHECK(!all_zero(v.M, sizeof(rtrl_m_t) * n * P));
    CHECK(!all_zero(v.grad, 4u * P));
    CHECK(!all_zero(v.grad_bo, 4u * k)); /* grad_wo may be zero: no events lately */
    CHECK(!all_zero(v.c, 4u * n));
    static int32_t theta[TM_MAXP], w_o[TM_K * TM_N], b_o[TM_K];
    memcpy(theta, v.theta, 4u * P);
    memcpy(w_o, v.w_o, sizeof w_o);
    memcpy(b_o, v.b_o, sizeof b_o);

    CHECK_ST(rtrl_reset_state(&ctx), RTRL_OK);
    v = view_of(&ctx);
    CHECK(all_zero(v.c, 4u * n) && all_zero(v.h, 4u * n) && all_zero(v.y, 4u * n));
    CHECK(all_zero(v.psi, 4u * n) && all_zero(v.a, 4u * n));
    CHECK(all_zero(v.M, sizeof(rtrl_m_t) * n * P));
    CHECK(all_zero(v.grad, 4u * P) && all_zero(v.grad_thr, 4u * n));
    CHECK(all_zero(v.grad_wo, 4u * k * n) && all_zero(v.grad_bo, 4u * k));
    CHECK(v.live == 0);
    int absent = 1;
    for (uint16_t p = 0; p < P; ++p)
        absent &= v.col_of[p] == RTRL_ABSENT;
    CHECK(absent);
    CHECK(memcmp(v.theta, theta, 4u * P) == 0);
    CHECK(memcmp(v.w_o, w_o, sizeof w_o) == 0 && memcmp(v.b_o, b_o, sizeof b_o) == 0);
    const rtrl_counters_t zero = {0, 0, 0, 0, 0, 0, 0, 0}, cr = counters_of(&ctx);
    CHECK(memcmp(&cr, &zero, sizeof zero) == 0);

    /* black box: the reset learner behaves as a fresh one initialised with its weights
     * (this covers the hidden previous-state bank and the update phase too) */
    tmodel_t t2;
    memcpy(&t2, t, sizeof t2);
    tm_link(&t2);
    memcpy(t2.theta, theta, 4u * P);
    memcpy(t2.w_o, w_o, sizeof w_o);
    memcpy(t2.b_o, b_o, sizeof b_o);
    CHECK_ST(init_zeroed(&fresh, &t2, buf_b), RTRL_OK);
    CHECK(step_range(&ctx, 0, 301, out_a, loss_a) == 0);
    CHECK(step_range(&fresh, 0, 301, out_b, loss_b) == 0);
    CHECK(same_learner(&ctx, &fresh, TM_N, TM_K));
    CHECK(memcmp(out_a, out_b, 301 * 4u) == 0 && memcmp(loss_a, loss_b, 301 * 4u) == 0);
    const rtrl_counters_t c1 = counters_of(&ctx), c2 = counters_of(&fresh);
    CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    CHECK(c1.steps == 301 && c1.updates == 100);

    /* reset twice in a row, and reset in dense mode: every column alive, in order */
    CHECK_ST(rtrl_reset_state(&ctx), RTRL_OK);
    CHECK_ST(rtrl_reset_state(&ctx), RTRL_OK);
    CHECK(view_of(&ctx).live == 0);
    t2.cfg.dense_mode = 1;
    CHECK_ST(init_zeroed(&fresh, &t2, buf_b), RTRL_OK);
    CHECK(step_range(&fresh, 0, 100, NULL, NULL) == 0);
    CHECK_ST(rtrl_reset_state(&fresh), RTRL_OK);
    v = view_of(&fresh);
    CHECK(v.live == P);
    /* every column alive, in parameter order within each postsynaptic unit's segment */
    int in_order = 1;
    for (uint16_t p = 0; p < P; ++p)
        for (uint16_t q = 0; q < p; ++q)
            if (column_row(t, p) == column_row(t, q))
                in_order &= v.col_of[q] < v.col_of[p];
    CHECK(in_order);
    int distinct = 1; /* every parameter has its own column */
    for (uint16_t p = 0; p < P; ++p)
        for (uint16_t q = 0; q < p; ++q)
            distinct &= column_of(&v, t, p) != column_of(&v, t, q) && column_of(&v, t, p) < P;
    CHECK(distinct);
    CHECK(all_zero(v.M, sizeof(rtrl_m_t) * n * P) && all_zero(v.grad, 4u * P));
    CHECK(memcmp(v.theta, theta, 4u * P) != 0); /* dense run learned from `theta` too */
}

/* ---- learning rate ----------------------------------------------------------------------- */

static void test_learning_rate(const tmodel_t *t)
{
    rtrl_t ctx, ref;
    const uint16_t P = tm_params(t);
    CHECK_ST(init_zeroed(&ctx, t, buf_a), RTRL_OK);
    CHECK_ST(rtrl_set_learning_rate(&ctx, 0), RTRL_OK);
    CHECK(step_range(&ctx, 0, 200, NULL, NULL) == 0);
    rtrl_view_t v = view_of(&ctx);
    CHECK(memcmp(v.theta, t->theta, 4u * P) == 0); /* thresholds 0.3: no clamp either */
    CHECK(memcmp(v.w_o, t->w_o, sizeof t->w_o) == 0 && memcmp(v.b_o, t->b_o, sizeof t->b_o) == 0);
    /* learning off: no update, nothing accumulated, no influence matrix; the state moved */
    CHECK(counters_of(&ctx).updates == 0 && counters_of(&ctx).steps == 200);
    CHECK(all_zero(v.M, sizeof(rtrl_m_t) * TM_N * P) && all_zero(v.grad, 4u * P));
    CHECK(all_zero(v.grad_wo, sizeof t->w_o) && v.live == 0);
    CHECK(!all_zero(v.c, 4u * TM_N));
    CHECK_ST(rtrl_set_learning_rate(&ctx, -5), RTRL_ERR_CONFIG); /* refused: lr stays 0 */
    CHECK(step_range(&ctx, 200, 230, NULL, NULL) == 0);
    CHECK(memcmp(view_of(&ctx).theta, t->theta, 4u * P) == 0);

    /* switching the rate mid-stream equals a learner configured with it from the start,
     * when nothing was learned before */
    tmodel_t t2;
    memcpy(&t2, t, sizeof t2);
    tm_link(&t2);
    t2.cfg.lr_q = Q24(0.02);
    CHECK_ST(init_zeroed(&ref, &t2, buf_b), RTRL_OK);
    CHECK_ST(init_zeroed(&ctx, t, buf_a), RTRL_OK);
    CHECK_ST(rtrl_set_learning_rate(&ctx, Q24(0.02)), RTRL_OK);
    CHECK(step_range(&ctx, 0, 300, NULL, NULL) == 0);
    CHECK(step_range(&ref, 0, 300, NULL, NULL) == 0);
    CHECK(same_learner(&ctx, &ref, TM_N, TM_K));
    CHECK(memcmp(view_of(&ctx).theta, t->theta, 4u * P) != 0);
}

/* ---- 8. dense_mode ------------------------------------------------------------------------ */

static void test_dense_mode(const tmodel_t *t)
{
    rtrl_t sp, dn;
    tmodel_t td;
    memcpy(&td, t, sizeof td);
    tm_link(&td);
    td.cfg.dense_mode = 1;
    CHECK_ST(init_zeroed(&sp, t, buf_a), RTRL_OK);
    CHECK_ST(init_zeroed(&dn, &td, buf_b), RTRL_OK);
    const uint16_t P = tm_params(t);
    CHECK(view_of(&dn).live == P && view_of(&sp).live == 0);

    int same_m = 1;
    for (uint32_t s = 0; s < T; ++s) {
        CHECK(step_range(&sp, s, s + 1, out_a, loss_a) == 0);
        CHECK(step_range(&dn, s, s + 1, out_b, loss_b) == 0);
        /* M agrees column for column (sparse groups in first-touch order, dense ones in
         * group order; a parameter without a sparse column has a zero dense column) */
        if (s % 97 == 0 || s == T - 1) {
            const rtrl_view_t vs = view_of(&sp), vd = view_of(&dn);
            for (uint16_t p = 0; p < P; ++p)
                for (uint16_t i = 0; i < TM_N; ++i) {
                    const uint16_t c = column_of(&vs, t, p), cd = column_of(&vd, t, p);
                    const rtrl_m_t ms = c == RTRL_ABSENT ? 0 : vs.M[(size_t)i * P + c];
                    const int32_t gs = c == RTRL_ABSENT ? 0 : vs.grad[c];
                    same_m &= cd != RTRL_ABSENT && ms == vd.M[(size_t)i * P + cd] && gs == vd.grad[cd];
                }
        }
    }
    CHECK(same_m);
    const rtrl_view_t vs = view_of(&sp), vd = view_of(&dn);
    CHECK(memcmp(vs.theta, vd.theta, 4u * P) == 0);
    CHECK(memcmp(vs.w_o, vd.w_o, sizeof t->w_o) == 0 && memcmp(vs.b_o, vd.b_o, sizeof t->b_o) == 0);
    CHECK(memcmp(vs.c, vd.c, 4u * TM_N) == 0 && memcmp(vs.a, vd.a, 4u * TM_N) == 0);
    CHECK(memcmp(vs.theta, t->theta, 4u * P) != 0);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0 && memcmp(loss_a, loss_b, sizeof loss_a) == 0);
    const rtrl_counters_t cs = counters_of(&sp), cd = counters_of(&dn);
    CHECK(cs.steps == cd.steps && cs.updates == cd.updates && cs.events == cd.events);
    CHECK(cd.macs > cs.macs);
    CHECK(cd.active_cols == (uint64_t)TM_N * T && cs.active_cols < cd.active_cols);
    printf("dense_mode (INFLUENCE_BITS=%d, update_every %u): macs sparse %llu, dense %llu\n",
           RTRL_INFLUENCE_BITS, (unsigned)t->cfg.update_every, (unsigned long long)cs.macs,
           (unsigned long long)cd.macs);
}

int main(void)
{
    tm_stream(xs, ts, T);
    tmodel_t dense1, dense3, indep3, indep1;
    tm_dense(&dense1, 1);
    tm_dense(&dense3, 3);
    tm_independent(&indep3, 3);
    tm_independent(&indep1, 1);

    test_learning(&dense1, "dense shared, K=1", 1);
    test_learning(&dense3, "dense shared, K=3", 1);
    test_learning(&indep1, "independent masks, K=1", 0);
    test_learning(&indep3, "independent masks, K=3", 0);
    test_range(&dense1);
    test_range(&indep3);
    test_reset(&dense3);
    test_reset(&indep3);
    test_learning_rate(&dense1);
    test_learning_rate(&indep3);
    test_dense_mode(&dense1);
    test_dense_mode(&indep3);

    if (failures != 0) {
        fprintf(stderr, "test_run: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
