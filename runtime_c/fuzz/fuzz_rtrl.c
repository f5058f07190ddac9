/*
 * fuzz_rtrl.c - fuzz target for the whole librtrl API (docs/reliability.md).
 *
 * One input = a configuration, a model and a sequence of calls, all read from the fuzz bytes:
 *
 *   byte 0      mode: bit 0 set = "structured" (patterns built from bit masks, so rtrl_init
 *               usually succeeds and the step functions get exercised; bit 1 then corrupts
 *               one array element), clear = "raw" (every config field and every pattern
 *               array taken verbatim from the bytes: validation is what gets exercised)
 *   then        config fields (readout, RLS, delay and Adam included), pattern arrays, u_maps,
 *               theta / w_o (k x (n + taps d)) / b_o
 *   then        operations until the bytes run out: rtrl_step, rtrl_step_labelled,
 *               rtrl_run, rtrl_run_record (NULL / non-NULL outputs), rtrl_stage_weights
 *               (arbitrary offset, length, bytes), rtrl_commit_weights, rtrl_load_weights,
 *               rtrl_set_learning_rate, rtrl_reset_state, counters, view
 *
 * Every array handed to the library is malloc'ed with exactly the length rtrl.h documents
 * (ASan red zones sit right after it), and so is the learner's buffer (rtrl_required_bytes).
 * The library must never crash, never touch memory outside these, never hit UB, and answer
 * every call with a status from rtrl_status_t.
 *
 * Built with libFuzzer (clang -fsanitize=fuzzer,address,undefined: `make -C runtime_c fuzz`)
 * or, without clang, with -DFUZZ_STANDALONE: a seeded random driver (see main() below).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtrl.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} src_t;

static uint8_t u8(src_t *s)
{
    if (s->left == 0)
        return 0;
    --s->left;
    return *s->p++;
}
static uint16_t u16(src_t *s) { return (uint16_t)(u8(s) | (u8(s) << 8)); }
static uint32_t u32(src_t *s) { return (uint32_t)u16(s) | ((uint32_t)u16(s) << 16); }
static int32_t i32(src_t *s) { return (int32_t)u32(s); }

/* A small value, mostly in range, sometimes anything. */
static int32_t sample_value(src_t *s)
{
    const uint8_t sel = u8(s);
    if (sel < 200)
        return (int32_t)(int16_t)u16(s) * 4; /* within +-2.0 */
    if (sel < 230)
        return (sel & 1) ? RTRL_SAMPLE_MAX : -RTRL_SAMPLE_MAX;
    return i32(s);
}

static void *xmalloc(size_t n) /* never 0 bytes: a valid pointer even for empty arrays */
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

static void check_status(rtrl_status_t st)
{
    if ((unsigned)st > RTRL_ERR_NOT_INITIALISED) {
        fprintf(stderr, "status %d outside rtrl_status_t\n", (int)st);
        abort();
    }
    (void)rtrl_status_str(st);
}

/* CSC pattern of an nrows x ncols mask taken from the bytes (1 bit per entry). */
static uint16_t pattern_from_bits(src_t *s, uint16_t nrows, uint16_t ncols, uint16_t *colptr, uint16_t *rowidx,
                                  const uint8_t *force)
{
    uint16_t e = 0;
    uint8_t bits = 0;
    unsigned used = 8;
    for (uint16_t j = 0; j < ncols; ++j) {
        colptr[j] = e;
        for (uint16_t i = 0; i < nrows; ++i) {
            if (used == 8) {
                bits = u8(s);
                used = 0;
            }
            const int on = force ? force[(size_t)i * ncols + j] : (bits >> used++) & 1;
            if (on)
                rowidx[e++] = i;
        }
    }
    colptr[ncols] = e;
    return e;
}

#define MAX_BUFFER (4u << 20) /* learners needing more get only the size checks */

typedef struct {
    uint16_t *w_colptr[3], *w_rowidx[3], *r_colptr[3], *r_rowidx[3], *u_colptr, *u_rowidx, *u_map[3];
    int32_t *theta, *w_o, *b_o;
} arrays_t;

static void free_arrays(arrays_t *a)
{
    for (int g = 0; g < 3; ++g) {
        free(a->w_colptr[g]);
        free(a->w_rowidx[g]);
        free(a->r_colptr[g]);
        free(a->r_rowidx[g]);
        free(a->u_map[g]);
    }
    free(a->u_colptr);
    free(a->u_rowidx);
    free(a->theta);
    free(a->w_o);
    free(a->b_o);
}

static uint32_t params_of(const rtrl_config_t *c)
{
    uint32_t p = 5u * c->n;
    for (int g = 0; g < 3; ++g)
        p += (uint32_t)c->nnz_w[g] + c->nnz_r[g];
    return p;
}

/* Raw mode: config fields and arrays verbatim. Sizes of the arrays follow the config (what
 * rtrl.h says the library may read); configs needing absurd arrays are only size-checked. */
static int build_raw(src_t *s, rtrl_config_t *c, arrays_t *a, int *shared)
{
    c->n = u16(s) % 300u; /* mostly around the 1..255 limit */
    c->d = u16(s) % 300u;
    c->k = u16(s) % 300u;
    for (int g = 0; g < 3; ++g) {
        c->nnz_w[g] = u16(s);
        c->nnz_r[g] = u16(s);
    }
    c->nnz_union = u16(s);
    c->update_every = u16(s);
    c->dense_mode = u8(s);
    c->readout_c = u8(s);
    c->lr_q = i32(s);
    c->clip_q = i32(s);
    c->eps_q = i32(s);
    c->goe_q = i32(s);
    c->taps = u8(s);
    c->readout_rls = u8(s);
    c->freeze_cell = u8(s);
    c->reserved = u8(s) == 0xFFu; /* rarely nonzero: every other config would be refused */
    c->rls_lam_q = i32(s);
    c->rls_isl_q = i32(s);
    c->rls_p0_q = i32(s);
    c->delay = u16(s) % 300u;
    c->adam = u8(s);
    if (c->adam < 0xF0u) /* mostly 0 / 1, sometimes out of range */
        c->adam &= 1u;
    c->adam_a = u8(s) % 20u; /* 17..19 refused */
    c->adam_b = u8(s) % 20u; /* 0 and 17..19 refused */
    c->reserved2 = u8(s) == 0xFFu;
    c->adam_eps2_q = (u8(s) & 1) ? u32(s) : u16(s); /* below 256 or above INT32_MAX refused */
    size_t bytes = 0;
    if (rtrl_required_bytes(c, &bytes) != RTRL_OK || bytes > MAX_BUFFER)
        return 0;
    *shared = u8(s) & 1;
    for (int g = 0; g < 3; ++g) {
        a->w_colptr[g] = xmalloc(2u * (c->d + 1u));
        a->w_rowidx[g] = xmalloc(2u * c->nnz_w[g]);
        a->r_colptr[g] = xmalloc(2u * (c->n + 1u));
        a->r_rowidx[g] = xmalloc(2u * c->nnz_r[g]);
        for (uint32_t i = 0; i <= c->d; ++i)
            a->w_colptr[g][i] = u16(s);
        for (uint32_t i = 0; i < c->nnz_w[g]; ++i)
            a->w_rowidx[g][i] = u16(s);
        for (uint32_t i = 0; i <= c->n; ++i)
            a->r_colptr[g][i] = u16(s);
        for (uint32_t i = 0; i < c->nnz_r[g]; ++i)
            a->r_rowidx[g][i] = u16(s);
    }
    a->u_colptr = xmalloc(2u * (c->n + 1u));
    a->u_rowidx = xmalloc(2u * c->nnz_union);
    for (uint32_t i = 0; i <= c->n; ++i)
        a->u_colptr[i] = u16(s);
    for (uint32_t i = 0; i < c->nnz_union; ++i)
        a->u_rowidx[i] = u16(s);
    for (int g = 0; g < 3 && !*shared; ++g) {
        a->u_map[g] = xmalloc(2u * c->nnz_union);
        for (uint32_t i = 0; i < c->nnz_union; ++i)
            a->u_map[g][i] = u16(s);
    }
    return 1;
}

/* Structured mode: small sizes, valid CSC patterns from bit masks, correct u_maps; then
 * optionally one element of one array overwritten with a fuzz value. */
static int build_structured(src_t *s, uint8_t mode, rtrl_config_t *c, arrays_t *a, int *shared)
{
    const uint16_t n = 1u + u8(s) % 12u, d = 1u + u8(s) % 4u, k = 1u + u8(s) % 3u;
    *shared = u8(s) & 1;
    c->n = n;
    c->d = d;
    c->k = k;
    uint8_t umask[12 * 12];
    memset(umask, 0, sizeof umask);
    uint16_t *rc[3], *rr[3];
    for (int g = 0; g < 3; ++g) {
        a->w_colptr[g] = xmalloc(2u * (d + 1u));
        uint16_t tmp[12 * 4];
        uint16_t tcol[5];
        c->nnz_w[g] = pattern_from_bits(s, n, d, tcol, tmp, NULL);
        a->w_rowidx[g] = xmalloc(2u * c->nnz_w[g]);
        memcpy(a->w_colptr[g], tcol, 2u * (d + 1u));
        memcpy(a->w_rowidx[g], tmp, 2u * c->nnz_w[g]);
    }
    for (int g = 0; g < 3; ++g) {
        rc[g] = xmalloc(2u * (n + 1u));
        rr[g] = xmalloc(2u * n * n);
        if (*shared && g > 0) {
            memcpy(rc[g], rc[0], 2u * (n + 1u));
            memcpy(rr[g], rr[0], 2u * n * n);
            c->nnz_r[g] = c->nnz_r[0];
        } else {
            c->nnz_r[g] = pattern_from_bits(s, n, n, rc[g], rr[g], NULL);
        }
        for (uint16_t j = 0; j < n; ++j)
            for (uint16_t e = rc[g][j]; e < rc[g][j + 1]; ++e)
                umask[rr[g][e] * n + j] = 1;
        a->r_colptr[g] = rc[g];
        a->r_rowidx[g] = xmalloc(2u * c->nnz_r[g]);
        memcpy(a->r_rowidx[g], rr[g], 2u * c->nnz_r[g]);
    }
    for (int g = 0; g < 3; ++g)
        free(rr[g]);
    a->u_colptr = xmalloc(2u * (n + 1u));
    uint16_t urow[12 * 12];
    c->nnz_union = pattern_from_bits(s, n, n, a->u_colptr, urow, umask);
    a->u_rowidx = xmalloc(2u * c->nnz_union);
    memcpy(a->u_rowidx, urow, 2u * c->nnz_union);
    for (int g = 0; g < 3 && !*shared; ++g) {
        a->u_map[g] = xmalloc(2u * c->nnz_union);
        for (uint16_t j = 0; j < n; ++j)
            for (uint16_t e = a->u_colptr[j]; e < a->u_colptr[j + 1]; ++e) {
                a->u_map[g][e] = RTRL_ABSENT;
                for (uint16_t f = a->r_colptr[g][j]; f < a->r_colptr[g][j + 1]; ++f)
                    if (a->r_rowidx[g][f] == a->u_rowidx[e])
                        a->u_map[g][e] = f;
            }
    }
    c->update_every = 1u + u8(s) % 4u;
    c->dense_mode = u8(s) & 1;
    c->readout_c = u8(s) & 1;
    c->taps = u8(s) % 5u;
    c->readout_rls = u8(s) & 1;
    c->freeze_cell = (u8(s) & 3) == 0;
    c->reserved = 0;
    c->rls_lam_q = 58982 + (int32_t)(u16(s) % (65536u - 58982u + 1u));
    c->rls_isl_q = (int32_t)((1u << 30) + (uint32_t)i32(s) % (1131823261u - (1u << 30) + 1u));
    c->rls_p0_q = 1 + (int32_t)((uint32_t)i32(s) % (1u << 30));
    c->delay = u8(s) % 4u;
    c->lr_q = (int32_t)u16(s) << (u8(s) % 12u);
    c->clip_q = (int32_t)u16(s) << (u8(s) % 10u);
    c->eps_q = 1 + (int32_t)(u16(s) % 65536u);
    c->goe_q = (int32_t)u16(s) * (1 + u8(s) % 4);
    c->adam = u8(s) & 1;
    c->adam_a = u8(s) % 17u; /* 0: beta1 = 0 (RMSprop) */
    c->adam_b = 1u + u8(s) % 16u;
    c->reserved2 = 0;
    { /* the floor of v: mostly small (v's table index shifts), sometimes up to INT32_MAX */
        const uint8_t e = u8(s);
        c->adam_eps2_q = (e & 3) ? 256u + u16(s) % 65536u : 256u + u32(s) % ((uint32_t)INT32_MAX - 255u);
    }
    if (mode & 2u) { /* corrupt one element of one pattern array or one config field */
        const uint8_t which = u8(s) % 10u, g = u8(s) % 3u;
        const uint16_t v = u16(s);
        const uint16_t at = u16(s);
        switch (which) {
        case 0: a->w_colptr[g][at % (d + 1u)] = v; break;
        case 1: if (c->nnz_w[g]) a->w_rowidx[g][at % c->nnz_w[g]] = v; break;
        case 2: a->r_colptr[g][at % (n + 1u)] = v; break;
        case 3: if (c->nnz_r[g]) a->r_rowidx[g][at % c->nnz_r[g]] = v; break;
        case 4: a->u_colptr[at % (n + 1u)] = v; break;
        case 5: if (c->nnz_union) a->u_rowidx[at % c->nnz_union] = v; break;
        case 6: if (!*shared && c->nnz_union) a->u_map[g][at % c->nnz_union] = v; break;
        case 8: /* an Adam field, often out of range (at picks which) */
            c->adam = (uint8_t)(at & 1 ? 1u : v & 0xFFu);
            if (at & 2) c->adam_a = (uint8_t)v;
            if (at & 4) c->adam_b = (uint8_t)(v % 18u);
            if (at & 8) c->adam_eps2_q = v;
            if (at & 16) c->reserved2 = (uint8_t)v;
            break;
        case 9: c->adam_eps2_q = 0x80000000u + v; break; /* above INT32_MAX */ /* a smaller nnz_union (a larger one would break the arrays' documented sizes) */
            c->nnz_union = (uint16_t)(c->nnz_union - (c->nnz_union < v % 3u ? c->nnz_union : v % 3u));
            break;
        }
    }
    return 1;
}

static void run_ops(src_t *s, rtrl_t *ctx, const rtrl_config_t *c, uint32_t P)
{
    const uint16_t n = c->n, d = c->d, k = c->k;
    unsigned budget = 64; /* calls per input: keeps each execution short */
    while (s->left > 0 && budget-- > 0) {
        const uint8_t op = u8(s) % 12u;
        rtrl_status_t st = RTRL_OK;
        switch (op) {
        case 0:
        case 1: { /* rtrl_step */
            int32_t *x = xmalloc(4u * d), *t = xmalloc(4u * k), *out = xmalloc(4u * k), loss;
            for (uint16_t i = 0; i < d; ++i)
                x[i] = sample_value(s);
            for (uint16_t i = 0; i < k; ++i)
                t[i] = sample_value(s);
            const uint8_t f = u8(s);
            st = rtrl_step(ctx, x, t, (f & 1) ? out : NULL, (f & 2) ? &loss : NULL);
            free(x), free(t), free(out);
            break;
        }
        case 2: { /* rtrl_step_labelled, arbitrary label, target maybe NULL */
            int32_t *x = xmalloc(4u * d), *t = xmalloc(4u * k), *out = xmalloc(4u * k), loss;
            for (uint16_t i = 0; i < d; ++i)
                x[i] = sample_value(s);
            for (uint16_t i = 0; i < k; ++i)
                t[i] = sample_value(s);
            const uint8_t f = u8(s);
            const int32_t label = (f & 4) ? i32(s) : (int32_t)(u8(s) % (k + 2u)) - 1;
            st = rtrl_step_labelled(ctx, x, (f & 8) ? t : NULL, label, (f & 1) ? out : NULL,
                                    (f & 2) ? &loss : NULL);
            free(x), free(t), free(out);
            break;
        }
        case 3:
        case 4: { /* rtrl_run_record / rtrl_run over up to 8 steps */
            const uint32_t steps = u8(s) % 9u;
            int32_t *x = xmalloc(4u * d * steps), *t = xmalloc(4u * k * steps);
            int32_t *out = xmalloc(4u * k * steps), *loss = xmalloc(4u * steps);
            int16_t *lab = xmalloc(2u * steps);
            uint16_t *ev = xmalloc(2u * steps);
            for (uint32_t i = 0; i < d * steps; ++i)
                x[i] = sample_value(s);
            for (uint32_t i = 0; i < k * steps; ++i)
                t[i] = sample_value(s);
            for (uint32_t i = 0; i < steps; ++i)
                lab[i] = (u8(s) & 0x80) ? (int16_t)u16(s) : (int16_t)(u8(s) % (k + 1u)) - 1;
            const uint8_t f = u8(s);
            uint32_t done = 0xFFFFFFFFu;
            if (op == 3)
                st = rtrl_run_record(ctx, steps, x, (f & 1) ? t : NULL, (f & 2) ? lab : NULL,
                                     (f & 4) ? out : NULL, (f & 8) ? loss : NULL, (f & 16) ? ev : NULL,
                                     (f & 32) ? &done : NULL);
            else
                st = rtrl_run(ctx, steps, x, t, (f & 4) ? out : NULL, (f & 8) ? loss : NULL,
                              (f & 32) ? &done : NULL);
            if ((f & 32) && st == RTRL_OK && done != steps)
                abort(); /* a complete run must say so */
            if ((f & 32) && done > steps)
                abort();
            free(x), free(t), free(out), free(loss), free(lab), free(ev);
            break;
        }
        case 5:
        case 6: { /* rtrl_stage_weights: arbitrary offset and length (data exactly len bytes) */
            const uint32_t total = rtrl_weights_image_bytes(ctx);
            const uint8_t f = u8(s);
            uint32_t off = (f & 1) ? u32(s) : (total ? u16(s) % (total + 8u) : 0);
            uint32_t len = (f & 2) ? u16(s) : u8(s);
            if (f & 4) /* a full image from offset 0, values from the bytes */
                off = 0, len = total;
            uint8_t *data = xmalloc(len);
            for (uint32_t i = 0; i < len; ++i)
                data[i] = u8(s);
            if (f & 8) { /* keep thresholds legal so that commits succeed sometimes */
                for (uint16_t j = 0; j < n; ++j) {
                    const uint32_t at = 4u * (P - n + j);
                    if (at >= off && at + 4u <= off + len)
                        data[at - off + 3] &= 0x00;
                }
            }
            st = rtrl_stage_weights(ctx, off, len ? data : ((f & 16) ? NULL : data), len);
            free(data);
            break;
        }
        case 7:
            st = rtrl_commit_weights(ctx);
            break;
        case 8: { /* rtrl_load_weights from exact-size arrays */
            const uint32_t m = (uint32_t)n + (uint32_t)c->taps * d; /* readout features */
            int32_t *th = xmalloc(4u * P), *wo = xmalloc(4u * k * m), *bo = xmalloc(4u * k);
            for (uint32_t i = 0; i < P; ++i)
                th[i] = (u8(s) & 1) ? i32(s) : (int32_t)(u16(s) % (1u << 15)) << 9;
            for (uint32_t i = 0; i < (uint32_t)k * m; ++i)
                wo[i] = i32(s);
            for (uint32_t i = 0; i < k; ++i)
                bo[i] = i32(s);
            st = rtrl_load_weights(ctx, th, wo, bo);
            free(th), free(wo), free(bo);
            break;
        }
        case 9:
            st = rtrl_set_learning_rate(ctx, i32(s));
            break;
        case 10:
            st = rtrl_reset_state(ctx);
            break;
        default: {
            rtrl_counters_t cnt;
            rtrl_view_t v;
            check_status(rtrl_get_counters(ctx, &cnt));
            st = rtrl_get_view(ctx, &v);
            if (st == RTRL_OK && (v.P != P || v.live > P))
                abort();
            break;
        }
        }
        check_status(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    src_t s = {data, size};
    const uint8_t mode = u8(&s);
    rtrl_config_t c;
    memset(&c, 0, sizeof c);
    arrays_t a;
    memset(&a, 0, sizeof a);
    int shared = 1;
    size_t bytes = 0;
    rtrl_t ctx;
    memset(&ctx, 0, sizeof ctx);

    const int built = (mode & 1) ? build_structured(&s, mode, &c, &a, &shared) : build_raw(&s, &c, &a, &shared);
    check_status(rtrl_required_bytes(&c, &bytes));
    if (!built) { /* config refused or too large: only the size checks, with a tiny buffer */
        uint64_t tiny[4];
        rtrl_model_t m;
        memset(&m, 0, sizeof m);
        size_t needed = 0;
        check_status(rtrl_init(&ctx, &c, &m, tiny, sizeof tiny, &needed));
        free_arrays(&a);
        return 0;
    }
    const uint32_t P = params_of(&c);
    a.theta = xmalloc(4u * P);
    const uint32_t features = (uint32_t)c.n + (uint32_t)c.taps * c.d;
    a.w_o = xmalloc(4u * c.k * features);
    a.b_o = xmalloc(4u * c.k);
    for (uint32_t i = 0; i < P; ++i) /* thresholds mostly legal: Q24 in [0, 1) */
        a.theta[i] = (u8(&s) & 7) ? (int32_t)(u16(&s) >> 1) << 9 : i32(&s);
    for (uint32_t i = 0; i < (uint32_t)c.k * features; ++i)
        a.w_o[i] = (int32_t)(int16_t)u16(&s) * 256;
    for (uint32_t i = 0; i < c.k; ++i)
        a.b_o[i] = (int32_t)(int16_t)u16(&s) * 256;

    rtrl_model_t m;
    for (int g = 0; g < 3; ++g) {
        m.w_colptr[g] = a.w_colptr[g];
        m.w_rowidx[g] = a.w_rowidx[g];
        m.r_colptr[g] = a.r_colptr[g];
        m.r_rowidx[g] = a.r_rowidx[g];
        m.u_map[g] = shared ? NULL : a.u_map[g];
    }
    m.u_colptr = a.u_colptr;
    m.u_rowidx = a.u_rowidx;
    m.theta = a.theta;
    m.w_o = a.w_o;
    m.b_o = a.b_o;

    /* the buffer: exact size (or a little short / misaligned, from the bytes) */
    const uint8_t bsel = u8(&s);
    size_t bufsize = bytes;
    if ((bsel & 7) == 1 && bufsize >= 8)
        bufsize -= 8;
    uint8_t *buffer = xmalloc(bufsize + 8);
    uint8_t *start = ((bsel & 7) == 2) ? buffer + 4 : buffer;
    size_t needed = 0;
    const rtrl_status_t st = rtrl_init(&ctx, &c, &m, start, bufsize, &needed);
    check_status(st);
    if (st == RTRL_OK) {
        if (needed != bytes)
            abort();
        run_ops(&s, &ctx, &c, P);
    } else { /* a failed init leaves the context unusable */
        int32_t x0[256] = {0};
        if (rtrl_step(&ctx, x0, x0, NULL, NULL) != RTRL_ERR_NOT_INITIALISED)
            abort();
    }
    free(buffer);
    free_arrays(&a);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Seeded random driver for compilers without libFuzzer: fuzz_rtrl [runs] [seed]. Inputs are
 * random bytes of random length (xorshift64*), half of them "structured" (byte 0 odd). */
static uint64_t rng_state;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

int main(int argc, char **argv)
{
    const unsigned long runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000ul;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1ull;
    if (rng_state == 0)
        rng_state = 1;
    static uint8_t buf[4096];
    for (unsigned long r = 0; r < runs; ++r) {
        const size_t len = (size_t)(next_rand() % sizeof buf);
        for (size_t i = 0; i < len; ++i)
            buf[i] = (uint8_t)(next_rand() >> 56);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz_rtrl (standalone): %lu runs, 0 findings\n", runs);
    return 0;
}
#endif
