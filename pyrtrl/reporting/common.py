"""What the run reports share (float runs: :mod:`pyrtrl.reporting.float_report`; device and host C
runs: :mod:`pyrtrl.reporting.device_report`; classification runs:
:mod:`pyrtrl.reporting.classification_report`): the scoring window, running means, every target
channel of a run, the baselines' errors, the lines that describe what a run streams, and the
writers of ``report.md`` and ``report.json``. :func:`pyrtrl.reporting.report.write_report` picks
the report by the run's kind.

Reporting sits above the run files (:mod:`pyrtrl.reporting.run_files`) and below the runs, which
write their report as their last act.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union

import numpy as np

from ..core.baselines import forecast_baselines, stream_signal
from ..data.files import load_run_stream, run_stream_baselines
from .run_files import CHANNELS_FILE, read_columns, read_summary, run_backend, run_kind, write_json_atomic

PathLike = Union[str, "os.PathLike[str]"]

#: The end-of-stream errors are measured over this final fraction of the steps.
LAST_FRACTION = 0.2
#: Seconds of signal shown by the prediction-vs-target figures.
PREDICTION_WINDOW_S = 8.0
#: Seconds of signal averaged by the running means of the figures (~10 heartbeats).
RUNNING_MEAN_S = 10.0


def last_steps(steps: int) -> int:
    """How many final steps the ``*_last`` errors average over: 20 %, at least one."""
    return max(1, int(steps * LAST_FRACTION))


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps (fewer at the start): causal, like the learner."""
    v = np.asarray(values, dtype=np.float64)
    window = max(1, int(window))
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(1, v.size + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def stream_baselines(x: np.ndarray, target: np.ndarray, horizon: int = 1) -> Dict[str, Any]:
    """:func:`pyrtrl.core.baselines.forecast_baselines` on a run's stream (telemetry ``x`` and
    ``target``): the same forecasts, scored over the same last 20 % as the learner."""
    return forecast_baselines(stream_signal(x, target, horizon), horizon, LAST_FRACTION)


#: Steps standing in for :data:`RUNNING_MEAN_S` and :data:`PREDICTION_WINDOW_S` for data
#: files, which have no sample rate.
RUNNING_MEAN_STEPS = 300
PREDICTION_WINDOW_STEPS = 240
#: Target channels shown by the prediction figures of a run with several.
MAX_CHANNEL_PANELS = 4


def curve_window(steps: int, rate_hz: Optional[float]) -> int:
    """Running-mean window: ~10 s of signal (300 steps without a rate), but at most a fifth
    of a short run."""
    span = RUNNING_MEAN_STEPS if rate_hz is None else int(round(RUNNING_MEAN_S * rate_hz))
    return max(1, min(span, steps // 5))


def run_channels(run_dir: PathLike, tel: Dict[str, np.ndarray], baselines: bool = True) -> Dict[str, Any]:
    """Every target channel's ``truth``, ``prediction`` and ``naive`` (T x k) of a run, its
    target ``names``, the saved ``stream`` (:func:`pyrtrl.data.files.load_run_stream`, None for a
    built-in signal) and, with ``baselines``, the ``baselines``
    (:func:`pyrtrl.data.files.stream_baselines` for a data file's stream; :func:`stream_baselines`
    on the telemetry for a built-in signal, whose one channel is the telemetry's). Reads
    host and device telemetry alike (both have ``x``, ``target``, ``prediction``)."""
    out = os.fspath(run_dir)
    saved = load_run_stream(out)
    s = read_summary(out)
    T = tel["step"].size
    cols = {"truth": tel["target"][:, None], "prediction": tel["prediction"][:, None],
            "naive": tel["x"][:, None]}
    path = os.path.join(out, CHANNELS_FILE)
    if saved is not None and len(saved["targets"]) > 1 and os.path.isfile(path):
        c = read_columns(path)
        k = len(saved["targets"])
        for key, what in (("truth", "target"), ("prediction", "prediction"), ("naive", "naive")):
            cols[key] = np.column_stack([c[f"{what}_{j}"][:T] for j in range(k)])
    names = ["s"] if saved is None else saved["targets"]
    if not baselines:
        return dict(cols, names=names, stream=saved)
    if saved is not None:
        base = run_stream_baselines(saved, LAST_FRACTION)
    else:
        base = stream_baselines(tel["x"], tel["target"], int(s.get("horizon", 1)))
    return dict(cols, names=names, baselines=base, stream=saved)


def baseline_sq(entry: Dict[str, Any], truth: np.ndarray) -> np.ndarray:
    """A baseline's squared error per step, the mean over channels."""
    pred = np.asarray(entry["prediction"], dtype=np.float64).reshape(truth.shape[0], -1)
    return np.mean((pred - truth) ** 2, axis=1)


def normalization_lines(s: Dict[str, Any]) -> List[str]:
    """The report's lines on the causal normalisation (and any clamping, loudly)."""
    n = s["normalization"]
    if "columns" not in n:
        return [f"Normalized causally (offset {n['offset']:.6g}, scale {n['scale']:.6g}, {n['from']})."]
    cols = ", ".join(f"{c} (offset {v['offset']:.6g}, scale {v['scale']:.6g})"
                     for c, v in n["columns"].items())
    lines = [f"Normalized causally ({n['from']}): {cols}."]
    if s.get("clamp_warning"):
        lines += ["", f"**WARNING**: {s['clamp_warning']}."]
    return lines


def seen(s: Dict[str, Any]) -> str:
    """What the learner sees at step t, for the report's labels (a signal or data columns)."""
    return "s(t)" if "data_file" not in s else ", ".join(s["inputs"]) + " at t"


def forecast_frame(s: Dict[str, Any]) -> str:
    """What the run forecasts, for the report's labels (s(t+H), or the target columns)."""
    if "data_file" not in s:
        return f"s(t+{int(s.get('horizon', 1))})"
    f = s["data_file"]
    when = f"t+{int(f['horizon'])}" if f["mode"] == "forecast" else "t"
    return f"{', '.join(f['targets'])} at {when}"


def write_report_md(out: str, lines: List[str]) -> str:
    """``report.md`` of a run directory from its lines; its path."""
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


#: The fields every ``report.json`` starts with, whatever the run's kind.
REPORT_HEAD: tuple = ("kind", "backend", "run_id", "report", "figures")


def write_report_json(out: str, s: Dict[str, Any], numbers: Dict[str, Any], figures: List[str]) -> str:
    """``report.json`` of a run directory (written atomically); its path.

    Every kind's starts with :data:`REPORT_HEAD`: the run's ``kind`` and ``backend`` (from
    the summary ``s``), its ``run_id``, ``report`` (``report.md``) and ``figures`` (the PNG
    files' names, relative to the run directory), followed by the report's ``numbers``.
    """
    head: Dict[str, Any] = {"kind": run_kind(s), "backend": run_backend(s), "run_id": s.get("run_id"),
                            "report": "report.md", "figures": [os.path.basename(f) for f in figures]}
    path = os.path.join(out, "report.json")
    write_json_atomic(path, {**head, **{k: v for k, v in numbers.items() if k not in head}})
    return path
