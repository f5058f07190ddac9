/*
 * fault.c - crash on purpose, to test the fault path: prints
 *   pyrtrl fault board=<board>: send u (undefined instruction) or b (bus error)
 * then waits for one byte and does that. The fault handler reports on QEMU's stderr
 * (semihosting) and exits with EXIT_FAULT (0x7E). Reaching the end exits with 1.
 */
#include "board.h"
#include "mmio.h"

/* Unmapped under QEMU on every board but lm3s6965evb, whose QEMU model reads 0 from
 * unmapped addresses (use "u" there). Cortex-M: first word above the private peripheral
 * bus. (0xF0000000 does not fault on QEMU's microbit: its nRF51 maps a region there.) */
#define BAD_ADDRESS 0xE0100000u

int main(void)
{
    uart_puts("pyrtrl fault board=" BOARD_NAME ": send u (undefined instruction) or b (bus error)\n");
    for (;;) {
        const uint8_t c = uart_getc();
        if (c == 'u') {
#if defined(__riscv)
            __asm__ volatile("unimp");
#else
            __asm__ volatile("udf #0");
#endif
            break;
        }
        if (c == 'b') {
            (void)REG32(BAD_ADDRESS);
            break;
        }
    }
    uart_puts("no fault happened\n");
    return EXIT_APP_FAILED;
}
