"""Labelled sequences on a device (pyrtrl.runs.classify.DeviceLearner): RESET per sequence,
labels, SET_LR 0 for the test pass, LABELLED_ONLY streams; the device's weights, predictions
and losses equal the host C library's bit for bit, on the simulated device (no emulator)
and on mps2-an386 under QEMU."""

import json

import numpy as np
import pytest
from needs import require_board

import pyrtrl
from pyrtrl.device import protocol as P
from pyrtrl.reporting.run_files import read_labelled_telemetry
from pyrtrl.runs.classify import DeviceLearner, learn_sequences, make_learner, run_classification
from pyrtrl.cli import main
from pyrtrl.data.files import load_sequences
from pyrtrl.device.client import Device, MemoryLink, SimulatedDevice
from pyrtrl.errors import PyrtrlError
from pyrtrl.fixed import fixed_config, quantize
from pyrtrl.core.model_file import load_model

SETTINGS = dict(readout_rule="gradient", train="all", optimizer="adam")
LR = 0.01


def _need(board: str) -> None:
    require_board(board)


def small_set(tmp_path, n=8, nt=5, T=7, seed=0):
    """A few short 2-channel, 3-class sequences (the class shifts channel 0's mean)."""
    rng = np.random.default_rng(seed)
    y, yt = rng.integers(0, 3, n), rng.integers(0, 3, nt)
    X = rng.normal(size=(n, T, 2)) + y[:, None, None] * np.array([1.0, 0.0])
    Xt = rng.normal(size=(nt, T, 2)) + yt[:, None, None] * np.array([1.0, 0.0])
    path = tmp_path / "small.npz"
    np.savez(path, X=X, y=y, X_test=Xt, y_test=yt)
    return load_sequences(path)


def image_of(learner) -> bytes:
    s = learner.snapshot()
    return P.weights_image(s.theta, s.w_o, s.b_o)


@pytest.fixture
def simulated():
    model = pyrtrl.init_egru(6, 2, 3, density=0.5, eps=0.5, taps=2, readout="c", seed=1)
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    from pyrtrl.deploy.runtime import CLearner

    sim = SimulatedDevice(CLearner(model, lr=LR, influence_bits=16, **SETTINGS), dev_end)
    sim.start()
    dev = Device(host_end, timeout=5.0)
    yield model, dev
    sim.stop_flag = True
    dev_end.close()
    host_end.close()
    sim.join(2)


@pytest.mark.parametrize("labelled_only", [True, False])
def test_device_learner_equals_the_host_library(simulated, tmp_path, labelled_only):
    model, dev = simulated
    data = small_set(tmp_path)
    hello = dev.hello()
    assert hello.labelled_only  # the simulated device announces it, as the firmware does
    dev.start()
    lr_q = fixed_config(LR, 1.0, 1, 16, False, **SETTINGS).lr_q
    learner = DeviceLearner(dev, lr_q, model.k)
    learner.labelled_only = labelled_only
    res = learn_sequences(learner, data, epochs=2, seed=3, test_every=1)
    ref = make_learner(model, "host", LR, "adam", 1.0, 1, "all", 16)
    ref_res = learn_sequences(ref, data, epochs=2, seed=3, test_every=1)
    assert res["rows"] == ref_res["rows"]  # every prediction and loss, train and test
    assert learner.weights() == image_of(ref)
    assert res["unchanged"] and res["macs"] == ref_res["macs"] and res["events"] == ref_res["events"]
    assert learner.steps_run == [True] * 56 + [False] * 35 + [True] * 56 + [False] * 35
    # and the comparison can fail: one more learning sequence on the device only
    learner.reset_state()
    learner.run(data.X[0], labels=np.r_[np.full(6, -1), 1])
    assert learner.weights() != image_of(ref)


def test_labelled_only_stream_sums_the_counts(simulated):
    model, dev = simulated
    dev.hello()
    dev.start()
    dev.set_lr(0)  # learning off: both passes below start from the same weights and state
    x = np.zeros((10, 2), dtype=np.int32)
    x[:, 0] = np.arange(10) << 14
    lab = np.full(10, -1, dtype=np.int16)
    lab[[4, 9]] = 2
    dev.reset()
    full = dev.stream(x, None, lab)
    dev.reset()
    quiet = dev.stream(x, None, lab, labelled_only=True)
    assert [r.step for r in quiet] == [4, 9]
    assert quiet[0].macs == sum(r.macs for r in full[:5]) and quiet[1].macs == sum(r.macs for r in full[5:])
    assert quiet[1].events == sum(r.events for r in full[5:])
    with pytest.raises(PyrtrlError, match="one at the last sample"):
        dev.stream(x, None, np.r_[lab[:-1], -1].astype(np.int16), labelled_only=True)


def test_samples_and_hello_carry_the_new_flags():
    s = P.Samples(np.ones((3, 2), np.int32), None, np.array([-1, -1, 1], np.int16), True)
    back = P.Samples.unpack(s.pack(), 2, 3)
    assert back.labelled_only and back.labels.tolist() == [-1, -1, 1] and back.target is None
    assert s.pack()[2] == P.Samples.HAS_LABELS | P.Samples.LABELLED_ONLY
    h = P.Hello(1, 16, 4, 2, 3, 10, 100, 50, 0, 8, 4, "b", "lib", 7, 9, P.Hello.CAP_LABELLED_ONLY)
    assert P.Hello.unpack(h.pack()).labelled_only
    old = P.Hello(1, 16, 4, 2, 3, 10, 100, 50, 0, 8, 4, "b", "lib", 7, 9)  # a device before it
    assert P.Hello.unpack(old.pack()).capabilities is None and not P.Hello.unpack(old.pack()).labelled_only


def test_board_labelled_run_matches_the_host(tmp_path):
    _need("mps2-an386")
    data = small_set(tmp_path)
    s = run_classification(data, backend="mps2-an386", epochs=2, seed=1, hidden=6, density=0.5, eps=0.5,
                           taps=2, optimizer="adam", lr=LR, test_every=1, out_dir=str(tmp_path / "run"))
    assert s["weights_match_host"] is True and s["predictions_match_host"] is True, s
    assert s["frames_bad"] == 0 and s["seq_gaps"] == 0 and s["device_errors"] == 0 and s["qemu_exit_status"] == 0
    assert s["weights_unchanged_by_test"] is True
    assert s["device_steps"] == 2 * (8 + 5) * 7 and s["device_test_steps"] == 2 * 5 * 7
    # exact instruction counts: a learning step costs far more than a forward-only one
    assert s["instructions_per_train_step"] > 3 * s["instructions_per_test_step"] > 0
    for key in ("accuracy_train", "accuracy_test", "accuracy_majority", "accuracy_logreg", "confusion_matrix"):
        assert s[key] is not None, key
    # independently of the run's own check: a host C learner here, from model_before.npz,
    # through the same loop, ends with the weights the device dumped (model_after.npz)
    before = load_model(tmp_path / "run" / "model_before.npz")
    ref = make_learner(before, "host", LR, "adam", 1.0, 1, "all", 16)
    learn_sequences(ref, data, epochs=2, seed=1, test_every=1)
    after = quantize(load_model(tmp_path / "run" / "model_after.npz"))
    snap = ref.snapshot()
    np.testing.assert_array_equal(after.theta, snap.theta)
    np.testing.assert_array_equal(after.w_o, snap.w_o)
    np.testing.assert_array_equal(after.b_o, snap.b_o)
    # the one run-directory schema: state, and one labelled row per sequence run, in the
    # device's stream (its last step is the device's last: instructions.txt has every step)
    assert s["status"] == "finished" and s["kind"] == "classification" and s["backend"] == "qemu"
    tel = read_labelled_telemetry(tmp_path / "run")
    assert tel["step"].size == s["steps_kept"] == s["steps_total"] == 2 * (8 + 5)
    assert tel["step"][-1] + 1 == s["device_steps"] == len((tmp_path / "run" / "instructions.txt").read_text().split())
    assert int(np.count_nonzero(tel["learning"] == 0)) * 7 == s["device_test_steps"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "board mps2-an386" in report and "bit for bit) | **yes** |" in report
    assert "logistic regression on the raw values" in report


def test_board_labelled_run_from_the_cli(tmp_path, capsys):
    _need("mps2-an386")
    data = small_set(tmp_path, n=4, nt=3, T=5, seed=2)
    rc = main(["run", "--board", "mps2-an386", "--data", data.path, "--epochs", "1", "--hidden", "4",
               "--taps", "0", "--out", str(tmp_path / "r"), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    assert s["board"] == "mps2-an386" and s["weights_match_host"] and s["predictions_match_host"]
    assert s["test_every"] == 1 and len(s["accuracy_test_per_epoch"]) == 1
