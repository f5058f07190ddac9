"""Tests for the host main job (pyrtrl.runs.host) and the recorded signals (pyrtrl.data.signals)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

from pyrtrl import MASKED, PARAMS, PyrtrlError, init_egru, load_model, save_model
from pyrtrl.core.baselines import BASELINES, baselines_summary, forecast_baselines
from pyrtrl.cli import main
from pyrtrl.runs.host import run_host
from pyrtrl.reporting.common import last_steps, running_mean
from pyrtrl.reporting.float_report import FIGURES, report_figures
from pyrtrl.reporting.run_files import read_telemetry
from pyrtrl.reporting.run_files import NAMES
from pyrtrl.data.signals import (
    SIGNALS, calibration_length, causal_normalization, forecasting_stream, load_signal,
    signal_from_array,
)

STEPS = 300
SUMMARY_KEYS = {
    "data", "source", "rate_hz", "steps", "hidden", "density", "eps", "shared_mask", "lr",
    "method", "params", "mse_learner_last", "mse_naive_last", "mse_mean_last",
    "ratio_learner_over_naive_last", "fwd_activity", "macs_per_step", "influence_bytes",
    "wall_seconds", "baselines",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One short run shared by the tests that only read its directory."""
    out = tmp_path_factory.mktemp("run")
    summary = run_host(steps=STEPS, hidden=8, out_dir=out, progress=False)
    return {"dir": out, "summary": summary}


# -- the run directory ---------------------------------------------------------------------
def test_files_exist(run: Dict[str, Any]) -> None:
    d: Path = run["dir"]
    for name in ("model_before.npz", "model_after.npz", "telemetry.csv", "summary.json", "report.md"):
        assert (d / name).is_file(), name
    for name in FIGURES:
        png = d / f"{name}.png"
        assert png.stat().st_size > 1000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in (d / "report.md").read_text()


def test_telemetry_columns_and_rows(run: Dict[str, Any]) -> None:
    with open(run["dir"] / "telemetry.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == NAMES
    assert len(rows) == STEPS + 1
    # the float learner counts no fixed-point work: those cells are empty, not zero
    assert all(r[7:] == ["", "", "", ""] for r in rows[1:])
    tel = read_telemetry(run["dir"])
    assert not {"active_cols", "macs", "ticks", "saturations"} & set(tel)
    np.testing.assert_array_equal(tel["step"], np.arange(STEPS))
    # the stream is s_t -> s_{t+1}: each target is the next row's input
    np.testing.assert_array_equal(tel["target"][:-1], tel["x"][1:])
    np.testing.assert_array_equal(tel["loss"], (tel["prediction"] - tel["target"]) ** 2)
    np.testing.assert_array_equal(tel["naive_loss"], (tel["x"] - tel["target"]) ** 2)
    assert np.all((tel["events"] >= 0) & (tel["events"] <= 8))


def test_summary_matches_telemetry(run: Dict[str, Any]) -> None:
    s = json.loads((run["dir"] / "summary.json").read_text())
    assert s == run["summary"]
    assert SUMMARY_KEYS <= set(s)
    tel = read_telemetry(run["dir"])
    last = last_steps(STEPS)
    assert s["steps"] == STEPS and s["last_steps"] == last == 60
    assert s["mse_learner_last"] == pytest.approx(np.mean(tel["loss"][-last:]), rel=1e-12)
    assert s["mse_naive_last"] == pytest.approx(np.mean(tel["naive_loss"][-last:]), rel=1e-12)
    assert s["mse_mean_last"] == pytest.approx(np.mean(tel["target"][-last:] ** 2), rel=1e-12)
    assert s["ratio_learner_over_naive_last"] == pytest.approx(
        s["mse_learner_last"] / s["mse_naive_last"], rel=1e-12)
    assert s["fwd_activity"] == pytest.approx(tel["events"].sum() / (STEPS * 8), rel=1e-12)
    assert s["hidden"] == 8 and s["data"] == "ppg" and s["method"] == "rtrl_sparse"
    assert s["macs_per_step"] > 0 and s["influence_bytes"] > 0 and s["wall_seconds"] > 0


def test_summary_and_report_have_the_baselines(run: Dict[str, Any]) -> None:
    """The baselines run on the run's own signal (x then the last target), scored on the
    learner's last 20 %, and appear in summary.json and report.md beside the learner."""
    s = json.loads((run["dir"] / "summary.json").read_text())
    tel = read_telemetry(run["dir"])
    signal = np.concatenate([tel["x"], tel["target"][-1:]])
    want = baselines_summary(forecast_baselines(signal, 1))
    b = s["baselines"]
    assert b == json.loads(json.dumps(want))
    assert b["horizon"] == 1 and b["last_steps"] == s["last_steps"] == last_steps(STEPS)
    assert b["naive"]["mse_last"] == pytest.approx(s["mse_naive_last"], rel=1e-12)
    assert b["nlms"]["chosen"]["mu"] in (0.01, 0.03, 0.1, 0.3, 1.0) and b["nlms"]["order"] == 16
    assert b["rls"]["chosen"]["order"] in (8, 16, 32) and b["rls"]["forgetting"] == 0.999
    md = (run["dir"] / "report.md").read_text()
    assert "## Error over the last 20 % vs baselines" in md
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    learner = rows["EGRU online learner (Adam)"]
    assert f"{s['mse_learner_last']:.6g}" in learner
    assert f"{s['ratio_learner_over_naive_last']:.4g}" in learner
    assert f"| RLS AR({b['rls']['chosen']['order']}), forgetting 0.999 | {b['rls']['mse_last']:.6g} |" in md
    assert f"| NLMS AR(16), mu {b['nlms']['chosen']['mu']:g} | {b['nlms']['mse_last']:.6g} |" in md
    assert "| naive (repeat last sample) |" in md and "best of a small set" in md


def test_cli_run_json_has_the_baselines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--board", "float", "--steps", "40", "--hidden", "4", "--out",
                 str(tmp_path / "run"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(BASELINES) <= set(printed["baselines"]) and printed["baselines"]["last_steps"] == 8
    for name in BASELINES:
        assert {"mse_last", "ratio_to_naive_last", "chosen"} <= set(printed["baselines"][name])


def test_cli_run_optimizer_on_every_backend(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--optimizer reaches the float learner and the C library (default: run_defaults)."""
    from pyrtrl import run_defaults as RD

    for board, opt in (("float", None), ("float", "sgd"), ("host", "adam"), ("host", "sgd")):
        out = tmp_path / f"{board}-{opt}"
        argv = ["run", "--board", board, "--steps", "40", "--hidden", "4", "--out", str(out), "--json"]
        assert main(argv + ([] if opt is None else ["--optimizer", opt])) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["optimizer"] == (opt or RD.OPTIMIZER)
        if board == "host":
            assert s["weights_match_host"] is True


def test_model_after_learned_but_kept_masks(run: Dict[str, Any]) -> None:
    before = load_model(run["dir"] / "model_before.npz")
    after = load_model(run["dir"] / "model_after.npz")
    assert (before.n, before.d, before.k) == (after.n, after.d, after.k) == (8, 1, 1)
    assert any(not np.array_equal(before.params[p], after.params[p]) for p in PARAMS)
    for name in MASKED:
        np.testing.assert_array_equal(before.masks[name], after.masks[name])
        assert not np.any(after.params[name][~after.masks[name]])
        # and the learning reached the weights the masks keep
        assert not np.array_equal(before.params[name], after.params[name])
    assert after.num_params() == run["summary"]["params"]


def test_report_figures(run: Dict[str, Any]) -> None:
    figs = report_figures(run["dir"])
    assert set(figs) == set(FIGURES)
    for fig in figs.values():
        assert len(fig.axes) == 1
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None

    ax = figs["learning_curve"].axes[0]
    assert ax.get_title().startswith("Learning curve")
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel().startswith("squared error")
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 5
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["EGRU online learner", "naive: repeat last sample", "mean predictor (0)"]
    s = json.loads((run["dir"] / "summary.json").read_text())
    assert labels[3] == f"NLMS AR(16), mu {s['baselines']['nlms']['chosen']['mu']:g}"
    assert labels[4] == f"RLS AR({s['baselines']['rls']['chosen']['order']}), forgetting 0.999"
    # the plotted curves are the running means of the telemetry
    tel = read_telemetry(run["dir"])
    learner_line = ax.get_lines()[0]
    np.testing.assert_array_equal(learner_line.get_xdata(), tel["step"])
    win = int(ax.get_ylabel().split("over ")[1].split()[0])
    np.testing.assert_allclose(learner_line.get_ydata(),
                               np.maximum(running_mean(tel["loss"], win), 1e-12))
    # the baselines' curves: running means of their squared errors on the same targets
    base = forecast_baselines(np.concatenate([tel["x"], tel["target"][-1:]]), 1)
    for line, name in zip(ax.get_lines()[3:], ("nlms", "rls")):
        np.testing.assert_allclose(line.get_ydata(), np.maximum(
            running_mean((base[name]["prediction"] - tel["target"]) ** 2, win), 1e-12))

    for key, where in (("prediction_start", "start"), ("prediction_end", "end")):
        ax = figs[key].axes[0]
        assert ax.get_title().startswith(f"Prediction vs target at the {where}")
        assert ax.get_xlabel() == "time (s)"
        assert ax.get_ylabel() == "signal (normalized)"
        assert len(ax.get_lines()) == 3

    ax = figs["events"].axes[0]
    assert ax.get_title().startswith("Forward activity")
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel() == "units with an event (of 8)"
    assert len(ax.get_lines()) == 2
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), tel["events"])


def test_running_mean_is_trailing() -> None:
    v = np.array([1.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(running_mean(v, 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(running_mean(v, 10), [1.0, 2.0, 3.0, 4.0])


def test_run_from_model_file_and_rerun_replaces(tmp_path: Path) -> None:
    model = init_egru(6, 1, 1, density=0.5, seed=3, eps=0.7)
    path = tmp_path / "m.npz"
    save_model(path, model)
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("stale")
    s = run_host(steps=20, model_path=path, out_dir=out, progress=False, data="synthetic")
    assert s["hidden"] == 6 and s["eps"] == 0.7 and s["model_path"] == str(path)
    assert s["shared_mask"] is False
    assert json.loads((out / "summary.json").read_text())["steps"] == 20
    before = load_model(out / "model_before.npz")
    for name in PARAMS:
        np.testing.assert_array_equal(before.params[name], model.params[name])


def test_crash_leaves_telemetry_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyrtrl.runs.host as hr

    real_step = hr.OnlineLearner.step

    def failing_step(self, *args, **kwargs):
        if self.steps == 250:
            raise RuntimeError("simulated crash")
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(hr.OnlineLearner, "step", failing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_host(steps=STEPS, hidden=4, out_dir=tmp_path, progress=False)
    tel = read_telemetry(tmp_path)
    np.testing.assert_array_equal(tel["step"], np.arange(250))
    assert (tmp_path / "model_before.npz").is_file()
    s = json.loads((tmp_path / "summary.json").read_text())  # not a finished run's summary
    assert s["status"] == "failed" and s["steps_kept"] == 250 and "simulated crash" in s["reason"]


# -- bad arguments: one-line PyrtrlError, nothing written ------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 1}, "steps must be an integer >= 2"),
    ({"steps": 2.5}, "steps must be an integer"),
    ({"data": "ecg"}, "unknown signal 'ecg'"),
    ({"method": "bptt"}, "unknown method"),
    ({"lr": 0.0}, "lr must be"),
    ({"lr": float("nan")}, "lr must be"),
    ({"density": 1.5}, "density must be"),
    ({"hidden": 0}, "hidden must be"),
    ({"update_every": 0}, "update_every must be"),
    ({"steps": 10**7}, "has only"),
])
def test_bad_arguments(tmp_path: Path, kwargs: Dict[str, Any], match: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(PyrtrlError, match=match) as e:
        run_host(out_dir=out, progress=False, **kwargs)
    assert "\n" not in str(e.value)
    assert not out.exists()


def test_out_dir_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PyrtrlError, match="cannot write the run directory") as e:
        run_host(steps=5, out_dir=blocker / "run", progress=False)
    assert "\n" not in str(e.value)


def test_model_file_of_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_model(path, init_egru(4, 2, 1, seed=0))
    out = tmp_path / "out"
    with pytest.raises(PyrtrlError, match="2 input"):
        run_host(steps=5, model_path=path, out_dir=out, progress=False)
    save_model(path, init_egru(4, 1, 3, seed=0))
    with pytest.raises(PyrtrlError, match="3 output"):
        run_host(steps=5, model_path=path, out_dir=out, progress=False)
    with pytest.raises(PyrtrlError, match="no such file"):
        run_host(steps=5, model_path=tmp_path / "missing.npz", out_dir=out, progress=False)
    assert not out.exists()


# -- signals -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SIGNALS)
def test_load_signal(name: str) -> None:
    s = load_signal(name, max_steps=400)
    assert len(s) == 400 and s.values.dtype == np.float64 and s.values.ndim == 1
    assert np.all(np.isfinite(s.values)) and s.scale > 0
    if name == "water-flow":  # hourly, not downsampled
        assert s.rate_hz == pytest.approx(1 / 3600) and "river" in s.source
    else:
        assert 25 <= s.rate_hz <= 35 and s.name == name and s.source
    raw = s.values * s.scale + s.offset
    head = raw[:calibration_length(400)]
    assert s.offset == pytest.approx(np.median(head))


def test_ppg_rate_and_length() -> None:
    s = load_signal("ppg")
    assert s.rate_hz == pytest.approx(116.9956 / 4, rel=1e-4)
    assert len(s) == (15000 - 4500) // 4
    assert load_signal().name == "ppg"


def test_water_flow_without_river_is_one_line(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "river" else real(n, *a))
    with pytest.raises(PyrtrlError, match="needs the 'river' package") as e:
        load_signal("water-flow")
    assert "\n" not in str(e.value)


def test_load_signal_errors() -> None:
    for call, match in (
        (lambda: load_signal("nope"), "unknown signal 'nope'"),
        (lambda: load_signal("ppg", max_steps=2), "max_steps must be an integer >= 3"),
        (lambda: signal_from_array(np.ones(2), 30.0), "too short"),
        (lambda: signal_from_array([0.0, 1.0, np.nan, 2.0], 30.0), "non-finite sample.*index 2"),
        (lambda: signal_from_array(np.ones(50), 30.0), "constant"),
        (lambda: signal_from_array(np.ones((5, 2)), 30.0), "one-dimensional"),
        (lambda: signal_from_array(np.arange(10.0), 0.0), "sample rate"),
    ):
        with pytest.raises(PyrtrlError, match=match) as e:
            call()
        assert "\n" not in str(e.value)


def test_normalization_is_causal() -> None:
    rng = np.random.default_rng(1)
    raw = 500 + 40 * rng.normal(size=1000)
    a = signal_from_array(raw, 30.0)
    changed = raw.copy()
    changed[calibration_length(1000):] = 1e6 * rng.normal(size=1000 - calibration_length(1000))
    b = signal_from_array(changed, 30.0)
    assert calibration_length(1000) == 100
    assert (a.offset, a.scale) == (b.offset, b.scale)
    np.testing.assert_array_equal(a.values[:100], b.values[:100])
    # while a change inside the first 10 % does move them
    changed[:100] += 7.0
    assert causal_normalization(changed)[0] == pytest.approx(a.offset + 7.0)
    # a Gaussian's robust spread reads like its standard deviation
    assert a.scale == pytest.approx(40, rel=0.25)


def test_truncation_normalizes_on_its_own_start() -> None:
    # a short run must not be normalized with samples it never sees
    full = load_signal("synthetic")
    short = load_signal("synthetic", max_steps=200)
    raw = full.values * full.scale + full.offset
    assert (short.offset, short.scale) == causal_normalization(raw[:200])


def test_forecasting_stream() -> None:
    s = signal_from_array(np.array([1.0, 2.0, 4.0, 8.0, 3.0]), 10.0)
    x, y = forecasting_stream(s)
    assert x.shape == y.shape == (4, 1)
    np.testing.assert_array_equal(x[:, 0], s.values[:-1])
    np.testing.assert_array_equal(y[:, 0], s.values[1:])
    # 5 samples: the calibration window is its minimum of 3, so the offset is median(1, 2, 4)
    assert math.isclose(s.offset, 2.0)
