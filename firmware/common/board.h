/*
 * board.h - what the firmware offers an application, identically on every board.
 *
 * The startup code copies .data, zeroes .bss, calls board_init() (UART, then the tick
 * counter) and then main(); main's return value becomes QEMU's exit status (board_exit).
 * Board facts come from boards/<board>.mk through the Makefile as macros:
 *   BOARD_NAME "..."      BOARD_RAM_BYTES, BOARD_FLASH_BYTES      BOARD_CPU_HZ (the clock
 *   the firmware runs the core at, which is what board_ticks() counts).
 * No floating point anywhere in the firmware.
 */
#ifndef FW_BOARD_H
#define FW_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* ---- exit codes (QEMU's exit status through semihosting SYS_EXIT_EXTENDED) ----------- */
#define EXIT_OK 0               /* main returned 0, or the app asked to stop cleanly */
#define EXIT_APP_FAILED 1       /* the application detected an error (e.g. a library status) */
#define EXIT_UNEXPECTED_IRQ 0x7D /* an interrupt or exception nobody handles (NMI, SVC, IRQ) */
#define EXIT_FAULT 0x7E         /* HardFault / MemManage / BusFault / UsageFault, RISC-V trap */

#define UART_BAUD 115200u

/* ---- board ----------------------------------------------------------------------------- */
/* UART and tick counter; the startup code calls it before main. */
void board_init(void);
/* Board-specific clocks and pins before the UART starts (weak, empty by default;
 * boards/<board>.c overrides it). */
void board_early_init(void);

/* Stop: with SEMIHOSTING=1 (the default, for QEMU) QEMU exits with `code`; with
 * SEMIHOSTING=0 (real boards without a debugger) the core sleeps forever. */
__attribute__((noreturn)) void board_exit(int code);

/* Deepest stack use since reset, in bytes (the startup code paints the free RAM; this
 * finds the lowest word overwritten). A measurement, not a guarantee. */
uint32_t board_stack_used(void);

/* ---- UART (one driver per UART kind, drivers/uart_<kind>.c) -------------------------- */
void uart_init(void);
void uart_putc(uint8_t c);            /* blocks while the transmitter is full */
int uart_poll(void);                  /* the next received byte, or -1 if none */

/* Helpers over uart_putc / uart_poll (common/console.c). */
uint8_t uart_getc(void);              /* blocks until a byte arrives */
void uart_write(const void *data, size_t len);
void uart_puts(const char *s);        /* no newline added */
void uart_put_dec(uint32_t v);
void uart_put_dec64(uint64_t v);
void uart_put_int(int32_t v);
void uart_put_hex(uint32_t v);        /* 0x and 8 digits */

/* ---- tick counter ---------------------------------------------------------------------- */
/* Free-running count of core clock cycles (BOARD_CPU_HZ per second on a real board; under
 * QEMU, host time or, with -icount, executed instructions). Cortex-M: SysTick extended by
 * its wrap interrupt; RISC-V: mcycle. Wraps at 2^32. */
void ticks_init(void);
uint32_t board_ticks(void);

/* ---- semihosting (QEMU's stderr; every call pauses the whole VM: keep off hot paths) ---- */
void semihost_puts(const char *s);
__attribute__((noreturn)) void semihost_exit(uint32_t code);

#endif
