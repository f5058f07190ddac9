"""Telemetry framing and messages: round trips, and a decoder that survives bad bytes."""

import numpy as np
import pytest

from pyrtrl.device import protocol as P


def test_crc16_check_value():
    assert P.crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00" * 240, bytes(range(240)), b"abc\x00def"])
def test_frame_round_trip(payload):
    wire = P.encode_frame(P.SAMPLES, 513, payload)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    d = P.FrameDecoder()
    (f,) = d.feed(wire)
    assert (f.type, f.seq, f.payload) == (P.SAMPLES, 513, payload)
    assert d.stats.frames_ok == 1 and d.stats.frames_bad == 0


def test_oversized_payload_is_refused():
    with pytest.raises(P.PyrtrlError):
        P.encode_frame(P.SAMPLES, 0, b"x" * (P.MAX_PAYLOAD + 1))


def test_messages_round_trip():
    h = P.Hello(1, 16, 32, 1, 1, 793, 64200, 65000, 50_000_000, 40, 8, "lm3s6965evb", "0.1.0")
    assert P.Hello.unpack(h.pack()) == h
    x = np.arange(12, dtype=np.int32).reshape(4, 3) - 5
    t = np.arange(8, dtype=np.int32).reshape(4, 2) * 1000
    lab = np.array([-1, 0, 1, -1], dtype=np.int16)
    for s in (P.Samples(x, t), P.Samples(x, None, lab), P.Samples(x, t, lab)):
        u = P.Samples.unpack(s.pack(), 3, 2)
        assert np.array_equal(u.x, x)
        assert (u.target is None) == (s.target is None) and (u.labels is None) == (s.labels is None)
        if s.target is not None:
            assert np.array_equal(u.target, t)
    assert P.Samples.capacity(1, 1) * 8 + 3 <= P.MAX_PAYLOAD
    recs = [P.StepRecord(i, -5 + i, np.array([i, -i]), 3, 4, 1000 * i, 77, 0) for i in range(3)]
    u = P.StepStats.unpack(P.StepStats(recs).pack(), 2)
    assert [r.step for r in u.records] == [0, 1, 2] and np.array_equal(u.records[2].out_q, [2, -2])
    for m in (P.Weights(4, b"\x01\x02"), P.WeightsEnd(8, 0xDEADBEEF), P.Ack(7, P.START),
              P.Error(0xFFFF, P.ERR_CRC, "bad crc"), P.Credit(12)):
        assert type(m).unpack(m.pack()) == m


def stream_of(n):
    return [P.encode_frame(P.STEP_STATS, i, bytes([i % 251]) * (i % 50)) for i in range(n)]


def test_decoder_resynchronises_after_corruption_truncation_duplication():
    frames = stream_of(60)
    rng = np.random.default_rng(0)
    wire = bytearray()
    damaged = set()
    for i, f in enumerate(frames):
        f = bytearray(f)
        if i % 10 == 3:  # flip a byte inside
            f[rng.integers(0, len(f) - 1)] ^= 0x5A
            damaged.add(i)
        if i % 10 == 6:  # cut in the middle (the rest of the frame is lost)
            f = f[: len(f) // 2]
            damaged.add(i)
        wire += f
        if i % 10 == 8:  # sent twice
            wire += f
    d = P.FrameDecoder()
    got = []
    for k in range(0, len(wire), 7):  # arbitrary chunking
        got += d.feed(bytes(wire[k:k + 7]))
    seqs = [f.seq for f in got]
    assert seqs == sorted(set(seqs))  # in order, no duplicate delivered
    assert set(seqs) <= set(range(60))
    # every undamaged frame arrives, except the one a truncated neighbour merged into
    missing = set(range(60)) - set(seqs) - damaged
    assert len(missing) <= sum(1 for i in damaged if i % 10 == 6)
    assert d.stats.frames_bad >= len([i for i in damaged if i % 10 == 3]) // 2
    assert d.stats.duplicates == 6
    assert d.stats.seq_gaps == (max(seqs) - min(seqs) + 1) - len(seqs)  # every loss is seen


def test_decoder_never_raises_on_garbage():
    rng = np.random.default_rng(1)
    d = P.FrameDecoder()
    for _ in range(200):
        d.feed(bytes(rng.integers(0, 256, rng.integers(0, 300), dtype=np.uint8)))
    d.feed(P.encode_frame(P.ACK, 9, P.Ack(1, 2).pack()))
    assert d.feed(b"\x00" + P.encode_frame(P.ACK, 10, b"")) [-1].seq == 10
    assert d.stats.frames_bad > 0
