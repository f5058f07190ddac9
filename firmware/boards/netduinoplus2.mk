# boards/netduinoplus2.mk - Netduino Plus 2: STM32F405 (Cortex-M4), USART1 (QEMU's serial 0).
#   The core stays on the 16 MHz HSI oscillator of reset; boards/netduinoplus2.c clocks USART1 and
#   routes it to PA9 (TX) / PA10 (RX). 128 KiB main SRAM (the 64 KiB CCM is unused).
# One board, one file (read by firmware/Makefile; tests check it against pyrtrl/boards.py).
# Comments stay on their own lines: make keeps the spaces before a trailing comment.

# cortexm or riscv: picks the startup code (arch/$(ARCH)/) and the compiler
ARCH := cortexm
# runtime_c/Makefile cross target: librtrl is built for it, and the firmware with the same flags
RTRL_TARGET := cortex-m4
# code and constants; .data is loaded from here
FLASH_ORIGIN := 0x08000000
FLASH_BYTES := 1048576
RAM_ORIGIN := 0x20000000
RAM_BYTES := 131072
# at least this much RAM must stay free for the stack (checked at link time)
STACK_BYTES := 2048
# the core clock the firmware runs at (what board_ticks counts on the real part)
CPU_HZ := 16000000
# drivers/uart_$(UART_KIND).c, the register block at UART_BASE, clocked at UART_CLOCK_HZ
UART_KIND := stm32
UART_BASE := 0x40011000
UART_CLOCK_HZ := 16000000
# how QEMU runs it: binary, -M machine, -cpu (empty: the machine's default core)
QEMU := qemu-system-arm
QEMU_MACHINE := netduinoplus2
QEMU_CPU :=
# extra preprocessor definitions for this board's sources
BOARD_DEFS := 
