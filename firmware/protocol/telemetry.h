/*
 * telemetry.h - the device side of the telemetry protocol (docs/telemetry.md), version 1.
 *
 * Frames: COBS(version | type | seq | payload | crc16) 0x00. Freestanding C99: no malloc,
 * no stdio; bytes go out through a caller-supplied function and come in one at a time.
 */
#ifndef TELEMETRY_H
#define TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#define TLM_VERSION 1u
#define TLM_MAX_PAYLOAD 240u
#define TLM_MAX_BODY (TLM_MAX_PAYLOAD + 6u)                  /* header 4 + crc 2 */
#define TLM_MAX_ENCODED (TLM_MAX_BODY + TLM_MAX_BODY / 254u + 2u) /* COBS + delimiter */

enum {
    TLM_HELLO_REQ = 0x01, TLM_START = 0x02, TLM_STOP = 0x03, TLM_RESET = 0x04,
    TLM_SET_LR = 0x05, TLM_DUMP = 0x06, TLM_LOAD = 0x07, TLM_LOAD_END = 0x08, TLM_EXIT = 0x09,
    TLM_SAMPLES = 0x10,
    TLM_HELLO = 0x81, TLM_STEP_STATS = 0x82, TLM_WEIGHTS = 0x83, TLM_WEIGHTS_END = 0x84,
    TLM_ACK = 0x85, TLM_ERROR = 0x86, TLM_CREDIT = 0x87
};

enum {
    TLM_ERR_CRC = 1, TLM_ERR_TYPE = 2, TLM_ERR_LENGTH = 3, TLM_ERR_STATE = 4,
    TLM_ERR_RANGE = 5, TLM_ERR_OVERFLOW = 6, TLM_ERR_LOAD = 7,
    TLM_ERR_BUSY = 8 /* a byte arrived while the device stepped (docs/telemetry.md) */
};

/* CRC-16/CCITT-FALSE over len bytes, continuing from crc (start with 0xFFFF). */
uint16_t tlm_crc16(const uint8_t *data, size_t len, uint16_t crc);
/* CRC-32 (IEEE, reflected, as zlib), continuing from crc (start with 0). */
uint32_t tlm_crc32(const uint8_t *data, size_t len, uint32_t crc);

/* COBS-encode len bytes into dst (room for len + len / 254 + 1); returns the encoded length
 * (no delimiter). */
size_t tlm_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);
/* COBS-decode len bytes (no delimiter) into dst (room for len); returns the decoded length,
 * or (size_t)-1 when the input is not valid COBS. */
size_t tlm_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst);

typedef void (*tlm_write_fn)(void *user, const uint8_t *bytes, size_t len);

/* One direction of a link: the sender's sequence counter and the receiver's state. */
typedef struct {
    tlm_write_fn write;
    void *user;
    uint16_t tx_seq;
    /* receiver */
    uint8_t rx_buf[TLM_MAX_ENCODED];
    size_t rx_len;
    uint8_t rx_overflow;     /* the current frame outgrew the buffer: drop it at its end */
    int32_t rx_last_seq;     /* -1 before the first frame */
    uint32_t frames_ok, frames_bad, seq_gaps, duplicates;
} tlm_link_t;

typedef struct {
    uint8_t type;
    uint16_t seq;
    uint16_t len;
    uint8_t payload[TLM_MAX_PAYLOAD];
} tlm_frame_t;

void tlm_init(tlm_link_t *link, tlm_write_fn write, void *user);

/* Send one frame (payload may be NULL when len is 0). Returns 0, or -1 if len is too big. */
int tlm_send(tlm_link_t *link, uint8_t type, const uint8_t *payload, size_t len);
/* The same, the payload given in two parts (a then b; either may be empty). */
int tlm_send2(tlm_link_t *link, uint8_t type, const uint8_t *a, size_t na, const uint8_t *b,
              size_t nb);

/* Feed one received byte. Returns 1 and fills *frame when it completed a valid, new frame;
 * 0 otherwise (bad frames are counted, duplicates dropped). */
int tlm_receive(tlm_link_t *link, uint8_t byte, tlm_frame_t *frame);

/* Little-endian helpers for payloads. */
static inline uint8_t *tlm_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static inline uint8_t *tlm_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static inline uint16_t tlm_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tlm_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif /* TELEMETRY_H */
