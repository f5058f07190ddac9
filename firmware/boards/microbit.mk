# boards/microbit.mk - BBC micro:bit v1: nRF51822 (Cortex-M0), UART0 on P0.24 (TX) / P0.25 (RX),
#   the USB serial of the interface chip. 16 KiB RAM.
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := cortexm
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := cortex-m0
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x00000000
FLASH_BYTES := 262144
RAM_ORIGIN := 0x20000000
RAM_BYTES := 16384
# at least this much RAM must stay free for the stack (checked at link time). 1,280: the
# Cortex-M0 spills the row kernel's four 64-bit accumulators, and with M laid out by
# postsynaptic unit (zero blocks skipped) the learner's deepest stack is ~1,080 bytes; the
# planner's 2 KiB reserve on this board still covers it beside ~600 bytes of static data
STACK_BYTES := 1280
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 16000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := nrf51
UART_BASE := 0x40002000
UART_CLOCK_HZ := 16000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-arm
QEMU_MACHINE := microbit
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := -DUART_TX_PIN=24u -DUART_RX_PIN=25u
