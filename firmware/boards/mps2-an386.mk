# boards/mps2-an386.mk - Arm MPS2+ FPGA image AN386: Cortex-M4, CMSDK UART0. Code in ZBT SSRAM1
#   (4 MiB at 0), data in SSRAM2/3 (4 MiB at 0x20000000).
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := cortexm
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := cortex-m4
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x00000000
FLASH_BYTES := 4194304
RAM_ORIGIN := 0x20000000
RAM_BYTES := 4194304
# at least this much RAM must stay free for the stack (checked at link time)
STACK_BYTES := 4096
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 25000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := cmsdk
UART_BASE := 0x40004000
UART_CLOCK_HZ := 25000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-arm
QEMU_MACHINE := mps2-an386
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := 
