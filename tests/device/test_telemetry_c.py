"""The firmware's C telemetry code (firmware/protocol) against the host's pyrtrl.device.protocol.

The C file is compiled for the host with cffi at test time, so the same bytes are checked in
both directions: frames the device would send decode on the host, and host frames parse on
the device, including after corruption. The ``tlm`` fixture (tests/conftest.py) compiles
it once per session.
"""

import numpy as np
import pytest

from pyrtrl.device import protocol as P


def test_crc_matches(tlm):
    ffi, lib, _ = tlm
    rng = np.random.default_rng(0)
    for n in (0, 1, 9, 100, 246):
        data = bytes(rng.integers(0, 256, n, dtype=np.uint8))
        assert lib.tlm_crc16(data, n, 0xFFFF) == P.crc16(data)
        assert lib.tlm_crc32(data, n, 0) == P.crc32(data)


@pytest.mark.parametrize("n", [0, 1, 253, 254, 255, 300, 508, 509])
def test_cobs_interoperates(tlm, n):
    from cobs import cobs

    ffi, lib, _ = tlm
    rng = np.random.default_rng(n)
    for data in (bytes(rng.integers(0, 256, n, dtype=np.uint8)), b"\x07" * n, b"\x00" * n):
        dst = ffi.new("uint8_t[]", n + n // 254 + 2)
        m = lib.tlm_cobs_encode(data, n, dst)
        enc = bytes(ffi.buffer(dst, m))
        assert b"\x00" not in enc
        assert cobs.decode(enc) == data
        py = cobs.encode(data)
        back = ffi.new("uint8_t[]", max(len(py), 1))
        k = lib.tlm_cobs_decode(py, len(py), back)
        assert bytes(ffi.buffer(back, k)) == data


def test_device_frames_decode_on_the_host(tlm):
    ffi, lib, sent = tlm
    link = ffi.new("tlm_link_t *")
    lib.tlm_init(link, lib.collect, ffi.NULL)
    sent.clear()
    payloads = [b"", b"\x00\x01\x02", bytes(range(240)), b"\xff" * 240]
    for p in payloads:
        assert lib.tlm_send(link, P.STEP_STATS, p, len(p)) == 0
    assert lib.tlm_send(link, P.STEP_STATS, b"x" * 241, 241) == -1
    d = P.FrameDecoder()
    frames = d.feed(bytes(sent))
    assert [f.payload for f in frames] == payloads and [f.seq for f in frames] == [0, 1, 2, 3]


def test_host_frames_parse_on_the_device_and_bad_ones_are_counted(tlm):
    ffi, lib, _ = tlm
    link = ffi.new("tlm_link_t *")
    lib.tlm_init(link, lib.collect, ffi.NULL)
    frame = ffi.new("tlm_frame_t *")
    wire = bytearray()
    good = []
    for i in range(40):
        f = bytearray(P.encode_frame(P.SAMPLES, i, bytes([i]) * (i * 5 % 200)))
        if i % 9 == 4:
            f[len(f) // 2] ^= 0x21  # corrupt
        else:
            good.append(i)
        wire += f
        if i % 13 == 7:
            wire += f  # duplicate
    wire += b"\x55" * 600 + b"\x00"  # garbage longer than any frame
    got = []
    for b in wire:
        if lib.tlm_receive(link, b, frame):
            got.append((frame.seq, bytes(frame.payload[0:frame.len])))
    assert [s for s, _ in got] == good
    assert all(p == bytes([s]) * (s * 5 % 200) for s, p in got)
    assert link.frames_bad >= 40 - len(good)  # the corrupted frames and the garbage run
    assert link.duplicates == sum(1 for i in range(40) if i % 13 == 7 and i % 9 != 4)
