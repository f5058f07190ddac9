"""Link and device faults (docs/reliability.md): a device that stops answering, a link cut
mid-run under QEMU, garbage and unknown commands, a flood beyond the credit, and weight
checkpoints with resume."""

import csv
import os
import re
import signal
import threading
import time

import numpy as np
import pytest
from needs import require_board

import pyrtrl
from pyrtrl.device import protocol as P
from pyrtrl import run_defaults as RD
from pyrtrl.device.client import Device, MemoryLink, SimulatedDevice
from pyrtrl.fixed import quantize_samples
from pyrtrl.deploy.runtime import CLearner
from pyrtrl.data.tasks import delayed_recall

BOARD = "mps2-an386"


def _need_qemu():
    require_board(BOARD)


def _one_line(msg: str) -> None:
    assert "\n" not in msg and "Traceback" not in msg, msg


def _stream_q(T, seed=4):
    x, tg = delayed_recall(T, seed=seed)
    return quantize_samples(x)[0].astype(np.int32), quantize_samples(tg)[0].astype(np.int32)


# -- (a) a device that stops answering ---------------------------------------------------------
class _DiesAfter(SimulatedDevice):
    """Answers normally, then goes silent after `frames` SAMPLES frames (a hung device)."""

    def __init__(self, *a, frames=3, **kw):
        super().__init__(*a, **kw)
        self.frames_left = frames

    def handle(self, f):
        if f.type == P.SAMPLES:
            if self.frames_left == 0:
                self.stop_flag = True
                return
            self.frames_left -= 1
        super().handle(f)


def _sim(cls=SimulatedDevice, timeout=1.0, **kw):
    model = pyrtrl.init_egru(12, 1, 2, density=0.5, seed=3)
    host_end, dev_end = MemoryLink.pair(timeout=0.05)
    sim = cls(CLearner(model, lr=0.03), dev_end, window=3, **kw)
    sim.start()
    return model, Device(host_end, timeout=timeout), sim, (host_end, dev_end)


def _close(sim, ends):
    sim.stop_flag = True
    for e in ends:
        e.close()
    sim.join(2)


def test_device_that_stops_answering_mid_stream_gives_one_line_error_within_timeout():
    # (the first credit, 64 samples, goes as one burst of 4 frames: silent during the second)
    model, dev, sim, ends = _sim(_DiesAfter, timeout=1.0, frames=6)
    try:
        dev.hello()
        dev.start()
        xq, tq = _stream_q(400)
        got = []
        t0 = time.monotonic()
        with pytest.raises(pyrtrl.PyrtrlError) as e:
            dev.stream(xq, tq, on_records=got.extend)
        assert time.monotonic() - t0 < 1.0 + 2.0  # its timeout, plus slack
        msg = str(e.value)
        _one_line(msg)
        assert re.search(rf"stopped answering after {len(got)} of 400 steps", msg), msg
        assert len(got) > 0
        with pytest.raises(pyrtrl.PyrtrlError, match=r"did not answer STOP within 1 s") as e:
            dev.stop()  # a command to the silent device
        _one_line(str(e.value))
    finally:
        _close(sim, ends)


def test_silent_link_every_command_times_out_in_one_line():
    a, b = MemoryLink.pair(timeout=0.05)
    dev = Device(a, timeout=0.3)
    for call, what in ((dev.hello, "HELLO"), (dev.start, "START"), (dev.dump_weights, "DUMP"),
                       (lambda: dev.load_weights(b"\0" * 8), "LOAD")):
        t0 = time.monotonic()
        with pytest.raises(pyrtrl.PyrtrlError, match=f"did not answer {what}") as e:
            call()
        assert time.monotonic() - t0 < 0.3 + 1.5  # hello waits 1 s for the boot HELLO first
        _one_line(str(e.value))


# -- (d) on the simulated device: a flood beyond the credit ----------------------------------
def test_flood_beyond_credit_is_refused_by_the_simulated_device():
    model, dev, sim, ends = _sim(buffer_samples=8, timeout=2.0)
    try:
        dev.hello()
        dev.start()
        xq, tq = _stream_q(60)
        dev.credit = 10_000  # a host that ignores the device's credit
        with pytest.raises(pyrtrl.PyrtrlError, match=r"refused a frame: error 6"):
            dev.stream(xq, tq)
        assert any(e.code == P.ERR_OVERFLOW for e in dev.stats.errors)
    finally:
        _close(sim, ends)


def test_simulated_device_survives_malformed_payloads():
    model, dev, sim, ends = _sim(timeout=2.0)
    try:
        dev.hello()
        seq = dev.send(P.SET_LR, b"\x01")  # too short
        dev.send(P.LOAD, b"")  # no offset
        dev.start()
        dev.send(P.SAMPLES, b"\x05\x00\x01" + b"\x00" * 7)  # length does not hold 5 samples
        dev.send(0x55)  # unknown type
        deadline = time.monotonic() + 2
        while len(dev.stats.errors) < 4 and time.monotonic() < deadline:
            dev._pump(0.05)
        codes = sorted(e.code for e in dev.stats.errors)
        assert codes == sorted([P.ERR_LENGTH, P.ERR_LENGTH, P.ERR_LENGTH, P.ERR_TYPE]), dev.stats.errors
        assert dev.stats.errors[0].seq == seq
        dev.stats.errors.clear()
        xq, tq = _stream_q(50)
        dev.stream(xq, tq)
        ref = CLearner(model, lr=0.03)
        ref.run_fixed(xq, tq)
        s = ref.snapshot()
        assert dev.dump_weights() == P.weights_image(s.theta, s.w_o, s.b_o)
    finally:
        _close(sim, ends)


# -- (c) + (d) the firmware under QEMU: garbage, unknown commands, flood ------------------------
def _wait_errors(dev, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(dev.stats.errors) < n and time.monotonic() < deadline:
        dev._pump(0.05)
    return list(dev.stats.errors)


def test_firmware_survives_garbage_unknown_commands_and_a_flood(tmp_path):
    _need_qemu()
    from pyrtrl.runs.device import build_firmware
    from pyrtrl.device.qemu import Qemu

    model = pyrtrl.init_egru(12, 1, 1, density=0.5, shared_mask=True, seed=1)
    lr = 0.05
    elf = build_firmware(BOARD, model, tmp_path, lr, 16)
    rng = np.random.default_rng(7)
    with Qemu(BOARD, elf, timeout=20) as q:
        dev = Device(q.serial, timeout=10)
        h = dev.hello()
        assert (h.n, h.d, h.k) == (12, 1, 1)
        # garbage: random bytes, a run longer than any frame, a frame with a bad CRC
        q.serial.write(bytes(rng.integers(1, 256, 300, dtype=np.uint8)) + b"\x00")
        q.serial.write(b"\x55" * 600 + b"\x00")
        bad = bytearray(P.encode_frame(P.START, 999, b""))
        bad[2] ^= 0x10
        q.serial.write(bytes(bad))
        # unknown commands and malformed ones
        s_unknown = dev.send(0x55, b"hello?")
        s_unknown2 = dev.send(0x7F)
        s_lr = dev.send(P.SET_LR, b"\x01\x02")
        s_end = dev.send(P.LOAD_END, P.WeightsEnd(8, 0).pack())
        s_early = dev.send(P.SAMPLES, P.Samples(np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32)).pack())
        errs = _wait_errors(dev, 8)
        by_seq = {e.seq: e.code for e in errs}
        assert by_seq[s_unknown] == P.ERR_TYPE and by_seq[s_unknown2] == P.ERR_TYPE
        assert by_seq[s_lr] == P.ERR_RANGE and by_seq[s_end] == P.ERR_LOAD and by_seq[s_early] == P.ERR_STATE
        crc_errors = [e for e in errs if e.seq == 0xFFFF and e.code == P.ERR_CRC]
        assert len(crc_errors) >= 3  # the device reported each bad frame it dropped
        dev.stats.errors.clear()

        # still working: a stream matches the host bit for bit
        dev.start()
        xq, tq = _stream_q(400, seed=5)
        xq, tq = xq[:, :1], tq[:, :1]
        recs = dev.stream(xq[:300], tq[:300])
        assert [r.step for r in recs] == list(range(300))
        ref = CLearner(model, lr=lr, influence_bits=16)
        r = ref.run_fixed(xq[:300], tq[:300])
        np.testing.assert_array_equal([x.loss_q for x in recs], r.loss_q)
        s = ref.snapshot()
        assert dev.dump_weights() == P.weights_image(s.theta, s.w_o, s.b_o)

        # (d) a flood: one frame of 20 samples while the device buffers 16
        flood = np.full((20, 1), 1 << 15, np.int32)
        s_flood = dev.send(P.SAMPLES, P.Samples(flood, flood).pack())
        errs = _wait_errors(dev, 1)
        assert [(e.seq, e.code) for e in errs] == [(s_flood, P.ERR_OVERFLOW)]
        time.sleep(0.3)
        dev._pump(0.1)
        assert not any(f.type == P.STEP_STATS for f in dev.pending)  # nothing of it was learned
        assert len(dev.stats.errors) == 1  # counted once
        dev.stats.errors.clear()
        recs = dev.stream(xq[300:], tq[300:])
        assert [r.step for r in recs] == list(range(300, 400))  # no step lost or added
        ref.run_fixed(xq[300:], tq[300:])
        s = ref.snapshot()
        assert dev.dump_weights() == P.weights_image(s.theta, s.w_o, s.b_o)
        assert dev.decoder.stats.frames_bad == 0 and dev.decoder.stats.seq_gaps == 0
        dev.exit()
        assert q.wait(10) == 0


# -- (b) a link cut mid-run under QEMU, then resume from the checkpoint ---------------------------
class _Killer(threading.Thread):
    """Kills QEMU (by its PID) once telemetry.csv has `rows` rows."""

    def __init__(self, instances, csv_path, rows):
        super().__init__(daemon=True)
        self.instances, self.csv_path, self.rows = instances, csv_path, rows
        self.killed_at = None

    def run(self):
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.instances and self.csv_path.is_file():
                with open(self.csv_path) as f:
                    n = sum(1 for _ in f) - 1
                if n >= self.rows and self.instances[0].pid:
                    self.killed_at = n
                    os.kill(self.instances[0].pid, signal.SIGKILL)
                    return
            time.sleep(0.01)


def _telemetry(path):
    """(steps, the device's Q16 predictions) of telemetry.csv (prediction = out_q / 2^16 exactly)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [int(r["step"]) for r in rows], [round(float(r["prediction"]) * 65536) for r in rows]


def test_link_cut_mid_run_then_resume_from_checkpoint(tmp_path, monkeypatch, capsys):
    _need_qemu()
    import pyrtrl.device.qemu as qemu_mod
    from pyrtrl.cli import main
    from pyrtrl.deploy.checkpoint import load_checkpoint
    from pyrtrl.runs.device import run_on_device
    from pyrtrl.data.signals import forecasting_stream, load_signal

    instances = []

    class Recorded(qemu_mod.Qemu):
        def start(self):
            instances.append(self)
            return super().start()

    monkeypatch.setattr(qemu_mod, "Qemu", Recorded)
    model_path = tmp_path / "m.npz"
    model = pyrtrl.init_egru(12, 1, 1, density=0.5, shared_mask=True, seed=1)
    pyrtrl.save_model(model_path, model)
    run = tmp_path / "run"
    T, lr = 1500, 0.05
    killer = _Killer(instances, run / "telemetry.csv", 500)
    killer.start()
    rc = main(["run", "--board", BOARD, "--steps", str(T), "--out", str(run), "--model", str(model_path),
               "--lr", str(lr), "--checkpoint-every", "200"])
    killer.join(5)
    err = capsys.readouterr().err
    assert killer.killed_at is not None
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    m = re.search(r"stopped after (\d+) of 1500 steps", lines[0])
    assert m and "QEMU exit status killed by SIGKILL" in lines[0], lines[0]
    K = int(m.group(1))
    assert killer.killed_at <= K < T

    # everything received is in telemetry.csv, bit for bit what the host computes
    steps, out_q = _telemetry(run / "telemetry.csv")
    assert steps == list(range(K))
    x, target = forecasting_stream(load_signal("ppg", max_steps=T + 1))
    xq = quantize_samples(x[:T], "x")[0].astype(np.int32)
    tq = quantize_samples(target[:T], "target")[0].astype(np.int32)
    # `pyrtrl run` learns with the run defaults' readout rule (RLS) unless told otherwise
    run_settings = dict(readout_rule=RD.READOUT_RULE, train=RD.TRAIN, rls_forgetting=RD.RLS_FORGETTING,
                        rls_p0=RD.RLS_P0)
    ref = CLearner(model, lr=lr, influence_bits=16, **run_settings)
    np.testing.assert_array_equal(out_q, ref.run_fixed(xq[:K], tq[:K]).output_q[:, 0])

    # the checkpoint holds the weights after a multiple of 200 steps, exactly the host's
    image, s0 = load_checkpoint(str(run / "checkpoint.npz"), model)
    assert s0 % 200 == 0 and 200 <= s0 <= K
    ref = CLearner(model, lr=lr, influence_bits=16, **run_settings)
    ref.run_fixed(xq[:s0], tq[:s0])
    s = ref.snapshot()
    assert image == P.weights_image(s.theta, s.w_o, s.b_o)

    # resume: the weights loaded equal the checkpoint bit for bit (checked by a dump), the
    # run completes, and its final weights equal the host library started from the same
    # checkpoint (fresh state, influence matrix and RLS P = p0 I: NOT the uninterrupted run's weights)
    summary = run_on_device(BOARD, model_path=str(model_path), steps=T, out_dir=str(run), lr=lr,
                            progress=False, report=False, resume_from=str(run / "checkpoint.npz"))
    assert summary["resumed_from_step"] == s0 and summary["resume_weights_verified"] is True
    assert summary["weights_match_host"] and summary["qemu_exit_status"] == 0
    assert summary["frames_bad"] == 0 and summary["device_errors"] == 0
    steps, _ = _telemetry(run / "telemetry.csv")
    assert steps == list(range(T))  # rows before the checkpoint kept, the rest from the resumed run


def test_checkpoints_on_the_host_board(tmp_path):
    from pyrtrl.deploy.checkpoint import load_checkpoint
    from pyrtrl.runs.device import run_on_device

    model_path = tmp_path / "m.npz"
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, shared_mask=True, seed=2)
    pyrtrl.save_model(model_path, model)
    a = run_on_device("host", model_path=str(model_path), steps=250, out_dir=str(tmp_path / "a"),
                      progress=False, report=False, checkpoint_every=100)
    assert a["weights_match_host"]  # segmenting the stream changes nothing
    image, step = load_checkpoint(str(tmp_path / "a" / "checkpoint.npz"), model)
    assert step == 250
    assert not list((tmp_path / "a").glob(".*.tmp"))  # atomic: no temporary left
    b = run_on_device("host", model_path=str(model_path), steps=400, out_dir=str(tmp_path / "a"),
                      progress=False, report=False, resume_from=str(tmp_path / "a" / "checkpoint.npz"))
    assert b["resumed_from_step"] == 250 and b["resume_weights_verified"] and b["weights_match_host"]
    with pytest.raises(pyrtrl.PyrtrlError, match="only 250 steps"):
        run_on_device("host", model_path=str(model_path), steps=250, out_dir=str(tmp_path / "c"),
                      progress=False, report=False, resume_from=str(tmp_path / "a" / "checkpoint.npz"))
    other = tmp_path / "other.npz"
    pyrtrl.save_model(other, pyrtrl.init_egru(6, 1, 1, density=0.5, seed=2))
    with pytest.raises(pyrtrl.PyrtrlError, match="checkpoint of a"):
        run_on_device("host", model_path=str(other), steps=400, out_dir=str(tmp_path / "d"),
                      progress=False, report=False, resume_from=str(tmp_path / "a" / "checkpoint.npz"))
    # same sizes, but a readout over input taps: W_o is k x (n + taps), the image longer
    tapped = pyrtrl.init_egru(8, 1, 1, density=0.5, shared_mask=True, seed=2, readout="c", taps=4)
    with pytest.raises(pyrtrl.PyrtrlError, match="8 readout features.*12 features"):
        load_checkpoint(str(tmp_path / "a" / "checkpoint.npz"), tapped)
    with pytest.raises(pyrtrl.PyrtrlError, match="not a checkpoint"):
        run_on_device("host", model_path=str(model_path), steps=400, out_dir=str(tmp_path / "e"),
                      progress=False, report=False, resume_from=str(model_path))


def _qemu_pids_for(path_part: str) -> list:
    """PIDs of live processes whose command line mentions ``path_part`` (Linux /proc)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().split(")")[-1].split()[0]
        except OSError:
            continue
        if "qemu-system" in cmd and path_part in cmd and state != "Z":
            pids.append(int(d))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_to_a_board_run_stops_qemu_and_says_interrupted(tmp_path, sig):
    """issue 12: SIGTERM or SIGHUP to `pyrtrl run --board B` left QEMU running at 70-80 % CPU
    with parent PID 1. Now the run stops QEMU, keeps whole telemetry rows and writes a
    summary that says interrupted, with the steps kept."""
    import json
    import subprocess
    import sys

    _need_qemu()
    if not os.path.isdir("/proc"):
        pytest.skip("MISSING /proc: cannot look for a leftover QEMU process here")
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "pyrtrl", "run", "--board", BOARD, "--hidden", "8",
                          "--steps", "2500", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tel = out / "telemetry.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and p.poll() is None:
        if tel.is_file() and tel.read_text().count("\n") > 50:
            break
        time.sleep(0.2)
    assert p.poll() is None, f"the run ended before it could be interrupted: {p.communicate()}"
    assert _qemu_pids_for(str(out)), "no QEMU found for the run: the test would prove nothing"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err, err
    time.sleep(0.5)
    assert _qemu_pids_for(str(out)) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["reason"] == signal.Signals(sig).name
    with open(tel, newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert summary["steps_kept"] == len(rows) > 0
    assert all(len(r) == len(rows[0]) for r in rows)  # no half-written row


def test_disk_full_mid_run_keeps_whole_rows_and_says_how_many(tmp_path):
    """issue 12: a full disk gave a bare [Errno 28] with no step count and left a half-written
    CSV row. The telemetry writer cuts a failed window back to the last whole one; the run's
    error (run_on_device) names the steps that reached disk."""
    import csv as _csv

    from fakes import FillsUp

    from pyrtrl.runs.device import _Telemetry

    T = 40
    x = np.linspace(-1, 1, T)[:, None]
    path = tmp_path / "telemetry.csv"
    tele = _Telemetry(path, x, x)
    real = tele.f
    tele.f = FillsUp(real, room=1500)
    tele.w = _csv.writer(tele.f)
    recs = [P.StepRecord(step=i, out_q=np.array([i]), loss_q=i, events=0, active_cols=0, macs=0,
                         instructions=0, saturations=0) for i in range(T)]
    with pytest.raises(OSError):
        for a in range(0, T, 5):
            tele.add(recs[a:a + 5])
    tele.close()
    with open(path, newline="") as f:
        rows = list(_csv.reader(f))
    assert rows[0][0] == "step" and len(rows) - 1 == tele.count > 0
    assert tele.count % 5 == 0 and all(len(r) == len(rows[0]) for r in rows)
    assert path.read_text().endswith("\n")


def test_a_run_directory_never_mixes_two_runs(tmp_path, monkeypatch, capsys):
    """issue 12: a second run into the same --out left the first run's summary ("weights equal
    the host's: True"), report and figures beside its own telemetry, and `pyrtrl report`
    showed them. Now a run starts a fresh directory (summary says running, with a new run
    id) and a failed run's summary says failed, with the steps kept; report refuses it."""
    import json

    from pyrtrl.cli import main
    from pyrtrl.runs.device import run_on_device
    from pyrtrl.reporting.monitor import run_finished

    out = tmp_path / "run"
    a = run_on_device("host", steps=120, out_dir=str(out), progress=False, report=True, seed=1)
    assert a["status"] == "finished" and (out / "report.md").is_file()
    first_id = a["run_id"]

    def broken_stream(self, *args, **kwargs):
        raise pyrtrl.PyrtrlError("link lost")

    monkeypatch.setattr("pyrtrl.runs.device.Device.stream", broken_stream)
    with pytest.raises(pyrtrl.PyrtrlError, match="stopped after 0 of 200 steps"):
        run_on_device("host", steps=200, out_dir=str(out), progress=False, report=True, seed=1)
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "failed" and s["run_id"] != first_id and "link lost" in s["reason"]
    assert s["steps_kept"] == 0 and s["steps_total"] == 200
    assert not (out / "report.md").exists() and not list(out.glob("*.png"))  # the first run's are gone
    assert run_finished(out, 0)  # the monitor stops: nothing more will arrive
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is failed (link lost)" in err and "no report" in err and err.count("\n") == 1


def test_an_interrupted_float_run_says_so(tmp_path, monkeypatch, capsys):
    """The float learner's run directory follows the same lifecycle as a device run's:
    running, then finished, or interrupted / failed with the steps kept; report refuses an
    unfinished run in one line."""
    import csv as _csv
    import json

    from pyrtrl.cli import main
    from pyrtrl.runs.host import run_host
    from pyrtrl.core.learner import OnlineLearner

    out = tmp_path / "float"
    s = run_host(steps=60, out_dir=out, progress=False, hidden=8)
    assert s["status"] == "finished" and json.loads((out / "summary.json").read_text())["run_id"] == s["run_id"]
    real = OnlineLearner.step
    calls = {"n": 0}

    def stop_at_50(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] > 50:
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(OnlineLearner, "step", stop_at_50)
    with pytest.raises(KeyboardInterrupt):
        run_host(steps=200, out_dir=out, progress=False, hidden=8)
    summ = json.loads((out / "summary.json").read_text())
    assert summ["status"] == "interrupted" and summ["steps_kept"] == 50 and summ["steps_total"] == 200
    with open(out / "telemetry.csv", newline="") as f:
        assert len(list(_csv.reader(f))) - 1 == 50
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is interrupted" in err and "50 of 200 steps" in err and err.count("\n") == 1
