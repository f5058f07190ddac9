/*
 * rtrl_influence.c - M_t = J_t M_{t-1} + Mbar_t on the live columns (sparse exact RTRL).
 *
 * J_t = diag(d) + A_t diag(a_{t-1}): only columns j with a_{t-1,j} != 0 ("active") of the
 * off-diagonal part exist, and only on the union recurrent pattern. M is laid out by
 * postsynaptic unit (segments, rtrl.h); the update runs segment by segment over its live
 * columns in chunks of RTRL_CHUNK, skipping the (row, segment) blocks that are zero and the
 * J entries whose source block is zero (update_segments): the active rows of the chunk are
 * saved, then each row is rewritten as d_i * row + sum_j J_ij * saved_j, a contiguous int64
 * multiply-accumulate over the chunk (rtrl_influence_rows.c). Skipping a zero block changes
 * no value: its products are zero, rnd(0) = 0 and nothing saturates.
 *
 * Scaling and overflow: d, J in Q16 (|J| <= 2^24, counted), M in Q_M; products Q(16+M)
 * summed in int64: n <= 255 terms of at most 2^55 stay below 2^63. Rounded to Q_M and
 * saturated to rtrl_m_t (counted). Mbar entries: Q16 x Q16 products rounded to Q_M, added
 * with saturation (counted). Products of two int32 factors (the Jacobian's alpha theta and
 * A a, the Mbar coefficients times x, y, psi) are rtrl_mul64 (rtrl_mul.h: on the Cortex-M0
 * the composed multiply, not libgcc's __aeabi_lmul); the two rounded int64 factors tp - o
 * and c psi are used as int32 where they fit (always, for thresholds in [0, 1] and
 * |c| <= 1) and as int64 otherwise.
 */
#include "rtrl_mem.h"

#include "rtrl_internal.h"

#define MSHIFT (32u - RTRL_MFRAC) /* Q16 x Q16 -> Q_M */

/* Local derivatives dc/dpre (Q16) and the Jacobian diagonal. */
static RTRL_NOINLINE void derivatives(rtrl_t *ctx, int32_t *const *prev)
{
    const uint16_t n = ctx->cfg.n;
    const int32_t *thr = ctx->theta + ctx->off_thr;
    uint64_t *sat = &ctx->counters.saturations;
    /* every factor is an int32 (u, r, g, thr16 in [-2^17, 2^17], uu, rr <= 2^14, gg, beta in
     * [0, 2^16], h - g within 3 2^16, bq = rnd(beta q) with beta <= 1.0 within int32, tp
     * below 2^31): one rtrl_mul64 each, a widening multiply or the M0's composed one */
    for (uint16_t i = 0; i < n; ++i) {
        const int32_t u = ctx->u[i], r = ctx->r[i], g = ctx->g[i];
        const int32_t uu = (int32_t)rtrl_rnd(rtrl_mul64(u, RTRL_ONE - u), RTRL_FRAC);
        ctx->alpha_u[i] = (int32_t)rtrl_rnd(rtrl_mul64(prev[RTRL_S_H][i] - g, uu), RTRL_FRAC);
        const int32_t gg = (int32_t)rtrl_rnd(rtrl_mul64(g, g), RTRL_FRAC);
        const int32_t beta = (int32_t)rtrl_rnd(rtrl_mul64(RTRL_ONE - u, RTRL_ONE - gg), RTRL_FRAC);
        ctx->beta_g[i] = beta;
        ctx->alpha_g[i] = (int32_t)rtrl_rnd(rtrl_mul64(beta, r), RTRL_FRAC);
        const int32_t bq = (int32_t)rtrl_rnd(rtrl_mul64(beta, ctx->qv[i]), RTRL_FRAC);
        const int32_t rr = (int32_t)rtrl_rnd(rtrl_mul64(r, RTRL_ONE - r), RTRL_FRAC);
        ctx->alpha_r[i] =
            (int32_t)rtrl_clamp(rtrl_rnd(rtrl_mul64(bq, rr), RTRL_FRAC), -RTRL_LIM24, RTRL_LIM24, sat);
        const int32_t thr16 = (int32_t)rtrl_rnd(thr[i], RTRL_WFRAC - RTRL_FRAC);
        const int32_t tp = (int32_t)rtrl_rnd(rtrl_mul64(thr16, prev[RTRL_S_PSI][i]), RTRL_FRAC);
        ctx->dvec[i] = (int32_t)rtrl_rnd(rtrl_mul64(u, RTRL_ONE - tp), RTRL_FRAC);
    }
}

/* A_t on the union entries of active columns (aval) and J_t = A diag(a) (jval), both by
 * union entry; jrow[i] = first slot of row i's entry list (entries of active columns in row
 * i, counted). Returns the entries visited. */
static RTRL_NOINLINE uint32_t jacobian(rtrl_t *ctx, const int32_t *a_prev, uint16_t *nact_out)
{
    const rtrl_config_t *cfg = &ctx->cfg;
    const rtrl_model_t *m = &ctx->model;
    const uint16_t n = cfg->n;
    const int32_t *alpha[3] = {ctx->alpha_u, ctx->alpha_r, ctx->alpha_g};
    uint64_t *sat = &ctx->counters.saturations;
    uint64_t macs = 0;
    uint16_t nact = 0;
    uint32_t nent = 0;

    memset(ctx->jrow, 0, 2u * (n + 1u));
    for (uint16_t j = 0; j < n; ++j) {
        if (a_prev[j] == 0 && !cfg->dense_mode)
            continue;
        ctx->act[nact++] = j;
        for (uint16_t e = m->u_colptr[j]; e < m->u_colptr[j + 1]; ++e) {
            const uint16_t i = m->u_rowidx[e];
            int64_t s = 0;
            for (int g = 0; g < 3; ++g) {
                const uint16_t idx = m->u_map[g] ? m->u_map[g][e] : e;
                if (idx == RTRL_ABSENT)
                    continue;
                s += rtrl_mul64(alpha[g][i], ctx->theta[ctx->off_r[g] + idx]);
                ++macs;
            }
            ctx->aval[e] = rtrl_sat32(rtrl_rnd(s, RTRL_WFRAC), sat);
            ctx->jval[e] = (int32_t)rtrl_clamp(rtrl_rnd(rtrl_mul64(ctx->aval[e], a_prev[j]), RTRL_FRAC),
                                               -RTRL_LIM24, RTRL_LIM24, sat);
            ++ctx->jrow[i + 1u];
            ++nent;
        }
    }
    for (uint16_t i = 0; i < n; ++i)
        ctx->jrow[i + 1u] = (uint16_t)(ctx->jrow[i + 1u] + ctx->jrow[i]);
    ctx->counters.macs += macs;
    ctx->counters.active_cols += nact;
    *nact_out = nact;
    return nent;
}

#ifndef RTRL_HAVE_CHUNK_ROWS /* (the chunk kernel walks the bits itself) */
/* Index of the lowest set bit of a nonzero word: two instructions where the core counts
 * leading zeros of a bit-reversed word (Armv7-M and up) or has TZCNT/BSF (x86); a loop
 * elsewhere (Armv6-M and RV32IMAC have neither, and libgcc's __ctzsi2 is a call). */
RTRL_INLINE uint32_t lowest_bit(uint32_t v)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) ||                \
                          (defined(__ARM_ARCH) && __ARM_ARCH >= 7 && !defined(__ARM_ARCH_6M__) &&   \
                           !defined(__ARM_ARCH_8M_BASE__)))
    return (uint32_t)__builtin_ctz(v);
#else
    uint32_t i = 0;
    while (!(v & 1u)) {
        v >>= 1;
        ++i;
    }
    return i;
#endif
}
#endif

/* Append the J entries of source column j to the rows' lists (lval, jslot from jrow[i] on,
 * cnt[i] entries so far), each with the slot it reads from; with reach, also mark the rows
 * reached. Inlined into both list builders of update_segments, where reach is NULL or not
 * at compile time. */
RTRL_INLINE void list_column(const rtrl_model_t *m, uint16_t j, uint16_t slot, uint16_t *restrict cnt,
                             const uint16_t *restrict jrow, const int32_t *restrict jval,
                             int32_t *restrict lval, uint16_t *restrict jslot, uint32_t *reach)
{
    const uint16_t *restrict rowidx = m->u_rowidx;
    const uint16_t e1 = m->u_colptr[j + 1];
    for (uint16_t e = m->u_colptr[j]; e < e1; ++e) {
        const uint16_t i = rowidx[e];
        const uint16_t c = cnt[i];
        const uint16_t at = (uint16_t)(jrow[i] + c);
        cnt[i] = (uint16_t)(c + 1u);
        lval[at] = jval[e];
        jslot[at] = slot;
        if (reach)
            rtrl_nz_set(reach, i);
    }
}

/* M[:, live] <- diag(d) M + J M[act], segment by segment, skipping the zero blocks.
 *
 * Segment s (unit s's parameters, w live columns) is updated row by row in chunks of
 * RTRL_CHUNK columns. Its sources are the active units j whose row of the segment may be
 * nonzero (flag set): only their chunk is saved, and each row's list holds only the J
 * entries of those sources (rebuilt only when the sources differ from the previous
 * segment's). The rows updated are those whose own flag is set or whose list
 * is not empty; every other row is zero and stays zero: skipped. The new flags are the rows
 * whose result has a nonzero entry. On the portable kernel a partial chunk is widened to a
 * multiple of 4 columns where the segment has room: the extra columns are dead (zero in M
 * and in the saved rows) and stay zero. The AVX2 build (RTRL_HAVE_CHUNK_ROWS) widens to
 * whole 8-column vectors likewise, keeps every row's full list (built once per step) with a
 * per-segment map from source to saved slot instead of rebuilding lists, and updates a
 * chunk's rows in one call (rtrl_chunk_rows). Returns the row products over live columns
 * (of the n L + nent L the cost model counts). */
static RTRL_NOINLINE uint64_t update_segments(rtrl_t *ctx, uint16_t nact)
{
    const rtrl_model_t *m = &ctx->model;
    const uint16_t n = ctx->cfg.n, P = ctx->P;
    const int dense = ctx->cfg.dense_mode;
    const size_t nw = RTRL_NZ_WORDS(n);
    rtrl_m_t *M = ctx->M;
    uint16_t *restrict cnt = ctx->cursor;
    const uint16_t *restrict jrow = ctx->jrow;
    const int32_t *restrict jval = ctx->jval;
    int32_t *restrict lval = ctx->lval;
    uint16_t *restrict jslot = ctx->jslot;
    uint64_t nsat = 0, done = 0;
    /* unit masks in the buffer after the row flags: on the 16 KiB boards' 1 KiB stack, five
     * arrays of RTRL_MAX_UNITS bits (160 bytes) did not fit beside the rest of a step */
    uint32_t *const fresh = ctx->nzm + (size_t)n * nw, *const todo = fresh + nw;
    uint32_t *const actm = todo + nw, *const srcm = actm + nw, *const reach = srcm + nw;
    int have = 0; /* lists built for the sources srcm */
    uint16_t nsrc = 0;
    memset(cnt, 0, 2u * n);
    for (size_t q = 0; q < nw; ++q)
        actm[q] = srcm[q] = reach[q] = 0;
    for (uint16_t q = 0; q < nact; ++q)
        rtrl_nz_set(actm, ctx->act[q]);
#ifdef RTRL_HAVE_CHUNK_ROWS
    /* The whole-chunk kernel reads every row's full list (the J entries of all the active
     * sources, slot = the source's position q in act), built once per step; per segment only
     * the map q -> saved slot changes (cursor, RTRL_ABSENT for a source whose row of the
     * segment is zero: the kernel multiplies a zero row there and does not count it). The
     * per-segment rebuild of the lists cost more than the products it saved. */
    for (uint16_t q = 0; q < nact; ++q)
        list_column(m, ctx->act[q], q, cnt, jrow, jval, lval, jslot, NULL);
#endif
    for (uint16_t s = 0; s < n; ++s) {
        const uint32_t w = ctx->seg_live[s];
        if (w == 0)
            continue;
        uint32_t *flags = rtrl_nz(ctx, s);
        /* the sources: active units whose row of this segment may be nonzero; the same
         * sources as the previous segment's (always in dense mode) give the same lists */
        int same = have;
        for (size_t q = 0; q < nw; ++q) {
            const uint32_t v = flags[q] & actm[q];
            same &= v == srcm[q];
            srcm[q] = v;
        }
        if (!same) {
#ifdef RTRL_HAVE_CHUNK_ROWS
            /* saved slots of the sources; the rows they reach */
            uint16_t ns = 0;
            for (size_t q = 0; q < nw; ++q)
                reach[q] = 0;
            for (uint16_t q = 0; q < nact; ++q) {
                const uint16_t j = ctx->act[q];
                if (!rtrl_nz_get(srcm, j)) {
                    cnt[q] = RTRL_ABSENT;
                    continue;
                }
                /* the bits gathered in a register while the rows stay in one word (a
                 * column's rows ascend): an OR into memory per entry was a store-forwarding
                 * chain through the same word */
                const uint16_t e1 = m->u_colptr[j + 1];
                uint32_t rq = 0, rb = 0;
                for (uint16_t e = m->u_colptr[j]; e < e1; ++e) {
                    const uint32_t i = m->u_rowidx[e];
                    if ((i >> 5) != rq) {
                        reach[rq] |= rb;
                        rq = i >> 5;
                        rb = 0;
                    }
                    rb |= (uint32_t)1 << (i & 31u);
                }
                reach[rq] |= rb;
                cnt[q] = ns;
                ctx->srcs[ns++] = j;
            }
#else
            /* the previous lists' counts: nonzero only in the rows they reached. Bounds and
             * the slot in locals: the stores to the lists may alias ctx's arrays as far as the
             * compiler knows, and reloading them each entry cost more than the entry */
            for (size_t q = 0; q < nw; ++q) {
                for (uint32_t bits = reach[q]; bits != 0; bits &= bits - 1u)
                    cnt[q * 32u + lowest_bit(bits)] = 0;
                reach[q] = 0;
            }
            /* row lists of the J entries of those sources */
            uint16_t ns = 0;
            for (uint16_t q = 0; q < nact; ++q) {
                const uint16_t j = ctx->act[q];
                if (!rtrl_nz_get(srcm, j))
                    continue;
                list_column(m, j, ns, cnt, jrow, jval, lval, jslot, reach);
                ctx->srcs[ns++] = j;
            }
#endif
            nsrc = ns;
            have = 1;
        }
        for (size_t q = 0; q < nw; ++q) {
            todo[q] = flags[q] | reach[q];
            fresh[q] = 0;
        }
        const size_t base = ctx->seg_off[s];
        for (uint32_t c0 = 0; c0 < w; c0 += RTRL_CHUNK) {
            const uint32_t cw = (w - c0) < RTRL_CHUNK ? (w - c0) : RTRL_CHUNK;
#if RTRL_GRAD_MUL32 && RTRL_PAD == 1
            /* rtrl_row_split takes columns in pairs: widened to even */
            uint32_t kw = (cw + 1u) & ~1u;
            if (base + c0 + kw > ctx->seg_off[s + 1u])
                kw = cw;
#elif RTRL_PAD == 1
            uint32_t kw = (cw + 3u) & ~3u; /* widened over dead columns where there is room */
            if (base + c0 + kw > ctx->seg_off[s + 1u])
                kw = cw;
#elif defined(RTRL_HAVE_CHUNK_ROWS)
            /* likewise to whole vectors, for rtrl_chunk_rows */
            uint32_t kw = (cw + RTRL_PAD - 1u) & ~(uint32_t)(RTRL_PAD - 1u);
            if (base + c0 + kw > ctx->seg_off[s + 1u])
                kw = cw;
#else
            const uint32_t kw = cw;
#endif
            for (uint16_t q = 0; q < nsrc; ++q) {
                rtrl_m_t *dst = ctx->saved + (size_t)q * RTRL_CHUNK;
                const rtrl_m_t *src = M + (size_t)ctx->srcs[q] * P + base + c0;
                /* element by element: the cross targets' memcpy (newlib-nano, -Os) copies
                 * byte by byte, ~9 instructions per byte */
                for (uint32_t c = 0; c < kw; ++c)
                    dst[c] = src[c];
#if RTRL_PAD > 1
                for (uint32_t c = kw; c % RTRL_PAD != 0; ++c)
                    dst[c] = 0;
#endif
            }
#ifdef RTRL_HAVE_CHUNK_ROWS
            nsat += rtrl_chunk_rows(ctx, base + c0, kw, cw, nact, todo, flags, fresh, &done);
#else
            for (size_t q = 0; q < nw; ++q) {
                for (uint32_t bits = todo[q]; bits != 0; bits &= bits - 1u) {
                    const uint16_t i = (uint16_t)(q * 32u + lowest_bit(bits));
                    const int own = rtrl_nz_get(flags, i);
                    const uint16_t ne = cnt[i];
                    uint32_t nz = 0;
#if RTRL_GRAD_MUL32 && RTRL_PAD == 1
                    if (rtrl_row_split_ok(ctx->dvec[i], own, ne))
                        nsat += rtrl_row_split(M + (size_t)i * P + base + c0, kw, ctx->dvec[i], own,
                                               ctx->lval + ctx->jrow[i], ctx->jslot + ctx->jrow[i], ne,
                                               ctx->saved, &nz);
                    else
#endif
                    nsat += rtrl_row_update(M + (size_t)i * P + base + c0, kw, ctx->dvec[i], own,
                                            ctx->lval + ctx->jrow[i], ctx->jslot + ctx->jrow[i], ne,
                                            ctx->saved, &nz);
                    done += cw * ((uint32_t)own + ne); /* < 2^16: a 32-bit product */
                    if (nz)
                        rtrl_nz_set(fresh, i);
                }
            }
#endif
        }
        if (!dense)
            for (size_t q = 0; q < nw; ++q)
                flags[q] = fresh[q];
    }
    ctx->counters.saturations += nsat;
    return done;
}

/* Saturating add of an Mbar entry to row `row` of column col (in segment seg); a nonzero
 * result sets the row's flag in the segment. */
RTRL_INLINE void mbar_add(rtrl_t *ctx, uint16_t col, uint16_t row, uint16_t seg, int64_t v)
{
    rtrl_m_t *cell = ctx->M + (size_t)row * ctx->P + col;
    *cell = rtrl_sat_m((int64_t)*cell + v, &ctx->counters.saturations);
    if (*cell != 0)
        rtrl_nz_set(rtrl_nz(ctx, seg), row);
}

/* Mbar entries of the input (kind 0) or recurrent (kind 1) weights whose source v[k] is
 * nonzero: the entries of column k come alive, each in its row's segment. */
static RTRL_NOINLINE uint64_t mbar_sources(rtrl_t *ctx, int kind, uint16_t ncols, const int32_t *const coef[3],
                             const int32_t *v)
{
    const uint16_t *const *cp = kind ? ctx->model.r_colptr : ctx->model.w_colptr;
    const uint16_t *const *ri = kind ? ctx->model.r_rowidx : ctx->model.w_rowidx;
    const uint16_t *off = kind ? ctx->off_r : ctx->off_w;
    uint64_t count = 0;
    for (uint16_t k = 0; k < ncols; ++k) {
        const int32_t vk = v[k];
        if (vk == 0 && !ctx->cfg.dense_mode)
            continue;
        for (int g = 0; g < 3; ++g) {
            for (uint16_t e = cp[g][k]; e < cp[g][k + 1]; ++e) {
                const uint16_t i = ri[g][e];
                const uint16_t col = rtrl_col_alive(ctx, (uint16_t)(off[g] + e), i);
                mbar_add(ctx, col, i, i, rtrl_rnd(rtrl_mul64(coef[g][i], vk), MSHIFT));
                ++count;
            }
        }
    }
    return count;
}

/* rnd(x 2^16, MSHIFT) for an int32 x (a bias's Q16 coefficient times 1.0, into Q_M): with
 * 16-bit M (MSHIFT = 21 > 16) floor((x + 2^(K-1)) / 2^K), K = MSHIFT - 16, in 32 bits and
 * without the overflow of x + 2^(K-1); with 32-bit M (MSHIFT <= 16) the exact x 2^(16-MSHIFT)
 * (the rounding half is below the product's lowest bit). */
RTRL_INLINE int64_t rnd_one(int32_t x)
{
#if MSHIFT > 16
    return (x >> (MSHIFT - 16u)) + (((x & ((1 << (MSHIFT - 16u)) - 1)) + (1 << (MSHIFT - 17u))) >> (MSHIFT - 16u));
#else
    return (int64_t)x * (1 << (16u - MSHIFT));
#endif
}

/* Mbar of the biases and the thresholds. Returns the products computed. */
static RTRL_NOINLINE uint64_t mbar_bias_thr(rtrl_t *ctx, int32_t *const *prev, uint16_t nact)
{
    const rtrl_model_t *m = &ctx->model;
    const uint16_t n = ctx->cfg.n;
    const int dense = ctx->cfg.dense_mode;
    const int32_t *thr = ctx->theta + ctx->off_thr;
    uint64_t macs = 0;
    const int32_t *bcoef[4] = {ctx->alpha_u, ctx->alpha_r, ctx->beta_g, ctx->alpha_g};
    for (int b = 0; b < 4; ++b)
        for (uint16_t i = 0; i < n; ++i)
            mbar_add(ctx, rtrl_col_alive(ctx, (uint16_t)(ctx->off_b + b * n + i), i), i, i,
                     rnd_one(bcoef[b][i]));
    macs += 4u * n;
    /* thr_j through h_{t-1}: u_j (thr_j psi_j - o_j), alive once unit j fired or came near */
    for (uint16_t j = 0; j < n; ++j) {
        const int64_t o_prev = prev[RTRL_S_Y][j] != 0;
        if (!dense && o_prev == 0 && prev[RTRL_S_PSI][j] == 0)
            continue;
        /* thr16 = rnd(thr, 8) of an int32 is an int32: one rtrl_mul64. tp - o: an int32
         * product where it fits (always: |thr16| <= 2^17, rtrl_forward), else int64 */
        const int32_t thr16 = (int32_t)rtrl_rnd(thr[j], RTRL_WFRAC - RTRL_FRAC);
        const int64_t tp = rtrl_rnd(rtrl_mul64(thr16, prev[RTRL_S_PSI][j]), RTRL_FRAC);
        const int64_t tpo = tp - o_prev * RTRL_ONE;
        const uint16_t col = rtrl_col_alive(ctx, (uint16_t)(ctx->off_thr + j), j);
        mbar_add(ctx, col, j, j,
                 rtrl_rnd(tpo == (int32_t)tpo ? rtrl_mul64(ctx->u[j], (int32_t)tpo) : (int64_t)ctx->u[j] * tpo,
                          MSHIFT));
        ++macs;
    }
    /* thr_j through y_{t-1}: A_t[:, j] * (-c_j psi_j), only where psi_{t-1,j} != 0 */
    for (uint16_t s = 0; s < nact; ++s) {
        const uint16_t j = ctx->act[s];
        if (!dense && prev[RTRL_S_PSI][j] == 0)
            continue;
        const int64_t cpsi = -rtrl_rnd(rtrl_mul64(prev[RTRL_S_C][j], prev[RTRL_S_PSI][j]), RTRL_FRAC);
        /* an int32 factor where it fits (always: |c| <= 1.0), else the int64 product */
        const int small = cpsi == (int32_t)cpsi;
        const uint16_t col = rtrl_col_alive(ctx, (uint16_t)(ctx->off_thr + j), j);
        for (uint16_t e = m->u_colptr[j]; e < m->u_colptr[j + 1]; ++e) {
            mbar_add(ctx, col, m->u_rowidx[e], j,
                     rtrl_rnd(small ? rtrl_mul64(ctx->aval[e], (int32_t)cpsi) : (int64_t)ctx->aval[e] * cpsi, MSHIFT));
            ++macs;
        }
    }
    return macs;
}

/* The phases are separate functions so that a step's stack is the deepest phase's. */
void rtrl_influence(rtrl_t *ctx, const int32_t *x)
{
    const uint16_t n = ctx->cfg.n;
    int32_t *const *prev = ctx->st[ctx->bank];
    uint64_t macs = 0;

    derivatives(ctx, prev);
    uint16_t nact;
    const uint32_t nent = jacobian(ctx, prev[RTRL_S_A], &nact);
    const uint16_t L = ctx->live;
    if (L) {
        const uint64_t rows = (uint64_t)n * L + (uint64_t)nent * L; /* the cost model's */
        ctx->counters.skipped += rows - update_segments(ctx, nact);
        macs += rows + nent;
    }

    /* Mbar: input and recurrent weights, then biases and thresholds */
    const int32_t *const wcoef[3] = {ctx->alpha_u, ctx->alpha_r, ctx->beta_g};
    const int32_t *const rcoef[3] = {ctx->alpha_u, ctx->alpha_r, ctx->alpha_g};
    macs += mbar_sources(ctx, 0, ctx->cfg.d, wcoef, x);
    macs += mbar_sources(ctx, 1, n, rcoef, prev[RTRL_S_Y]);
    macs += mbar_bias_thr(ctx, prev, nact);
    ctx->counters.macs += macs;
}
