/*
 * learner.c - the on-device learner: runtime_c on an exported model, fed and watched over
 * the UART with the telemetry protocol (docs/telemetry.md).
 *
 * Boot: HELLO, then a CREDIT for the sample queue. Commands are answered with ACK or
 * ERROR; SAMPLES are queued (never more than the credit granted), learned one by one, and
 * reported as STEP_STATS, WINDOW steps per frame; the queue slots are granted back after.
 * DUMP sends the weights image; LOAD/LOAD_END replace it (staged in the learner's
 * gradient buffers: no extra RAM). Built with the model from `pyrtrl export`.
 */
#include "board.h"
#include "model_data.h"
#include "rtrl.h"
#include "telemetry.h"

#define SLOTS 16u  /* samples the device buffers: the credit the host may spend */
#define WINDOW 4u  /* step records per STEP_STATS frame */
#define RECORD_BYTES (24u + 4u * MODEL_K)

#if 1u + WINDOW * RECORD_BYTES > TLM_MAX_PAYLOAD
#error "WINDOW step records do not fit one frame for this many outputs"
#endif

typedef struct {
    int32_t x[MODEL_D];
    int32_t target[MODEL_K];
    int16_t label;
    uint8_t has_target;
    uint8_t quiet; /* SAMPLES flag LABELLED_ONLY: no record for a step without a label */
} sample_t;

/* SAMPLES flags (docs/telemetry.md) and HELLO's capabilities byte */
#define FLAG_TARGET 1u
#define FLAG_LABELS 2u
#define FLAG_LABELLED_ONLY 4u
#define CAP_LABELLED_ONLY 1u
#define FLAG_MORE 8u
/* flag MORE understood, a CREDIT after every HELLO, ERROR BUSY for a byte sent while stepping */
#define CAP_QUIET_STEPS 2u

static uint64_t buffer[MODEL_BUFFER_WORDS];
static rtrl_t learner;
static tlm_link_t tlm;
static sample_t queue[SLOTS];
static uint16_t queued;
static uint8_t running;
static int rx_held = -1; /* a byte found waiting after the steps (the host broke the rule) */
static uint8_t more;     /* the last SAMPLES frame said another follows: do not step yet */
static uint8_t stats[TLM_MAX_PAYLOAD];
static uint16_t stats_count;
static uint32_t load_crc, load_bytes, load_ok;
/* counts since the last step record: a record carries these sums (one step's values unless
 * LABELLED_ONLY steps went unreported before it) */
static uint32_t acc_events, acc_active, acc_ticks;
static uint64_t acc_macs;

/* Markers around each learning step: tools/qemu_plugin/stepcount.c counts the instructions
 * executed from the entry of the first to the entry of the second. Not inlined, not merged. */
__attribute__((noinline)) void learn_mark_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void learn_mark_end(void) { __asm__ volatile("nop" ::: "memory"); }

/* Interrupts masked around a step, so that a tick interrupt never lands in a count. */
static inline void irq_off(void)
{
#if defined(__riscv)
    __asm__ volatile("csrci mstatus, 8" ::: "memory");
#else
    __asm__ volatile("cpsid i" ::: "memory");
#endif
}
static inline void irq_on(void)
{
#if defined(__riscv)
    __asm__ volatile("csrsi mstatus, 8" ::: "memory");
#else
    __asm__ volatile("cpsie i" ::: "memory");
#endif
}

static void uart_sink(void *user, const uint8_t *bytes, size_t len)
{
    (void)user;
    uart_write(bytes, len);
}

static void send_ack(const tlm_frame_t *f)
{
    uint8_t p[3];
    tlm_put_u16(p, f->seq);
    p[2] = f->type;
    tlm_send(&tlm, TLM_ACK, p, sizeof p);
}

static void send_error(uint16_t seq, uint8_t code, const char *msg)
{
    uint8_t p[3 + 1 + 48];
    size_t n = 0;
    while (msg[n] != 0 && n < 48)
        ++n;
    tlm_put_u16(p, seq);
    p[2] = code;
    p[3] = (uint8_t)n;
    for (size_t i = 0; i < n; ++i)
        p[4 + i] = (uint8_t)msg[i];
    tlm_send(&tlm, TLM_ERROR, p, 4 + n);
}

static void send_credit(uint16_t samples)
{
    uint8_t p[2];
    tlm_put_u16(p, samples);
    tlm_send(&tlm, TLM_CREDIT, p, sizeof p);
}

static void send_hello(void)
{
    extern uint8_t __data_start[], __bss_end[]; /* common/link.ld */
    uint8_t p[80]; /* 26 fixed + 2 x (1 + 20) strings + 3 readout bytes + capabilities */
    uint8_t *q = p;
    *q++ = TLM_VERSION;
    *q++ = RTRL_INFLUENCE_BITS;
    q = tlm_put_u16(q, MODEL_N);
    q = tlm_put_u16(q, MODEL_D);
    q = tlm_put_u16(q, MODEL_K);
    q = tlm_put_u16(q, MODEL_P);
    q = tlm_put_u32(q, (uint32_t)(sizeof buffer + sizeof learner));
    /* static RAM plus the deepest stack since reset (the startup code paints the free RAM):
     * asked for again after a run, it is the firmware's peak RAM use */
    q = tlm_put_u32(q, (uint32_t)(__bss_end - __data_start) + board_stack_used());
    q = tlm_put_u32(q, BOARD_CPU_HZ);
    q = tlm_put_u16(q, (uint16_t)((TLM_MAX_PAYLOAD - 3u) / (4u * (MODEL_D + MODEL_K))));
    q = tlm_put_u16(q, WINDOW);
    const char *strs[2] = {BOARD_NAME, rtrl_version()};
    for (int s = 0; s < 2; ++s) {
        uint8_t n = 0;
        while (strs[s][n] != 0 && n < 20)
            ++n;
        *q++ = n;
        for (uint8_t i = 0; i < n; ++i)
            *q++ = (uint8_t)strs[s][i];
    }
    /* the readout (after the strings: hosts that do not know it ignore it): its features
     * (columns of w_o, which size the weights image) and what it reads and how it learns */
    q = tlm_put_u16(q, MODEL_FEATURES);
    *q++ = (uint8_t)(model_config.readout_c | (model_config.readout_rls << 1) |
                     (model_config.freeze_cell << 2) | ((model_config.adam ? 1u : 0u) << 3));
    *q++ = CAP_LABELLED_ONLY | CAP_QUIET_STEPS; /* beyond version 1's first form */
    tlm_send(&tlm, TLM_HELLO, p, (size_t)(q - p));
}

static void flush_stats(void)
{
    if (stats_count == 0)
        return;
    stats[0] = (uint8_t)stats_count;
    tlm_send(&tlm, TLM_STEP_STATS, stats, 1u + stats_count * RECORD_BYTES);
    stats_count = 0;
}

/* Learn every queued sample, reporting each step; then grant the slots back. */
/* noinline: learning (deep: the library's step) and frame handling (a 512-byte encode
 * buffer in tlm_send) then never share one frame with main's, so the stack holds the
 * deeper of the two paths, not their sum (the micro:bit has about 1.1 KiB of stack). */
static __attribute__((noinline)) void learn_queued(void)
{
    const uint16_t n = queued;
    for (uint16_t s = 0; s < n; ++s) {
        const sample_t *smp = &queue[s];
        rtrl_counters_t before, after;
        int32_t out[MODEL_K], loss = 0;
        rtrl_get_counters(&learner, &before);
        const uint32_t t0 = board_ticks();
        irq_off();
        learn_mark_begin();
        const rtrl_status_t st = rtrl_step_labelled(&learner, smp->x, smp->has_target ? smp->target : 0,
                                                    smp->label, out, &loss);
        learn_mark_end();
        irq_on();
        const uint32_t ticks = board_ticks() - t0;
        if (st != RTRL_OK) {
            send_error(0xFFFFu, TLM_ERR_RANGE, rtrl_status_str(st));
            continue;
        }
        rtrl_get_counters(&learner, &after);
        acc_events += (uint32_t)(after.events - before.events);
        acc_active += (uint32_t)(after.active_cols - before.active_cols);
        acc_macs += after.macs - before.macs;
        acc_ticks += ticks;
        if (smp->quiet && smp->label < 0)
            continue; /* counted into the next record */
        uint8_t *q = stats + 1u + stats_count * RECORD_BYTES;
        q = tlm_put_u32(q, before.steps);
        q = tlm_put_u32(q, (uint32_t)loss);
        q = tlm_put_u16(q, (uint16_t)(acc_events > 0xFFFFu ? 0xFFFFu : acc_events));
        q = tlm_put_u16(q, (uint16_t)(acc_active > 0xFFFFu ? 0xFFFFu : acc_active));
        q = tlm_put_u32(q, (uint32_t)(acc_macs > 0xFFFFFFFFu ? 0xFFFFFFFFu : acc_macs));
        q = tlm_put_u32(q, acc_ticks);
        q = tlm_put_u32(q, (uint32_t)after.saturations);
        acc_events = acc_active = acc_ticks = 0;
        acc_macs = 0;
        for (uint16_t k = 0; k < MODEL_K; ++k)
            q = tlm_put_u32(q, (uint32_t)out[k]);
        if (++stats_count == WINDOW)
            flush_stats();
    }
    flush_stats();
    queued = 0;
    /* The host sends nothing between a SAMPLES frame and the CREDIT below (docs/telemetry.md,
     * flow control): a byte waiting now arrived while the device stepped, and on a real board
     * the bytes after it were lost (the UART's receiver was not read). Say so. */
    if (n && (rx_held = uart_poll()) >= 0)
        send_error(0xFFFFu, TLM_ERR_BUSY, "byte arrived while stepping");
    if (n)
        send_credit(n);
}

static void on_samples(const tlm_frame_t *f)
{
    if (!running) {
        send_error(f->seq, TLM_ERR_STATE, "samples before START");
        return;
    }
    if (f->len < 3) {
        send_error(f->seq, TLM_ERR_LENGTH, "short SAMPLES");
        return;
    }
    const uint16_t count = tlm_get_u16(f->payload);
    const uint8_t flags = f->payload[2];
    const uint32_t rec = 4u * MODEL_D + ((flags & FLAG_TARGET) ? 4u * MODEL_K : 0u) +
                         ((flags & FLAG_LABELS) ? 2u : 0u);
    if (3u + (uint32_t)count * rec != f->len) {
        send_error(f->seq, TLM_ERR_LENGTH, "SAMPLES length");
        return;
    }
    if (count > SLOTS - queued) {
        send_error(f->seq, TLM_ERR_OVERFLOW, "more samples than credit");
        return;
    }
    more = (flags & FLAG_MORE) != 0;
    const uint8_t *p = f->payload + 3;
    for (uint16_t s = 0; s < count; ++s) {
        sample_t *smp = &queue[queued++];
        for (uint16_t i = 0; i < MODEL_D; ++i, p += 4)
            smp->x[i] = (int32_t)tlm_get_u32(p);
        smp->has_target = (flags & FLAG_TARGET) != 0;
        smp->quiet = (flags & (FLAG_LABELS | FLAG_LABELLED_ONLY)) == (FLAG_LABELS | FLAG_LABELLED_ONLY);
        for (uint16_t k = 0; smp->has_target && k < MODEL_K; ++k, p += 4)
            smp->target[k] = (int32_t)tlm_get_u32(p);
        smp->label = -1;
        if (flags & FLAG_LABELS) {
            smp->label = (int16_t)tlm_get_u16(p);
            p += 2;
        }
    }
}

static void on_dump(void)
{
    rtrl_view_t v;
    rtrl_get_view(&learner, &v);
    /* theta (P), w_o (k x features), b_o (k): rtrl_weights_image_bytes in all */
    const uint32_t parts[3] = {4u * v.P, 4u * MODEL_K * (uint32_t)v.features, 4u * MODEL_K};
    const uint8_t *src[3] = {(const uint8_t *)v.theta, (const uint8_t *)v.w_o, (const uint8_t *)v.b_o};
    uint8_t p[8];
    uint32_t offset = 0, crc = 0;
    for (int a = 0; a < 3; ++a) {
        for (uint32_t i = 0; i < parts[a];) {
            uint32_t n = parts[a] - i;
            if (n > TLM_MAX_PAYLOAD - 4u)
                n = TLM_MAX_PAYLOAD - 4u;
            tlm_put_u32(p, offset);
            /* little-endian cores: the bytes are the image, sent from where they are */
            crc = tlm_crc32(src[a] + i, n, crc);
            tlm_send2(&tlm, TLM_WEIGHTS, p, 4u, src[a] + i, n);
            offset += n;
            i += n;
        }
    }
    tlm_put_u32(p, offset);
    tlm_put_u32(p + 4, crc);
    tlm_send(&tlm, TLM_WEIGHTS_END, p, 8);
}

/* The byte found waiting after the steps first, then the UART's. noinline: main's frame (the
 * base under every step) stays as small as before (sifive_e keeps 1 KiB of stack). */
static __attribute__((noinline)) int next_byte(void)
{
    const int c = rx_held;
    rx_held = -1;
    return c >= 0 ? c : uart_poll();
}

static __attribute__((noinline)) void on_frame(const tlm_frame_t *f)
{
    switch (f->type) {
    case TLM_HELLO_REQ: /* then a CREDIT, as at boot: the host's credit restarts at a HELLO */
        send_hello();
        send_credit((uint16_t)(SLOTS - queued));
        break;
    case TLM_START:
        running = 1;
        send_ack(f);
        break;
    case TLM_STOP:
        running = 0;
        send_ack(f);
        break;
    case TLM_RESET:
        rtrl_reset_state(&learner);
        send_ack(f);
        break;
    case TLM_SET_LR:
        if (f->len != 4 || rtrl_set_learning_rate(&learner, (int32_t)tlm_get_u32(f->payload)) != RTRL_OK)
            send_error(f->seq, TLM_ERR_RANGE, "learning rate");
        else
            send_ack(f);
        break;
    case TLM_DUMP:
        on_dump();
        break;
    case TLM_LOAD: {
        const uint32_t off = f->len >= 4 ? tlm_get_u32(f->payload) : 0xFFFFFFFFu;
        if (off == 0) {
            load_crc = 0;
            load_bytes = 0;
            load_ok = 1;
        }
        if (f->len < 4 || !load_ok || off != load_bytes ||
            rtrl_stage_weights(&learner, off, f->payload + 4, f->len - 4u) != RTRL_OK) {
            load_ok = 0;
            send_error(f->seq, TLM_ERR_LOAD, "weights chunk refused");
            break;
        }
        load_crc = tlm_crc32(f->payload + 4, f->len - 4u, load_crc);
        load_bytes += f->len - 4u;
        send_ack(f);
        break;
    }
    case TLM_LOAD_END:
        if (f->len != 8 || !load_ok || tlm_get_u32(f->payload) != load_bytes ||
            load_bytes != rtrl_weights_image_bytes(&learner) || tlm_get_u32(f->payload + 4) != load_crc ||
            rtrl_commit_weights(&learner) != RTRL_OK) {
            rtrl_stage_weights(&learner, 0, 0, 0); /* drop whatever was staged */
            send_error(f->seq, TLM_ERR_LOAD, "weights image refused");
        } else {
            send_ack(f);
        }
        load_ok = 0;
        break;
    case TLM_SAMPLES:
        on_samples(f);
        break;
    case TLM_EXIT: /* under QEMU: exit status 0; on a real board: sleep */
        send_ack(f);
        board_exit(EXIT_OK);
    default:
        send_error(f->seq, TLM_ERR_TYPE, "unknown type");
        break;
    }
}

int main(void)
{
    tlm_init(&tlm, uart_sink, 0);
    size_t needed = 0;
    const rtrl_status_t st = rtrl_init(&learner, &model_config, &model_def, buffer, sizeof buffer, &needed);
    if (st != RTRL_OK) {
        semihost_puts("learner: rtrl_init failed\n");
        return EXIT_APP_FAILED;
    }
    send_hello();
    send_credit(SLOTS);
    tlm_frame_t frame;
    uint32_t bad_seen = 0;
    for (;;) {
        int c;
        while ((c = next_byte()) >= 0) {
            if (tlm_receive(&tlm, (uint8_t)c, &frame))
                on_frame(&frame);
            if (tlm.frames_bad != bad_seen) { /* tell the host what it cannot see */
                bad_seen = tlm.frames_bad;
                send_error(0xFFFFu, TLM_ERR_CRC, "bad frame dropped");
            }
        }
        if (!more) /* a burst's frames arrive back to back: step after its last one */
            learn_queued();
    }
}
