"""One run-directory schema for every backend (issue 12 item 2): telemetry.csv's columns and
its one definition of loss, its writer and reader, the summary's core fields, and report
and monitor on each kind of run (pyrtrl.reporting.run_files)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pyrtrl import PyrtrlError, init_egru
from pyrtrl.device import protocol as P
from pyrtrl.runs.device import _Telemetry, run_on_device
from pyrtrl.fixed.quantize import quantize_samples
from pyrtrl.runs.host import run_host
from pyrtrl.reporting.monitor import read_live, render_png
from pyrtrl.reporting.run_files import (BACKENDS, COLUMNS, FORECAST_CORE, INT_NAMES, LABELLED_COLUMNS, NAMES,
                                       SUMMARY_CORE, TelemetryWriter, read_telemetry, schema_markdown)
from pyrtrl.deploy.runtime import CLearner

DOC = Path(__file__).resolve().parents[2] / "docs" / "run_directory.md"
COUNTERS = ("active_cols", "macs", "ticks", "saturations")
#: what each backend measures of the counters (the rest stay empty)
MEASURED = {"float": set(), "host-c": {"active_cols", "macs", "saturations"},
            "qemu": set(COUNTERS), "serial": set(COUNTERS)}


def _rows(path: Path) -> list:
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 3])
def test_round_trip_and_one_loss_on_every_backend(tmp_path: Path, backend: str, k: int) -> None:
    """Rows written for any backend read back exactly; the loss cell is the mean over the
    target channels of (prediction - target)^2 for a known prediction and target, and the
    counters a backend does not measure are empty cells, absent from what the reader returns."""
    rng = np.random.default_rng(k)
    T = 7
    pred, truth, naive = (rng.normal(size=(T, k)) for _ in range(3))
    w = TelemetryWriter(tmp_path, backend, k)
    for t in range(T):
        w.row(t, naive[t], truth[t], pred[t], events=t, active_cols=2 * t, macs=100 + t, ticks=1000 + t,
              saturations=t // 2)
    w.close()
    assert w.rows == T
    rows = _rows(tmp_path / "telemetry.csv")
    assert tuple(rows[0]) == NAMES and len(rows) == T + 1
    for r in rows[1:]:
        for name in COUNTERS:
            assert (r[NAMES.index(name)] != "") == (name in MEASURED[backend]), (backend, name)
    tel = read_telemetry(tmp_path)
    assert set(tel) == set(NAMES) - (set(COUNTERS) - MEASURED[backend])
    for name in tel:
        assert tel[name].dtype == (np.int64 if name in INT_NAMES else np.float64), name
    np.testing.assert_array_equal(tel["step"], np.arange(T))
    np.testing.assert_array_equal(tel["prediction"], pred[:, 0])
    np.testing.assert_array_equal(tel["target"], truth[:, 0])
    np.testing.assert_array_equal(tel["x"], naive[:, 0])
    np.testing.assert_array_equal(tel["loss"], np.mean((pred - truth) ** 2, axis=1))
    np.testing.assert_array_equal(tel["naive_loss"], np.mean((naive - truth) ** 2, axis=1))
    if "macs" in tel:
        np.testing.assert_array_equal(tel["macs"], 100 + np.arange(T))
    if k > 1:  # every channel in channels.csv
        ch = _rows(tmp_path / "channels.csv")
        assert len(ch) == T + 1 and float(ch[3][3 * 2 + 2]) == pred[2, 2]
    else:
        assert not (tmp_path / "channels.csv").exists()


def test_known_values(tmp_path: Path) -> None:
    """A hand-computed row: prediction 0.5 and 1.5 against 0 and 2 (loss (0.25 + 0.25) / 2)."""
    w = TelemetryWriter(tmp_path, "host-c", 2)
    assert w.row(0, [1.0, 1.0], [0.0, 2.0], [0.5, 1.5], 3, active_cols=1, macs=2, saturations=0) == (0.25, 1.0)
    w.close()
    tel = read_telemetry(tmp_path)
    assert tel["loss"][0] == 0.25 and tel["naive_loss"][0] == 1.0


def test_device_records_get_the_same_loss_not_the_devices_own(tmp_path: Path) -> None:
    """The device's loss_q (half the summed square, against the target it learned from) is
    converted at write time into the one loss: the row's squared error. For horizon 1 the
    two agree to Q16 rounding: loss = 2 loss_q / 2^16 (k = 1)."""
    model = init_egru(6, 1, 1, density=0.5, shared_mask=True, seed=3)
    T = 120
    t = np.arange(T + 1)
    s = np.sin(0.3 * t)[:, None]
    x, target = s[:-1], s[1:]
    xq = quantize_samples(x, "x")[0].astype(np.int32)
    tq = quantize_samples(target, "target")[0].astype(np.int32)
    r = CLearner(model, lr=0.01, influence_bits=16).run_fixed(xq, tq)
    recs = [P.StepRecord(step=i, loss_q=int(r.loss_q[i]), out_q=r.output_q[i], events=int(r.events[i]),
                         active_cols=1, macs=10, instructions=0, saturations=0) for i in range(T)]
    tele = _Telemetry(tmp_path / "telemetry.csv", x, target, backend="host-c")
    for a in range(0, T, 16):
        tele.add(recs[a:a + 16])
    tele.close()
    tel = read_telemetry(tmp_path)
    pred = r.output_q[:, 0] / 65536.0
    np.testing.assert_array_equal(tel["prediction"], pred)
    np.testing.assert_array_equal(tel["loss"], (pred - target[:, 0]) ** 2)
    np.testing.assert_allclose(tel["loss"], 2 * r.loss_q / 65536.0, rtol=1e-3, atol=2 ** -14)
    assert "ticks" not in tel  # the host C library measures no ticks: empty, not 0
    assert tele.losses == list(tel["loss"]) and tele.count == tele.rows == T


def test_failed_write_cuts_back_to_the_last_flush(tmp_path: Path) -> None:
    """A full disk mid-row (any backend's writer): the file keeps the flushed rows only, all
    whole, and the error reaches the caller."""
    from fakes import FillsUp

    w = TelemetryWriter(tmp_path, "float", flush_every=10)
    w.f = FillsUp(w.f, room=2000)
    w.w = csv.writer(w.f)
    with pytest.raises(OSError):
        for t in range(1000):
            w.row(t, 0.1 * t, 0.2, 0.3, 1)
    w.close()
    rows = _rows(tmp_path / "telemetry.csv")
    assert len(rows) - 1 == w.rows > 0 and w.rows % 10 == 0
    assert all(len(r) == len(NAMES) for r in rows)
    np.testing.assert_array_equal(read_telemetry(tmp_path)["step"], np.arange(w.rows))


def test_reader_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "telemetry.csv").write_text("step,x,target,prediction,loss,naive_loss,events\n0,1,1,1,0,0,1\n")
    with pytest.raises(PyrtrlError, match="not this pyrtrl's telemetry") as e:
        read_telemetry(tmp_path)
    assert "\n" not in str(e.value)
    (tmp_path / "telemetry.csv").write_text(",".join(NAMES) + "\n0,1,1\n")
    with pytest.raises(PyrtrlError, match="malformed line 2"):
        read_telemetry(tmp_path)
    assert read_telemetry(tmp_path, partial=True)["step"].size == 0
    with pytest.raises(PyrtrlError, match="no telemetry"):
        read_telemetry(tmp_path / "nope")
    assert read_telemetry(tmp_path / "nope", partial=True) == {}


def test_the_document_holds_the_schema() -> None:
    """docs/run_directory.md's table is the module's own (regenerate it from
    run_files.schema_markdown() when a column changes)."""
    text = DOC.read_text()
    assert schema_markdown() in text and schema_markdown("classification") in text
    for c in COLUMNS + LABELLED_COLUMNS:
        assert f"| `{c.name}` |" in text
    for key in FORECAST_CORE:  # SUMMARY_CORE and the forecasting runs' own
        assert f"`{key}`" in text, key
    assert set(SUMMARY_CORE) < set(FORECAST_CORE)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A float run and a host C run of the same signal, with their reports."""
    base = tmp_path_factory.mktemp("kinds")
    out = {"float": base / "float", "host-c": base / "host"}
    run_host(steps=80, hidden=4, out_dir=out["float"], progress=False)
    run_on_device("host", steps=80, out_dir=str(out["host-c"]), progress=False)
    return out


def test_both_kinds_share_the_schema_and_the_summary_core(runs: dict) -> None:
    summaries = {}
    for backend, d in runs.items():
        s = json.loads((d / "summary.json").read_text())
        summaries[backend] = s
        missing = [k for k in FORECAST_CORE if k not in s]
        assert not missing, (backend, missing)
        assert s["backend"] == backend and s["status"] == "finished" and s["kind"] == "forecast"
        assert s["telemetry_columns"] == list(NAMES)
        tel = read_telemetry(d)
        assert s["steps_kept"] == s["steps_total"] == tel["step"].size == 80
        np.testing.assert_array_equal(tel["loss"], (tel["prediction"] - tel["target"]) ** 2)
        np.testing.assert_array_equal(tel["naive_loss"], (tel["x"] - tel["target"]) ** 2)
    a, b = summaries["float"], summaries["host-c"]
    assert a["rate_hz"] == b["rate_hz"] > 0 and a["data"] == b["data"] == "ppg"
    # the same stream: the same x and target columns, bit for bit
    ta, tb = read_telemetry(runs["float"]), read_telemetry(runs["host-c"])
    for name in ("x", "target", "naive_loss"):
        np.testing.assert_array_equal(ta[name], tb[name])


def test_reports_never_reload_the_signal(runs: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample rate comes from the summary: a report works with the signal unloadable."""
    import pyrtrl.data.signals
    from pyrtrl.reporting.report import write_report

    def refuse(*a, **kw):
        raise AssertionError("the report reloaded the signal")

    monkeypatch.setattr(pyrtrl.data.signals, "load_signal", refuse)
    for d in runs.values():  # the one writer, for both kinds of forecasting run
        assert Path(write_report(d).report).is_file()


def test_monitor_reads_both_kinds(runs: dict, tmp_path: Path) -> None:
    for backend, d in runs.items():
        info = read_live(d)
        assert info["kind"] == ("float" if backend == "float" else "device")
        assert info["rows"] == 80 and info["done"]
        # no rescaling: the monitor shows the telemetry's loss as written
        np.testing.assert_array_equal(info["tel"]["loss"], read_telemetry(d)["loss"])
        assert ("macs" in info["tel"]) == (backend != "float")
        png = render_png(d, tmp_path / f"{backend}.png")["png"]
        assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_labelled_telemetry_round_trip_and_the_two_schemas_refuse_each_other(tmp_path: Path) -> None:
    """A classification run's telemetry.csv (the labelled extension): rows read back exactly,
    a full disk cuts back to the last flush, and each reader refuses the other schema's
    file in one line."""
    from fakes import FillsUp

    from pyrtrl.reporting.run_files import LABELLED_NAMES, LabelledTelemetryWriter, read_labelled_telemetry

    (tmp_path / "ok").mkdir()
    w = LabelledTelemetryWriter(tmp_path / "ok", "qemu")
    ce = [0.6931471805599453, 1e-300, 2.5]
    for i, c in enumerate(ce):
        w.labelled_row(7 * i + 6, 1, i < 2, i, i % 2, 1, c, events=3 * i, macs=100 + i)
    w.close()
    rows = _rows(tmp_path / "ok" / "telemetry.csv")
    assert tuple(rows[0]) == LABELLED_NAMES and len(rows) == 4
    tel = read_labelled_telemetry(tmp_path / "ok")
    np.testing.assert_array_equal(tel["step"], [6, 13, 20])
    np.testing.assert_array_equal(tel["learning"], [1, 1, 0])
    np.testing.assert_array_equal(tel["cross_entropy"], ce)  # exact: repr round trip
    assert tel["macs"].dtype == np.int64 and "loss" not in tel
    with pytest.raises(PyrtrlError, match="a classification run's telemetry, not a forecasting") as e:
        read_telemetry(tmp_path / "ok")
    assert "\n" not in str(e.value)
    TelemetryWriter(tmp_path, "float").close()
    with pytest.raises(PyrtrlError, match="a forecasting run's telemetry, not a classification"):
        read_labelled_telemetry(tmp_path)
    (tmp_path / "full").mkdir()
    w = LabelledTelemetryWriter(tmp_path / "full", "host-c", flush_every=10)
    w.f = FillsUp(w.f, room=1500)
    w.w = csv.writer(w.f)
    with pytest.raises(OSError):
        for t in range(1000):
            w.labelled_row(t, 1, True, t, 0, 1, 0.5, 1, 2)
    w.close()
    rows = _rows(tmp_path / "full" / "telemetry.csv")
    assert len(rows) - 1 == w.rows > 0 and w.rows % 10 == 0 and all(len(r) == len(LABELLED_NAMES) for r in rows)
