/*
 * uart_sifive.c - SiFive UART (FE310 UART0, QEMU sifive_uart).
 * UART_BASE, UART_CLOCK_HZ: from boards/<board>.mk.
 */
#include "board.h"
#include "mmio.h"

#define TXDATA REG32(UART_BASE + 0x00u) /* bit31: TX FIFO full */
#define RXDATA REG32(UART_BASE + 0x04u) /* bit31: RX FIFO empty; a read pops */
#define TXCTRL REG32(UART_BASE + 0x08u) /* bit0 txen */
#define RXCTRL REG32(UART_BASE + 0x0Cu) /* bit0 rxen */
#define DIV REG32(UART_BASE + 0x18u)    /* baud = clk / (div + 1) */

void uart_init(void)
{
    DIV = UART_CLOCK_HZ / UART_BAUD - 1u;
    TXCTRL = 1u;
    RXCTRL = 1u;
}

void uart_putc(uint8_t c)
{
    while (TXDATA & 0x80000000u) {
    }
    TXDATA = c;
}

int uart_poll(void)
{
    const uint32_t r = RXDATA; /* read once: the read itself pops the byte */
    if (r & 0x80000000u)
        return -1;
    return (int)(r & 0xFFu);
}
