/*
 * telemetry.c - CRC, COBS and framing of the telemetry protocol (docs/telemetry.md).
 */
#include "telemetry.h"

uint16_t tlm_crc16(const uint8_t *data, size_t len, uint16_t crc)
{
    for (size_t i = 0; i < len; ++i) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int b = 0; b < 8; ++b)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t tlm_crc32(const uint8_t *data, size_t len, uint32_t crc)
{
    crc = ~crc;
    for (size_t i = 0; i < len; ++i) {
        crc ^= data[i];
        for (int b = 0; b < 8; ++b)
            crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

/* COBS, one byte at a time: dst[code_at] is the open block's code byte. */
typedef struct {
    uint8_t *dst;
    size_t out, code_at;
    uint8_t code;
} cobs_enc_t;

static void cobs_begin(cobs_enc_t *e, uint8_t *dst)
{
    e->dst = dst;
    e->out = 1;
    e->code_at = 0;
    e->code = 1;
}

static void cobs_put(cobs_enc_t *e, uint8_t b)
{
    if (b == 0) {
        e->dst[e->code_at] = e->code;
        e->code_at = e->out++;
        e->code = 1;
    } else {
        e->dst[e->out++] = b;
        if (++e->code == 0xFF) {
            e->dst[e->code_at] = e->code;
            e->code_at = e->out++;
            e->code = 1;
        }
    }
}

static size_t cobs_end(cobs_enc_t *e)
{
    e->dst[e->code_at] = e->code;
    return e->out;
}

size_t tlm_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    cobs_enc_t e;
    cobs_begin(&e, dst);
    for (size_t i = 0; i < len; ++i)
        cobs_put(&e, src[i]);
    return cobs_end(&e);
}

size_t tlm_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t in = 0, out = 0;
    while (in < len) {
        const uint8_t code = src[in++];
        if (code == 0)
            return (size_t)-1;
        for (uint8_t i = 1; i < code; ++i) {
            if (in >= len || src[in] == 0)
                return (size_t)-1;
            dst[out++] = src[in++];
        }
        if (code != 0xFF && in < len)
            dst[out++] = 0;
    }
    return out;
}

void tlm_init(tlm_link_t *link, tlm_write_fn write, void *user)
{
    link->write = write;
    link->user = user;
    link->tx_seq = 0;
    link->rx_len = 0;
    link->rx_overflow = 0;
    link->rx_last_seq = -1;
    link->frames_ok = link->frames_bad = link->seq_gaps = link->duplicates = 0;
}

/* The frame is encoded straight from its pieces (header, payload in two parts, CRC): no
 * copy of the body on the stack, which on the micro:bit is the difference between fitting
 * and not. */
int tlm_send2(tlm_link_t *link, uint8_t type, const uint8_t *a, size_t na, const uint8_t *b,
              size_t nb)
{
    if (na > TLM_MAX_PAYLOAD || nb > TLM_MAX_PAYLOAD - na)
        return -1;
    uint8_t head[4], tail[2], wire[TLM_MAX_ENCODED];
    head[0] = TLM_VERSION;
    head[1] = type;
    tlm_put_u16(head + 2, link->tx_seq++);
    tlm_put_u16(tail, tlm_crc16(b, nb, tlm_crc16(a, na, tlm_crc16(head, sizeof head, 0xFFFFu))));
    const uint8_t *part[4] = {head, a, b, tail};
    const size_t len[4] = {sizeof head, na, nb, sizeof tail};
    cobs_enc_t e;
    cobs_begin(&e, wire);
    for (int k = 0; k < 4; ++k)
        for (size_t i = 0; i < len[k]; ++i)
            cobs_put(&e, part[k][i]);
    size_t n = cobs_end(&e);
    wire[n++] = 0;
    link->write(link->user, wire, n);
    return 0;
}

int tlm_send(tlm_link_t *link, uint8_t type, const uint8_t *payload, size_t len)
{
    return tlm_send2(link, type, payload, len, 0, 0);
}

int tlm_receive(tlm_link_t *link, uint8_t byte, tlm_frame_t *frame)
{
    if (byte != 0) {
        if (link->rx_len < sizeof link->rx_buf)
            link->rx_buf[link->rx_len++] = byte;
        else
            link->rx_overflow = 1;
        return 0;
    }
    const size_t len = link->rx_len;
    const int overflow = link->rx_overflow;
    link->rx_len = 0;
    link->rx_overflow = 0;
    if (len == 0)
        return 0;
    uint8_t body[TLM_MAX_ENCODED];
    const size_t n = overflow ? (size_t)-1 : tlm_cobs_decode(link->rx_buf, len, body);
    if (n == (size_t)-1 || n < 6 || n > TLM_MAX_BODY || body[0] != TLM_VERSION ||
        tlm_crc16(body, n - 2, 0xFFFFu) != tlm_get_u16(body + n - 2)) {
        ++link->frames_bad;
        return 0;
    }
    const uint16_t seq = tlm_get_u16(body + 2);
    if (link->rx_last_seq >= 0) {
        if (seq == (uint16_t)link->rx_last_seq) {
            ++link->duplicates;
            return 0;
        }
        link->seq_gaps += (uint16_t)(seq - (uint16_t)link->rx_last_seq - 1u);
    }
    link->rx_last_seq = seq;
    ++link->frames_ok;
    frame->type = body[1];
    frame->seq = seq;
    frame->len = (uint16_t)(n - 6);
    for (size_t i = 0; i < frame->len; ++i)
        frame->payload[i] = body[4 + i];
    return 1;
}
