"""The firmware's C telemetry code (firmware/protocol) against the host's pyrtrl.protocol.

The C file is compiled for the host with cffi at test time, so the same bytes are checked in
both directions: frames the device would send decode on the host, and host frames parse on
the device, including after corruption.
"""

from pathlib import Path

import numpy as np
import pytest

from pyrtrl import protocol as P

SRC = Path(__file__).resolve().parents[1] / "firmware" / "protocol"


@pytest.fixture(scope="module")
def tlm(tmp_path_factory):
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef("""
        uint16_t tlm_crc16(const uint8_t *data, size_t len, uint16_t crc);
        uint32_t tlm_crc32(const uint8_t *data, size_t len, uint32_t crc);
        size_t tlm_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);
        size_t tlm_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst);
        typedef void (*tlm_write_fn)(void *user, const uint8_t *bytes, size_t len);
        typedef struct { uint32_t frames_ok, frames_bad, seq_gaps, duplicates; ...; } tlm_link_t;
        typedef struct { uint8_t type; uint16_t seq; uint16_t len; uint8_t payload[240]; } tlm_frame_t;
        void tlm_init(tlm_link_t *link, tlm_write_fn write, void *user);
        int tlm_send(tlm_link_t *link, uint8_t type, const uint8_t *payload, size_t len);
        int tlm_receive(tlm_link_t *link, uint8_t byte, tlm_frame_t *frame);
        extern "Python" void collect(void *, const uint8_t *, size_t);
    """)
    ffi.set_source("_tlm_test", '#include "telemetry.h"', sources=[str(SRC / "telemetry.c")],
                   include_dirs=[str(SRC)], extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Werror"])
    out = tmp_path_factory.mktemp("tlm")
    lib_path = ffi.compile(tmpdir=str(out))
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tlm_test", lib_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sent = bytearray()

    @mod.ffi.def_extern()
    def collect(user, data, n):
        sent.extend(mod.ffi.buffer(data, n))

    return mod.ffi, mod.lib, sent


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
