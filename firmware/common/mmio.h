/*
 * mmio.h - memory-mapped register access.
 */
#ifndef FW_MMIO_H
#define FW_MMIO_H

#include <stdint.h>

/* The 32-bit device register at absolute address a. */
#define REG32(a) (*(volatile uint32_t *)(uintptr_t)(a))

#endif
