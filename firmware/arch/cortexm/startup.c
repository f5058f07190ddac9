/*
 * startup.c - Cortex-M (ARMv6-M, ARMv7-M, ARMv8-M mainline) reset, vector table and fault
 * handlers. The core loads the stack pointer and the reset address from the vector table
 * at address 0 (flash), so the reset handler can be C.
 */
#include "board.h"
#include "mmio.h"

extern uint32_t __stack_top[], __data_start[]; /* common/link.ld */

__attribute__((noreturn)) void firmware_start(void);
__attribute__((noreturn)) void reset_handler(void);
void fault_handler(void);
void fault_report(const uint32_t *frame, uint32_t exc_return);
void default_handler(void);
void systick_handler(void);

__attribute__((noreturn)) void reset_handler(void)
{
    firmware_start();
}

/* Exceptions 2..15, then IRQs. The firmware enables no peripheral interrupt, so 32 IRQ
 * slots are enough on every board: all point at default_handler. */
#define IRQ_SLOTS 32
typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t vector_table[16 + IRQ_SLOTS] = {
    (vector_t)(uintptr_t)__stack_top, /* 0: initial main stack pointer */
    reset_handler,                    /* 1: reset */
    default_handler,                  /* 2: NMI */
    fault_handler,                    /* 3: HardFault */
    fault_handler,                    /* 4: MemManage (v7-M, v8-M) */
    fault_handler,                    /* 5: BusFault */
    fault_handler,                    /* 6: UsageFault */
    fault_handler,                    /* 7: SecureFault (v8-M with TrustZone) */
    0, 0, 0,                          /* 8-10: reserved */
    default_handler,                  /* 11: SVCall */
    default_handler,                  /* 12: DebugMonitor */
    0,                                /* 13: reserved */
    default_handler,                  /* 14: PendSV */
    systick_handler,                  /* 15: SysTick */
    /* 16...: IRQs, below */
#define D default_handler
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
#undef D
};

/* Fault entry: pass the stacked exception frame (r0-r3, r12, lr, pc, xpsr) of whichever
 * stack was in use, and EXC_RETURN, to fault_report. Thumb-1 only, so it runs on v6-M. */
__attribute__((naked)) void fault_handler(void)
{
    __asm__ volatile("movs r0, #4\n"
                     "mov r1, lr\n"
                     "tst r0, r1\n"
                     "beq 1f\n"
                     "mrs r0, psp\n"
                     "b 2f\n"
                     "1: mrs r0, msp\n"
                     "2: ldr r2, =fault_report\n"
                     "bx r2\n"
                     ".ltorg\n");
}

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

/* One line on QEMU's stderr (semihosting), then exit EXIT_FAULT. Only reads the frame when
 * it lies in RAM (a stack overflow must not fault again inside the handler). */
void fault_report(const uint32_t *frame, uint32_t exc_return)
{
    char line[160], *p = line;
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    p = put_str(p, "pyrtrl firmware: fault exception=");
    *p++ = (char)('0' + (ipsr & 0x1FFu) / 10u % 10u);
    *p++ = (char)('0' + (ipsr & 0x1FFu) % 10u);
    if ((uintptr_t)frame >= (uintptr_t)__data_start &&
        (uintptr_t)frame + 32u <= (uintptr_t)__stack_top) {
        p = put_str(p, " pc=");
        p = put_hex(p, frame[6]);
        p = put_str(p, " lr=");
        p = put_hex(p, frame[5]);
    }
    p = put_str(p, " exc_return=");
    p = put_hex(p, exc_return);
#if !defined(__ARM_ARCH_6M__)
    p = put_str(p, " cfsr=");
    p = put_hex(p, REG32(0xE000ED28u)); /* configurable fault status */
    p = put_str(p, " hfsr=");
    p = put_hex(p, REG32(0xE000ED2Cu));
    p = put_str(p, " bfar=");
    p = put_hex(p, REG32(0xE000ED38u)); /* bus fault address (valid if cfsr bit 15) */
#endif
    *p++ = '\n';
    *p = '\0';
    semihost_puts(line);
    board_exit(EXIT_FAULT);
}

void default_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    char line[64], *p = put_str(line, "pyrtrl firmware: unexpected exception ");
    p = put_hex(p, ipsr & 0x1FFu);
    *p++ = '\n';
    *p = '\0';
    semihost_puts(line);
    board_exit(EXIT_UNEXPECTED_IRQ);
}
