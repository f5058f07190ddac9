/*
 * start.c - the C part of reset, shared by every architecture: the arch's reset code
 * (arch/<arch>/) sets up the stack and calls firmware_start().
 */
#include "board.h"

/* From common/link.ld. */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[],
    __stack_top[];

#define STACK_PAINT 0x5AC3A55Au

int main(void);
__attribute__((noreturn)) void firmware_start(void);

__attribute__((weak)) void board_early_init(void)
{
}

void board_init(void)
{
    board_early_init();
    uart_init();
    /* After the UART: on the nRF51 the tick timer also wakes QEMU's main loop, which then
     * notices that the receiver was started (no first-RX stall; docs/qemu-targets.md). */
    ticks_init();
}

/* Paint the free RAM between .bss and (a little below) the current stack pointer, so that
 * board_stack_used() can find the deepest stack word ever written. */
static void paint_stack(void)
{
    volatile uint32_t here = 0;
    uint32_t *const limit = (uint32_t *)((uintptr_t)&here & ~(uintptr_t)3u) - 16;
    for (uint32_t *p = __bss_end; p < limit; )
        *p++ = STACK_PAINT;
}

uint32_t board_stack_used(void)
{
    const uint32_t *p = __bss_end;
    while (p < __stack_top && *p == STACK_PAINT)
        ++p;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

__attribute__((noreturn)) void firmware_start(void)
{
    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; )
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end; )
        *dst++ = 0;
    paint_stack();
    board_init();
    board_exit(main());
}
