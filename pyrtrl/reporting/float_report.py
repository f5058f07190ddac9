"""The float run's report (:func:`pyrtrl.runs.host.run_host`): its figures, built from the
run directory alone, and ``report.md`` beside the online baselines."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, List

import numpy as np

from ..core.baselines import baseline_label, baselines_section, baselines_summary
from ..errors import PyrtrlError
from .common import (MAX_CHANNEL_PANELS, PREDICTION_WINDOW_S, PREDICTION_WINDOW_STEPS, PathLike,
                            baseline_sq, curve_window, forecast_frame, last_steps, normalization_lines,
                            run_channels, running_mean, seen, write_report_json, write_report_md)
from .run_files import read_summary, read_telemetry, unfinished_run_message

if TYPE_CHECKING:  # matplotlib is imported only when figures are drawn
    from matplotlib.figure import Figure

#: Figure names of :func:`report_figures`; each is saved as ``<name>.png``.
FIGURES: tuple[str, ...] = ("learning_curve", "prediction_start", "prediction_end", "events")

def report_figures(run_dir: PathLike) -> Dict[str, "Figure"]:
    """The report's figures, built from a run directory's telemetry and summary.

    Figures are plain :class:`matplotlib.figure.Figure` objects, not pyplot ones, so
    nothing is registered with (or shown by) whatever backend the caller uses.

    Returns
    -------
    dict
        ``"learning_curve"``, ``"prediction_start"``, ``"prediction_end"``, ``"events"``.
    """
    from matplotlib.figure import Figure

    tel = read_telemetry(run_dir)
    s = read_summary(run_dir)
    T = tel["step"].size
    if T < 1:
        raise PyrtrlError(f"{os.fspath(run_dir)}: telemetry has no rows")
    rate = None if s.get("rate_hz") is None else float(s["rate_hz"])
    window = curve_window(T, rate)
    label = f"{s['data']}, n={s['hidden']}, density={s['density']:.2f}, eps={s['eps']:g}"
    figs: Dict[str, Figure] = {}
    ch = run_channels(run_dir, tel)
    truth = ch["truth"]
    k = truth.shape[1]
    mean_over = "" if k == 1 else f" (mean over {k} channels)"

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    step = tel["step"]
    floor = 1e-12  # keep exact zeros plottable on the log axis
    base = ch["baselines"]
    for values, name, style in (
        (tel["loss"], "EGRU online learner", "-"),
        (tel["naive_loss"], "naive: repeat last sample", "--"),
        (np.mean(truth ** 2, axis=1), "mean predictor (0)", ":"),
        *((baseline_sq(base[b], truth), baseline_label(b, base[b]), "-.")
          for b in ("nlms", "rls")),
    ):
        ax.plot(step, np.maximum(running_mean(values, window), floor), style, label=name)
    ax.axvspan(T - last_steps(T) - 0.5, T - 0.5, color="0.9", zorder=0, label="last 20 % (scored)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"squared error{mean_over}, running mean over {window} steps")
    task = {"regression": "regression", "forecast": "forecasting"}.get(
        s.get("data_file", {}).get("mode"), "next-sample forecasting")
    ax.set_title(f"Learning curve: {task} ({label})")
    ax.legend()
    figs["learning_curve"] = fig

    span_full = PREDICTION_WINDOW_STEPS if rate is None else int(round(PREDICTION_WINDOW_S * rate))
    span = max(2, min(span_full, T // 2 if T >= 4 else T))
    panels = min(k, MAX_CHANNEL_PANELS)
    for key, lo, where in (("prediction_start", 0, "start"), ("prediction_end", T - span, "end")):
        sl = slice(lo, lo + span)
        # the target s_{t+1} is the sample at time (t+1)/rate
        t_s = step[sl] + 1 if rate is None else (step[sl] + 1) / rate
        fig = Figure(figsize=(8, 1.0 + 2.5 * panels), layout="constrained")
        axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        for j, ax in enumerate(axes):
            one = k == 1
            ax.plot(t_s, truth[sl, j], "k-", lw=1.5,
                    label="target s(t+1)" if one else f"{ch['names'][j]}: target")
            ax.plot(t_s, ch["prediction"][sl, j], "-", color="tab:blue", label="learner prediction")
            ax.plot(t_s, ch["naive"][sl, j], "--", color="tab:orange", lw=1,
                    label="naive: s(t)" if one else "naive: last value")
            ax.set_ylabel("signal (normalized)")
            ax.legend(loc="upper right", fontsize="small")
        axes[-1].set_xlabel("step" if rate is None else "time (s)")
        more = "" if k <= panels else f", first {panels} of {k} channels"
        axes[0].set_title(f"Prediction vs target at the {where} of the stream ({s['data']}{more})")
        figs[key] = fig

    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(step, tel["events"], "-", color="0.7", lw=0.5, label="events per step")
    ax.plot(step, running_mean(tel["events"], window), "-", color="tab:red",
            label=f"running mean over {window} steps")
    ax.set_xlabel("step")
    ax.set_ylabel(f"units with an event (of {s['hidden']})")
    ax.set_title(f"Forward activity: events per step (mean {100 * s['fwd_activity']:.1f} % of units)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    figs["events"] = fig
    return figs


#: The summary fields a float run's ``report.json`` holds (those present): the table's.
NUMBERS: tuple = (
    "data", "steps", "horizon", "hidden", "density", "eps", "gamma", "params", "method", "optimizer", "lr",
    "last_steps", "mse_learner_last", "mse_naive_last", "mse_mean_last", "ratio_learner_over_naive_last",
    "mse_learner_all", "mse_naive_all", "fwd_activity", "bwd_activity", "macs_per_step",
    "macs_forward_per_step", "macs_influence_per_step", "macs_gradient_per_step", "influence_bytes",
    "influence_live_bytes", "health", "wall_seconds", "steps_per_second",
)


def write_report(run_dir: PathLike) -> List[str]:
    """Save the figures as PNG and write ``report.json`` and ``report.md`` of a float run
    directory (:func:`pyrtrl.reporting.report.write_report` calls it for a forecasting run
    of the host float learner).

    Parameters
    ----------
    run_dir : path
        The run directory (:func:`pyrtrl.runs.host.run_host`).

    Returns
    -------
    list of str
        The files written: the figures, ``report.json``, ``report.md``.
    """
    out = os.fspath(run_dir)
    s = read_summary(out)
    msg = unfinished_run_message(out, s)
    if msg is not None:
        raise PyrtrlError(msg)
    figs = report_figures(out)
    written = []
    for name, fig in figs.items():
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=110)
        written.append(path)
    ratio = s["ratio_learner_over_naive_last"]
    # runs written before the baselines existed have none in their summary
    base = s.get("baselines") or baselines_summary(run_channels(out, read_telemetry(out))["baselines"])
    numbers = {k: s[k] for k in NUMBERS if k in s}
    numbers["baselines"] = base
    written.append(write_report_json(out, s, numbers, written))
    verdict = (
        "n/a (the naive forecaster is exact)" if ratio is None
        else f"{ratio:.3f}: the learner's error is {'below' if ratio < 1 else 'not below'} the naive forecaster's"
    )
    lines = [
        f"# Online {'learning' if 'data_file' in s else 'forecasting'} run: {s['data']}",
        "",
        f"{'Data' if 'data_file' in s else 'Signal'}: {s['source']}.",
        *normalization_lines(s),
        "",
        *(["Health: ok (no divergence)."] if s.get("health", {}).get("status", "ok") == "ok"
          else [f"**{s['health']['status'].upper()}**: {m}." for m in s["health"]["messages"]]),
        "",
        f"At each of {s['steps']} scored steps the EGRU sees {seen(s)}, forecasts "
        f"{forecast_frame(s)}, is scored and learns from the truth when it arrives "
        f"with exact RTRL ({s['method']}, cell: {s.get('optimizer', 'adam')} lr {s['lr']:g}; "
        f"readout from {s.get('readout', 'y')} with {s.get('taps', 0)} input taps by "
        f"{s.get('readout_rule', 'gradient')}; train {s.get('train', 'all')}; update every "
        f"{s['update_every']} step(s)). Every forecast is made before its target is used for "
        "learning.",
        "",
        "| | |",
        "|---|---|",
        f"| model | {s['hidden']} units, density {s['density']:.3f}, shared mask {s['shared_mask']}, "
        f"eps {s['eps']:g}, gamma {s['gamma']:g}, {s['params']} parameters |",
        f"| MSE learner, last 20 % ({s['last_steps']} steps) | {s['mse_learner_last']:.5g} |",
        f"| MSE naive (repeat last sample), last 20 % | {s['mse_naive_last']:.5g} |",
        f"| MSE mean predictor (0), last 20 % | {s['mse_mean_last']:.5g} |",
        f"| learner / naive, last 20 % | {verdict} |",
        f"| MSE learner / naive, whole stream | {s['mse_learner_all']:.5g} / {s['mse_naive_all']:.5g} |",
        f"| forward activity (events / unit / step) | {100 * s['fwd_activity']:.1f} % |",
        f"| backward activity (units with dy/dc != 0) | {100 * s['bwd_activity']:.1f} % |",
        f"| MACs per step (forward + influence + gradient) | {s['macs_per_step']:.4g} |",
        f"| influence matrix | {s['influence_bytes']} bytes allocated, "
        f"{s['influence_live_bytes']} in live columns |",
        f"| wall time | {s['wall_seconds']:.1f} s ({s['steps_per_second']:.0f} steps/s) |",
        "",
        *baselines_section(base, [("EGRU online learner (Adam)", s["mse_learner_last"])]),
        "![learning curve](learning_curve.png)",
        "",
        "![prediction at the start](prediction_start.png)",
        "",
        "![prediction at the end](prediction_end.png)",
        "",
        "![events per step](events.png)",
        "",
        "Files: `telemetry.csv` (one row per step: step, x, target, prediction, loss = squared "
        "error, naive_loss, events; the counter columns are a device run's, empty here: "
        "docs/run_directory.md), `model_before.npz`, `model_after.npz`, `summary.json`, "
        "`report.json`.",
        "",
    ]
    written.append(write_report_md(out, lines))
    return written

