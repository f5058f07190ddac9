"""The flow-control rule under which no byte reaches a device while it steps
(docs/telemetry.md, "No byte arrives while the device steps").

A real board polls its UART and a step leaves the receiver unread for milliseconds, so a byte
sent then is lost; QEMU hides that. These tests check both sides of the rule: the host
(`Device.stream`) sends one burst per CREDIT and nothing until the next, which the simulated
device and the firmware check (a byte already waiting after a burst's steps is reported as
ERROR BUSY); and that the check itself catches a host that breaks the rule.
"""

import time

import numpy as np
import pytest
from needs import require_board

import pyrtrl
from pyrtrl.device import protocol as P
from pyrtrl.device.client import Device, MemoryLink, SimulatedDevice
from pyrtrl.fixed.quantize import quantize_samples
from pyrtrl.deploy.runtime import CLearner

BOARD = "mps2-an386"
LR = 0.05


def _stream(T, d, k, seed=0):
    rng = np.random.default_rng(seed)
    x = quantize_samples(rng.normal(size=(T, d)) * 0.5, "x")[0].astype(np.int32)
    t = quantize_samples(rng.normal(size=(T, k)) * 0.5, "target")[0].astype(np.int32)
    return x, t


def _model(d, k):
    return pyrtrl.init_egru(10, d, k, density=0.5, shared_mask=True, seed=2)


def _sim(model, buffer_samples=16):
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    sim = SimulatedDevice(CLearner(model, lr=LR, influence_bits=16), dev_end, buffer_samples=buffer_samples)
    sim.start()
    return Device(host_end, timeout=5.0), sim, (host_end, dev_end)


def _close(sim, ends):
    sim.stop_flag = True
    for e in ends:
        e.close()
    sim.join(2)


def _image(model, x, t):
    ref = CLearner(model, lr=LR, influence_bits=16)
    ref.run_fixed(x, t)
    s = ref.snapshot()
    return P.weights_image(s.theta, s.w_o, s.b_o)


@pytest.mark.parametrize("d,k", [(1, 1), (6, 4)])
def test_the_host_never_sends_while_the_simulated_device_steps(d, k):
    """6 x 4: 5 samples fit a frame, so each 16-sample grant is a burst of 4 frames (3 with
    MORE); the device learns only after the last and finds no byte waiting."""
    model = _model(d, k)
    dev, sim, ends = _sim(model)
    try:
        h = dev.hello()
        assert h.quiet_steps and dev.credit == 16 and not dev.owed_credit
        if (d, k) == (6, 4):
            assert P.Samples.capacity(d, k) == 5
        dev.start()
        x, t = _stream(203, d, k)
        recs = dev.stream(x, t)
        assert [r.step for r in recs] == list(range(203))
        assert not dev.owed_credit and dev.credit == 16  # returned with every slot granted back
        assert sim.bytes_while_stepping == 0
        assert not [e for e in dev.stats.errors if e.code == P.ERR_BUSY]
        assert dev.dump_weights() == _image(model, x, t)
    finally:
        _close(sim, ends)


def test_the_simulated_device_catches_a_host_that_sends_while_it_steps():
    """Two SAMPLES frames without MORE, sent back to back: the second is there while the
    first is learned. The check must fire (else the test above proves nothing)."""
    model = _model(1, 1)
    dev, sim, ends = _sim(model)
    try:
        dev.hello()
        dev.start()
        x, t = _stream(8, 1, 1)
        first = P.encode_frame(P.SAMPLES, dev.seq, P.Samples(x[:4], t[:4]).pack())
        second = P.encode_frame(P.SAMPLES, dev.seq + 1, P.Samples(x[4:], t[4:]).pack())
        dev.port.write(first + second)
        dev.seq += 2
        err = dev.expect(P.ERROR, "ERROR BUSY")
        assert P.Error.unpack(err.payload).code == P.ERR_BUSY
        assert sim.bytes_while_stepping == 1
    finally:
        _close(sim, ends)


def test_stream_raises_when_the_device_reports_busy():
    """A device that reports ERROR BUSY makes the stream fail in one line (the host broke the
    rule: on a real board bytes may be lost)."""

    class Busy(SimulatedDevice):
        def handle(self, f):
            if f.type == P.SAMPLES and not P.Samples.unpack(f.payload, self.d, self.k).more:
                self.send(P.ERROR, P.Error(0xFFFF, P.ERR_BUSY, "byte arrived while stepping").pack())
            super().handle(f)

    model = _model(1, 1)
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    sim = Busy(CLearner(model, lr=LR, influence_bits=16), dev_end)
    sim.start()
    dev = Device(host_end, timeout=5.0)
    try:
        dev.hello()
        dev.start()
        with pytest.raises(pyrtrl.PyrtrlError, match="arrived while it stepped") as e:
            dev.stream(*_stream(40, 1, 1))
        assert "\n" not in str(e.value)
    finally:
        _close(sim, (host_end, dev_end))


def test_hello_req_grants_the_credit_again():
    """A real board booted before the port was opened: its boot HELLO and CREDIT are gone.
    HELLO_REQ brings both back, and the host's credit restarts there (no double count)."""
    model = _model(1, 1)
    dev, sim, ends = _sim(model)
    try:
        dev.hello()
        assert dev.credit == 16
        for _ in range(2):
            dev.request_hello()
            assert dev.credit == 16 and not dev.owed_credit
    finally:
        _close(sim, ends)


def test_firmware_keeps_the_rule_and_catches_a_host_that_breaks_it(tmp_path):
    """On mps2-an386 under QEMU, a 2 x 2 model (14 samples a frame): a stream in bursts
    matches the host library with no ERROR BUSY; HELLO_REQ brings a CREDIT; then frames sent
    back to back without MORE leave a byte waiting after the steps, which the firmware
    reports (QEMU hands the UART a byte only when it has room, so nothing is lost here, but
    a real board would have lost it)."""
    require_board(BOARD)
    from pyrtrl.runs.device import build_firmware
    from pyrtrl.device.qemu import Qemu

    model = _model(2, 2)
    elf = build_firmware(BOARD, model, tmp_path, LR, 16)
    x, t = _stream(120, 2, 2, seed=3)
    with Qemu(BOARD, elf, timeout=20) as q:
        dev = Device(q.serial, timeout=10)
        h = dev.hello()
        assert h.quiet_steps and dev.credit == 16
        dev.request_hello()
        assert dev.credit == 16 and not dev.owed_credit
        dev.start()
        recs = dev.stream(x, t)
        assert len(recs) == 120
        assert not dev.stats.errors
        assert dev.dump_weights() == _image(model, x, t)
        # the former host loop: a second frame sent while the first is learned. Whether QEMU
        # has handed the UART a byte of it before the first frame's steps end depends on the
        # host's scheduling (a loaded host may deliver it later): repeat until the firmware
        # has reported one, at most 40 times (4 sufficed on an idle host)
        for _ in range(40):
            if any(e.code == P.ERR_BUSY for e in dev.stats.errors):
                break
            dev.owed_credit = False
            a = P.encode_frame(P.SAMPLES, dev.seq, P.Samples(x[:6], t[:6]).pack())
            b = P.encode_frame(P.SAMPLES, dev.seq + 1, P.Samples(x[6:12], t[6:12]).pack())
            dev.seq = (dev.seq + 2) & 0xFFFF
            credit = dev.credit
            q.serial.write(a + b)
            deadline = time.monotonic() + 10
            while dev.credit < credit + 12:  # both frames learned and granted back
                assert time.monotonic() < deadline, "the device did not grant the 12 samples back"
                dev._pump(0.2)
        busy = [e for e in dev.stats.errors if e.code == P.ERR_BUSY]
        assert busy and all(e.seq == 0xFFFF for e in busy), dev.stats.errors
