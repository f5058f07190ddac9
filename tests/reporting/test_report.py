"""The device-run report (pyrtrl.reporting.device_report) and the live monitor (pyrtrl.reporting.monitor).

Runs: the C learner through cffi (``--board host``, no emulator), one QEMU board run of
1000 steps watched live by the monitor while it writes its telemetry, and the default run
(default board, whole PPG signal, pyrtrl.run_defaults: lr 0.03, c readout over 16 taps by RLS)
for the accuracy claim.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
from needs import require_board

from pyrtrl import run_defaults as RD
from pyrtrl.core.baselines import BASELINES, baselines_summary, forecast_baselines
from pyrtrl.boards import get_board
from pyrtrl.core.bptt import bptt_bytes, forward_sequence
from pyrtrl.deploy.budget import budget_for_model
from pyrtrl.cli import main
from pyrtrl.runs.device import DEFAULT_BOARD, run_on_device
from pyrtrl.core.learner import OnlineLearner
from pyrtrl.core.model_file import load_model
from pyrtrl.core.optim import Adam
from pyrtrl.reporting.monitor import read_live, render_png, run_finished
from pyrtrl.reporting.device_report import FIGURES, TABLE, report_figures, write_report
from pyrtrl.core.rtrl_dense import dense_step_macs

PNG = b"\x89PNG\r\n\x1a\n"
QEMU_STEPS = 1000


def _need_qemu() -> None:
    require_board(DEFAULT_BOARD)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("host")
    run_on_device("host", steps=600, out_dir=str(out), progress=False)  # writes the report
    return out


@pytest.fixture(scope="module")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A QEMU run in a background thread; the monitor renders it while it streams."""
    _need_qemu()
    base = tmp_path_factory.mktemp("qemu")
    out = base / "run"
    result: Dict[str, Any] = {}

    def job() -> None:
        try:
            result["summary"] = run_on_device(DEFAULT_BOARD, steps=QEMU_STEPS, out_dir=str(out),
                                              progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            result["error"] = e

    th = threading.Thread(target=job, daemon=True)
    th.start()
    renders = []
    deadline = time.monotonic() + 120
    tel = out / "telemetry.csv"
    def finished() -> bool:  # summary.json exists from the start and says running until the end
        try:
            return json.loads((out / "summary.json").read_text()).get("status") == "finished"
        except (OSError, ValueError):
            return False

    while th.is_alive() and time.monotonic() < deadline:
        if tel.is_file() and tel.stat().st_size > 200 and not finished():
            png = base / f"live{len(renders)}.png"
            info = render_png(out, png)
            renders.append(info)
        time.sleep(0.05)
    th.join(timeout=120)
    if "error" in result:
        raise result["error"]
    return {"dir": out, "summary": result["summary"], "renders": renders}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """``pyrtrl run`` with every default: the default board, the whole PPG signal, run_defaults."""
    _need_qemu()
    out = tmp_path_factory.mktemp("default")
    summary = run_on_device(out_dir=str(out), progress=False)
    return {"dir": out, "summary": summary}


# -- recomputing the numbers independently ----------------------------------------------------
def _recompute(d: Path) -> Dict[str, Any]:
    tel = np.genfromtxt(d / "telemetry.csv", delimiter=",", names=True)
    fl = np.genfromtxt(d / "float_learner.csv", delimiter=",", names=True)
    s = json.loads((d / "summary.json").read_text())
    T = tel.shape[0]
    last = max(1, int(0.2 * T))
    sq = lambda a: ((a - tel["target"]) ** 2)[-last:].mean()  # noqa: E731
    # the telemetry's loss is run_files' definition on a device run too: not the device's
    # own loss_q (half the square), computed by the writer from the row's own values
    np.testing.assert_array_equal(tel["loss"], (tel["prediction"] - tel["target"]) ** 2)
    np.testing.assert_array_equal(tel["naive_loss"], (tel["x"] - tel["target"]) ** 2)
    dev, naive, flt = sq(tel["prediction"]), sq(tel["x"]), sq(fl["prediction"])
    model = load_model(d / "model_before.npz")
    b = budget_for_model(model, s["influence_bits"], readout_rule=s["readout_rule"],
                         horizon=s["horizon"], optimizer=s["optimizer"])
    ins = d / "instructions.txt"
    return {
        "steps": T, "last_steps": last,
        "mse_device_last": dev, "mse_naive_last": naive, "mse_float_last": flt,
        "ratio_device_over_naive_last": dev / naive, "ratio_device_over_float_last": dev / flt,
        "instructions_per_step": float(np.loadtxt(ins).mean()) if ins.exists() else None,
        "macs_per_step": tel["macs"].mean(),
        "dense_macs_per_step": sum(dense_step_macs(model.n, model.d, b.params)),
        "fwd_activity": tel["events"].mean() / model.n,
        "bwd_activity": tel["active_cols"].mean() / model.n,
        "learner_ram_bytes": s["learner_ram_bytes"],
        "budget_ram_bytes": b.total_ram,
        "board_ram_bytes": None if s["board"] == "host" else get_board(s["board"]).ram_bytes,
        "bptt_bytes_stream": bptt_bytes(forward_sequence(model, tel["x"][:, None])),
    }


def _table(md: str) -> Dict[str, str]:
    rows = {}
    for line in md.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(parts) == 2:
            rows[parts[0]] = parts[1]
    return rows


def _check_report(d: Path) -> None:
    for name in FIGURES:
        assert _is_png(d / f"{name}.png"), name
    md = (d / "report.md").read_text()
    for name in FIGURES:
        assert f"({name}.png)" in md
    rep = json.loads((d / "report.json").read_text())
    want = _recompute(d)
    table = _table(md)
    labels = dict(TABLE)
    for key, v in want.items():
        if v is None:
            assert rep[key] is None, key
            if key in labels:
                assert table[labels[key]] == "n/a", key
            continue
        assert rep[key] == pytest.approx(v, rel=1e-12), key
        if key in labels:
            assert float(table[labels[key]]) == pytest.approx(v, rel=1e-5), (key, table[labels[key]])
    for key in ("mse_device_last", "mse_naive_last", "mse_float_last", "ratio_device_over_naive_last",
                "ratio_device_over_float_last", "instructions_per_step", "learner_ram_bytes",
                "board_ram_bytes", "bptt_bytes_stream"):
        assert key in labels  # the table has every number the brief lists
    _check_baselines(d, rep, md)


def _check_baselines(d: Path, rep: Dict[str, Any], md: str) -> None:
    """The baselines ran on the run's stream (x then the last target), scored on the same last
    20 %, and are in summary.json (what ``pyrtrl run --json`` prints), report.json and report.md."""
    tel = np.genfromtxt(d / "telemetry.csv", delimiter=",", names=True)
    want = json.loads(json.dumps(baselines_summary(
        forecast_baselines(np.concatenate([tel["x"], tel["target"][-1:]]), 1))))
    assert rep["baselines"] == want
    assert json.loads((d / "summary.json").read_text())["baselines"] == want
    b = want
    assert b["last_steps"] == rep["last_steps"] and b["horizon"] == 1
    assert b["naive"]["mse_last"] == pytest.approx(rep["mse_naive_last"], rel=1e-12)
    for name in BASELINES:
        assert {"mse_last", "ratio_to_naive_last", "chosen"} <= set(b[name])
    assert "## Error over the last 20 % vs baselines" in md
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    s = json.loads((d / "summary.json").read_text())
    assert f"| {rep['mse_device_last']:.6g} | {rep['ratio_device_over_naive_last']:.4g} |" in \
        rows[f"device ({s['board']}, fixed point)"]
    assert f"| {rep['mse_float_last']:.6g} |" in rows["host float learner (same rule)"]
    rls = rows[f"RLS AR({b['rls']['chosen']['order']}), forgetting 0.999"]
    assert f"| {b['rls']['mse_last']:.6g} | {b['rls']['ratio_to_naive_last']:.4g} |" in rls
    assert f"| {b['nlms']['mse_last']:.6g} |" in rows[f"NLMS AR(16), mu {b['nlms']['chosen']['mu']:g}"]


def _check_figures(d: Path, qemu_run: bool) -> None:
    figs = report_figures(d)
    assert set(figs) == set(FIGURES)
    for name, fig in figs.items():
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
            assert ax.get_legend() is not None, name
    labels = lambda fig: [ln.get_label() for ax in fig.axes for ln in ax.get_lines()]  # noqa: E731
    lc = labels(figs["learning_curve"])
    assert any("device" in s for s in lc) and any("float" in s for s in lc) and any("naive" in s for s in lc)
    assert any(s.startswith("NLMS AR(16)") for s in lc) and any(s.startswith("RLS AR(") for s in lc)
    tel = np.genfromtxt(d / "telemetry.csv", delimiter=",", names=True)
    dev_line = next(ln for ln in figs["learning_curve"].axes[0].get_lines() if "device" in ln.get_label())
    assert dev_line.get_xdata().size == tel.shape[0]
    for key in ("prediction_start", "prediction_end"):
        pl = labels(figs[key])
        assert any("target" in s for s in pl) and any("device prediction" in s for s in pl)
        assert any("naive" in s for s in pl)
        target = next(ln for ln in figs[key].axes[0].get_lines() if "target" in ln.get_label())
        ys = np.asarray(target.get_ydata())
        ref = tel["target"][:ys.size] if key == "prediction_start" else tel["target"][-ys.size:]
        np.testing.assert_array_equal(ys, ref)
    act = labels(figs["activity"])
    assert any("forward" in s for s in act) and any("backward" in s for s in act)
    cost = figs["cost"]
    assert len(cost.axes) == (2 if qemu_run else 1)
    dense = next(ln for ln in cost.axes[0].get_lines() if "dense RTRL" in ln.get_label())
    rep = json.loads((d / "report.json").read_text())
    assert set(np.asarray(dense.get_ydata(), dtype=float)) == {float(rep["dense_macs_per_step"])}
    if qemu_run:
        assert any("instructions" in ln.get_label() for ln in cost.axes[1].get_lines())
    mem = figs["memory"]
    _, mlabels = mem.axes[0].get_legend_handles_labels()
    assert any("learner buffer component" in s for s in mlabels)
    assert any("BPTT" in s for s in mlabels)
    assert any(" RAM (" in s for s in mlabels) == qemu_run  # no board RAM line for "host"
    bars = [p.get_width() for p in mem.axes[0].patches]
    assert sum(rep["ram_components"].values()) == sum(bars[:len([v for v in rep["ram_components"].values() if v])])


# -- tests ------------------------------------------------------------------------------------
def test_host_run_report(host_dir: Path) -> None:
    _check_report(host_dir)
    _check_figures(host_dir, qemu_run=False)
    rep = json.loads((host_dir / "report.json").read_text())
    assert rep["board"] == "host" and rep["instructions_per_step"] is None
    assert rep["bptt_prefix_steps"] < rep["steps"]  # measured on a prefix, multiplied: exact anyway


def test_float_learner_is_the_device_rule_and_is_cached(host_dir: Path) -> None:
    tel = np.genfromtxt(host_dir / "telemetry.csv", delimiter=",", names=True)
    fl = np.genfromtxt(host_dir / "float_learner.csv", delimiter=",", names=True)
    s = json.loads((host_dir / "summary.json").read_text())
    assert s["readout_rule"] == "rls"  # the run defaults: the float learner's readout is RLS too
    assert s["optimizer"] == RD.OPTIMIZER  # and its cell's optimizer the device's
    learner = OnlineLearner(load_model(host_dir / "model_before.npz"), lr=s["lr"], optimizer=s["optimizer"],
                            clip=1.0, clip_mode="value", update_every=1, readout_rule=s["readout_rule"],
                            train=s["train"], rls_forgetting=s["rls_forgetting"], rls_p0=s["rls_p0"])
    if s["optimizer"] == "adam":
        assert (s["adam_beta1"], s["adam_beta2"], s["adam_eps"]) == (RD.ADAM_BETA1, RD.ADAM_BETA2, RD.ADAM_EPS)
        assert isinstance(learner.optimizer, Adam)  # with the defaults' betas: the run's
    rep = json.loads((host_dir / "report.json").read_text())
    assert rep["float_learner"]["optimizer"] == s["optimizer"]
    r = learner.run(tel["x"][:, None], tel["target"][:, None])
    np.testing.assert_array_equal(fl["prediction"], r.output[:, 0])
    # float_learner.csv's loss is the telemetry's (run_files): the squared error against the
    # forecast's truth, not the learner's own half of it
    np.testing.assert_array_equal(fl["loss"], (r.output[:, 0] - tel["target"]) ** 2)
    np.testing.assert_allclose(r.loss, 0.5 * fl["loss"])
    path = host_dir / "float_learner.csv"
    stamp = path.stat().st_mtime_ns
    written = write_report(host_dir)  # regenerated from the saved file, not recomputed
    assert path.stat().st_mtime_ns == stamp and str(path) not in written
    path.unlink()
    written = write_report(host_dir)
    assert str(path) in written
    np.testing.assert_array_equal(np.genfromtxt(path, delimiter=",", names=True)["prediction"], fl["prediction"])


def test_cli_report(host_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(host_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(host_dir / "report.md")
    assert main(["report", str(host_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((host_dir / "report.json").read_text())
    assert main(["report", str(host_dir / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run directory" in err


def test_cli_run_json_has_the_baselines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["run", "--board", "host", "--steps", "120", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["baselines"] == json.loads((out / "report.json").read_text())["baselines"]
    assert set(BASELINES) <= set(printed["baselines"]) and printed["baselines"]["last_steps"] == 24


def test_qemu_run_report(qemu: Dict[str, Any]) -> None:
    d = qemu["dir"]
    assert qemu["summary"]["weights_match_host"] and qemu["summary"]["steps"] == QEMU_STEPS
    _check_report(d)
    _check_figures(d, qemu_run=True)
    rep = json.loads((d / "report.json").read_text())
    assert rep["instructions_per_step"] == qemu["summary"]["instructions_per_step"]
    assert rep["baselines"] == json.loads(json.dumps(qemu["summary"]["baselines"]))
    assert rep["learner_ram_bytes"] < rep["board_ram_bytes"]
    assert rep["macs_per_step"] < rep["dense_macs_per_step"]


def test_monitor_renders_a_live_run(qemu: Dict[str, Any]) -> None:
    partial = [r for r in qemu["renders"] if 0 < r["rows"] < QEMU_STEPS]
    assert partial, [r["rows"] for r in qemu["renders"]]  # at least one render while it streamed
    for r in partial:
        assert not r["done"] and r["kind"] == "device"
        assert _is_png(Path(r["png"]))
    info = render_png(qemu["dir"])  # finished: every row, done
    assert info["rows"] == QEMU_STEPS and info["done"]
    assert _is_png(qemu["dir"] / "monitor.png")


def test_monitor_partial_last_line(host_dir: Path, tmp_path: Path) -> None:
    text = (host_dir / "telemetry.csv").read_text()
    lines = text.splitlines(keepends=True)
    shutil.copy(host_dir / "model_before.npz", tmp_path / "model_before.npz")
    (tmp_path / "telemetry.csv").write_text("".join(lines[:101]) + lines[101][:17])  # cut mid-row
    info = render_png(tmp_path)
    assert info["rows"] == 100 and not info["done"] and info["n"] == 32
    assert _is_png(tmp_path / "monitor.png")
    live = read_live(tmp_path)
    np.testing.assert_array_equal(live["tel"]["step"], np.arange(100))
    (tmp_path / "telemetry.csv").write_text(lines[0][:10])  # even the header is unfinished
    info = render_png(tmp_path, tmp_path / "waiting.png")
    assert info["rows"] == 0 and _is_png(tmp_path / "waiting.png")


def test_monitor_once_and_finish(host_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    png = tmp_path / "m.png"
    assert main(["monitor", str(host_dir), "--once", "--png", str(png)]) == 0
    assert capsys.readouterr().out.strip() == str(png) and _is_png(png)
    assert main(["monitor", str(host_dir), "--once"]) == 0
    assert _is_png(host_dir / "monitor.png")
    from pyrtrl.reporting.monitor import monitor

    info = monitor(str(host_dir), png=str(tmp_path / "loop.png"), every=0.05, say=lambda s: None)
    assert info["done"] and info["rows"] == 600  # the run had finished: one render, then stop
    # an older run's summary beside a newer telemetry does not count as finished
    tel, summ = host_dir / "telemetry.csv", host_dir / "summary.json"
    t = summ.stat().st_mtime
    os.utime(summ, (t - 100, t - 100))
    try:
        assert not run_finished(host_dir, 600)
    finally:
        os.utime(summ, (t, t))
    assert run_finished(host_dir, 600) and not run_finished(host_dir, 599) and tel.exists()


def test_monitor_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["monitor", "/dev/ttyACM0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pyrtrl run" in err and "--port /dev/ttyACM0 --out DIR" in err
    assert main(["monitor", str(tmp_path / "nope"), "--once"]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert main(["monitor", str(tmp_path), "--once"]) == 2
    assert "no telemetry.csv" in capsys.readouterr().err


def test_default_run_beats_naive_and_matches_float(default_run: Dict[str, Any]) -> None:
    """The default PPG run (whole signal, run_defaults): the device's error over the last 20 %
    is clearly below the naive forecaster's and within 10 % of the host float learner's."""
    d = default_run["dir"]
    rep = json.loads((d / "report.json").read_text())
    want = _recompute(d)
    assert rep["ratio_device_over_naive_last"] == pytest.approx(want["ratio_device_over_naive_last"])
    assert rep["steps"] == 2624 and rep["lr"] == RD.LR
    numbers = {k: rep[k] for k in ("mse_device_last", "mse_naive_last", "mse_float_last",
                                   "ratio_device_over_naive_last", "ratio_device_over_float_last")}
    assert rep["ratio_device_over_naive_last"] <= 0.8, numbers
    assert abs(rep["ratio_device_over_float_last"] - 1) <= 0.10, numbers
