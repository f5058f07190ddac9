"""Host Device client against the simulated device (runtime_c through cffi, in memory)."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.device import protocol as P
from pyrtrl.device.client import Device, MemoryLink, SimulatedDevice
from pyrtrl.fixed import quantize_samples
from pyrtrl.deploy.runtime import CLearner
from pyrtrl.data.tasks import delayed_recall


@pytest.fixture
def pair():
    model = pyrtrl.init_egru(12, 1, 2, density=0.5, seed=3)
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    sim = SimulatedDevice(CLearner(model, lr=0.03), dev_end, window=3)
    sim.start()
    dev = Device(host_end, timeout=5.0)
    yield model, dev, sim
    sim.stop_flag = True
    dev_end.close()
    host_end.close()
    sim.join(2)


def test_stream_matches_the_host_library_bit_for_bit(pair):
    model, dev, sim = pair
    h = dev.hello()
    assert (h.n, h.d, h.k, h.board) == (12, 1, 2, "host")
    x, tg = delayed_recall(500, seed=4)
    xq = quantize_samples(x)[0].astype(np.int32)
    tq = quantize_samples(tg)[0].astype(np.int32)
    dev.start()
    seen = []
    recs = dev.stream(xq, tq, on_records=seen.extend)
    assert [r.step for r in recs] == list(range(500)) and len(seen) == 500
    image = dev.dump_weights()
    ref = CLearner(model, lr=0.03)
    r = ref.run_fixed(xq, tq)
    s = ref.snapshot()
    assert image == P.weights_image(s.theta, s.w_o, s.b_o)
    np.testing.assert_array_equal([rec.loss_q for rec in recs], r.loss_q)
    assert dev.decoder.stats.frames_bad == 0 and dev.decoder.stats.seq_gaps == 0
    assert sum(rec.macs for rec in recs) == ref.counters().macs


def test_commands_and_errors(pair):
    model, dev, sim = pair
    dev.hello()
    x = np.zeros((2, 1), dtype=np.int32)
    dev.send(P.SAMPLES, P.Samples(x, x.repeat(2, axis=1)).pack())  # before START
    with pytest.raises(pyrtrl.PyrtrlError, match="device did not answer"):
        dev.expect(P.STEP_STATS, "stats", timeout=0.3)
    assert dev.stats.errors and dev.stats.errors[-1].code == P.ERR_STATE
    dev.start()
    dev.set_lr(1000)
    dev.reset()
    image = dev.dump_weights()
    changed = bytearray(image)
    changed[0] ^= 1
    dev.load_weights(bytes(changed))
    assert dev.dump_weights() == bytes(changed)
    bad = bytearray(image)
    q = sim.learner.q
    bad[4 * (q.offsets["thr"]):4 * (q.offsets["thr"]) + 4] = (-5).to_bytes(4, "little", signed=True)
    with pytest.raises(pyrtrl.PyrtrlError, match="refused LOAD_END"):
        dev.load_weights(bytes(bad))
    assert dev.dump_weights() == bytes(changed)  # a refused load changes nothing
    dev.stop()


def test_silent_device_times_out():
    a, b = MemoryLink.pair(timeout=0.05)
    dev = Device(a, timeout=0.3)
    with pytest.raises(pyrtrl.PyrtrlError, match="did not answer HELLO"):
        dev.hello()


def test_rls_readout_with_taps_matches_the_host_library_and_says_so_in_hello():
    """A c readout over 16 input taps learning by RLS: HELLO gives the readout's width and
    flags, DUMP sends W_o as k x features, LOAD takes such an image, and the stream's weights
    equal the host library's bit for bit."""
    from pyrtrl import run_defaults as RD

    model = pyrtrl.init_egru(10, 1, 2, density=0.3, shared_mask=True, eps=0.2, seed=5,
                             readout="c", taps=RD.TAPS)
    kw = dict(lr=0.03, readout_rule="rls", rls_forgetting=0.995)
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    sim = SimulatedDevice(CLearner(model, **kw), dev_end, window=3)
    sim.start()
    try:
        dev = Device(host_end, timeout=5.0)
        h = dev.hello()
        assert (h.n, h.d, h.k, h.features) == (10, 1, 2, 10 + RD.TAPS)
        assert h.readout_flags == P.Hello.READOUT_C | P.Hello.READOUT_RLS
        x, tg = delayed_recall(300, seed=6)
        xq = quantize_samples(x)[0].astype(np.int32)
        tq = quantize_samples(tg)[0].astype(np.int32)
        dev.start()
        dev.stream(xq, tq)
        image = dev.dump_weights()
        ref = CLearner(model, **kw)
        ref.run_fixed(xq, tq)
        s = ref.snapshot()
        dep = ref.deployment
        assert s.w_o.shape == (2, 10 + RD.TAPS) and len(image) == dep.image_bytes
        assert image == P.weights_image(s.theta, s.w_o, s.b_o) == ref.weights_image()
        theta, w_o, b_o = dep.split_image(image)
        np.testing.assert_array_equal(w_o, s.w_o)
        # LOAD an image of this size; one of the old k x n size is refused
        changed = bytearray(image)
        changed[4 * ref.q.P] ^= 1  # W_o[0, 0]
        dev.load_weights(bytes(changed))
        assert dev.dump_weights() == bytes(changed)
        short = bytes(changed[:4 * (ref.q.P + 2 * 10 + 2)])
        with pytest.raises(pyrtrl.PyrtrlError, match="refused LOAD_END"):
            dev.load_weights(short)
        assert dev.dump_weights() == bytes(changed)
        with pytest.raises(pyrtrl.PyrtrlError, match="features=26"):
            dep.split_image(short)
    finally:
        sim.stop_flag = True
        dev_end.close()
        host_end.close()
        sim.join(2)


def test_hello_readout_tail_is_optional():
    """The readout's width and flags follow the strings; a HELLO without them (an older
    device) still decodes, with None."""
    h = P.Hello(1, 16, 32, 1, 1, 793, 64200, 65000, 25_000_000, 40, 4, "mps2-an386", "0.2.0", 48, 3)
    assert P.Hello.unpack(h.pack()) == h
    old = P.Hello(1, 16, 32, 1, 1, 793, 64200, 65000, 25_000_000, 40, 4, "mps2-an386", "0.2.0")
    assert len(old.pack()) == len(h.pack()) - 3
    assert P.Hello.unpack(old.pack()) == old and old.features is None
    assert P.readout_flags(True, False, True) == P.Hello.READOUT_C | P.Hello.FREEZE_CELL


class _ClosingSocketPort:
    """What pyserial's socket:// port does when QEMU exits right after the firmware's ACK:
    the bytes are readable, then ``in_waiting`` still says 1 (end of stream is readable) and
    the next ``read`` raises SerialException (an OSError) instead of returning them."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.timeout = 1.0
        self.written = bytearray()
        self._late_seen = False

    def write(self, b: bytes) -> int:
        self.written += b
        return len(b)

    @property
    def in_waiting(self) -> int:
        # the frame's last byte arrives late (0: nothing yet, so the host blocks in read(1));
        # otherwise 1: a byte, or the end of the stream (select() cannot tell them apart)
        if len(self.data) == 1 and not self._late_seen:
            self._late_seen = True
            return 0
        return 1

    def read(self, n: int = 1) -> bytes:
        import serial

        if not self.data:
            raise serial.SerialException("socket disconnected")
        out, self.data = bytes(self.data[:n]), self.data[n:]
        return out


def test_exit_survives_the_link_closing_behind_its_ack():
    """A flaky failure seen under QEMU: EXIT's ACK arrived, the link closed, and the ACK's
    last byte was lost with the exception. The bytes read before the close are kept, and a
    link that closes after EXIT is the end asked for."""
    ack = P.encode_frame(P.ACK, 0, P.Ack(0, P.EXIT).pack())
    dev = Device(_ClosingSocketPort(ack), timeout=2.0)
    dev.exit()  # no exception
    # the ACK's last byte, read just before the close, is decoded, not dropped with the error
    dev = Device(_ClosingSocketPort(ack), timeout=2.0)
    seq = dev.send(P.EXIT)
    dev._await_ack(seq, "EXIT")
    # any other command still reports a lost link
    dev = Device(_ClosingSocketPort(b""), timeout=2.0)
    with pytest.raises(OSError):
        dev.command(P.START)
