/*
 * rtrl_rls.c - recursive least squares for the readout (specification: pyrtrl.fixed.rls).
 *
 * With z1 = [y or c, taps, 1.0] (ctx->z, m1 = m + 1 values, Q16), the clamped error
 * e = out - target (Q16) and W1 = [w_o | b_o] (Q24):
 *
 *   Pz = P z1;  s = max(z1 . Pz, 0);  g = Pz / (lam + s)
 *   W1 -= e g^T;  P -= g Pz^T (upper triangle, mirrored);  P <- S P S
 *
 * with S_ii = lam^-1/2 where P_ii < p0 and 1 elsewhere: forgetting only along the features
 * whose own variance is below its prior, so P cannot wind up (grow as lam^-t) along a
 * feature the stream does not excite (a silent unit, a constant input), and such a feature
 * does not stop the others from forgetting. Entry factors: 1, lam^-1/2 or
 * lam^-1 = rnd(lam^-1/2 * lam^-1/2, 30), Q30.
 *
 * Scaling and overflow: P is Q3.28 and P_ii <= p0 / lam, so |P_ij| <= p0 / lam <= 4.45, z1 is
 * at most 128.0 and m1 <= 256, so sum_j P_ij z_j (< 2^62) and sum_i z_i Pz_i (Pz int32)
 * are exact in int64; Pz is rounded to Q16, the gain to Q28 (|g_i| <= sqrt(P_ii) / 2 by
 * Cauchy-Schwarz); each product e_q g_i, g_i Pz_j, P_ij / lam is one int64 (< 2^62),
 * rounded once, and every stored value is saturated to int32 (counted). The one division
 * per step is (2^46 + denom / 2) / denom with denom = lam + s >= 0.9 (Q16), both positive.
 * Every product has two int32 factors (1 / denom < 1.2 2^30, lam^-1/2 and lam^-1 < 1.2 2^30,
 * |e| <= 2^23, the rest stored int32), so each is one rtrl_mul64 (rtrl_mul.h): a widening
 * multiply, or on the Cortex-M0 the composed one instead of libgcc's 64 x 64 __aeabi_lmul.
 * Cores without a widening multiply (RTRL_MUL64_COMPOSED) take faster routes to the same
 * integers: P z1 by rtrl_dot_split (split accumulators; |z| <= 2^23, checked), and the
 * triangle row by row in two passes (P -= g Pz^T from three 32-bit multiplies per entry,
 * then the forgetting from four, by runs of equal flags), each guarded by its range
 * conditions with the exact int64 expressions as the fallback (see tri_row).
 */
#include "rtrl_internal.h"

#define PFRAC 28u
#define LFRAC 30u

void rtrl_rls_reset(rtrl_t *ctx)
{
    const uint32_t m1 = ctx->m + 1u;
    for (uint32_t i = 0; i < m1; ++i)
        for (uint32_t j = 0; j < m1; ++j)
            ctx->rls_p[i * m1 + j] = i == j ? ctx->cfg.rls_p0_q : 0;
}

/* Pz = P z1 and the gain g; returns the saturations. */
static RTRL_NOINLINE uint64_t gain(rtrl_t *ctx, uint32_t m1)
{
    uint64_t nsat = 0;
    const int32_t *z = ctx->z;
#if RTRL_MUL64_COMPOSED
    uint32_t zin = 1; /* every |z_j| <= 2^23 (the inputs' range): rtrl_dot_split's condition */
    for (uint32_t j = 0; j < m1; ++j)
        zin &= (uint32_t)z[j] + (1u << 23) <= (1u << 24);
#endif
    for (uint32_t i = 0; i < m1; ++i) {
        const int32_t *row = ctx->rls_p + i * m1;
        int64_t acc = 0;
#if RTRL_MUL64_COMPOSED
        if (zin)
            acc = rtrl_dot_split(row, z, m1);
        else
#endif
            for (uint32_t j = 0; j < m1; ++j)
                acc += rtrl_mul64(row[j], z[j]);
        ctx->rls_pz[i] = rtrl_sat32(rtrl_rnd(acc, PFRAC), &nsat);
    }
    int64_t s = 0;
    for (uint32_t i = 0; i < m1; ++i)
        s += rtrl_mul64(z[i], ctx->rls_pz[i]);
    s = rtrl_rnd(s, RTRL_FRAC);
    const int64_t denom = (int64_t)ctx->cfg.rls_lam_q + (s > 0 ? s : 0);
    /* Q30 of 1 / denom: denom >= lam >= 58982 (rtrl_init), so inv < 1.2e9 fits int32 */
    const int32_t inv = (int32_t)((((int64_t)1 << 46) + (denom >> 1)) / denom);
    for (uint32_t i = 0; i < m1; ++i)
        ctx->rls_gain[i] = rtrl_sat32(rtrl_rnd(rtrl_mul64(ctx->rls_pz[i], inv), 46u - PFRAC), &nsat);
    return nsat;
}

/* One entry of P -= g Pz^T: P_ij - g_i Pz_j.
 * Scaling and overflow: Q28 x Q16 in one int64 (< 2^62), rounded once to Q28, saturated to
 * int32 (counted). */
static inline int32_t p_minus_exact(int32_t p, int32_t gi, int32_t pzj, uint64_t *sat)
{
    return rtrl_sat32((int64_t)p - rtrl_rnd(rtrl_mul64(gi, pzj), RTRL_FRAC), sat);
}

/* The forgetting of one entry of P: v f with f = lam^-1/2 or lam^-1 (Q30).
 * Scaling and overflow: Q28 x Q30 in one int64 (< 2^62), rounded once to Q28, saturated to
 * int32 (counted). */
static inline int32_t p_scale_exact(int32_t v, int32_t f, uint64_t *sat)
{
    return rtrl_sat32(rtrl_rnd(rtrl_mul64(v, f), LFRAC), sat);
}

#if RTRL_MUL64_COMPOSED
/* Cores without a widening multiply (rtrl_mul.h): the two entry operations out of line,
 * each one call per entry with its operands in registers, from the 16-bit halves of the
 * product as rtrl_mul.c composes it (a = a1 2^16 + a0, b = b1 2^16 + b0; the bounds there)
 * with the rounding half added on the way, so that rnd(a b, s) = (a b + 2^(s-1)) >> s is
 * read off the words: hi 2^32 + (w1 mod 2^16) 2^16 + (w0 mod 2^16) = a b + c.
 * Where the rounded product or the result leaves int32 (never in practice: P is bounded),
 * the exact int64 expression above decides, saturating and counting as it does.
 * Scaling and overflow: the same integers as p_minus_exact / p_scale_exact for every int32
 * operand (test: the library's results with -DRTRL_MUL64_COMPOSED=1 on the host). */
static RTRL_NOINLINE int32_t p_minus(int32_t p, int32_t a, int32_t b, uint64_t *sat)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0 + 0x8000u; /* c = 2^15 (s = 16): < 2^32 */
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    const int32_t w1 = (int32_t)a0 * b1 + (t & 0xFFFF);
    const int32_t hi = a1 * b1 + (t >> 16) + (w1 >> 16);
    /* (a b + 2^15) >> 16 = hi 2^16 + (w1 mod 2^16): its low word r, high word hi >> 16 */
    const int32_t r = (int32_t)(((uint32_t)hi << 16) | ((uint32_t)w1 & 0xFFFFu));
    if ((hi >> 16) == (r >> 31)) { /* the rounded product fits int32 */
        const int32_t d = (int32_t)((uint32_t)p - (uint32_t)r);
        if (((p ^ r) & (p ^ d)) >= 0) /* p - r did not overflow */
            return d;
    }
    return p_minus_exact(p, a, b, sat);
}

static RTRL_NOINLINE int32_t p_scale(int32_t a, int32_t b, uint64_t *sat)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0;
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    /* c = 2^29 (s = 30) as 2^13 2^16: w1 < 2^31 - 2^15 + 2^13 */
    const int32_t w1 = (int32_t)a0 * b1 + (t & 0xFFFF) + 0x2000;
    const int32_t hi = a1 * b1 + (t >> 16) + (w1 >> 16);
    /* (a b + 2^29) >> 30 = hi 4 + (w1 mod 2^16) >> 14 */
    const int32_t r = (int32_t)(((uint32_t)hi << 2) | (((uint32_t)w1 >> 14) & 3u));
    if ((hi >> 30) == (r >> 31))
        return r;
    return p_scale_exact(a, b, sat);
}

/* The triangle's fast path (rtrl_rls_update), every product from 32-bit multiplies:
 *
 * P_ij - rnd(g_i Pz_j, 16): with g = gh 2^16 + gl and Pz = ph 2^16 + pl (gh, ph the
 * arithmetic shifts by 16, gl, pl in [0, 2^16)), floor((g Pz + 2^15) / 2^16) is exactly
 * gh Pz + gl ph + ((gl pl + 2^15) >> 16) (gl ph within int32, gl pl + 2^15 < 2^32), so its
 * value modulo 2^32 is three MULS and two adds. Where |g_i| |Pz_j| < 2^46 (the caller checks
 * it per row against the largest |Pz_j|) the rounded product is within 2^30 + 1 and that
 * value is the product itself; p minus it is then checked for overflow, and where it
 * overflows the exact expression (p_minus_exact) saturates and counts.
 *
 * rnd(v f, 30) for f = 2^30 + d with 0 <= d < 2^27 (lam^-1/2 and lam^-1 in [2^30, 1.2 2^30),
 * rtrl_init's bounds; the caller checks them) and v in [-2^30, 2^30): it is
 * v + floor((v d + 2^29) / 2^30), and with v = vh 2^16 + vl, d = dh 2^16 + dl,
 *   floor((v d + 2^29) / 2^30) = 4 vh dh + (t >> 14),  t = vh dl + vl dh + 2^13 + (vl dl >> 16)
 * with |vh| <= 2^14, dh < 2^11: |4 vh dh| < 2^27, t in (-2^30, 2^30 + 2^28), the result
 * within (-2^30 - 2^28, 2^30 + 2^28): nothing leaves int32 and nothing saturates. Outside
 * that range of v, p_scale_exact decides.
 * Scaling and overflow: the same integers and saturation counts as p_minus_exact /
 * p_scale_exact for every int32 operand (host test: the library with -DRTRL_MUL64_COMPOSED=1). */
typedef struct {
    int32_t f[2];   /* the factors: [0] lam^-1/2, [1] lam^-1 (Q30) */
    int32_t dh[2];  /* f - 2^30 = dh 2^16 + dl */
    uint32_t dl[2];
} forget_t;

static RTRL_NOINLINE int32_t minus_slow(int32_t p, int32_t gi, int32_t pzj, uint64_t *sat)
{
    return p_minus_exact(p, gi, pzj, sat);
}

static RTRL_NOINLINE int32_t scale_slow(int32_t v, int32_t f, uint64_t *sat)
{
    return p_scale_exact(v, f, sat);
}

RTRL_INLINE int32_t minus_fast(int32_t p, int32_t gh, uint32_t gl, int32_t pzj, int32_t gi, uint64_t *sat)
{
    const uint32_t r = (uint32_t)gh * (uint32_t)pzj + (uint32_t)((int32_t)gl * (pzj >> 16)) +
                       ((gl * ((uint32_t)pzj & 0xFFFFu) + 0x8000u) >> 16);
    const int32_t v = (int32_t)((uint32_t)p - r);
    if (((p ^ (int32_t)r) & (p ^ v)) < 0) /* p - r overflowed */
        return minus_slow(p, gi, pzj, sat);
    return v;
}

/* Pass 1 of the triangle: P_ij -= rnd(g_i Pz_j, 16) for j in [j, m1) of row i. */
static RTRL_NOINLINE void minus_row(int32_t *row, const int32_t *pz, uint32_t j, uint32_t m1, int32_t gi,
                                   uint64_t *sat)
{
    const int32_t gh = gi >> 16;
    const uint32_t gl = (uint32_t)gi & 0xFFFFu;
    int32_t *rp = row + j;
    const int32_t *pp = pz + j, *const end = pz + m1;
    while (pp != end) {
        const int32_t pzj = *pp++, p = *rp;
        const uint32_t r = (uint32_t)gh * (uint32_t)pzj + (uint32_t)((int32_t)gl * (pzj >> 16)) +
                           ((gl * ((uint32_t)pzj & 0xFFFFu) + 0x8000u) >> 16);
        int32_t v = (int32_t)((uint32_t)p - r);
        if (((p ^ (int32_t)r) & (p ^ v)) < 0) /* p - r overflowed */
            v = minus_slow(p, gi, pzj, sat);
        *rp++ = v;
    }
}

/* rnd(v f, 30) for f = 2^30 + dh 2^16 + dl (see above) */
RTRL_INLINE int32_t scale_one(int32_t v, int32_t dh, uint32_t dl, int32_t f, uint64_t *sat)
{
    if ((uint32_t)v + (1u << 30) >= (1u << 31)) /* v outside [-2^30, 2^30) */
        return scale_slow(v, f, sat);
    const int32_t vh = v >> 16;
    const uint32_t vl = (uint32_t)v & 0xFFFFu;
    const int32_t t = vh * (int32_t)dl + (int32_t)(vl * (uint32_t)dh) + 0x2000 + (int32_t)((vl * dl) >> 16);
    return v + vh * dh * 4 + (t >> 14);
}

/* Pass 2: the forgetting of a run of n entries of a row with the same factor fg->f[s] (its
 * halves hoisted), each mirrored down the row's column (col: the first one's mirror). */
static RTRL_NOINLINE void scale_all(int32_t *rp, int32_t *col, uint32_t n, uint32_t m1, uint32_t s,
                                    const forget_t *fg, uint64_t *sat)
{
    const int32_t dh = fg->dh[s], f = fg->f[s];
    const uint32_t dl = fg->dl[s];
    for (int32_t *const end = rp + n; rp != end; ++rp) {
        const int32_t v = scale_one(*rp, dh, dl, f, sat);
        *rp = v;
        *col = v;
        col += m1;
    }
}

/* Index of the lowest set bit of x != 0 (de Bruijn: ARMv6-M has no CLZ/CTZ and libgcc's
 * __ctzsi2 is a call). */
RTRL_INLINE uint32_t ctz32(uint32_t x)
{
    static const uint8_t pos[32] = {0,  1,  28, 2,  29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4,  8,
                                    31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6,  11, 5,  10, 9};
    return pos[((x & (0u - x)) * 0x077CB531u) >> 27];
}

/* Pass 2 without forgetting: n entries of a row mirrored down its column. */
static RTRL_NOINLINE void copy_col(const int32_t *rp, int32_t *col, uint32_t n, uint32_t m1)
{
    for (const int32_t *const end = rp + n; rp != end; ++rp) {
        *col = *rp;
        col += m1;
    }
}

/* Entries j in [j, m1) of row i (g_i = gi, low_i its flag) of the upper triangle, each
 * stored in the row and mirrored down column i (col: entry (j, i)). Returns the entries
 * scaled. */
static RTRL_NOINLINE uint32_t tri_row(int32_t *row, int32_t *col, uint32_t m1, uint32_t j, const int32_t *pz,
                                      int32_t gi, uint32_t low_i, const uint32_t *low, const forget_t *fg,
                                      uint64_t *sat)
{
    uint32_t nscaled = 0;
    minus_row(row, pz, j, m1, gi, sat);
    while (j < m1) {
        const uint32_t jend = (j | 31u) + 1u < m1 ? (j | 31u) + 1u : m1;
        /* runs of equal flags low_j (their lengths from the lowest set bit, ctz32): each
         * run one factor, or none, for all its entries */
        uint32_t bits = low[j >> 5] >> (j & 31u);
        while (j < jend) {
            const uint32_t b = bits & 1u, x = b ? ~bits : bits;
            uint32_t n = x ? ctz32(x) : 32u;
            n = n < jend - j ? n : jend - j;
            const uint32_t s = low_i ? b : (b ? 0u : 2u);
            if (s < 2u) {
                scale_all(row + j, col, n, m1, s, fg, sat);
                nscaled += n;
            } else {
                copy_col(row + j, col, n, m1);
            }
            col += n * m1;
            j += n;
            bits = n < 32u ? bits >> n : 0u;
        }
    }
    return nscaled;
}

#else
#define p_minus p_minus_exact
#define p_scale p_scale_exact
#endif

void rtrl_rls_update(rtrl_t *ctx, const int32_t *e)
{
    const uint32_t m = ctx->m, m1 = m + 1u, k = ctx->cfg.k;
    uint64_t *sat = &ctx->counters.saturations;
    *sat += gain(ctx, m1);
    const int32_t *g = ctx->rls_gain, *pz = ctx->rls_pz;
    for (uint32_t q = 0; q < k; ++q) {
        int32_t *w = ctx->w_o + (size_t)q * m;
        const int32_t eq = e[q];
        for (uint32_t i = 0; i < m; ++i)
            w[i] = rtrl_sat32((int64_t)w[i] - rtrl_rnd(rtrl_mul64(eq, g[i]), RTRL_FRAC + PFRAC - RTRL_WFRAC), sat);
        ctx->b_o[q] = rtrl_sat32((int64_t)ctx->b_o[q] - rtrl_rnd(rtrl_mul64(eq, g[m]), RTRL_FRAC + PFRAC - RTRL_WFRAC),
                                 sat);
    }
    /* P -= g Pz^T and the forgetting P <- S P S in one pass over the upper triangle (the
     * same integers as two passes: each entry's update and its scaling depend only on that
     * entry, g, Pz and the flags): the diagonal first, whose updated values, before any is
     * scaled, say which features forget (low, a bit per feature: m1 <= 256) */
    int32_t *P = ctx->rls_p;
    uint64_t macs = (uint64_t)(m1 * m1 + 2u * m1 + k * m1 + m1 * (m1 + 1u) / 2u);
    /* isl = lam^-1/2 <= 1131823261 (rtrl_init) and il = lam^-1 <= 1.2e9: both fit int32 */
    const int32_t isl = ctx->cfg.rls_isl_q, il = (int32_t)rtrl_rnd(rtrl_mul64(isl, isl), LFRAC);
    const int32_t p0 = ctx->cfg.rls_p0_q;
    uint32_t low[(RTRL_MAX_FEATURES + 32u) / 32u] = {0};
#if RTRL_MUL64_COMPOSED
    /* the fast path's conditions (see tri_row): the factors' offsets d from 2^30, and per
     * row ((|g_i| >> 17) + 1) ((max |Pz_j| >> 15) + 1) <= 2^14, so |g_i Pz_j| < 2^46 */
    forget_t fg;
    int fast = 1;
    fg.f[0] = isl;
    fg.f[1] = il;
    for (int s = 0; s < 2; ++s) {
        const uint32_t d = (uint32_t)fg.f[s] - (1u << 30);
        fast &= d < (1u << 27);
        fg.dh[s] = (int32_t)(d >> 16);
        fg.dl[s] = d & 0xFFFFu;
    }
    uint32_t maxpz = 0;
    for (uint32_t j = 0; j < m1; ++j) {
        const uint32_t a = pz[j] < 0 ? 0u - (uint32_t)pz[j] : (uint32_t)pz[j];
        maxpz = a > maxpz ? a : maxpz;
    }
    const uint32_t pzq = (maxpz >> 15) + 1u;
    /* ((|g| >> 17) + 1) pzq <= (2^14 + 1) (2^16 + 1) < 2^31: no wrap */
#define RTRL_ROW_FAST(GI) \
    (fast && ((((GI) < 0 ? 0u - (uint32_t)(GI) : (uint32_t)(GI)) >> 17) + 1u) * pzq <= (1u << 14))
#endif
    for (uint32_t i = 0; i < m1; ++i) {
#if RTRL_MUL64_COMPOSED
        int32_t v = RTRL_ROW_FAST(g[i]) ? minus_fast(P[i * m1 + i], g[i] >> 16, (uint32_t)g[i] & 0xFFFFu, pz[i], g[i], sat)
                                        : p_minus(P[i * m1 + i], g[i], pz[i], sat);
#else
        int32_t v = p_minus(P[i * m1 + i], g[i], pz[i], sat);
#endif
        if (v < p0) {
            low[i >> 5] |= 1u << (i & 31u);
            v = p_scale(v, il, sat);
            ++macs;
        }
        P[i * m1 + i] = v;
    }
    for (uint32_t i = 0; i + 1u < m1; ++i) {
        const uint32_t low_i = (low[i >> 5] >> (i & 31u)) & 1u;
        const int32_t gi = g[i];
        int32_t *row = P + i * m1;
#if RTRL_MUL64_COMPOSED
        if (RTRL_ROW_FAST(gi)) {
            macs += tri_row(row, row + m1 + i, m1, i + 1u, pz, gi, low_i, low, &fg, sat);
            continue;
        }
#endif
        for (uint32_t j = i + 1u; j < m1; ++j) {
            int32_t v = p_minus(row[j], gi, pz[j], sat);
            const uint32_t low_j = (low[j >> 5] >> (j & 31u)) & 1u;
            if (low_i | low_j) {
                v = p_scale(v, low_i & low_j ? il : isl, sat);
                ++macs;
            }
            row[j] = v;
            P[j * m1 + i] = v;
        }
    }
#undef RTRL_ROW_FAST
    ctx->counters.macs += macs;
}
