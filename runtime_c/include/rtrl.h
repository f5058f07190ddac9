/*
 * rtrl.h - event-based GRU with sparse exact RTRL and online SGD, in fixed point; the
 * linear readout reads the events y or the state c plus recent inputs (taps), and learns by
 * SGD or by recursive least squares (RLS).
 *
 * The library runs and trains an EGRU inside one buffer the caller provides (no malloc, no
 * stdio, no floating point). Sizes come from rtrl_required_bytes() or, at compile time,
 * RTRL_REQUIRED_BYTES(). Every entry point validates its arguments and returns a status.
 *
 * Numbers (docs/numerics.md): activations, states, inputs, targets and outputs are Q15.16
 * in int32; weights, biases, thresholds and gradient accumulators Q7.24 in int32; the
 * influence matrix Q11.20 in int32 (RTRL_INFLUENCE_BITS = 32) or Q4.11 in int16 (16).
 * One rounding rule everywhere: rnd(x, s) = (x + 2^(s-1)) >> s (round half up), then
 * saturation to the storage type, counted in rtrl_counters_t.saturations.
 *
 * The numpy model pyrtrl.fixed is the executable specification: both agree bit for bit.
 */
#ifndef RTRL_H
#define RTRL_H

#include <stddef.h>
#include <stdint.h>

#include "rtrl_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef RTRL_INFLUENCE_BITS
#define RTRL_INFLUENCE_BITS 32
#endif
#if RTRL_INFLUENCE_BITS == 32
typedef int32_t rtrl_m_t;
#define RTRL_MFRAC 20
#elif RTRL_INFLUENCE_BITS == 16
typedef int16_t rtrl_m_t;
#define RTRL_MFRAC 11
#else
#error "RTRL_INFLUENCE_BITS must be 16 or 32"
#endif

/* Columns of the influence matrix updated together; the scratch holds this many values of
 * every active row. */
#ifndef RTRL_CHUNK
#define RTRL_CHUNK 16
#endif

#define RTRL_FRAC 16 /* Q15.16 activations */
#define RTRL_WFRAC 24 /* Q7.24 weights and gradients */
#define RTRL_MAX_UNITS 255 /* n, d, k; keeps every 64-bit sum exact */
#define RTRL_MAX_PARAMS 65534
#define RTRL_MAX_FEATURES 255 /* readout features n + taps * d; keeps the RLS sums exact */
#define RTRL_MAX_DELAY 255
#define RTRL_SAMPLE_MAX ((int32_t)((1L << 23) - 1)) /* |x|, |target| <= 128.0 */
#define RTRL_ABSENT 0xFFFFu /* "no entry" in union maps; a column not yet alive */

typedef enum {
    RTRL_OK = 0,
    RTRL_ERR_NULL = 1,            /* a required pointer is NULL */
    RTRL_ERR_CONFIG = 2,          /* sizes or hyperparameters out of range */
    RTRL_ERR_MODEL = 3,           /* patterns inconsistent with the configuration */
    RTRL_ERR_BUFFER_TOO_SMALL = 4,/* *needed tells how many bytes */
    RTRL_ERR_ALIGNMENT = 5,       /* buffer not 8-byte aligned */
    RTRL_ERR_RANGE = 6,           /* a sample or target outside +-RTRL_SAMPLE_MAX, or a
                                     threshold outside [0, 1] */
    RTRL_ERR_NOT_INITIALISED = 7, /* context not (successfully) initialised */
    RTRL_ERR_WIDTH = 8            /* context initialised by a build of the other influence width */
} rtrl_status_t;

/* What the network and its learning look like. */
typedef struct {
    uint16_t n, d, k;        /* hidden units, inputs, outputs (1..255) */
    uint16_t nnz_w[3];       /* stored entries of W_u, W_r, W_g */
    uint16_t nnz_r[3];       /* stored entries of R_u, R_r, R_g */
    uint16_t nnz_union;      /* entries of the union of the three recurrent patterns */
    uint16_t update_every;   /* K >= 1: optimiser step after every K samples with a loss */
    uint8_t dense_mode;      /* 1: exploit no sparsity (same numbers, full cost) */
    uint8_t readout_c;       /* 0: the readout reads the events y; 1: the state c */
    int32_t lr_q;            /* Q24 multiplier of the summed gradient: lr / K (0: learning off) */
    int32_t clip_q;          /* Q24 bound of each summed gradient component (0 = off) */
    int32_t eps_q;           /* Q16 half-width of the pseudo-derivative, > 0 */
    int32_t goe_q;           /* Q16 gamma / eps, >= 0 */
    uint8_t taps;            /* recent inputs the readout also reads (n + taps*d <= 255) */
    uint8_t readout_rls;     /* 0: the readout learns by SGD; 1: by RLS (squared error only) */
    uint8_t freeze_cell;     /* 1: only the readout learns (no influence matrix is updated) */
    uint8_t reserved;        /* 0 */
    int32_t rls_lam_q;       /* RLS forgetting factor, Q16, in [0.9, 1] */
    int32_t rls_isl_q;       /* lam^-1/2, Q30 */
    int32_t rls_p0_q;        /* initial P = p0 I; features whose P_ii is below it forget; Q28, (0, 4] */
    uint32_t delay;          /* D = forecast horizon - 1, 0..RTRL_MAX_DELAY (see rtrl_step) */
    uint8_t adam;            /* 0: SGD; 1: Adam on the gradient-learned parameters (rtrl_adam.c) */
    uint8_t adam_a;          /* beta1 = 1 - 2^-a, 0..16 (0: beta1 = 0, no momentum) */
    uint8_t adam_b;          /* beta2 = 1 - 2^-b, 1..16 */
    uint8_t reserved2;       /* 0 */
    uint32_t adam_eps2_q;    /* floor of the second moment: eps^2 in Q48, >= 256 */
} rtrl_config_t;
/* Every field added after goe_q is zero in a configuration written for an older version,
 * and zero means what that version did: events readout, no taps, SGD, all trained. */

/* The model: patterns (compressed by columns) and initial parameters. The arrays may live
 * in flash; rtrl_init copies the parameters into the buffer, patterns are referenced. */
typedef struct {
    const uint16_t *w_colptr[3]; /* d + 1 each */
    const uint16_t *w_rowidx[3]; /* nnz_w[g] each */
    const uint16_t *r_colptr[3]; /* n + 1 each */
    const uint16_t *r_rowidx[3]; /* nnz_r[g] each */
    const uint16_t *u_colptr;    /* union pattern, n + 1 */
    const uint16_t *u_rowidx;    /* nnz_union */
    const uint16_t *u_map[3];    /* per union entry its index in gate g, or RTRL_ABSENT;
                                    all NULL when the three gates share one pattern */
    const int32_t *theta;        /* P cell parameters, Q24, in influence-column order:
                                    W_u W_r W_g R_u R_r R_g (CSC order) b_u b_r b_g b_rg thr */
    const int32_t *w_o;          /* k x (n + taps * d), row-major, Q24: the state source's
                                    columns, then the taps' (newest input first) */
    const int32_t *b_o;          /* k, Q24 */
} rtrl_model_t;

typedef struct {
    uint32_t steps;
    uint32_t updates;
    uint64_t events;       /* units that emitted an event, summed over steps */
    uint64_t active_cols;  /* active Jacobian columns (a_{t-1} != 0), summed over steps */
    uint64_t macs;         /* multiply-accumulates, cost model of docs/rtrl.md */
    uint64_t saturations;  /* values clamped to their type or documented limit */
    uint64_t products;     /* of macs, the products performed: macs = products + skipped */
    uint64_t skipped;      /* of macs, the products with a zero block of M, not performed */
} rtrl_counters_t;

/* Layout of the influence matrix M (n rows, leading dimension P): by postsynaptic unit.
 * Segment i (unit i) reserves the columns [seg_off[i], seg_off[i + 1]) for the parameters
 * whose Mbar entry lies in row i: W_u/W_r/W_g[i, :], R_u/R_r/R_g[i, :], b_u/b_r/b_g/b_rg[i]
 * and thr_i. A column is exactly zero until its parameter's first nonzero Mbar source
 * (W[:, k]: input k nonzero; R[:, k]: unit k fired; biases: the first step; thr_j: unit j
 * fired or came within eps); it then comes alive at the next free column of its segment
 * (col_of[p] = its column, RTRL_ABSENT while dead), so segment i's live columns are
 * [seg_off[i], seg_off[i] + seg_live[i]). Every column of segment i reaches only the rows
 * reachable from unit i, so a (row, segment) pair is often zero as a whole: a flag per pair
 * (nzm) says whether it may be nonzero, and the influence update and the gradient skip the
 * pairs whose flag is clear (docs/rtrl.md, "Skipped blocks"). */
#define RTRL_NZ_WORDS(n) (((size_t)(n) + 31u) / 32u) /* uint32 words of one segment's row flags */

/* Read-only view of the learner's arrays (for host tests, telemetry and weight dumps). */
typedef struct {
    const int32_t *theta, *w_o, *b_o;
    const int32_t *c, *h, *y, *psi, *a; /* current state, n each; events are y != 0 */
    const rtrl_m_t *M;       /* n rows, leading dimension P, first `live` columns used */
    const uint16_t *col_of;  /* P entries: column of M of each cell parameter (theta order),
                                RTRL_ABSENT while dead; see above */
    const int32_t *grad;     /* accumulated cell gradient by column of M */
    const int32_t *grad_thr; /* threshold immediate gradient, n */
    const int32_t *grad_wo, *grad_bo;
    uint16_t P, live;        /* live: columns alive (in all segments) */
    uint16_t features;       /* columns of w_o: n + taps * d */
    const int32_t *rls_p;    /* RLS P, (features + 1)^2 row-major Q28, or NULL */
} rtrl_view_t;

/* The learner. Treat the fields as private; it is visible so callers can allocate it. */
typedef struct {
    uint32_t magic;
    rtrl_config_t cfg;
    rtrl_model_t model;
    uint16_t P, live, since_update;
    uint16_t off_w[3], off_r[3], off_b, off_thr;
    int32_t *theta, *w_o, *b_o;
    int32_t *st[2][5];       /* two banks of c, h, y, psi, a (current / previous) */
    uint8_t bank;
    int32_t *u, *r, *g, *qv, *alpha_u, *alpha_r, *alpha_g, *beta_g, *dvec, *dy, *ga;
    int64_t *acc;            /* n forward accumulators */
    int32_t *out, *dout;
    rtrl_m_t *M;
    uint16_t *col_of, *seg_off, *seg_live; /* layout of M (see above): P, n + 1, n */
    uint16_t *act, *cursor, *jrow, *jslot, *srcs;
    uint32_t *nzm;           /* row flags per segment: n x RTRL_NZ_WORDS(n), then the influence
                                update's 5 unit masks (in the buffer, not on the stack) */
    int32_t *jval, *aval;    /* J and A by union entry (this step's active columns) */
    int32_t *lval;           /* one segment's J entries with a nonzero source, by rows */
    int32_t *grad, *grad_thr, *grad_wo, *grad_bo;
    uint16_t m;              /* readout features: n + taps * d */
    int32_t *taps_ring;      /* recent inputs, newest first: RTRL_RING(taps, d, delay) values */
    int32_t *fst[2][5];      /* with a delay: two banks of the forecast state */
    uint8_t fbank;
    uint32_t seen;           /* samples received since the last reset (saturating) */
    int32_t *z;              /* the readout's input [y or c, taps, 1.0] (m + 1) */
    int32_t *rls_p, *rls_pz, *rls_gain; /* RLS: (m+1)^2, m+1, m+1; NULL without RLS */
    int64_t *adam_v;         /* Adam: second moments (Q48) and first moments (Q24) of the */
    int32_t *adam_m;         /* cell's P parameters, then W_o and b_o (SGD readout); NULL with SGD */
    uint32_t adam_pw1, adam_pw2; /* beta1^t, beta2^t, Q30 */
    int32_t adam_lr;         /* this update's rate with the bias correction, Q24 */
    rtrl_m_t *saved;         /* n x RTRL_CHUNK */
    rtrl_counters_t counters;
} rtrl_t;

/* Bytes of buffer needed (8-byte aligned start). Exact; equal to RTRL_REQUIRED_BYTES_OPT
 * (m = n + taps * d readout features; rls = 1 with an RLS readout; delay D = horizon - 1;
 * adam = 1 with Adam), RTRL_REQUIRED_BYTES_H (SGD), RTRL_REQUIRED_BYTES_RO (SGD, D = 0), or
 * RTRL_REQUIRED_BYTES for the events readout without taps, with SGD and D = 0. */
#define RTRL_ALIGN8(x) ((((size_t)(x)) + 7u) & ~(size_t)7u)
#define RTRL_PARAMS(n, nnzw_total, nnzr_total) ((size_t)(nnzw_total) + (nnzr_total) + 5u * (n))
/* input ring: the readout's taps, and with a delay the D older inputs the learning pass runs on */
#define RTRL_RING(taps, d, delay)                                                             \
    ((delay) ? ((size_t)(delay) + ((taps) ? (size_t)(taps) : 1u)) * (d) : (size_t)(taps) * (d))
#define RTRL_REQUIRED_BYTES_H(n, d, k, nnzw_total, nnzr_total, nnz_union, taps, rls, delay)    \
    (RTRL_ALIGN8(8u * (size_t)(n)) /* forward accumulators */                                 \
     + RTRL_ALIGN8(4u * (2u * RTRL_PARAMS(n, nnzw_total, nnzr_total) /* theta, grad */          \
                       + 2u * ((size_t)(k) * ((n) + (size_t)(taps) * (d)) + (k)) /* readout, gradient */ \
                       + 10u * (size_t)(n) /* two state banks */                             \
                       + 12u * (size_t)(n) /* gates, derivatives, dy, ga, grad_thr */        \
                       + 2u * (size_t)(k) /* out, dout */                                    \
                       + 3u * (size_t)(nnz_union) /* J values, A values, row lists */         \
                       + ((size_t)(n) + 5u) * RTRL_NZ_WORDS(n) /* row flags, unit masks */    \
                       + RTRL_RING(taps, d, delay) /* input ring */                          \
                       + ((delay) ? 10u * (size_t)(n) : 0u) /* forecast state banks */       \
                       + ((n) + (size_t)(taps) * (d) + 1u) /* readout input z */             \
                       + ((rls) ? ((n) + (size_t)(taps) * (d) + 1u) *                       \
                                      ((n) + (size_t)(taps) * (d) + 3u) : 0u) /* P, Pz, gain */)) \
     + RTRL_ALIGN8(sizeof(rtrl_m_t) * ((size_t)(n) * RTRL_PARAMS(n, nnzw_total, nnzr_total)  \
                                       + (size_t)(n) * RTRL_CHUNK))                          \
     + RTRL_ALIGN8(2u * (RTRL_PARAMS(n, nnzw_total, nnzr_total) /* col_of */                 \
                         + 2u * (size_t)(n) + 1u /* seg_off, seg_live */                      \
                         + 4u * (size_t)(n) + 1u /* act, cursor, srcs, jrow */                \
                         + (size_t)(nnz_union) /* jslot */)))
/* Adam's moments: 12 bytes for each parameter learned by gradient */
#define RTRL_ADAM_PARAMS(n, d, k, nnzw_total, nnzr_total, taps, rls)                          \
    (RTRL_PARAMS(n, nnzw_total, nnzr_total) + ((rls) ? 0u : (size_t)(k) * ((n) + (size_t)(taps) * (d)) + (k)))
#define RTRL_REQUIRED_BYTES_OPT(n, d, k, nnzw_total, nnzr_total, nnz_union, taps, rls, delay, adam) \
    (RTRL_REQUIRED_BYTES_H(n, d, k, nnzw_total, nnzr_total, nnz_union, taps, rls, delay)       \
     + ((adam) ? RTRL_ALIGN8(12u * RTRL_ADAM_PARAMS(n, d, k, nnzw_total, nnzr_total, taps, rls)) : 0u))
#define RTRL_REQUIRED_BYTES_RO(n, d, k, nnzw_total, nnzr_total, nnz_union, taps, rls)         \
    RTRL_REQUIRED_BYTES_H(n, d, k, nnzw_total, nnzr_total, nnz_union, taps, rls, 0u)
#define RTRL_REQUIRED_BYTES(n, d, k, nnzw_total, nnzr_total, nnz_union)                       \
    RTRL_REQUIRED_BYTES_RO(n, d, k, nnzw_total, nnzr_total, nnz_union, 0u, 0u)

rtrl_status_t rtrl_required_bytes(const rtrl_config_t *cfg, size_t *bytes);

/* Validate cfg and model, lay out the buffer, copy the parameters, zero the state.
 * On RTRL_ERR_BUFFER_TOO_SMALL, *needed (if not NULL) holds the bytes required. */
rtrl_status_t rtrl_init(rtrl_t *ctx, const rtrl_config_t *cfg, const rtrl_model_t *model,
                        void *buffer, size_t size, size_t *needed);

/* Start a new sequence: zero state, influence matrix and pending gradients; keep weights. */
rtrl_status_t rtrl_reset_state(rtrl_t *ctx);

/* One learning step: x (d, Q16), target (k, Q16); out (k, Q16) and loss (Q16, 0.5*sum of
 * squared errors) may be NULL. A sample out of range changes nothing.
 *
 * Horizon H = delay + 1. With delay 0, target is this step's (out is scored against it;
 * for forecasting H = 1 it is the next sample). With delay D > 0, exact RTRL needs the
 * influence matrix of the step a target belongs to, so learning runs D steps behind the
 * stream: the call first advances a forward-only forecast state on x with the current
 * weights (out = its readout, the forecast H steps ahead), then, once D samples have
 * passed, runs the learning step on the input D steps back with target (for forecasting:
 * the next sample, i.e. the target of that input H steps ahead). loss is the learning
 * step's. Cost: one extra forward pass and readout per step, 10n + D*d words of RAM;
 * keeping D influence matrices instead would cost D times the largest buffer.  With an RLS readout
 * the readout's weights change at every step with a target (its P restarts at p0 I on
 * rtrl_init and rtrl_reset_state); the cell follows update_every. */
rtrl_status_t rtrl_step(rtrl_t *ctx, const int32_t *x, const int32_t *target, int32_t *out,
                        int32_t *loss);

/* A learning step with squared error on target (may be NULL: none) plus softmax
 * cross-entropy on label (-1: none; else 0 <= label < k). loss (Q16) is their sum. A label
 * with an RLS readout is RTRL_ERR_CONFIG (RLS learns squared error), changing nothing. */
rtrl_status_t rtrl_step_labelled(rtrl_t *ctx, const int32_t *x, const int32_t *target,
                                 int32_t label, int32_t *out, int32_t *loss);

/* `steps` learning steps over row-major x (steps x d) and target (steps x k); out
 * (steps x k) and loss (steps) may be NULL. Stops at the first bad sample: *done (if not
 * NULL) says how many steps ran. */
rtrl_status_t rtrl_run(rtrl_t *ctx, uint32_t steps, const int32_t *x, const int32_t *target,
                       int32_t *out, int32_t *loss, uint32_t *done);

/* rtrl_run with optional losses and records: target (steps x k) may be NULL (no squared
 * error), labels (steps; -1 = none) may be NULL (no cross-entropy), and events (steps) may
 * be NULL or receives each step's number of events. */
rtrl_status_t rtrl_run_record(rtrl_t *ctx, uint32_t steps, const int32_t *x,
                              const int32_t *target, const int16_t *labels, int32_t *out,
                              int32_t *loss, uint16_t *events, uint32_t *done);

/* Change the learning rate (lr_q >= 0, as cfg->lr_q). lr_q = 0 switches learning off
 * (evaluation, inference): each step then runs the forward pass and the readout (out and
 * loss as usual, targets and labels only scored) and changes nothing else: not the weights,
 * the influence matrix, the pending gradients, the RLS readout or the optimiser's state.
 * The state advances, so the influence matrix is not that of the current state afterwards:
 * call rtrl_reset_state before learning again for exact gradients (a new sequence).
 * Whether learning or not, a step with neither target nor label does not count towards
 * update_every: no weight or optimiser moment moves because of it. */
rtrl_status_t rtrl_set_learning_rate(rtrl_t *ctx, int32_t lr_q);

/* Replace the weights (theta: P values, w_o: k x features, b_o: k; Q24, layout of rtrl_model_t),
 * e.g. to resume from a checkpoint. Thresholds must lie in [0, 1] (else RTRL_ERR_RANGE and
 * nothing changes). State and influence matrix are kept; call rtrl_reset_state to restart. */
rtrl_status_t rtrl_load_weights(rtrl_t *ctx, const int32_t *theta, const int32_t *w_o,
                                const int32_t *b_o);

/* Receive a weights image in pieces without extra RAM (firmware LOAD): the image (the bytes
 * of theta, w_o, b_o as int32 little-endian, in that order) is staged in the gradient
 * accumulators, so staging discards the pending gradient. rtrl_stage_weights copies len
 * bytes at byte offset (RTRL_ERR_RANGE past the image); rtrl_commit_weights checks the
 * thresholds and replaces the weights (RTRL_ERR_RANGE: nothing changes). Either way the
 * staging area is zeroed again. Assumes a little-endian core (all supported targets). */
rtrl_status_t rtrl_stage_weights(rtrl_t *ctx, uint32_t offset, const uint8_t *data, uint32_t len);
rtrl_status_t rtrl_commit_weights(rtrl_t *ctx);
uint32_t rtrl_weights_image_bytes(const rtrl_t *ctx);
rtrl_status_t rtrl_get_counters(const rtrl_t *ctx, rtrl_counters_t *counters);
rtrl_status_t rtrl_get_view(const rtrl_t *ctx, rtrl_view_t *view);

/* A short constant description of a status ("" when compiled with RTRL_NO_ERROR_STRINGS). */
const char *rtrl_status_str(rtrl_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* RTRL_H */
