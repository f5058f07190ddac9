/*
 * systick.c - SysTick as a free-running 32-bit cycle counter: the 24-bit down-counter
 * runs on the core clock and its wrap interrupt counts the upper bits.
 */
#include "board.h"
#include "mmio.h"

#define SYST_CSR REG32(0xE000E010u) /* bit0 ENABLE, bit1 TICKINT, bit2 CLKSOURCE (core) */
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_PERIOD 0x01000000u     /* 2^24 ticks per wrap */

static volatile uint32_t wraps;

void systick_handler(void);

void systick_handler(void)
{
    wraps = wraps + 1u;
}

void ticks_init(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_PERIOD - 1u;
    SYST_CVR = 0; /* any write clears it; the counter reloads on the next clock */
    SYST_CSR = 7u;
    /* Until that first reload CVR reads 0, which would look like a full period; wait for it
     * (bounded, in case a model never counts). */
    for (uint32_t spin = 0; SYST_CVR == 0 && spin < 1000000u; ++spin) {
    }
}

uint32_t board_ticks(void)
{
    uint32_t high, low;
    do { /* re-read if the counter wrapped in between */
        high = wraps;
        low = SYST_PERIOD - 1u - SYST_CVR;
    } while (high != wraps);
    return (high << 24) + low;
}
