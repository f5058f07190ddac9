/*
 * rtrl_internal.h - fixed-point helpers and module entry points shared by the sources.
 * Not installed; the public API is rtrl.h.
 */
#ifndef RTRL_INTERNAL_H
#define RTRL_INTERNAL_H

#include "rtrl.h"
#include "rtrl_simd.h"
#include "rtrl_mul.h"

/* The row kernel's vector width (rtrl_influence_rows.c): saved rows are padded with zeros to
 * a multiple of it, so a partial block computes exactly zero in its padding lanes. */
#if defined(RTRL_SIMD_AVX512) && (RTRL_CHUNK == 16 || RTRL_CHUNK == 32)
#define RTRL_ROWS_AVX512 1
#define RTRL_PAD 16
#elif defined(RTRL_SIMD_AVX2) && RTRL_CHUNK % 8 == 0
#define RTRL_ROWS_AVX2 1
#define RTRL_PAD 8
#elif defined(RTRL_SIMD_NEON)
#define RTRL_ROWS_NEON 1
#define RTRL_PAD 4
#else
#define RTRL_PAD 1
#endif

/* "RTR" and the influence width: a context records the build that initialised it, so a
 * library of the other width refuses it instead of reading its M with the wrong stride */
#define RTRL_MAGIC_BASE 0x52545200u
#define RTRL_MAGIC (RTRL_MAGIC_BASE | (uint32_t)RTRL_INFLUENCE_BITS)
#define RTRL_ONE ((int32_t)1 << RTRL_FRAC)
#define RTRL_WONE ((int32_t)1 << RTRL_WFRAC)
#define RTRL_LIM24 ((int64_t)1 << 24)     /* |alpha_r|, |J_ij| bound (Q16: 256.0) */
#define RTRL_LIM_DOUT ((int64_t)1 << 23)  /* |out - target| bound (Q16: 128.0) */
#if RTRL_INFLUENCE_BITS == 32
#define RTRL_M_MIN INT32_MIN
#define RTRL_M_MAX INT32_MAX
#else
#define RTRL_M_MIN INT16_MIN
#define RTRL_M_MAX INT16_MAX
#endif

/* Keeps a helper out of its caller's frame: the phases of a step then need the stack of
 * the deepest one, not of all of them at once (the micro:bit has 1 KiB of stack). */
#if defined(__GNUC__) || defined(__clang__)
#define RTRL_NOINLINE __attribute__((noinline))
#else
#define RTRL_NOINLINE
#endif

/* The other way round, for the few-instruction helpers of the hot loops (rounding, clamps):
 * -Os left rtrl_sat32 as an out-of-line call in rtrl_gradient.c and rtrl_rls.c (~17 k of the
 * Cortex-M4's 727 k instructions per default step). */
#if defined(__GNUC__) || defined(__clang__)
#define RTRL_INLINE static inline __attribute__((always_inline))
#else
#define RTRL_INLINE static inline
#endif

/* Cores without a 32 x 32 -> 64 multiply (Cortex-M0/M0+/M23) call libgcc's __aeabi_lmul for
 * every int64 product. With 16-bit M, the products g r (g any int32, r an entry of M) are
 * built from two exact 32-bit multiplies instead, in rtrl_grad_row and the influence row
 * kernels: on by default on those cores (with 16-bit M wherever RTRL_MUL64_COMPOSED is on, so
 * -DRTRL_MUL64_COMPOSED=1 on the host tests both), -DRTRL_GRAD_MUL32=1 forces it (the name
 * is from rtrl_grad_row, which used it first). */
#ifndef RTRL_GRAD_MUL32
#if RTRL_INFLUENCE_BITS == 16 && RTRL_MUL64_COMPOSED
#define RTRL_GRAD_MUL32 1
#else
#define RTRL_GRAD_MUL32 0
#endif
#endif
#if RTRL_GRAD_MUL32 && RTRL_INFLUENCE_BITS != 16
#error "RTRL_GRAD_MUL32 needs 16-bit influence (RTRL_INFLUENCE_BITS=16)"
#endif

/* acc = {H0, L0, H1, L1} += the split sums of the entries [jv, jend) over two columns of the
 * saved rows (rtrl_influence_rows.c's row kernel on those cores; the C on every target, so
 * that the host tests it; on ARMv6-M the Thumb-1 rtrl_split2_m0). */
void rtrl_split2_c(const int32_t *jv, const uint16_t *slot, const rtrl_m_t *base, const int32_t *jend,
                   int32_t acc[4]);

/* The split behind it: g = gh 2^16 + gl with gh = g >> 16 (arithmetic) and 0 <= gl < 2^16,
 * so for |r| <= 2^15, g r = (gh r) 2^16 + gl r with both products exact in int32
 * (|gh r| <= 2^30, |gl r| < 2^31). Split a factor once, multiply it by many r. */
RTRL_INLINE int32_t rtrl_hi16(int32_t g)
{
    return g >> 16;
}

RTRL_INLINE int32_t rtrl_lo16(int32_t g)
{
    return (int32_t)((uint32_t)g & 0xFFFFu);
}

/* g r exactly, from gh = rtrl_hi16(g), gl = rtrl_lo16(g) and |r| <= 2^15 */
RTRL_INLINE int64_t rtrl_mul_split(int32_t gh, int32_t gl, int32_t r)
{
    return (int64_t)(gh * r) * 65536 + (int64_t)(gl * r);
}

enum { RTRL_S_C, RTRL_S_H, RTRL_S_Y, RTRL_S_PSI, RTRL_S_A, RTRL_S_COUNT };

/* RTRL_OK for a context this build initialised. */
static inline rtrl_status_t rtrl_check_ctx(const rtrl_t *ctx)
{
    if (ctx->magic == RTRL_MAGIC)
        return RTRL_OK;
    return (ctx->magic & 0xFFFFFF00u) == RTRL_MAGIC_BASE ? RTRL_ERR_WIDTH : RTRL_ERR_NOT_INITIALISED;
}

/* The rounding rule: shift right by s >= 1 bits, round half up (arithmetic shift).
 * Scaling and overflow: exact for any int64 x with x + 2^(s-1) representable. */
RTRL_INLINE int64_t rtrl_rnd(int64_t x, unsigned s)
{
    return (x + ((int64_t)1 << (s - 1u))) >> s;
}

/* Clamp to [lo, hi], counting a clamp. */
RTRL_INLINE int64_t rtrl_clamp(int64_t x, int64_t lo, int64_t hi, uint64_t *sat)
{
    if (x < lo) {
        ++*sat;
        return lo;
    }
    if (x > hi) {
        ++*sat;
        return hi;
    }
    return x;
}

RTRL_INLINE int32_t rtrl_sat32(int64_t x, uint64_t *sat)
{
    return (int32_t)rtrl_clamp(x, INT32_MIN, INT32_MAX, sat);
}

RTRL_INLINE rtrl_m_t rtrl_sat_m(int64_t x, uint64_t *sat)
{
    return (rtrl_m_t)rtrl_clamp(x, RTRL_M_MIN, RTRL_M_MAX, sat);
}

/* w - rnd(lr g, 24) saturated (counted): the SGD step of a parameter (rtrl_update.c) and
 * Adam's last step (rtrl_adam.c). */
RTRL_INLINE int32_t rtrl_sgd(int32_t w, int32_t lr, int32_t g, uint64_t *sat)
{
#if RTRL_MUL64_COMPOSED
    /* Cores without a widening multiply: with lr = lh 2^16 + ll and g = gh 2^16 + gl (lh, gh
     * the arithmetic shifts, ll, gl in [0, 2^16)),
     *   R = floor((lr g + 2^23) / 2^16) = lh g + ll gh + 2^7 + ((ll gl) >> 16)
     * exactly (ll gh within int32, ll gl < 2^32), and rnd(lr g, 24) = R >> 8. Where
     * ((|g| >> 15) + 1) ((|lr| >> 16) + 1) <= 2^15 (so |lr g| < 2^46; the product of the two
     * factors stays below 2^32) R is within 2^30 + 2^7 + 1 and its value modulo 2^32 (three
     * MULS) is R itself; w - R >> 8 is then checked for overflow. Elsewhere the int64
     * expression below decides, saturating and counting. The same integers for every int32
     * w, lr, g (host test: the library with -DRTRL_MUL64_COMPOSED=1). */
    const uint32_t ag = g < 0 ? 0u - (uint32_t)g : (uint32_t)g, al = lr < 0 ? 0u - (uint32_t)lr : (uint32_t)lr;
    if (((ag >> 15) + 1u) * ((al >> 16) + 1u) <= (1u << 15)) {
        const uint32_t ll = (uint32_t)lr & 0xFFFFu;
        const uint32_t R = (uint32_t)(lr >> 16) * (uint32_t)g + (uint32_t)((int32_t)ll * (g >> 16)) + 0x80u +
                           ((ll * ((uint32_t)g & 0xFFFFu)) >> 16);
        const int32_t r = (int32_t)R >> 8;
        const int32_t v = (int32_t)((uint32_t)w - (uint32_t)r);
        if (((w ^ r) & (w ^ v)) >= 0) /* w - r did not overflow */
            return v;
    }
#endif
    return rtrl_sat32((int64_t)w - rtrl_rnd(rtrl_mul64(lr, g), RTRL_WFRAC), sat);
}

/* Activations (rtrl_activation.c). Input Q16 (any int64), output Q16. */
int32_t rtrl_sigmoid(int64_t z);
int32_t rtrl_tanh(int64_t z);

/* Step phases, in order (rtrl_forward.c, rtrl_influence.c, rtrl_gradient.c,
 * rtrl_update.c). They trust their arguments: rtrl_step validates. */
void rtrl_forward(rtrl_t *ctx, const int32_t *x);
void rtrl_influence(rtrl_t *ctx, const int32_t *x);
int32_t rtrl_gradient(rtrl_t *ctx, const int32_t *target, int32_t label);
void rtrl_update(rtrl_t *ctx);

/* Learning off (lr_q == 0): the readout of the step just run forward and its loss, with
 * nothing accumulated (rtrl_gradient.c). */
int32_t rtrl_evaluate(rtrl_t *ctx, const int32_t *target, int32_t label);

/* The readout of state bank `now`: z = [y or c, taps from ring position tap_off, 1.0] and
 * out = W_o z + b_o (rtrl_gradient.c). */
void rtrl_readout(rtrl_t *ctx, int32_t *const *now, uint32_t tap_off);

/* With a delay: advance the forecast state on x with the current weights; ctx->out holds
 * its readout (rtrl_forecast.c). */
void rtrl_forecast(rtrl_t *ctx, const int32_t *x);

/* RLS readout (rtrl_rls.c): P = p0 I; one step on ctx->z with the clamped errors e (k,
 * Q16), updating w_o and b_o. */
void rtrl_rls_reset(rtrl_t *ctx);
void rtrl_rls_update(rtrl_t *ctx, const int32_t *e);

/* Adam (rtrl_adam.c): zero moments and powers; advance the powers and set ctx->adam_lr
 * (once per update); one parameter's new value from its clipped summed gradient g. */
void rtrl_adam_reset(rtrl_t *ctx);
void rtrl_adam_rate(rtrl_t *ctx);
int32_t rtrl_adam_param(rtrl_t *ctx, uint32_t i, int32_t w, int64_t g);

/* One row of one chunk of w <= RTRL_CHUNK columns of M:
 *   row <- sat(rnd((own ? d row : 0) + sum_e jv[e] saved[slot[e]], 16)) over e < ne,
 * saved holding the chunk of source slot s at s * RTRL_CHUNK. *nz becomes nonzero when an
 * entry of the result is. Returns the saturated entries (rtrl_influence_rows.c). */
uint32_t rtrl_row_update(rtrl_m_t *row, uint32_t w, int32_t d, int own, const int32_t *jv,
                         const uint16_t *slot, uint16_t ne, const rtrl_m_t *saved, uint32_t *nz);

#if RTRL_GRAD_MUL32
/* The same row update in 32-bit accumulators (rtrl_influence_rows.c; cores without a
 * widening multiply, 16-bit M), for rows where rtrl_row_split_ok: |d| <= 2^24 (as J) and
 * at most 255 terms. rtrl_row_update takes it there; the influence update calls it
 * directly. */
uint32_t rtrl_row_split(rtrl_m_t *row, uint32_t w, int32_t d, int own, const int32_t *jv, const uint16_t *slot,
                        uint16_t ne, const rtrl_m_t *saved, uint32_t *nz);
RTRL_INLINE int rtrl_row_split_ok(int32_t d, int own, uint16_t ne)
{
    return (uint32_t)d + (1u << 24) <= (1u << 25) && (uint32_t)ne + (own != 0) <= 255u;
}
#endif

/* Vector builds with a whole-chunk kernel (AVX2, chunks of up to 32 columns): every row of
 * todo over the columns [off, off + kw) of M at once, each row as rtrl_row_update would,
 * from its full list (lval and jslot from jrow[i] to jrow[i + 1]: the J entries of all nact
 * active sources, jslot = the source's position in act) and the map cursor[q] = the saved
 * slot of source q, or RTRL_ABSENT where its row of the chunk is zero (a zero row is
 * multiplied there: exact, not counted). own = the row's bit in flags; rows with a nonzero
 * result set their bit in fresh; *done grows by cw (own + counted entries) per row. The
 * saved rows are padded with zeros to a multiple of RTRL_PAD. Returns the saturated
 * entries (rtrl_influence_rows.c). One call per chunk instead of one per row. */
#if defined(RTRL_ROWS_AVX2) && RTRL_CHUNK <= 32
#define RTRL_HAVE_CHUNK_ROWS 1
uint32_t rtrl_chunk_rows(const rtrl_t *ctx, size_t off, uint32_t kw, uint32_t cw, uint16_t nact,
                         const uint32_t *todo, const uint32_t *flags, uint32_t *fresh, uint64_t *done);
#endif

/* grad[c] <- sat32(grad[c] + rnd(g row[c], RTRL_MFRAC - 8)) for c < L (a row of M into the
 * Q24 gradient). Returns the saturated entries (rtrl_gradient.c). */
uint64_t rtrl_grad_row(int32_t *grad, const rtrl_m_t *row, int32_t g, uint16_t L);

/* Segment (postsynaptic unit) of cell parameter p (theta order; layout in rtrl.h). */
static inline uint16_t rtrl_seg_of(const rtrl_t *ctx, uint16_t p)
{
    if (p >= ctx->off_thr)
        return (uint16_t)(p - ctx->off_thr);
    if (p >= ctx->off_b)
        return (uint16_t)((p - ctx->off_b) % ctx->cfg.n);
    for (int g = 2; g >= 0; --g)
        if (p >= ctx->off_r[g])
            return ctx->model.r_rowidx[g][p - ctx->off_r[g]];
    for (int g = 2; g >= 0; --g)
        if (p >= ctx->off_w[g])
            return ctx->model.w_rowidx[g][p - ctx->off_w[g]];
    return 0; /* not reached: off_w[0] = 0 */
}

/* Column of parameter p in segment seg, bringing it alive (zero) at the segment's next free
 * column if it was dead. */
RTRL_INLINE uint16_t rtrl_col_alive(rtrl_t *ctx, uint16_t p, uint16_t seg)
{
    if (ctx->col_of[p] == RTRL_ABSENT) {
        ctx->col_of[p] = (uint16_t)(ctx->seg_off[seg] + ctx->seg_live[seg]++);
        ++ctx->live;
    }
    return ctx->col_of[p];
}

/* The row flags of segment s: bit i set when row i of the segment may be nonzero (clear:
 * exactly zero). */
RTRL_INLINE uint32_t *rtrl_nz(const rtrl_t *ctx, uint16_t s)
{
    return ctx->nzm + (size_t)s * RTRL_NZ_WORDS(ctx->cfg.n);
}

RTRL_INLINE int rtrl_nz_get(const uint32_t *flags, uint16_t i)
{
    return (int)((flags[i >> 5] >> (i & 31u)) & 1u);
}

RTRL_INLINE void rtrl_nz_set(uint32_t *flags, uint16_t i)
{
    flags[i >> 5] |= (uint32_t)1 << (i & 31u);
}

#endif /* RTRL_INTERNAL_H */
