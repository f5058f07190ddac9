/*
 * semihost.c - the two semihosting calls the firmware uses: SYS_WRITE0 and
 * SYS_EXIT_EXTENDED (QEMU: -semihosting-config enable=on,target=native).
 *
 * Built with SEMIHOSTING=0 (real boards without a debugger, where the trap instruction
 * would fault), output is dropped and exit sleeps forever.
 */
#include "board.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#if SEMIHOSTING
static uintptr_t semihost_call(uintptr_t op, uintptr_t arg)
{
#if defined(__riscv)
    /* The RISC-V semihosting sequence: three uncompressed instructions, not crossing a page. */
    register uintptr_t a0 __asm__("a0") = op;
    register uintptr_t a1 __asm__("a1") = arg;
    __asm__ volatile(".balign 16\n"
                     ".option push\n"
                     ".option norvc\n"
                     "slli x0, x0, 0x1f\n"
                     "ebreak\n"
                     "srai x0, x0, 7\n"
                     ".option pop\n"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
#else
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#endif
}
#endif

void semihost_puts(const char *s)
{
#if SEMIHOSTING
    (void)semihost_call(SYS_WRITE0, (uintptr_t)s);
#else
    (void)s;
#endif
}

__attribute__((noreturn)) void semihost_exit(uint32_t code)
{
#if SEMIHOSTING
    /* SYS_EXIT_EXTENDED: QEMU exits with `code` (plain SYS_EXIT only knows pass / fail). */
    volatile uintptr_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, code};
    (void)semihost_call(SYS_EXIT_EXTENDED, (uintptr_t)block);
#else
    (void)code;
#endif
    for (;;)
        __asm__ volatile("wfi");
}

__attribute__((noreturn)) void board_exit(int code)
{
    semihost_exit((uint32_t)code);
}
