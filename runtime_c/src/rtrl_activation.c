/*
 * rtrl_activation.c - sigmoid and tanh from one table with linear interpolation.
 *
 * Scaling and overflow: input Q16 as int64 (any value), output Q16 in [0, 2^16] (sigmoid)
 * or [-2^16, 2^16] (tanh). |z| >= 12 returns the last table entry. Max error against the
 * real functions: 1.5 LSB (sigmoid), 3.1 LSB (tanh); docs/numerics.md.
 */
#include "rtrl_internal.h"
#include "rtrl_tables.h"

int32_t rtrl_sigmoid(int64_t z)
{
    const int64_t az = z < 0 ? -z : z;
    const int64_t idx = az >> RTRL_SIG_STEP_BITS;
    int32_t s;
    if (idx < RTRL_SIG_ENTRIES - 1) {
        const int32_t lo = (int32_t)rtrl_sigmoid_table[idx] + 32768;
        const int32_t hi = (int32_t)rtrl_sigmoid_table[idx + 1] + 32768;
        /* hi - lo in [0, 2^15] and fr < 2^RTRL_SIG_STEP_BITS (2^11): the product and its
         * rounding fit int32 (on the Cortex-M0 an int64 product is a libgcc call) */
        const int32_t fr = (int32_t)(az & (((int64_t)1 << RTRL_SIG_STEP_BITS) - 1));
        s = lo + (((hi - lo) * fr + (1 << (RTRL_SIG_STEP_BITS - 1u))) >> RTRL_SIG_STEP_BITS);
    } else {
        s = (int32_t)rtrl_sigmoid_table[RTRL_SIG_ENTRIES - 1] + 32768;
    }
    return z >= 0 ? s : RTRL_ONE - s;
}

int32_t rtrl_tanh(int64_t z)
{
    return 2 * rtrl_sigmoid(2 * z) - RTRL_ONE;
}
