/*
 * trap.c - RV32 trap report and the cycle counter.
 */
#include "board.h"

void trap_report(uint32_t mcause, uint32_t mepc, uint32_t mtval);

static char *put_hex(char *p, uint32_t v)
{
    *p++ = '0';
    *p++ = 'x';
    for (int shift = 28; shift >= 0; shift -= 4)
        *p++ = "0123456789abcdef"[(v >> shift) & 0xFu];
    return p;
}

static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

/* One line on QEMU's stderr (semihosting), then exit: EXIT_UNEXPECTED_IRQ for an interrupt
 * (mcause bit 31), EXIT_FAULT for an exception. */
void trap_report(uint32_t mcause, uint32_t mepc, uint32_t mtval)
{
    const int irq = (mcause & 0x80000000u) != 0;
    char line[128], *p = line;
    p = put_str(p, irq ? "pyrtrl firmware: unexpected interrupt mcause="
                       : "pyrtrl firmware: fault mcause=");
    p = put_hex(p, mcause);
    p = put_str(p, " mepc=");
    p = put_hex(p, mepc);
    p = put_str(p, " mtval=");
    p = put_hex(p, mtval);
    *p++ = '\n';
    *p = '\0';
    semihost_puts(line);
    board_exit(irq ? EXIT_UNEXPECTED_IRQ : EXIT_FAULT);
}

void ticks_init(void)
{
}

uint32_t board_ticks(void)
{
    uint32_t v;
    __asm__ volatile("csrr %0, mcycle" : "=r"(v));
    return v;
}
