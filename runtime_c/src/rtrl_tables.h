/* rtrl_tables.h - the sigmoid table (generated data in rtrl_tables.c). */
#ifndef RTRL_TABLES_H
#define RTRL_TABLES_H

#include <stdint.h>

#define RTRL_SIG_ENTRIES 385
#define RTRL_SIG_STEP_BITS 11 /* table step 1/32 in Q16 */

extern const uint16_t rtrl_sigmoid_table[RTRL_SIG_ENTRIES];

#endif
