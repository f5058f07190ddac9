"""Host Device client against the simulated device (runtime_c through cffi, in memory)."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl import protocol as P
from pyrtrl.device import Device, MemoryLink, SimulatedDevice
from pyrtrl.fixed import quantize_samples
from pyrtrl.runtime import CLearner
from pyrtrl.tasks import delayed_recall


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
