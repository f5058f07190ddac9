"""Talking to a learner device over a serial link (pyserial port, QEMU socket, or in memory).

:class:`Device` is the host side: handshake, commands, streaming samples under the
device's flow-control credit, collecting step statistics, dumping and loading weights.
:class:`SimulatedDevice` is the device side written in Python over the C library
(:class:`pyrtrl.deploy.runtime.CLearner`): ``pyrtrl run --board host`` uses it, and it is the
reference behaviour the firmware's learner application follows.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Deque, List, Optional

import numpy as np

from . import protocol as P
from ..errors import PyrtrlError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..deploy.runtime import CLearner


def _quiet_steps(hello_payload: bytes) -> bool:
    """The HELLO in ``hello_payload`` announces ``CAP_QUIET_STEPS`` (False if unreadable)."""
    try:
        return P.Hello.unpack(hello_payload).quiet_steps
    except (struct.error, IndexError, UnicodeDecodeError):
        return False


class MemoryLink:
    """One end of an in-memory byte pipe with pyserial's read/write/timeout interface."""

    def __init__(self, rx: Deque[bytes], tx: Deque[bytes], cond: threading.Condition,
                 timeout: float = 1.0) -> None:
        self._rx, self._tx, self._cond = rx, tx, cond
        self.timeout = timeout
        self.closed = False

    @staticmethod
    def pair(timeout: float = 1.0) -> "tuple[MemoryLink, MemoryLink]":
        a, b = deque(), deque()
        cond = threading.Condition()
        return MemoryLink(a, b, cond, timeout), MemoryLink(b, a, cond, timeout)

    def write(self, data: bytes) -> int:
        with self._cond:
            self._tx.append(bytes(data))
            self._cond.notify_all()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        deadline = time.monotonic() + (self.timeout or 0)
        with self._cond:
            while not self._rx:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return b""
                self._cond.wait(left)
            chunk = self._rx.popleft()
            if len(chunk) > size:
                self._rx.appendleft(chunk[size:])
                chunk = chunk[:size]
            return chunk

    @property
    def in_waiting(self) -> int:
        with self._cond:
            return sum(len(c) for c in self._rx)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


@dataclass
class LinkStats:
    """What the host saw on the link."""

    frames_sent: int = 0
    errors: List[P.Error] = field(default_factory=list)


class Device:
    """Host side of the protocol over a serial-like object (``read``, ``write``, ``timeout``).

    Parameters
    ----------
    port :
        A pyserial ``Serial`` (e.g. ``serial.serial_for_url("socket://127.0.0.1:PORT")``) or
        a :class:`MemoryLink`.
    timeout : float
        Seconds without any frame from the device before it is declared unresponsive.
    """

    def __init__(self, port, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.decoder = P.FrameDecoder()
        self.seq = 0
        self.stats = LinkStats()
        self.pending: Deque[P.Frame] = deque()
        self.hello_msg: Optional[P.Hello] = None
        self.credit = 0
        self.grants = 0  # CREDIT frames received
        # the device owes a CREDIT: it is learning a SAMPLES frame (or, with
        # CAP_QUIET_STEPS, has just sent a HELLO); the host sends nothing until it comes
        self.owed_credit = False

    # -- frames --------------------------------------------------------------------------
    def send(self, ftype: int, payload: bytes = b"") -> int:
        seq = self.seq
        self.port.write(P.encode_frame(ftype, seq, payload))
        self.seq = (self.seq + 1) & 0xFFFF
        self.stats.frames_sent += 1
        return seq

    def _pump(self, wait: float) -> None:
        """Read what has arrived, waiting up to ``wait`` s for the first byte, into pending.

        Reads what ``in_waiting`` reports (a pyserial ``read(n)`` would block until n bytes
        or its timeout), with the port's timeout set to the time left.
        """
        port = self.port
        n = port.in_waiting
        if not n:
            port.timeout = max(0.001, wait)
            first = port.read(1)
            if not first:
                return
            try:
                data = first + (port.read(port.in_waiting) if port.in_waiting else b"")
            except OSError:  # pyserial's SerialException: the link closed after `first`
                # deliver what arrived (it may end the frame being waited for); the next
                # read meets the closed link again and raises then
                data = first
        else:
            data = port.read(n)
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        for f in self.decoder.feed(data):
            self._note(f)
            self.pending.append(f)

    def _note(self, f: P.Frame) -> None:
        if f.type == P.CREDIT:  # grants add up: each says how many more samples fit
            self.credit += P.Credit.unpack(f.payload).samples
            self.grants += 1
            self.owed_credit = False
        elif f.type == P.HELLO and _quiet_steps(f.payload):
            self.credit = 0  # the CREDIT that follows every HELLO grants the whole free queue
            self.owed_credit = True
        elif f.type == P.ERROR:
            self.stats.errors.append(P.Error.unpack(f.payload))

    def expect(self, ftype: int, what: str, timeout: Optional[float] = None) -> P.Frame:
        """The next frame of ``ftype`` (others stay queued); one-line error on timeout."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            for i, f in enumerate(self.pending):
                if f.type == ftype:
                    del self.pending[i]
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                raise PyrtrlError(f"device did not answer {what} within {limit:g} s "
                                  f"(frames ok {self.decoder.stats.frames_ok}, bad {self.decoder.stats.frames_bad})")
            self._pump(min(left, 0.2))

    # -- commands ------------------------------------------------------------------------
    def hello(self, boot_wait: float = 1.0) -> P.Hello:
        """Who is there: the HELLO a device sends on boot, else the answer to HELLO_REQ.

        Waiting first for the boot HELLO keeps the host quiet while the device sets up its
        UART (bytes sent then can be lost, and the device would count a bad frame).
        """
        try:
            f = self.expect(P.HELLO, "HELLO", timeout=boot_wait)
        except PyrtrlError:  # (a real board booted before the port was opened)
            self.send(P.HELLO_REQ)
            f = self.expect(P.HELLO, "HELLO")
        self.hello_msg = P.Hello.unpack(f.payload)
        self.await_credit("HELLO")  # (under the flow-control rule nothing is sent before it)
        return self.hello_msg

    def request_hello(self) -> P.Hello:
        """HELLO_REQ and its answer, now: after a run its ``ram_used`` is the firmware's peak
        RAM use (static data plus the deepest stack so far)."""
        self.send(P.HELLO_REQ)
        f = self.expect(P.HELLO, "HELLO")
        self.await_credit("HELLO")
        return P.Hello.unpack(f.payload)

    def await_credit(self, after: str) -> None:
        """Wait for the CREDIT the device owes (after a SAMPLES frame, or a HELLO of a device
        with ``CAP_QUIET_STEPS``): it is then idle, waiting for bytes."""
        deadline = time.monotonic() + self.timeout
        while self.owed_credit:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PyrtrlError(f"device sent no CREDIT after {after} within {self.timeout:g} s")
            self._pump(min(left, 0.2))

    def command(self, ftype: int, payload: bytes = b"") -> None:
        """Send a command and wait for its ACK (or raise on the device's ERROR)."""
        self._await_ack(self.send(ftype, payload), P.TYPE_NAMES.get(ftype, str(ftype)))

    def _await_ack(self, seq: int, name: str) -> None:
        while True:
            for e in self.stats.errors:
                if e.seq == seq:
                    raise PyrtrlError(f"device refused {name}: error {e.code} ({e.message})")
            f = self.expect_any((P.ACK, P.ERROR), name)
            if f.type == P.ACK and P.Ack.unpack(f.payload).seq == seq:
                return

    def start(self) -> None:
        self.command(P.START)

    def stop(self) -> None:
        self.command(P.STOP)

    def reset(self) -> None:
        self.command(P.RESET)

    def set_lr(self, lr_q: int) -> None:
        self.command(P.SET_LR, P.set_lr_payload(lr_q))

    def exit(self) -> None:
        """Ask the firmware to stop (under QEMU it then exits with status 0).

        Under QEMU the link closes as soon as the firmware has sent its ACK, and the close
        can overtake the host's read of the ACK's last bytes: a link that closes after EXIT
        was sent is the end asked for, not a failure. QEMU's exit status, which the caller
        checks, is the firmware's verdict.
        """
        seq = self.send(P.EXIT)
        try:
            self._await_ack(seq, "EXIT")
        except OSError:  # pyserial's SerialException: the link closed
            pass

    def dump_weights(self) -> bytes:
        """The device's weights image (checked against its CRC-32)."""
        self.send(P.DUMP)
        chunks = {}
        while True:
            f = self.expect_any((P.WEIGHTS, P.WEIGHTS_END), "DUMP")
            if f.type == P.WEIGHTS:
                w = P.Weights.unpack(f.payload)
                chunks[w.offset] = w.data
            else:
                end = P.WeightsEnd.unpack(f.payload)
                break
        image = b"".join(chunks[k] for k in sorted(chunks))
        if len(image) != end.total or P.crc32(image) != end.crc:
            raise PyrtrlError(f"weights dump damaged: got {len(image)} of {end.total} bytes, "
                              f"crc {'ok' if P.crc32(image) == end.crc else 'wrong'}")
        return image

    def load_weights(self, image: bytes) -> None:
        """Replace the device's weights with ``image`` (same layout as a dump)."""
        step = P.MAX_PAYLOAD - 4
        for off in range(0, len(image), step):
            self.command(P.LOAD, P.Weights(off, image[off:off + step]).pack())
        self.command(P.LOAD_END, P.WeightsEnd(len(image), P.crc32(image)).pack())

    def expect_any(self, types, what: str) -> P.Frame:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, f in enumerate(self.pending):
                if f.type in types:
                    del self.pending[i]
                    return f
            if time.monotonic() >= deadline:
                raise PyrtrlError(f"device did not answer {what} within {self.timeout:g} s")
            self._pump(0.2)

    def stream(self, x: np.ndarray, target: Optional[np.ndarray] = None,
               labels: Optional[np.ndarray] = None,
               on_records: Optional[Callable[[List[P.StepRecord]], None]] = None,
               labelled_only: bool = False) -> List[P.StepRecord]:
        """Send Q16 samples under flow control and collect one StepRecord per step.

        ``on_records`` is called as records arrive (to save them to disk immediately).
        ``labelled_only`` (needs ``labels`` with one at the last step, and a device whose
        HELLO announces ``CAP_LABELLED_ONLY``): the device reports only the steps with a
        label >= 0, each record's counts summed since its previous record; one record per
        such step, the last one's after every sample was learned.

        Flow control (docs/telemetry.md): one burst of SAMPLES frames per CREDIT (one frame
        to a device without ``CAP_QUIET_STEPS``), nothing else sent until the device's next
        CREDIT, so no byte reaches it while it steps; returns once the last CREDIT is back
        (the device idle, waiting for bytes).
        """
        hello = self.hello_msg or self.hello()
        try:
            return self._stream(hello, x, target, labels, on_records, labelled_only)
        except BaseException:
            self.owed_credit = False  # (what follows a failure is the caller's choice)
            raise

    def _stream(self, hello: P.Hello, x: np.ndarray, target: Optional[np.ndarray],
                labels: Optional[np.ndarray], on_records: Optional[Callable[[List[P.StepRecord]], None]],
                labelled_only: bool) -> List[P.StepRecord]:
        T = x.shape[0]
        if labelled_only:
            if labels is None or T == 0 or int(labels[-1]) < 0:
                raise PyrtrlError("labelled_only streams need labels, one at the last sample")
            if not hello.labelled_only:
                raise PyrtrlError(f"the device ({hello.board}, {hello.library}) does not announce "
                                  "LABELLED_ONLY streams: flash firmware of this version")
            expected = int(np.count_nonzero(np.asarray(labels) >= 0))
        else:
            expected = T
        per_frame = max(1, min(hello.max_samples,
                               P.Samples.capacity(hello.d, hello.k, target is not None, labels is not None)))
        records: List[P.StepRecord] = []
        sent = 0
        last_progress = time.monotonic()
        grants = self.grants
        while len(records) < expected or self.owed_credit:
            more = True
            while more and sent < T and self.credit > 0 and not self.owed_credit:
                # one burst per grant: its frames back to back, all but the last flagged
                # MORE (the device steps only after the last), then quiet until the CREDIT
                # it sends after learning them: no byte in flight while it steps
                # (docs/telemetry.md). A device without the flag: one frame per grant.
                count = min(per_frame, self.credit, T - sent)
                more = hello.quiet_steps and count < self.credit and sent + count < T
                s = slice(sent, sent + count)
                self.send(P.SAMPLES, P.Samples(x[s], None if target is None else target[s],
                                               None if labels is None else labels[s],
                                               labelled_only, more).pack())
                self.credit -= count
                sent += count
                self.owed_credit = not more
            self._pump(0.05)
            got = self.grants != grants  # a grant: the device consumed samples (progress)
            grants = self.grants
            while True:
                idx = next((i for i, f in enumerate(self.pending) if f.type == P.STEP_STATS), None)
                if idx is None:
                    break
                f = self.pending[idx]
                del self.pending[idx]
                recs = P.StepStats.unpack(f.payload, hello.k).records
                records.extend(recs)
                got = True
                if on_records is not None:
                    on_records(recs)
            if got:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.timeout:
                done = f"{len(records)} of {T} steps" if not labelled_only else \
                    f"{len(records)} of {expected} labelled steps ({sent} of {T} samples sent)"
                raise PyrtrlError(f"device stopped answering after {done} "
                                  f"({self.timeout:g} s without statistics or credit)")
            if any(e.code == P.ERR_BUSY for e in self.stats.errors):
                raise PyrtrlError("the device reports a byte that arrived while it stepped: the host "
                                  "broke the flow-control rule (on a real board bytes may be lost)")
            refused = [e for e in self.stats.errors if e.seq != 0xFFFF]
            if refused:  # (errors without a sequence number are counted, not fatal)
                e = refused[-1]
                raise PyrtrlError(f"device refused a frame: error {e.code} ({e.message}) at seq {e.seq}")
        return records


class SimulatedDevice(threading.Thread):
    """The learner application's behaviour in Python, over runtime_c through cffi.

    It speaks the protocol on a :class:`MemoryLink` exactly as the firmware does on its
    UART: HELLO on start, ACK for commands, CREDIT for flow control, STEP_STATS per window,
    WEIGHTS dumps. ``pyrtrl run --board host`` uses it (no emulator).

    Like the firmware it checks the flow-control rule (docs/telemetry.md): a byte that
    arrived while it learned a SAMPLES frame (before the CREDIT that ends it) is counted in
    :attr:`bytes_while_stepping` and reported as ERROR BUSY.

    Parameters
    ----------
    learner : CLearner
        The learner it runs (:class:`pyrtrl.deploy.runtime.CLearner`); its
        :class:`~pyrtrl.deploy.deployment.Deployment` gives the weights image's layout
        for DUMP and LOAD.
    link : MemoryLink
        The device's end of the link.
    """

    def __init__(self, learner: "CLearner", link: MemoryLink, board: str = "host", window: int = 4,
                 buffer_samples: int = 64) -> None:
        super().__init__(daemon=True)
        self.learner = learner
        self.link = link
        self.board = board
        self.window = window
        self.buffer_samples = buffer_samples
        self.decoder = P.FrameDecoder()
        self.seq = 0
        self.running = False
        self.stop_flag = False
        self.load = bytearray()
        dep = learner.deployment  # the weights image's layout (LOAD)
        self.d, self.k = dep.d, dep.k
        self.acc = [0, 0, 0]  # events, active columns, MACs since the last record
        self.bytes_while_stepping = 0  # SAMPLES frames after whose steps a byte was waiting
        self._more = False  # more frames were read with the one being handled
        self.burst: List[P.Samples] = []  # SAMPLES frames of a burst not yet learned (flag MORE)

    def send(self, ftype: int, payload: bytes = b"") -> None:
        self.link.write(P.encode_frame(ftype, self.seq, payload))
        self.seq = (self.seq + 1) & 0xFFFF

    def hello(self) -> P.Hello:
        q, fc = self.learner.q, self.learner.fcfg
        return P.Hello(P.VERSION, fc.influence_bits, q.n, q.d, q.k, q.P,
                       self.learner.required_bytes, self.learner.required_bytes, 0,
                       P.Samples.capacity(q.d, q.k), self.window, self.board, "runtime_c (cffi)",
                       q.features, P.readout_flags(q.readout_c, fc.rls is not None, fc.freeze_cell,
                                                    fc.adam is not None),
                       P.Hello.CAP_LABELLED_ONLY | P.Hello.CAP_QUIET_STEPS)

    def run(self) -> None:  # thread body
        self.send(P.HELLO, self.hello().pack())
        self.send(P.CREDIT, P.Credit(self.buffer_samples).pack())
        while not self.stop_flag:
            data = self.link.read(4096)
            if not data:
                if self.link.closed:
                    return
                continue
            frames = self.decoder.feed(data)
            for i, f in enumerate(frames):
                self._more = i + 1 < len(frames)
                try:
                    self.handle(f)
                except (struct.error, ValueError) as e:  # a payload of the wrong length
                    self.send(P.ERROR, P.Error(f.seq, P.ERR_LENGTH, " ".join(str(e).split())[:60]).pack())

    def handle(self, f: P.Frame) -> None:
        c = self.learner
        ack = P.Ack(f.seq, f.type).pack()
        if f.type == P.HELLO_REQ:  # a CREDIT follows every HELLO: the whole (empty) buffer
            self.send(P.HELLO, self.hello().pack())
            self.send(P.CREDIT, P.Credit(self.buffer_samples).pack())
        elif f.type == P.START:
            self.running = True
            self.send(P.ACK, ack)
        elif f.type == P.STOP:
            self.running = False
            self.send(P.ACK, ack)
        elif f.type == P.RESET:
            c.reset_state()
            self.send(P.ACK, ack)
        elif f.type == P.SET_LR:
            (lr_q,) = struct.unpack("<i", f.payload[:4])
            c.set_learning_rate_q(lr_q)
            self.send(P.ACK, ack)
        elif f.type == P.DUMP:
            image = c.weights_image()
            step = P.MAX_PAYLOAD - 4
            for off in range(0, len(image), step):
                self.send(P.WEIGHTS, P.Weights(off, image[off:off + step]).pack())
            self.send(P.WEIGHTS_END, P.WeightsEnd(len(image), P.crc32(image)).pack())
        elif f.type == P.SAMPLES:
            if not self.running:
                self.send(P.ERROR, P.Error(f.seq, P.ERR_STATE, "samples before START").pack())
                return
            s = P.Samples.unpack(f.payload, self.d, self.k)
            if s.x.shape[0] + sum(b.x.shape[0] for b in self.burst) > self.buffer_samples:
                self.send(P.ERROR, P.Error(f.seq, P.ERR_OVERFLOW, "more samples than credit").pack())
                return
            self.burst.append(s)
            if s.more:  # another frame of the burst follows: step after the last
                return
            burst, self.burst = self.burst, []
            recs = []
            for s in burst:
                for i in range(s.x.shape[0]):  # one call per sample: per-step counters, as on a device
                    before = c.counters()
                    r = c.run_fixed(s.x[i:i + 1], None if s.target is None else s.target[i:i + 1],
                                    labels=None if s.labels is None else s.labels[i:i + 1])
                    after = c.counters()
                    acc = self.acc
                    acc[0] += int(r.events[0])
                    acc[1] += after.active_cols - before.active_cols
                    acc[2] += after.macs - before.macs
                    if s.labelled_only and s.labels[i] < 0:
                        continue  # counted into the next record
                    recs.append(P.StepRecord(before.steps, int(r.loss_q[0]), r.output_q[0],
                                             min(acc[0], 0xFFFF), min(acc[1], 0xFFFF), min(acc[2], 0xFFFFFFFF),
                                             0, after.saturations))
                    self.acc = [0, 0, 0]
            for i in range(0, len(recs), self.window):
                self.send(P.STEP_STATS, P.StepStats(recs[i:i + self.window]).pack())
            if self._more or self.link.in_waiting:  # sent before the CREDIT below: while stepping
                self.bytes_while_stepping += 1
                self.send(P.ERROR, P.Error(0xFFFF, P.ERR_BUSY, "byte arrived while stepping").pack())
            self.send(P.CREDIT, P.Credit(sum(b.x.shape[0] for b in burst)).pack())  # free again
        elif f.type == P.EXIT:
            self.send(P.ACK, ack)
            self.stop_flag = True
        elif f.type == P.LOAD:
            w = P.Weights.unpack(f.payload)
            if w.offset != len(self.load):
                self.load.clear()
                self.send(P.ERROR, P.Error(f.seq, P.ERR_LOAD, "weights chunk out of order").pack())
                return
            self.load += w.data
            self.send(P.ACK, ack)
        elif f.type == P.LOAD_END:
            end = P.WeightsEnd.unpack(f.payload)
            image, self.load = bytes(self.load), bytearray()
            if len(image) != end.total or P.crc32(image) != end.crc or len(image) != c.deployment.image_bytes:
                self.send(P.ERROR, P.Error(f.seq, P.ERR_LOAD, "weights image size or CRC wrong").pack())
                return
            try:
                c.load_image(image)
            except Exception as e:  # noqa: BLE001 - reported to the host as the firmware would
                self.send(P.ERROR, P.Error(f.seq, P.ERR_LOAD, str(e)[:60]).pack())
                return
            self.send(P.ACK, ack)
        else:
            self.send(P.ERROR, P.Error(f.seq, P.ERR_TYPE, f"unknown type 0x{f.type:02x}").pack())
