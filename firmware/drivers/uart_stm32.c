/*
 * uart_stm32.c - STM32 USART, F1/F2/F4 register layout (QEMU "stm32f2xx-usart").
 * UART_BASE, UART_CLOCK_HZ: from boards/<board>.mk; clock gating and pins belong to the
 * board (boards/<board>.c).
 */
#include "board.h"
#include "mmio.h"

#define SR REG32(UART_BASE + 0x00u)  /* bit5 RXNE, bit7 TXE */
#define DR REG32(UART_BASE + 0x04u)
#define BRR REG32(UART_BASE + 0x08u) /* oversampling by 16: clk / baud (mantissa.fraction/16) */
#define CR1 REG32(UART_BASE + 0x0Cu)

#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void uart_init(void)
{
    BRR = (UART_CLOCK_HZ + UART_BAUD / 2u) / UART_BAUD;
    CR1 = CR1_UE | CR1_TE | CR1_RE; /* QEMU drops received bytes unless UE and RE are set */
}

void uart_putc(uint8_t c)
{
    while (!(SR & (1u << 7))) {
    }
    DR = c;
}

int uart_poll(void)
{
    if (!(SR & (1u << 5)))
        return -1;
    return (int)(DR & 0xFFu); /* reading DR clears RXNE (and, after SR, an overrun) */
}
