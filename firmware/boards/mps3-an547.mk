# boards/mps3-an547.mk - Arm MPS3 FPGA image AN547: Cortex-M55, CMSDK UART0 (non-secure alias
#   0x49303000, secure 0x59303000; QEMU boots secure). Code in the 512 KiB ITCM, data in the 512
#   KiB DTCM.
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := cortexm
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := cortex-m55
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x00000000
FLASH_BYTES := 524288
RAM_ORIGIN := 0x20000000
RAM_BYTES := 524288
# at least this much RAM must stay free for the stack (checked at link time)
STACK_BYTES := 4096
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 32000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := cmsdk
UART_BASE := 0x59303000
UART_CLOCK_HZ := 32000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-arm
QEMU_MACHINE := mps3-an547
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := 
