/*
 * hello.c - the firmware's smoke test on every board.
 *
 *   pyrtrl hello board=<board> runtime=<rtrl_version()> ram=<board RAM bytes>
 *   learner n=4 d=1 k=1 influence_bits=<16|32> buffer=<bytes>
 *   steps=100 updates=... events=... active_cols=... macs=... saturations=... checksum=0x...
 *     out=... loss=... ticks=... stack=<deepest stack use so far, bytes>
 *   ok
 * then echoes every byte it receives until a line "exit" (QEMU exits with status 0).
 * A library error prints "error <status>" and exits with EXIT_APP_FAILED.
 */
#include "board.h"
#include "demo_learner.h"
#include "rtrl.h"

#define DEMO_STEPS 100u

static void print_kv64(const char *key, uint64_t v)
{
    uart_puts(key);
    uart_put_dec64(v);
}

/* Echo until a line reads "exit" (CR, LF or CRLF line ends). */
static void echo_until_exit(void)
{
    static const char word[] = "exit";
    unsigned len = 0;      /* bytes of the current line matched so far */
    int matching = 1;      /* the current line is still a prefix of "exit" */
    for (;;) {
        const uint8_t c = uart_getc();
        uart_putc(c);
        if (c == '\n' || c == '\r') {
            if (matching && len == sizeof word - 1u)
                return;
            len = 0;
            matching = 1;
        } else {
            matching = matching && len < sizeof word - 1u && c == (uint8_t)word[len];
            ++len;
        }
    }
}

int main(void)
{
    uart_puts("pyrtrl hello board=" BOARD_NAME " runtime=");
    uart_puts(rtrl_version());
    uart_puts(" ram=");
    uart_put_dec(BOARD_RAM_BYTES);
    uart_puts("\n");

    uart_puts("learner n=");
    uart_put_dec(DEMO_N);
    uart_puts(" d=");
    uart_put_dec(DEMO_D);
    uart_puts(" k=");
    uart_put_dec(DEMO_K);
    uart_puts(" influence_bits=");
    uart_put_dec(RTRL_INFLUENCE_BITS);
    uart_puts(" buffer=");
    uart_put_dec((uint32_t)DEMO_BUFFER_BYTES);
    uart_puts("\n");

    demo_result_t r;
    const uint32_t t0 = board_ticks();
    const rtrl_status_t st = demo_learner_run(DEMO_STEPS, &r);
    const uint32_t ticks = board_ticks() - t0;
    if (st != RTRL_OK) {
        uart_puts("error ");
        uart_puts(rtrl_status_str(st));
        uart_puts("\n");
        return EXIT_APP_FAILED;
    }
    print_kv64("steps=", r.counters.steps);
    print_kv64(" updates=", r.counters.updates);
    print_kv64(" events=", r.counters.events);
    print_kv64(" active_cols=", r.counters.active_cols);
    print_kv64(" macs=", r.counters.macs);
    print_kv64(" saturations=", r.counters.saturations);
    uart_puts(" checksum=");
    uart_put_hex(r.checksum);
    uart_puts(" out=");
    uart_put_int(r.last_out);
    uart_puts(" loss=");
    uart_put_int(r.last_loss);
    uart_puts(" ticks=");
    uart_put_dec(ticks);
    uart_puts(" stack=");
    uart_put_dec(board_stack_used());
    uart_puts("\nok\n");

    echo_until_exit();
    return EXIT_OK;
}
