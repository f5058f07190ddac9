/* rtrl_tables.h - activation, softmax and Adam tables (generated data in rtrl_tables.c). */
#ifndef RTRL_TABLES_H
#define RTRL_TABLES_H

#include <stdint.h>

#define RTRL_SIG_ENTRIES 385
#define RTRL_SIG_STEP_BITS 11 /* table step 1/32 in Q16 */

#define RTRL_EXP_ENTRIES 257
#define RTRL_EXP_STEP_BITS 8 /* 1/256 steps of a Q16 fraction */
#define RTRL_LOG2E_Q 94548 /* log2(e), Q16 */
#define RTRL_LN2_Q 45426 /* ln(2), Q16 */

#define RTRL_RSQ_BITS 10 /* Adam: v's leading bits that index 1 / sqrt */
#define RTRL_RSQ_LO 256 /* first index */
#define RTRL_RSQ_ENTRIES 768
#define RTRL_RSQ_FRAC 19 /* fraction bits of the entries */

extern const uint16_t rtrl_sigmoid_table[RTRL_SIG_ENTRIES];
extern const int32_t rtrl_pow2_table[RTRL_EXP_ENTRIES];
extern const int32_t rtrl_log2_table[RTRL_EXP_ENTRIES];
extern const uint16_t rtrl_rsqrt_table[RTRL_RSQ_ENTRIES];

#endif
