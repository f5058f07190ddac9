/*
 * uart_nrf51.c - nRF51 UART0 (QEMU nrf51_uart; 6-byte RX FIFO).
 * UART_BASE, UART_TX_PIN, UART_RX_PIN: from boards/<board>.mk. The baud rate register does
 * not depend on the core clock.
 */
#include "board.h"
#include "mmio.h"

#define STARTRX REG32(UART_BASE + 0x000u)
#define STARTTX REG32(UART_BASE + 0x008u)
#define EVENTS_RXDRDY REG32(UART_BASE + 0x108u)
#define EVENTS_TXDRDY REG32(UART_BASE + 0x11Cu)
#define ENABLE REG32(UART_BASE + 0x500u)
#define PSELTXD REG32(UART_BASE + 0x50Cu)
#define PSELRXD REG32(UART_BASE + 0x514u)
#define RXD REG32(UART_BASE + 0x518u)
#define TXD REG32(UART_BASE + 0x51Cu)
#define BAUDRATE REG32(UART_BASE + 0x524u)

#define BAUDRATE_115200 0x01D7E000u /* from the nRF51 reference manual's table */
#if UART_BAUD != 115200u
#error "uart_nrf51: only 115200 baud is tabulated"
#endif

void uart_init(void)
{
    PSELTXD = UART_TX_PIN;
    PSELRXD = UART_RX_PIN;
    BAUDRATE = BAUDRATE_115200;
    ENABLE = 4u;  /* QEMU ignores TXD unless the UART is enabled ... */
    STARTTX = 1u; /* ... and the transmitter started */
    STARTRX = 1u; /* (QEMU: the first byte may stall ~1 s unless a timer runs: board_init
                     starts the tick counter right after this) */
}

void uart_putc(uint8_t c)
{
    EVENTS_TXDRDY = 0;
    TXD = c;
    while (!EVENTS_TXDRDY) {
    }
}

int uart_poll(void)
{
    if (!EVENTS_RXDRDY)
        return -1;
    /* Clear the event before reading RXD: reading pops the FIFO and QEMU raises the event
     * again if bytes remain, which a later clear would lose. */
    EVENTS_RXDRDY = 0;
    return (int)(RXD & 0xFFu);
}
