# boards/sifive_e.mk - SiFive HiFive1 (FE310, RV32IMAC) as QEMU's sifive_e models it: code in
#   the XIP flash at 0x20400000 (the boot ROM jumps there), data in the 16 KiB DTIM. QEMU only: no
#   flashing instructions for the real board.
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := riscv
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := rv32imac
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x20400000
FLASH_BYTES := 4194304
RAM_ORIGIN := 0x80000000
RAM_BYTES := 16384
# at least this much RAM must stay free for the stack (checked at link time)
STACK_BYTES := 1024
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 16000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := sifive
UART_BASE := 0x10013000
UART_CLOCK_HZ := 16000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-riscv32
QEMU_MACHINE := sifive_e
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := 
