"""The report of a device run (``pyrtrl run --board B``): how the on-device learner did.

:func:`write_report` reads a device run directory (:mod:`pyrtrl.runs.device`) and writes

================== =============================================================
learning_curve     the device's loss beside the host float learner's on the same stream,
                   the naive "repeat the last sample" forecaster's and the chosen NLMS and
                   RLS baselines' (:mod:`pyrtrl.core.baselines`)
prediction_start   device prediction, target and naive forecast at the start ...
prediction_end     ... and at the end of the stream
activity           forward activity (events / n) and backward activity (active Jacobian
                   columns / n) per step
cost               the device's MACs per step beside dense RTRL's; instructions per step
                   (QEMU runs: ``instructions.txt``)
memory             the learner's RAM by component against the board's RAM, and what
                   BPTT would need to keep for the same stream
float_learner.csv  the host float learner's per-step prediction and loss (computed once,
                   reused while it is newer than the telemetry)
report.json        the run's kind, backend, run id, report and figures
                   (:data:`pyrtrl.reporting.common.REPORT_HEAD`), then the summary
                   numbers of the table, with the baselines' (``baselines``)
report.md          the table, the learners beside the baselines, and the figures
================== =============================================================

The host float learner is :class:`pyrtrl.core.learner.OnlineLearner` on ``model_before.npz``
with the device's update rule: the cell by the run's ``optimizer`` (SGD, or Adam with the
run's betas and eps: :class:`pyrtrl.core.optim.Adam`, the float twin of the device's) at the
run's learning rate, every component of the gradient clipped to [-1, 1], an update after
every step; the readout by the run's ``readout_rule`` (the cell's optimizer, or RLS with the
run's forgetting factor and p0) and ``train`` (summaries written before these keys existed:
SGD, all trained). It sees the float samples the
device was sent (``x``, ``target`` of the telemetry), the device their Q16 versions.

Every loss here is :mod:`pyrtrl.reporting.run_files`' ``loss``: the squared error (prediction -
target)^2, the mean over target channels, for the device, the float learner, the naive
forecaster and the baselines alike; the table's MSE is its mean over the last 20 % of the
steps.
"""

from __future__ import annotations

import csv
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..core.baselines import baseline_label, baselines_section, baselines_summary, stream_signal
from ..core.health import assess
from ..errors import PyrtrlError
from .common import (LAST_FRACTION, MAX_CHANNEL_PANELS, PREDICTION_WINDOW_S, baseline_sq,
                            curve_window, forecast_frame, last_steps, normalization_lines, run_channels,
                            running_mean, seen, write_report_json, write_report_md)
from .run_files import read_columns, read_instructions, read_summary, read_telemetry, unfinished_run_message

if TYPE_CHECKING:  # matplotlib is imported only when figures are drawn
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: Figure names of :func:`report_figures`; each is saved as ``<name>.png``.
FIGURES: tuple = ("learning_curve", "prediction_start", "prediction_end", "activity", "cost", "memory")
#: The host float learner's per-step results (``loss``: :mod:`pyrtrl.reporting.run_files`' definition).
FLOAT_FILE = "float_learner.csv"
FLOAT_COLUMNS = ("step", "prediction", "loss")
#: The host float learner's settings: the device's update rule (clipped per component).
FLOAT_SETTINGS = {"clip": 1.0, "clip_mode": "value", "update_every": 1}
#: The learning settings of a run summary, and their values for summaries without them
#: (written before the keys existed: SGD, gradient readout, all trained).
READOUT_SETTINGS = {"optimizer": "sgd", "readout_rule": "gradient", "train": "all",
                    "rls_forgetting": 0.999, "rls_p0": 1.0, "horizon": 1}


def float_settings(summary: Dict[str, Any]) -> Dict[str, Any]:
    """The float learner's keyword arguments (but lr) for a run: the device's rule."""
    return dict(FLOAT_SETTINGS, **{k: summary.get(k, v) for k, v in READOUT_SETTINGS.items()})


def adam_settings(summary: Dict[str, Any]) -> Optional[Dict[str, float]]:
    """Adam's betas and eps of a run that used Adam (the summary's, else the defaults of
    :mod:`pyrtrl.run_defaults`); None for SGD."""
    if summary.get("optimizer", READOUT_SETTINGS["optimizer"]) != "adam":
        return None
    from .. import run_defaults as RD

    return {"adam_beta1": float(summary.get("adam_beta1", RD.ADAM_BETA1)),
            "adam_beta2": float(summary.get("adam_beta2", RD.ADAM_BETA2)),
            "adam_eps": float(summary.get("adam_eps", RD.ADAM_EPS))}


def optimizer_label(summary: Dict[str, Any]) -> str:
    """How the run's cell learned: "SGD" or "Adam"."""
    return "Adam" if summary.get("optimizer", READOUT_SETTINGS["optimizer"]) == "adam" else "SGD"
#: BPTT's bytes per step are measured on at most this many first steps, then multiplied.
BPTT_PREFIX = 256


def _newer(path: str, *others: str) -> bool:
    """Whether ``path`` exists and was modified no earlier than every existing one of ``others``."""
    if not os.path.isfile(path):
        return False
    t = os.stat(path).st_mtime_ns
    return all(t >= os.stat(o).st_mtime_ns for o in others if os.path.isfile(o))


# -- the host float learner ---------------------------------------------------------------
def float_learner(run_dir: PathLike, recompute: bool = False) -> Dict[str, np.ndarray]:
    """The host float learner's per-step ``prediction`` and ``loss`` (the squared error
    against the telemetry's truth, the mean over target channels) on the run's stream.

    Read from ``float_learner.csv`` when it covers the telemetry and is newer than it and
    than ``model_before.npz``; otherwise (or with ``recompute``) computed and saved there.
    """
    from ..core.learner import OnlineLearner
    from ..core.model_file import load_model

    out = os.fspath(run_dir)
    path = os.path.join(out, FLOAT_FILE)
    tel_path = os.path.join(out, "telemetry.csv")
    model_path = os.path.join(out, "model_before.npz")
    tel = read_telemetry(out)
    T = tel["step"].size
    from ..data.files import load_run_stream

    saved = load_run_stream(out)  # a data file's stream (None: a built-in signal)
    if saved is not None and saved["target"].shape[1] > 1:
        recompute = True  # float_learner.csv holds one channel
    if not recompute and _newer(path, tel_path, model_path):
        try:
            cols = read_columns(path)
            if tuple(cols) == FLOAT_COLUMNS and cols["step"].size == T:
                return {"prediction": cols["prediction"], "loss": cols["loss"]}
        except PyrtrlError:
            pass  # recompute below
    s = read_summary(out)
    model = load_model(model_path)
    learner = OnlineLearner(model, lr=float(s["lr"]), **float_settings(s))
    ad = adam_settings(s)
    if ad is not None:  # the run's betas and eps (OnlineLearner takes the defaults)
        from ..core.optim import Adam

        learner.optimizer = Adam(float(s["lr"]), ad["adam_beta1"], ad["adam_beta2"], ad["adam_eps"])
    if saved is not None:
        r = learner.run(saved["x"], saved["target"])
    else:
        if model.d != 1 or model.k != 1:
            raise PyrtrlError(f"{model_path}: the forecasting stream needs 1 input and 1 output")
        # the device's stream (x_t, target x_{t+1}) rebuilt from the telemetry, whose target
        # column is each forecast's truth s_{t+H}; the rows are the forecasts that have one
        sig = stream_signal(tel["x"], tel["target"], int(s.get("horizon", 1)))
        r = learner.run(sig[:-1, None], sig[1:, None])
    preds = np.asarray(r.output[:T], dtype=np.float64)
    pred = preds[:, 0]
    # not the learner's own loss (half the summed square, against the target it learns
    # from): the telemetry's, against each forecast's truth
    truth = run_channels(out, tel, baselines=False)["truth"]
    loss = np.mean((preds[:, :truth.shape[1]] - truth) ** 2, axis=1)
    tmp = path + f".tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FLOAT_COLUMNS)
        for t in range(T):
            w.writerow((int(tel["step"][t]), repr(float(pred[t])), repr(float(loss[t]))))
    os.replace(tmp, path)
    return {"prediction": pred, "loss": loss, "predictions": preds}


# -- the numbers --------------------------------------------------------------------------
def bptt_memory(model: Any, x: np.ndarray, prefix: int = BPTT_PREFIX) -> Dict[str, Any]:
    """Bytes BPTT would keep for the stream ``x`` (T x d): per step, measured on the first
    ``min(T, prefix)`` steps with :func:`pyrtrl.core.bptt.bptt_bytes`, times T."""
    from ..core.bptt import bptt_bytes, forward_sequence

    T = x.shape[0]
    k = min(T, prefix)
    caches = forward_sequence(model, x[:k])
    measured = bptt_bytes(caches)
    per_step = measured / k
    return {"bptt_bytes_per_step": per_step, "bptt_prefix_steps": k,
            "bptt_bytes_stream": int(measured if k == T else round(per_step * T))}


def run_baselines(run_dir: PathLike) -> Dict[str, Any]:
    """:func:`pyrtrl.core.baselines.forecast_baselines` on a device run's stream (telemetry ``x``
    then the last target; horizon ``summary["horizon"]``, default 1), predictions included."""
    out = os.fspath(run_dir)
    tel = read_telemetry(out)
    if tel["step"].size < 1:
        raise PyrtrlError(f"{out}: telemetry has no rows")
    return run_channels(out, tel)["baselines"]


def report_numbers(run_dir: PathLike, baselines: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The report's summary numbers, recomputed from the run directory (see ``report.json``).

    ``baselines`` is :func:`run_baselines` (computed if not given).
    """
    from ..boards import get_board
    from ..deploy.budget import budget_for_model
    from ..core.model_file import load_model
    from ..core.rtrl_dense import dense_step_macs

    out = os.fspath(run_dir)
    s = read_summary(out)
    tel = read_telemetry(out)
    T = tel["step"].size
    if T < 1:
        raise PyrtrlError(f"{out}: telemetry has no rows")
    fl = float_learner(out)
    model = load_model(os.path.join(out, "model_before.npz"))
    last = last_steps(T)
    sl = slice(T - last, T)
    # squared errors per step, the mean over target channels (one for the built-in signals)
    ch = run_channels(out, tel, baselines=False)
    truth = ch["truth"]
    fpred = fl.get("predictions", fl["prediction"][:, None])[:, :truth.shape[1]]
    sq_dev = np.mean((ch["prediction"] - truth) ** 2, axis=1)
    sq_naive = np.mean((ch["naive"] - truth) ** 2, axis=1)
    sq_float = np.mean((fpred - truth) ** 2, axis=1)
    mse_d, mse_n, mse_f = (float(a[sl].mean()) for a in (sq_dev, sq_naive, sq_float))
    b = budget_for_model(model, int(s["influence_bits"]),
                         readout_rule=s.get("readout_rule", READOUT_SETTINGS["readout_rule"]),
                         horizon=int(s.get("horizon", READOUT_SETTINGS["horizon"])),
                         optimizer=s.get("optimizer", READOUT_SETTINGS["optimizer"]))
    dense = int(sum(dense_step_macs(model.n, model.d, b.params)))
    ins = read_instructions(out)
    board_ram = None if s["board"] == "host" else get_board(s["board"]).ram_bytes
    ratio = lambda a, c: a / c if c > 0 else None  # noqa: E731
    res: Dict[str, Any] = {
        "board": s["board"], "data": s["data"], "steps": T, "hidden": model.n,
        "influence_bits": int(s["influence_bits"]), "lr": float(s["lr"]),
        "float_learner": dict(float_settings(s), lr=float(s["lr"]), **(adam_settings(s) or {})),
        "last_fraction": LAST_FRACTION, "last_steps": last,
        "mse_device_last": mse_d, "mse_naive_last": mse_n, "mse_float_last": mse_f,
        "ratio_device_over_naive_last": ratio(mse_d, mse_n),
        "ratio_device_over_float_last": ratio(mse_d, mse_f),
        "ratio_float_over_naive_last": ratio(mse_f, mse_n),
        "mse_device_all": float(sq_dev.mean()), "mse_naive_all": float(sq_naive.mean()),
        "mse_float_all": float(sq_float.mean()),
        "instructions_per_step": float(ins.mean()) if ins is not None and ins.size else None,
        "macs_per_step": float(tel["macs"].mean()),
        "dense_macs_per_step": dense,
        "fwd_activity": float(tel["events"].mean() / model.n),
        "bwd_activity": float(tel["active_cols"].mean() / model.n),
        "learner_ram_bytes": s.get("learner_ram_bytes"),
        "ram_used_bytes": s.get("ram_used_bytes"),
        "budget_ram_bytes": b.total_ram,
        "ram_components": dict(b.components),
        "board_ram_bytes": board_ram,
        "params": b.params,
    }
    res.update(bptt_memory(model, tel["x"][:, None] if ch["stream"] is None else ch["stream"]["x"]))
    res["baselines"] = baselines_summary(run_baselines(out) if baselines is None else baselines)
    return res


# -- figures ------------------------------------------------------------------------------
def _style_axes(ax: Any, title: str, xlabel: str, ylabel: str, loc: str = "best") -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc=loc, fontsize="small")


def report_figures(run_dir: PathLike, numbers: Optional[Dict[str, Any]] = None,
                   baselines: Optional[Dict[str, Any]] = None) -> Dict[str, "Figure"]:
    """The report's figures (plain :class:`matplotlib.figure.Figure` objects, no pyplot).

    Returns a dict with the keys of :data:`FIGURES`. ``numbers`` are
    :func:`report_numbers` and ``baselines`` :func:`run_baselines` (computed if not given).
    """
    from matplotlib.figure import Figure

    out = os.fspath(run_dir)
    s = read_summary(out)
    tel = read_telemetry(out)
    T = tel["step"].size
    if T < 1:
        raise PyrtrlError(f"{out}: telemetry has no rows")
    base = run_baselines(out) if baselines is None else baselines
    num = report_numbers(out, base) if numbers is None else numbers
    fl = float_learner(out)
    rate = None if s.get("rate_hz") is None else float(s["rate_hz"])  # None: a data file
    window = curve_window(T, rate) if rate else max(1, min(300, T // 5))
    step = tel["step"]
    n = int(s["hidden"])
    where = f"{s['board']}, {s['data']}, n={n}, {optimizer_label(s)} lr {float(s['lr']):g}"
    figs: Dict[str, Figure] = {}

    # learning curve
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    floor = 1e-12  # exact zeros stay plottable on the log axis
    ch = run_channels(out, tel, baselines=False)
    truth = ch["truth"]
    k = truth.shape[1]
    fpred = fl.get("predictions", fl["prediction"][:, None])
    # every curve is the telemetry's loss: the squared error, the mean over channels
    for values, label, style in ((tel["loss"], f"device ({s['board']}, fixed point)", "-"),
                                 (fl["loss"], "host float learner (same rule)", "-"),
                                 (tel["naive_loss"], "naive: repeat last sample", "--"),
                                 *((baseline_sq(base[b], truth), baseline_label(b, base[b]), "-.")
                                   for b in ("nlms", "rls"))):
        ax.plot(step, np.maximum(running_mean(values, window), floor), style, label=label)
    ax.axvspan(T - num["last_steps"] - 0.5, T - 0.5, color="0.9", zorder=0, label="last 20 % (scored)")
    ax.set_yscale("log")
    _style_axes(ax, f"Learning curve: device vs host float learner vs baselines\n({where})", "step",
                f"squared error{'' if k == 1 else f' (mean over {k} channels)'}, "
                f"running mean over {window} steps")
    figs["learning_curve"] = fig

    # prediction vs target
    span = max(2, min(int(round(PREDICTION_WINDOW_S * rate)) if rate else 240,
                      T // 2 if T >= 4 else T))
    panels = min(k, MAX_CHANNEL_PANELS)
    for key, lo, part in (("prediction_start", 0, "start"), ("prediction_end", T - span, "end")):
        sl = slice(lo, lo + span)
        t_axis = (step[sl] + 1) / rate if rate else step[sl]
        fig = Figure(figsize=(8, 1.0 + 2.5 * panels), layout="constrained")
        axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        for j, ax in enumerate(axes):
            name = "" if k == 1 else f"{ch['names'][j]}: "
            ax.plot(t_axis, truth[sl, j], "k-", lw=1.5, label=f"{name}target" if k > 1 else "target s(t+1)")
            ax.plot(t_axis, ch["prediction"][sl, j], "-", color="tab:blue", label="device prediction")
            ax.plot(t_axis, fpred[sl, j], ":", color="tab:green", lw=1, label="host float learner")
            ax.plot(t_axis, ch["naive"][sl, j], "--", color="tab:orange", lw=1,
                    label="naive: s(t)" if k == 1 else "naive: last value")
            more = "" if k <= panels else f", first {panels} of {k} channels"
            _style_axes(ax, "" if j else f"Prediction vs target at the {part} of the stream "
                        f"({s['board']}, {s['data']}{more})",
                        "" if j < panels - 1 else ("time (s)" if rate else "step"),
                        "signal (normalized)", loc="upper right")
        figs[key] = fig

    # activity
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    fwd, bwd = tel["events"] / n, tel["active_cols"] / n
    ax.plot(step, running_mean(fwd, window), "-", color="tab:red",
            label=f"forward: events / n (mean {100 * num['fwd_activity']:.1f} %)")
    ax.plot(step, running_mean(bwd, window), "-", color="tab:purple",
            label=f"backward: active Jacobian columns / n (mean {100 * num['bwd_activity']:.1f} %)")
    ax.set_ylim(0, 1.05)
    _style_axes(ax, f"Activity per step on the device ({where})", "step",
                f"fraction of {n} units\n(running mean, {window} steps)", loc="upper right")
    figs["activity"] = fig

    # cost
    ins = read_instructions(out)
    has_ins = ins is not None and ins.size == T
    fig = Figure(figsize=(8, 6 if has_ins else 3.5), layout="constrained")
    ax = fig.add_subplot(2 if has_ins else 1, 1, 1)
    ax.plot(step, tel["macs"], "-", color="0.75", lw=0.5, label="device MACs per step")
    ax.plot(step, running_mean(tel["macs"], window), "-", color="tab:blue",
            label=f"device, running mean (overall {num['macs_per_step']:.4g})")
    ax.axhline(num["dense_macs_per_step"], color="tab:red", ls="--",
               label=f"dense RTRL ({num['dense_macs_per_step']:.4g}, constant)")
    ax.set_ylim(bottom=0)
    _style_axes(ax, f"Cost per step: sparse RTRL on the device vs dense RTRL\n({where})", "step",
                "multiply-accumulates per step", loc="center right")
    if has_ins:
        ax2 = fig.add_subplot(2, 1, 2, sharex=ax)
        ax2.plot(step, ins, "-", color="0.75", lw=0.5, label="instructions per step (exact, QEMU plugin)")
        ax2.plot(step, running_mean(ins, window), "-", color="tab:green",
                 label=f"running mean (overall {num['instructions_per_step']:.4g})")
        ax2.set_ylim(bottom=0)
        _style_axes(ax2, f"Guest instructions per learning step on {s['board']}", "step",
                    "instructions per step", loc="center right")
    figs["cost"] = fig

    figs["memory"] = _memory_figure(s, num, T)
    return figs


def _memory_figure(s: Dict[str, Any], num: Dict[str, Any], T: int) -> "Figure":
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    reported = num["learner_ram_bytes"]
    total = reported or num["budget_ram_bytes"]
    board_ram = num["board_ram_bytes"]
    k = num["bptt_prefix_steps"]
    how = (f"{num['bptt_bytes_per_step']:.0f} B/step measured on all {k} steps" if k == T
           else f"{num['bptt_bytes_per_step']:.0f} B/step measured on the first {k} steps, x {T}")
    # (label, bytes, color, legend entry): one bar each, log axis so all are visible
    bars = [(name, v, "tab:blue", "learner buffer component (budget)")
            for name, v in num["ram_components"].items() if v > 0]
    if reported and reported > num["budget_ram_bytes"]:
        bars.append(("context / build", reported - num["budget_ram_bytes"], "tab:cyan",
                     "outside the buffer (rtrl_t context, build chunk)"))
    bars.append(("learner total", total, "navy", "RTRL learner total (device-reported)"))
    if num.get("ram_used_bytes"):
        bars.append(("firmware total", num["ram_used_bytes"], "0.5", "firmware RAM used (static + stack)"))
    bars.append((f"BPTT, {T} steps", num["bptt_bytes_stream"], "tab:red", "BPTT forward values for this stream"))
    seen = set()
    for i, (name, v, color, legend) in enumerate(bars):
        ax.barh(i, v, color=color, label=None if legend in seen else legend)
        seen.add(legend)
        ax.text(v, i, f" {v:,}", va="center", fontsize="x-small")
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize="small")
    ax.invert_yaxis()
    ax.set_xscale("log")
    right = max([b[1] for b in bars] + [board_ram or 0]) * 8
    ax.set_xlim(1, right)
    if board_ram:
        ax.axvline(board_ram, color="k", ls="--", label=f"{s['board']} RAM ({board_ram:,} B)")
    ax.set_title(f"Learner RAM by component vs the board's RAM\n(n={num['hidden']}, "
                 f"{num['influence_bits']}-bit influence)")
    ax.set_xlabel("bytes (log scale)")
    ax.set_ylabel("RAM component")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

    ax = fig.add_subplot(1, 2, 2)
    steps = np.arange(1, T + 1)
    kib = 1024.0
    ax.plot(steps, np.full(T, total / kib), "-", color="navy", label=f"RTRL learner (fixed, {total:,} B)")
    ax.plot(steps, steps * num["bptt_bytes_per_step"] / kib, "-", color="tab:red",
            label=f"BPTT forward values ({num['bptt_bytes_stream']:,} B at {T} steps)")
    if board_ram:
        ax.axhline(board_ram / kib, color="k", ls="--", label=f"{s['board']} RAM")
    ax.set_yscale("log")
    ax.set_title("Memory vs stream length: RTRL vs BPTT")
    ax.set_xlabel("steps of the stream")
    ax.set_ylabel("KiB (log scale)")
    ax.legend(fontsize="x-small", loc="lower right",
              title=f"BPTT: float64 forward caches,\n{how}",
              title_fontsize="x-small")
    return fig


# -- the report ---------------------------------------------------------------------------
def _health_lines(h: Dict[str, Any]) -> List[str]:
    """The run's health at the top of the report: one line, or a warning per problem."""
    if h["status"] == "ok":
        return ["Health: ok (no divergence, no saturation).", ""]
    return [f"**{h['status'].upper()}**: {m}." for m in h["messages"]] + [""]


def _readout_phrase(s: Dict[str, Any]) -> str:
    """How the run's readout reads and learns, from its summary."""
    rule = s.get("readout_rule", READOUT_SETTINGS["readout_rule"])
    how = (f"RLS, forgetting {float(s.get('rls_forgetting', 0.999)):g}" if rule == "rls"
           else f"{optimizer_label(s)} as the cell")
    taps = int(s.get("taps", 0))
    what = f"{'c' if s.get('readout') == 'c' else 'y'}" + (f" and the last {taps} inputs" if taps else "")
    frozen = ", the cell frozen" if s.get("train", "all") == "readout" else ""
    return f"readout of {what} by {how}{frozen}"


def _fmt(v: Any) -> str:
    """Table format of a number (parsed back by the tests: 6 significant digits)."""
    if v is None:
        return "n/a"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return f"{float(v):.6g}"


#: (report.json key, table label) of the summary table, in order.
TABLE: Sequence[tuple] = (
    ("mse_device_last", "MSE device, last 20 %"),
    ("mse_naive_last", "MSE naive (repeat last sample), last 20 %"),
    ("mse_float_last", "MSE host float learner, last 20 %"),
    ("ratio_device_over_naive_last", "device / naive, last 20 %"),
    ("ratio_device_over_float_last", "device / float learner, last 20 %"),
    ("instructions_per_step", "instructions per step (QEMU, exact)"),
    ("macs_per_step", "MACs per step, device"),
    ("dense_macs_per_step", "MACs per step, dense RTRL"),
    ("fwd_activity", "forward activity (events / n)"),
    ("bwd_activity", "backward activity (active columns / n)"),
    ("learner_ram_bytes", "learner RAM, bytes (device-reported)"),
    ("budget_ram_bytes", "learner buffer, bytes (budget)"),
    ("board_ram_bytes", "board RAM, bytes"),
    ("bptt_bytes_stream", "BPTT bytes for the stream"),
)


def write_report(run_dir: PathLike) -> List[str]:
    """Write the figures (PNG), ``report.json`` and ``report.md`` of a device run directory
    (:func:`pyrtrl.reporting.report.write_report` calls it for a forecasting run on the host
    C library, a board under QEMU or on a serial port).

    Parameters
    ----------
    run_dir : path
        The run directory (:mod:`pyrtrl.runs.device`).

    Returns
    -------
    list of str
        The paths written (``float_learner.csv`` too when it was computed).
    """
    out = os.fspath(run_dir)
    s = read_summary(out)
    if "board" not in s:
        raise PyrtrlError(f"{out}: not a device run (summary.json has no board)")
    msg = unfinished_run_message(out, s)
    if msg is not None:
        raise PyrtrlError(msg)
    fl_path = os.path.join(out, FLOAT_FILE)
    before = os.stat(fl_path).st_mtime_ns if os.path.isfile(fl_path) else None
    base = run_baselines(out)  # once: the numbers and the learning curve both need it
    num = report_numbers(out, base)
    figs = report_figures(out, num, base)
    written = []
    if not os.path.isfile(fl_path) or os.stat(fl_path).st_mtime_ns != before:
        written.append(fl_path)
    for name, fig in figs.items():
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=110)
        written.append(path)
    written.append(write_report_json(out, s, num, [p for p in written if p.endswith(".png")]))

    rn = num["ratio_device_over_naive_last"]
    verdict = ("" if rn is None else
               f" The device's error over the last 20 % is {100 * rn:.0f} % of the naive forecaster's"
               f" and {100 * num['ratio_device_over_float_last']:.0f} % of the host float learner's.")
    if num["board_ram_bytes"]:
        fits = (f"of the board's {num['board_ram_bytes']:,} bytes: "
                f"{100 * (num['learner_ram_bytes'] or num['budget_ram_bytes']) / num['board_ram_bytes']:.1f} % for the learner, "
                f"while BPTT would need {num['bptt_bytes_stream']:,} bytes for this stream "
                f"({100 * num['bptt_bytes_stream'] / num['board_ram_bytes']:.0f} % of the RAM).")
    else:
        fits = f"BPTT would need {num['bptt_bytes_stream']:,} bytes for this stream."
    lines = [
        f"# Device run: {s['board']} learns {s['data']} online",
        "",
        f"{'Data' if 'data_file' in s else 'Signal'}: {s.get('source', s['data'])}.",
        *(normalization_lines(s) if "data_file" in s else []),
        "",
        *_health_lines(assess(rn, int(s.get("saturations") or 0), int(num["steps"]))),
        f"At each of {num['steps']} steps the device receives {seen(s)}, forecasts "
        f"{forecast_frame(s)}, is scored and learns from the truth when it arrives, "
        f"with sparse RTRL in fixed point ({optimizer_label(s)} lr {num['lr']:g}, each "
        f"gradient component clipped to 1, {num['influence_bits']}-bit influence matrix, "
        f"{num['hidden']} units; {_readout_phrase(s)}). The host float learner runs the same rule on the same stream from "
        f"the same initial model (`model_before.npz`).{verdict}",
        "",
        f"Memory: {fits}",
        "",
        "| quantity | value |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_fmt(num[key])} |" for key, label in TABLE]
    lines += [
        f"| weights equal the host C library's | {s.get('weights_match_host')} |",
        f"| frames ok / bad, sequence gaps | {s.get('frames_ok')} / {s.get('frames_bad')}, "
        f"{s.get('seq_gaps')} |",
        "",
        f"MSE is the mean of (prediction - target)² over the last {num['last_steps']} steps "
        "(20 %), from `telemetry.csv` (device, naive = x) and `float_learner.csv` (float learner).",
        "",
        *baselines_section(num["baselines"], [(f"device ({s['board']}, fixed point)", num["mse_device_last"]),
                                              ("host float learner (same rule)", num["mse_float_last"])]),
        "![learning curve](learning_curve.png)",
        "",
        "![prediction at the start](prediction_start.png)",
        "",
        "![prediction at the end](prediction_end.png)",
        "",
        "![forward and backward activity](activity.png)",
        "",
        "![cost per step](cost.png)",
        "",
        "![memory](memory.png)",
        "",
        "Files: `telemetry.csv` (step, x, target, prediction, loss = squared error, naive_loss, "
        "events, active_cols, macs, ticks, saturations: docs/run_directory.md), "
        "`instructions.txt` (QEMU runs), "
        "`float_learner.csv`, `model_before.npz`, `model_after.npz`, `summary.json`, "
        "`report.json`.",
        "",
    ]
    written.append(write_report_md(out, lines))
    return written
