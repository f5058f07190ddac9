"""The telemetry protocol between the host and the learner firmware (docs/telemetry.md).

Frames are COBS-encoded and end with a zero byte; inside: version, type, sequence number,
payload, CRC-16/CCITT-FALSE. Every message type has a dataclass with ``pack``/``unpack``.
:class:`FrameDecoder` turns a byte stream into frames and never raises: corrupt, truncated
and duplicated input is counted and skipped, and decoding resynchronises at the next zero.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from cobs import cobs

from ..errors import PyrtrlError
from ..fixed.arith import FRAC

VERSION = 1
#: largest payload of one frame (the firmware's buffers are sized for it)
MAX_PAYLOAD = 240
HEADER = struct.Struct("<BBH")  # version, type, seq

# host -> device
HELLO_REQ = 0x01
START = 0x02
STOP = 0x03
RESET = 0x04
SET_LR = 0x05
DUMP = 0x06
LOAD = 0x07
LOAD_END = 0x08
EXIT = 0x09
SAMPLES = 0x10
# device -> host
HELLO = 0x81
STEP_STATS = 0x82
WEIGHTS = 0x83
WEIGHTS_END = 0x84
ACK = 0x85
ERROR = 0x86
CREDIT = 0x87

TYPE_NAMES = {
    HELLO_REQ: "HELLO_REQ", START: "START", STOP: "STOP", RESET: "RESET", SET_LR: "SET_LR",
    DUMP: "DUMP", LOAD: "LOAD", LOAD_END: "LOAD_END", EXIT: "EXIT", SAMPLES: "SAMPLES", HELLO: "HELLO",
    STEP_STATS: "STEP_STATS", WEIGHTS: "WEIGHTS", WEIGHTS_END: "WEIGHTS_END", ACK: "ACK",
    ERROR: "ERROR", CREDIT: "CREDIT",
}

# error codes carried by ERROR frames
ERR_CRC, ERR_TYPE, ERR_LENGTH, ERR_STATE, ERR_RANGE, ERR_OVERFLOW, ERR_LOAD, ERR_BUSY = range(1, 9)


def _crc16_table() -> List[int]:
    table = []
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE, as zlib) of a weights image."""
    import zlib

    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame on the wire: COBS(header + payload + CRC) followed by 0x00."""
    if len(payload) > MAX_PAYLOAD:
        raise PyrtrlError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte frame limit")
    body = HEADER.pack(VERSION, ftype & 0xFF, seq & 0xFFFF) + payload
    body += struct.pack("<H", crc16(body))
    return cobs.encode(body) + b"\x00"


@dataclass
class Frame:
    """A decoded, CRC-checked frame."""

    type: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")


@dataclass
class DecoderStats:
    """What the decoder saw; frames_bad counts every rejected frame."""

    frames_ok: int = 0
    bad_cobs: int = 0
    bad_crc: int = 0
    bad_version: int = 0
    too_short: int = 0
    too_long: int = 0
    seq_gaps: int = 0  # frames missing between two accepted ones (by sequence number)
    duplicates: int = 0  # frames whose sequence number repeated the previous one (dropped)
    bytes_in: int = 0

    @property
    def frames_bad(self) -> int:
        return self.bad_cobs + self.bad_crc + self.bad_version + self.too_short + self.too_long


class FrameDecoder:
    """Incremental frame decoder: feed it bytes, get frames; never raises on bad input."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.stats = DecoderStats()
        self._last_seq: Optional[int] = None
        #: limit on buffered bytes without a delimiter (a longer run is garbage)
        self.max_encoded = MAX_PAYLOAD + HEADER.size + 2 + (MAX_PAYLOAD + 6) // 254 + 2

    def feed(self, data: bytes) -> List[Frame]:
        """Consume bytes; return the valid frames completed by them, in order."""
        out: List[Frame] = []
        self.stats.bytes_in += len(data)
        data = bytes(data)
        start = 0
        while True:
            z = data.find(b"\x00", start)
            if z < 0:
                self.buf += data[start:]
                if len(self.buf) > self.max_encoded:  # no delimiter for too long: drop
                    self.stats.too_long += 1
                    self.buf.clear()
                break
            self.buf += data[start:z]
            start = z + 1
            raw = bytes(self.buf)
            self.buf.clear()
            if raw:
                f = self._decode(raw)
                if f is not None:
                    out.append(f)
        return out

    def _decode(self, raw: bytes) -> Optional[Frame]:
        s = self.stats
        if len(raw) > self.max_encoded:
            s.too_long += 1
            return None
        try:
            body = cobs.decode(raw)
        except cobs.DecodeError:
            s.bad_cobs += 1
            return None
        if len(body) < HEADER.size + 2:
            s.too_short += 1
            return None
        (crc,) = struct.unpack_from("<H", body, len(body) - 2)
        if crc16(body[:-2]) != crc:
            s.bad_crc += 1
            return None
        version, ftype, seq = HEADER.unpack_from(body)
        if version != VERSION:
            s.bad_version += 1
            return None
        if self._last_seq is not None:
            if seq == self._last_seq:
                s.duplicates += 1
                return None
            s.seq_gaps += (seq - self._last_seq - 1) & 0xFFFF
        self._last_seq = seq
        s.frames_ok += 1
        return Frame(ftype, seq, body[HEADER.size:-2])


# -- messages --------------------------------------------------------------------------------
def _pstr(s: str) -> bytes:
    b = s.encode("ascii", "replace")[:63]
    return bytes([len(b)]) + b


def _ustr(data: bytes, off: int) -> Tuple[str, int]:
    n = data[off]
    return data[off + 1:off + 1 + n].decode("ascii", "replace"), off + 1 + n


@dataclass
class Hello:
    """Device -> host, on boot and on HELLO_REQ: who it is and what it runs."""

    TYPE: ClassVar[int] = HELLO
    _S: ClassVar[struct.Struct] = struct.Struct("<BBHHHHIIIHH")
    protocol: int
    influence_bits: int
    n: int
    d: int
    k: int
    params: int
    learner_ram: int  # bytes of the learner's buffer (RTRL_REQUIRED_BYTES) + context
    ram_used: int  # bytes of RAM used so far: static data + the deepest stack since reset
    clock_hz: int
    max_samples: int  # samples that fit one SAMPLES frame
    window: int  # steps per STEP_STATS frame
    board: str
    library: str
    # optional tail after the strings (devices that predate it send none: None here)
    features: Optional[int] = None  # columns of W_o: n + taps * d (sizes the weights image)
    readout_flags: Optional[int] = None  # READOUT_C | READOUT_RLS | FREEZE_CELL | ADAM
    capabilities: Optional[int] = None  # CAP_* bits (devices that predate them: None)

    _TAIL: ClassVar[struct.Struct] = struct.Struct("<HB")
    READOUT_C: ClassVar[int] = 1  # the readout reads the state c (else the events y)
    READOUT_RLS: ClassVar[int] = 2  # the readout learns by RLS (else SGD)
    FREEZE_CELL: ClassVar[int] = 4  # only the readout learns
    ADAM: ClassVar[int] = 8  # what learns by gradient steps by Adam (else SGD)
    CAP_LABELLED_ONLY: ClassVar[int] = 1  # SAMPLES flag LABELLED_ONLY understood
    # SAMPLES flag MORE understood (steps only after a burst's last frame), a CREDIT follows
    # every HELLO (credit restarts there), and a byte found waiting after the steps is
    # reported as ERROR BUSY (docs/telemetry.md, flow control)
    CAP_QUIET_STEPS: ClassVar[int] = 2

    def pack(self) -> bytes:
        head = self._S.pack(self.protocol, self.influence_bits, self.n, self.d, self.k,
                            self.params, self.learner_ram, self.ram_used, self.clock_hz,
                            self.max_samples, self.window) + _pstr(self.board) + _pstr(self.library)
        if self.features is None:
            return head
        head += self._TAIL.pack(self.features, self.readout_flags or 0)
        return head if self.capabilities is None else head + struct.pack("<B", self.capabilities)

    @classmethod
    def unpack(cls, p: bytes) -> "Hello":
        vals = cls._S.unpack_from(p)
        board, off = _ustr(p, cls._S.size)
        lib, off = _ustr(p, off)
        tail = cls._TAIL.unpack_from(p, off) if len(p) >= off + cls._TAIL.size else (None, None)
        off += cls._TAIL.size
        caps = p[off] if tail[0] is not None and len(p) > off else None
        return cls(*vals, board, lib, *tail, caps)

    @property
    def labelled_only(self) -> bool:
        """The device takes SAMPLES with the LABELLED_ONLY flag (HELLO's capabilities byte)."""
        return bool((self.capabilities or 0) & self.CAP_LABELLED_ONLY)

    @property
    def quiet_steps(self) -> bool:
        """The device keeps the flow-control rule's side (HELLO's capabilities byte): it steps
        only after a burst's last SAMPLES frame (flag MORE clear), sends a CREDIT after each
        HELLO, and reports ERROR BUSY when a byte arrived while it stepped."""
        return bool((self.capabilities or 0) & self.CAP_QUIET_STEPS)


def readout_flags(readout_c: bool, rls: bool, freeze_cell: bool, adam: bool = False) -> int:
    """HELLO's readout byte for a learner's settings."""
    return ((Hello.READOUT_C if readout_c else 0) | (Hello.READOUT_RLS if rls else 0)
            | (Hello.FREEZE_CELL if freeze_cell else 0) | (Hello.ADAM if adam else 0))


@dataclass
class Samples:
    """Host -> device: a batch of samples in Q16 (targets and labels optional)."""

    TYPE: ClassVar[int] = SAMPLES
    x: np.ndarray  # (count, d) int32
    target: Optional[np.ndarray] = None  # (count, k) int32
    labels: Optional[np.ndarray] = None  # (count,) int16
    # report only the steps with a label >= 0, each record's events, active columns, MACs
    # and ticks summed since the previous record (flags bit 2; HELLO's CAP_LABELLED_ONLY)
    labelled_only: bool = False
    # another SAMPLES frame of the same burst follows at once: the device steps only after
    # a burst's last frame (flags bit 3; HELLO's CAP_QUIET_STEPS; docs/telemetry.md)
    more: bool = False

    HAS_TARGET: ClassVar[int] = 1
    HAS_LABELS: ClassVar[int] = 2
    LABELLED_ONLY: ClassVar[int] = 4
    MORE: ClassVar[int] = 8

    def pack(self) -> bytes:
        count = self.x.shape[0]
        if self.labelled_only and self.labels is None:
            raise PyrtrlError("SAMPLES: labelled_only needs labels")
        flags = ((self.HAS_TARGET if self.target is not None else 0)
                 | (self.HAS_LABELS if self.labels is not None else 0)
                 | (self.LABELLED_ONLY if self.labelled_only else 0)
                 | (self.MORE if self.more else 0))
        if count == 0:  # (reshape(0, -1) below would fail)
            return struct.pack("<HB", 0, flags)
        rows = [np.asarray(self.x, dtype="<i4").reshape(count, -1)]
        if self.target is not None:
            rows.append(np.asarray(self.target, dtype="<i4").reshape(count, -1))
        parts = [struct.pack("<HB", count, flags)]
        for t in range(count):
            parts.append(b"".join(r[t].tobytes() for r in rows))
            if self.labels is not None:
                parts.append(struct.pack("<h", int(self.labels[t])))
        return b"".join(parts)

    @classmethod
    def unpack(cls, p: bytes, d: int, k: int) -> "Samples":
        count, flags = struct.unpack_from("<HB", p)
        has_t, has_l = flags & cls.HAS_TARGET, flags & cls.HAS_LABELS
        rec = 4 * d + (4 * k if has_t else 0) + (2 if has_l else 0)
        if len(p) != 3 + count * rec:
            raise PyrtrlError(f"SAMPLES payload of {len(p)} bytes does not hold {count} samples")
        x = np.empty((count, d), dtype=np.int32)
        tg = np.empty((count, k), dtype=np.int32) if has_t else None
        lab = np.empty(count, dtype=np.int16) if has_l else None
        off = 3
        for t in range(count):
            x[t] = np.frombuffer(p, "<i4", d, off)
            off += 4 * d
            if has_t:
                tg[t] = np.frombuffer(p, "<i4", k, off)
                off += 4 * k
            if has_l:
                (lab[t],) = struct.unpack_from("<h", p, off)
                off += 2
        return cls(x, tg, lab, bool(flags & cls.LABELLED_ONLY) and lab is not None, bool(flags & cls.MORE))

    @staticmethod
    def capacity(d: int, k: int, has_target: bool = True, has_label: bool = False) -> int:
        """Samples that fit one frame."""
        rec = 4 * d + (4 * k if has_target else 0) + (2 if has_label else 0)
        return (MAX_PAYLOAD - 3) // rec


@dataclass
class StepRecord:
    """Statistics of one learning step, as the device measured them. ``events``,
    ``active_cols``, ``macs`` and ``instructions`` (ticks) are the sums over the steps since
    the device's previous record: the step's own values, except in a LABELLED_ONLY stream
    (each field saturates at its maximum)."""

    step: int
    loss_q: int  # Q16
    out_q: np.ndarray  # (k,) Q16 prediction
    events: int
    active_cols: int
    macs: int
    instructions: int  # 0 when the board does not measure them
    saturations: int  # running total


def records_as_float(records: Sequence[StepRecord], k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(outputs (N x k), losses (N,)) of device records as floats: their Q16 numbers / 2^16,
    exact (the host library's ``CRunResult`` conversion)."""
    out = np.array([list(r.out_q[:k]) for r in records], dtype=np.float64).reshape(-1, k) / (1 << FRAC)
    loss = np.array([r.loss_q for r in records], dtype=np.float64) / (1 << FRAC)
    return out, loss


@dataclass
class StepStats:
    """Device -> host: the records of a window of consecutive steps."""

    TYPE: ClassVar[int] = STEP_STATS
    _R: ClassVar[struct.Struct] = struct.Struct("<IiHHIII")
    records: List[StepRecord] = field(default_factory=list)

    def pack(self) -> bytes:
        parts = [struct.pack("<B", len(self.records))]
        for r in self.records:
            parts.append(self._R.pack(r.step, r.loss_q, r.events, r.active_cols, r.macs,
                                      r.instructions, r.saturations))
            parts.append(np.asarray(r.out_q, dtype="<i4").tobytes())
        return b"".join(parts)

    @classmethod
    def unpack(cls, p: bytes, k: int) -> "StepStats":
        (count,) = struct.unpack_from("<B", p)
        size = cls._R.size + 4 * k
        if len(p) != 1 + count * size:
            raise PyrtrlError(f"STEP_STATS payload of {len(p)} bytes does not hold {count} records")
        recs = []
        off = 1
        for _ in range(count):
            step, loss, ev, act, macs, ins, sat = cls._R.unpack_from(p, off)
            out = np.frombuffer(p, "<i4", k, off + cls._R.size).astype(np.int64)
            recs.append(StepRecord(step, loss, out, ev, act, macs, ins, sat))
            off += size
        return cls(recs)

    @staticmethod
    def capacity(k: int) -> int:
        return (MAX_PAYLOAD - 1) // (StepStats._R.size + 4 * k)


@dataclass
class Weights:
    """Device -> host (dump) or host -> device (LOAD): a chunk of the weights image."""

    offset: int
    data: bytes
    TYPE: ClassVar[int] = WEIGHTS

    def pack(self) -> bytes:
        return struct.pack("<I", self.offset) + self.data

    @classmethod
    def unpack(cls, p: bytes) -> "Weights":
        (off,) = struct.unpack_from("<I", p)
        return cls(off, bytes(p[4:]))


@dataclass
class WeightsEnd:
    """End of a weights image: its size and CRC-32."""

    total: int
    crc: int
    TYPE: ClassVar[int] = WEIGHTS_END

    def pack(self) -> bytes:
        return struct.pack("<II", self.total, self.crc)

    @classmethod
    def unpack(cls, p: bytes) -> "WeightsEnd":
        return cls(*struct.unpack_from("<II", p))


@dataclass
class Ack:
    """Device -> host: a command was carried out."""

    seq: int
    type: int
    TYPE: ClassVar[int] = ACK

    def pack(self) -> bytes:
        return struct.pack("<HB", self.seq, self.type)

    @classmethod
    def unpack(cls, p: bytes) -> "Ack":
        return cls(*struct.unpack_from("<HB", p))


@dataclass
class Error:
    """Device -> host: a frame was refused (seq 0xFFFF when it could not be read)."""

    seq: int
    code: int
    message: str
    TYPE: ClassVar[int] = ERROR

    def pack(self) -> bytes:
        return struct.pack("<HB", self.seq, self.code) + _pstr(self.message)

    @classmethod
    def unpack(cls, p: bytes) -> "Error":
        seq, code = struct.unpack_from("<HB", p)
        msg, _ = _ustr(p, 3)
        return cls(seq, code, msg)


@dataclass
class Credit:
    """Device -> host: how many more samples it can take now (flow control)."""

    samples: int
    TYPE: ClassVar[int] = CREDIT

    def pack(self) -> bytes:
        return struct.pack("<H", self.samples)

    @classmethod
    def unpack(cls, p: bytes) -> "Credit":
        return cls(*struct.unpack_from("<H", p))


def set_lr_payload(lr_q: int) -> bytes:
    """SET_LR payload: the per-update learning rate, Q24."""
    return struct.pack("<i", lr_q)


MESSAGES: Dict[int, Type] = {c.TYPE: c for c in (Hello, StepStats, Weights, WeightsEnd, Ack, Error, Credit)}


def weights_image(theta: Sequence[int], w_o: Sequence[int], b_o: Sequence[int]) -> bytes:
    """The byte image a DUMP sends and a LOAD expects: theta, W_o (row-major), b_o as int32 LE."""
    return b"".join(np.asarray(a, dtype="<i4").ravel().tobytes() for a in (theta, w_o, b_o))
