# boards/lm3s6965evb.mk - TI Stellaris LM3S6965 evaluation board: Cortex-M3, UART0 (PL011
#   variant) on the board's USB virtual COM port. boards/lm3s6965evb.c switches the core to the 8
#   MHz crystal (reset runs on the +-30 % internal oscillator) and routes UART0 to PA0/PA1.
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := cortexm
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := cortex-m3
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x00000000
FLASH_BYTES := 262144
RAM_ORIGIN := 0x20000000
RAM_BYTES := 65536
# at least this much RAM must stay free for the stack (checked at link time)
STACK_BYTES := 2048
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 8000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := pl011
UART_BASE := 0x4000C000
UART_CLOCK_HZ := 8000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-arm
QEMU_MACHINE := lm3s6965evb
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := 
