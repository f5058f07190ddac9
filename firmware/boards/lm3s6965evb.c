/*
 * lm3s6965evb.c - clocks and pins of the Stellaris LM3S6965 evaluation board.
 *
 * Reset runs the core on the internal oscillator (12 MHz +-30 %: too imprecise for a UART).
 * Switch to the board's 8 MHz crystal, PLL bypassed (CPU_HZ = UART_CLOCK_HZ = 8 MHz in
 * boards/lm3s6965evb.mk), then clock UART0 and GPIO port A and give PA0/PA1 to U0RX/U0TX.
 * QEMU models these registers (the clock choice only changes its SysTick rate).
 */
#include "board.h"
#include "mmio.h"

#define SYSCTL_RCC REG32(0x400FE060u)
#define SYSCTL_RCGC1 REG32(0x400FE104u) /* bit0 UART0 */
#define SYSCTL_RCGC2 REG32(0x400FE108u) /* bit0 GPIO port A */
#define GPIOA_AFSEL REG32(0x40004420u)
#define GPIOA_DEN REG32(0x4000451Cu)

#define RCC_MOSCDIS (1u << 0)
#define RCC_OSCSRC_MASK (3u << 4)  /* 0: main oscillator */
#define RCC_XTAL_MASK (0xFu << 6)
#define RCC_XTAL_8MHZ (0xEu << 6)
#define RCC_BYPASS (1u << 11)      /* system clock = oscillator, PLL bypassed */
#define RCC_USESYSDIV (1u << 22)

static void delay(uint32_t loops)
{
    for (volatile uint32_t i = 0; i < loops; ++i) {
    }
}

void board_early_init(void)
{
    SYSCTL_RCC = (SYSCTL_RCC | RCC_BYPASS) & ~RCC_USESYSDIV;
    SYSCTL_RCC &= ~RCC_MOSCDIS; /* start the main oscillator, let it settle */
    delay(20000u);
    SYSCTL_RCC = (SYSCTL_RCC & ~(RCC_OSCSRC_MASK | RCC_XTAL_MASK)) | RCC_XTAL_8MHZ;

    SYSCTL_RCGC1 |= 1u;
    SYSCTL_RCGC2 |= 1u;
    delay(16u); /* a few cycles before the gated peripherals answer */
    GPIOA_AFSEL |= 3u;
    GPIOA_DEN |= 3u;
}
