/*
 * uart_cmsdk.c - Arm CMSDK APB UART (MPS2 and MPS3 FPGA images).
 * UART_BASE, UART_CLOCK_HZ: from boards/<board>.mk.
 */
#include "board.h"
#include "mmio.h"

#define DATA REG32(UART_BASE + 0x00u)
#define STATE REG32(UART_BASE + 0x04u)   /* bit0 TX buffer full, bit1 RX buffer full */
#define CTRL REG32(UART_BASE + 0x08u)    /* bit0 TX enable, bit1 RX enable */
#define BAUDDIV REG32(UART_BASE + 0x10u) /* at least 16 */

#define DIV (UART_CLOCK_HZ / UART_BAUD)
#if DIV < 16
#error "CMSDK UART: BAUDDIV must be at least 16"
#endif

void uart_init(void)
{
    BAUDDIV = DIV;
    CTRL = 3u; /* QEMU drops what is written while TX is disabled (the first byte hangs) */
    /* QEMU 7.2: enabling RX does not make it poll the host side again, so the first byte
     * would wait about 1 s; reading DATA does (qemu_chr_fe_accept_input). */
    (void)DATA;
}

void uart_putc(uint8_t c)
{
    while (STATE & 1u) {
    }
    DATA = c;
}

int uart_poll(void)
{
    if (!(STATE & 2u))
        return -1;
    return (int)(DATA & 0xFFu);
}
