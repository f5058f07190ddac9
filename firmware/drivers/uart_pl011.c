/*
 * uart_pl011.c - Arm PL011 UART and its Stellaris variant (LM3S6965 UART0).
 * UART_BASE, UART_CLOCK_HZ: from boards/<board>.mk; clock gating and pins belong to the
 * board (boards/<board>.c).
 */
#include "board.h"
#include "mmio.h"

#define DR REG32(UART_BASE + 0x000u)
#define FR REG32(UART_BASE + 0x018u) /* bit4 RXFE (RX FIFO empty), bit5 TXFF (TX FIFO full) */
#define IBRD REG32(UART_BASE + 0x024u)
#define FBRD REG32(UART_BASE + 0x028u)
#define LCRH REG32(UART_BASE + 0x02Cu)
#define CR REG32(UART_BASE + 0x030u)

/* Divisor clk / (16 baud) in 1/64ths, rounded: integer part IBRD, fraction FBRD. */
#define DIV64 ((4u * (UART_CLOCK_HZ) + UART_BAUD / 2u) / UART_BAUD)

void uart_init(void)
{
    CR = 0;
    IBRD = DIV64 >> 6;
    FBRD = DIV64 & 63u;
    LCRH = 0x70u;  /* 8 data bits, no parity, 1 stop bit, FIFOs on (LCRH write latches IBRD/FBRD) */
    CR = 0x301u;   /* UARTEN | TXE | RXE */
}

void uart_putc(uint8_t c)
{
    while (FR & (1u << 5)) {
    }
    DR = c;
}

int uart_poll(void)
{
    if (FR & (1u << 4))
        return -1;
    return (int)(DR & 0xFFu);
}
