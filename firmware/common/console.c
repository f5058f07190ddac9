/*
 * console.c - text output and blocking input over the board's UART driver.
 * Integers only: no printf, no floating point.
 */
#include "board.h"

uint8_t uart_getc(void)
{
    int c;
    while ((c = uart_poll()) < 0) {
    }
    return (uint8_t)c;
}

void uart_write(const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len--)
        uart_putc(*p++);
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc((uint8_t)*s++);
}

void uart_put_dec64(uint64_t v)
{
    char buf[20]; /* 2^64 - 1 has 20 digits */
    size_t i = 0;
    do {
        buf[i++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (i)
        uart_putc((uint8_t)buf[--i]);
}

void uart_put_dec(uint32_t v)
{
    char buf[10];
    size_t i = 0;
    do {
        buf[i++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (i)
        uart_putc((uint8_t)buf[--i]);
}

void uart_put_int(int32_t v)
{
    if (v < 0) {
        uart_putc('-');
        uart_put_dec(0u - (uint32_t)v);
    } else {
        uart_put_dec((uint32_t)v);
    }
}

void uart_put_hex(uint32_t v)
{
    uart_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        uart_putc((uint8_t)"0123456789abcdef"[(v >> shift) & 0xFu]);
}
