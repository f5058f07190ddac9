/*
 * demo_learner.h - a tiny learner (n = 4 hidden units, d = 1 input, k = 1 output, every
 * weight present) trained online on an integer-generated signal. Pure C99 over librtrl:
 * no I/O, so the same file also builds on the host (tests/test_firmware_boot.py compiles it
 * with gcc and expects the very same numbers the devices print).
 */
#ifndef DEMO_LEARNER_H
#define DEMO_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "rtrl.h"

#define DEMO_N 4
#define DEMO_D 1
#define DEMO_K 1
/* Dense patterns: every entry of W (n x d) and R (n x n) for each of the three gates. */
#define DEMO_NNZ_W (3 * DEMO_N * DEMO_D)
#define DEMO_NNZ_R (3 * DEMO_N * DEMO_N)
#define DEMO_NNZ_UNION (DEMO_N * DEMO_N)
/* The learner's buffer, sized at compile time. */
#define DEMO_BUFFER_BYTES \
    RTRL_REQUIRED_BYTES(DEMO_N, DEMO_D, DEMO_K, DEMO_NNZ_W, DEMO_NNZ_R, DEMO_NNZ_UNION)

typedef struct {
    rtrl_counters_t counters;
    uint32_t checksum;  /* FNV-1a over the learned theta, w_o, b_o and the last output */
    int32_t last_out;   /* Q16 */
    int32_t last_loss;  /* Q16 */
} demo_result_t;

/* Initialise the learner and run `steps` learning steps: input s(t), target s(t + 1). */
rtrl_status_t demo_learner_run(uint32_t steps, demo_result_t *result);

/* Sample t of the signal (Q16): a triangle wave of period 24 between -1 and 1 plus small
 * pseudo-random noise (+-1/32), integers only. */
int32_t demo_signal(uint32_t t);

#endif
