"""Shared fixtures."""

import importlib.util
from pathlib import Path

import pytest

TLM_SRC = Path(__file__).resolve().parents[1] / "firmware" / "protocol"


@pytest.fixture(scope="session")
def tlm(tmp_path_factory):
    """The firmware's telemetry.c compiled for the host with cffi: (ffi, lib, sent).

    ``sent`` collects what ``tlm_send`` writes through the ``collect`` callback.
    """
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
    ffi.set_source("_tlm_test", '#include "telemetry.h"', sources=[str(TLM_SRC / "telemetry.c")],
                   include_dirs=[str(TLM_SRC)], extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Werror"])
    out = tmp_path_factory.mktemp("tlm")
    lib_path = ffi.compile(tmpdir=str(out))
    spec = importlib.util.spec_from_file_location("_tlm_test", lib_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sent = bytearray()

    @mod.ffi.def_extern()
    def collect(user, data, n):
        sent.extend(mod.ffi.buffer(data, n))

    return mod.ffi, mod.lib, sent
