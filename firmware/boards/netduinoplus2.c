/*
 * netduinoplus2.c - clocks and pins of the Netduino Plus 2 (STM32F405).
 *
 * The core stays on the 16 MHz HSI oscillator it resets to (CPU_HZ = UART_CLOCK_HZ in
 * boards/netduinoplus2.mk). Clock GPIO port A and USART1, and put PA9 (TX) / PA10 (RX) in
 * alternate function 7 (USART1). QEMU models RCC; its GPIO block is unimplemented (writes
 * are ignored), which is harmless.
 */
#include "board.h"
#include "mmio.h"

#define RCC_AHB1ENR REG32(0x40023830u) /* bit0 GPIOA */
#define RCC_APB2ENR REG32(0x40023844u) /* bit4 USART1 */
#define GPIOA_MODER REG32(0x40020000u) /* 2 bits per pin, 0b10 = alternate function */
#define GPIOA_AFRH REG32(0x40020024u)  /* 4 bits per pin 8..15 */

void board_early_init(void)
{
    RCC_AHB1ENR |= 1u << 0;
    RCC_APB2ENR |= 1u << 4;
    (void)RCC_APB2ENR; /* read back: the clock is on before the peripheral is touched */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
}
