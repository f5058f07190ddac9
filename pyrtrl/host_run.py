"""The main job on the host: the float learner forecasts a real signal online and reports.

:func:`run_host` streams a recorded signal (by default a PPG, :mod:`pyrtrl.signals`) through
an :class:`~pyrtrl.learner.OnlineLearner` one sample at a time: at step t the model sees
s_t, predicts s_{t+1}, is scored on it and then learns from it (prequential evaluation:
every prediction is made before its target is used for learning). It writes a run
directory:

============== ===============================================================
model_before   ``model_before.npz``, the model the run started from
telemetry      ``telemetry.csv``, one row per step (written as the run goes)
model_after    ``model_after.npz``, the model after the last update
summary        ``summary.json``, configuration, errors, activity and cost
report         ``report.md`` and the PNG figures it shows
============== ===============================================================

The layout is meant to stay the same when the learner runs on an emulated microcontroller:
per-step telemetry, the models before and after, a summary.

Telemetry and summary follow :mod:`pyrtrl.run_files`, as a device run's do: ``loss`` is
the squared error (the mean over target channels), so that it compares directly with
``naive_loss`` and with a device run's; the learner minimizes half of it. The float learner
leaves the counter columns (``active_cols``, ``macs``, ``ticks``, ``saturations``) empty.

The summary, the report and the learning curve also hold the online linear baselines of
:mod:`pyrtrl.baselines` (NLMS and RLS autoregressive forecasters) on the same stream,
scored over the same last 20 %.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

import numpy as np

from . import run_defaults as D
from .baselines import (baseline_label, baselines_section, baselines_summary, forecast_baselines,
                        stream_signal)
from .checks import check_float, check_int
from .errors import PyrtrlError
from .gradients import ENGINES
from .health import assess
from .learner import OnlineLearner
from .model import EGRU, init_egru
from .model_file import load_model, save_model
from .run_files import (TelemetryWriter, ended_state, read_summary, read_telemetry, run_state,
                        unfinished_run_message, write_json_atomic)
from .signals import check_signal_name, forecasting_stream, load_signal

if TYPE_CHECKING:  # matplotlib is imported only when figures are drawn
    from matplotlib.figure import Figure

    from .data import DataStream

PathLike = Union[str, "os.PathLike[str]"]

#: The end-of-stream errors are measured over this final fraction of the steps.
LAST_FRACTION = 0.2
#: Files a run writes (removed first, so a crashed run never sits beside an old summary).
RUN_FILES: tuple[str, ...] = (
    "model_before.npz", "telemetry.csv", "model_after.npz", "summary.json", "report.md",
    "learning_curve.png", "prediction_start.png", "prediction_end.png", "events.png",
    "stream.npz", "channels.csv",
)
#: Figure names of :func:`report_figures`; each is saved as ``<name>.png``.
FIGURES: tuple[str, ...] = ("learning_curve", "prediction_start", "prediction_end", "events")
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
    """:func:`pyrtrl.baselines.forecast_baselines` on a run's stream (telemetry ``x`` and
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
    target ``names``, the saved ``stream`` (:func:`pyrtrl.data.load_run_stream`, None for a
    built-in signal) and, with ``baselines``, the ``baselines``
    (:func:`pyrtrl.data.stream_baselines` for a data file's stream; :func:`stream_baselines`
    on the telemetry for a built-in signal, whose one channel is the telemetry's). Reads
    host and device telemetry alike (both have ``x``, ``target``, ``prediction``)."""
    from .data import load_run_stream, run_stream_baselines
    from .run_files import CHANNELS_FILE

    out = os.fspath(run_dir)
    saved = load_run_stream(out)
    s = read_summary(out)
    T = tel["step"].size
    cols = {"truth": tel["target"][:, None], "prediction": tel["prediction"][:, None],
            "naive": tel["x"][:, None]}
    path = os.path.join(out, CHANNELS_FILE)
    if saved is not None and len(saved["targets"]) > 1 and os.path.isfile(path):
        from .report import read_columns

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


# -- argument checks ----------------------------------------------------------------------


def prepare_out_dir(out_dir: PathLike) -> str:
    """Create ``out_dir``, prove it is writable and clear this tool's files from it."""
    path = os.fspath(out_dir)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
        for name in RUN_FILES:
            target = os.path.join(path, name)
            if os.path.isfile(target):
                os.unlink(target)
    except OSError as e:
        raise PyrtrlError(
            f"{path}: cannot write the run directory: {' '.join(str(e.strerror or e).split())}"
        ) from None
    return path


# -- the run ------------------------------------------------------------------------------
class _StreamSignal:
    """What the summary and report say about a data file's stream (a
    :class:`pyrtrl.signals.Signal`'s fields)."""

    def __init__(self, stream: "DataStream") -> None:
        self.stream = stream
        self.name = stream.name
        self.source = stream.source
        self.rate_hz = None  # a file has no sample rate: figures count steps


def run_host(
    data: str = "ppg",
    steps: Optional[int] = None,
    hidden: int = D.HIDDEN,
    density: float = D.DENSITY,
    eps: float = D.EPS,
    shared_mask: bool = D.SHARED_MASK,
    lr: Optional[float] = None,
    update_every: int = 1,
    method: str = "rtrl_sparse",
    model_path: Optional[PathLike] = None,
    out_dir: PathLike = "runs/latest",
    seed: int = 0,
    progress: bool = True,
    horizon: int = D.HORIZON,
    readout: str = D.READOUT,
    taps: int = D.TAPS,
    readout_rule: str = D.READOUT_RULE,
    train: str = D.TRAIN,
    optimizer: str = D.OPTIMIZER,
    clip: float = D.CLIP,
    stream: Optional["DataStream"] = None,
) -> Dict[str, Any]:
    """Learn to forecast a recorded signal H steps ahead online and write a run directory.

    Parameters
    ----------
    data : {"ppg", "ppg-long", "synthetic"}
        The signal (:func:`pyrtrl.signals.load_signal`).
    steps : int, optional
        Online steps (>= 2); default the whole stream (2624 steps, 90 s, for ``"ppg"``).
    hidden, density, eps, shared_mask : int, float, float, bool
        The fresh model (:func:`pyrtrl.init_egru`, one input, one output); ignored when
        ``model_path`` is given, the summary then records the loaded model's values.
    lr : float, optional
        Learning rate of the cell (and of the readout with ``readout_rule="gradient"``);
        default ``LR``, or ``ADAM_LR`` with Adam (:mod:`pyrtrl.run_defaults`).
    update_every : int
        Parameters are updated after every ``update_every`` steps.
    method : {"rtrl_sparse", "rtrl_dense"}
        Same gradients, different cost.
    model_path : path, optional
        Start from this model file instead (must have 1 input and 1 output).
    out_dir : path
        The run directory (created; files of an earlier run there are replaced).
    seed : int
        Seed of the fresh model's weights and masks.
    progress : bool
        Show a tqdm progress bar.
    horizon : int
        Forecast H steps ahead (see :class:`pyrtrl.OnlineLearner`); error is scored on the
        forecasts whose truth exists.
    readout, taps : str, int
        The fresh model's readout (ignored with ``model_path``).
    readout_rule, train, optimizer, clip :
        As for :class:`pyrtrl.OnlineLearner`; by default a device run's rule
        (:mod:`pyrtrl.run_defaults`): the cell by ``OPTIMIZER`` (Adam: the float twin of the
        device's) with the gradient clipped per component, RLS for the readout.
    stream : DataStream, optional
        Learn this stream from a data file (:func:`pyrtrl.data.load_stream`, already cut to
        ``steps``) instead of the signal ``data``: the fresh model has ``stream.d`` inputs
        and ``stream.k`` outputs, ``horizon`` is the stream's. Telemetry's ``x`` is then
        the naive forecast of target channel 0 (the input itself when forecasting one
        column), ``loss``/``naive_loss`` are means over the target channels, and runs with
        several targets also write ``channels.csv``.

    Returns
    -------
    dict
        The summary, as written to ``summary.json``.

    Raises
    ------
    PyrtrlError
        Bad arguments, unknown data, unwritable ``out_dir`` or a model file of the wrong
        shape, all before the run starts.
    """
    # every check first: a bad argument must not cost a long run or leave a half directory
    if steps is not None:
        steps = check_int("steps", steps, 2)
    if stream is None:
        check_signal_name(data)
    else:
        horizon = stream.horizon
    if method not in ENGINES:
        raise PyrtrlError(f"unknown method {method!r}; choose one of {', '.join(ENGINES)}")
    update_every = check_int("update_every", update_every, 1)
    lr = check_float("lr", (D.ADAM_LR if optimizer == "adam" else D.LR) if lr is None else lr, 0.0)
    seed = check_int("seed", seed, 0)
    horizon = check_int("horizon", horizon, 1)
    if model_path is None:
        hidden = check_int("hidden", hidden, 1)
        density = check_float("density", density, 0.0, 1.0)
        eps = check_float("eps", eps, 0.0)
        d, k = (1, 1) if stream is None else (stream.d, stream.k)
        model = init_egru(hidden, d, k, density=density, shared_mask=bool(shared_mask), eps=eps,
                          seed=seed, readout=readout, taps=taps)
    else:
        model = load_model(model_path)
        d, k = (1, 1) if stream is None else (stream.d, stream.k)
        if model.d != d or model.k != k:
            raise PyrtrlError(
                f"{os.fspath(model_path)}: model has {model.d} input(s) and {model.k} output(s); "
                f"the stream has {d} and {k}"
            )
    if stream is None:
        signal: Any = load_signal(data, None if steps is None else steps + 1)
        x, target = forecasting_stream(signal)
        if steps is not None and x.shape[0] < steps:
            raise PyrtrlError(f"steps={steps} but signal {data!r} has only {x.shape[0]} forecasting steps")
    else:
        signal = _StreamSignal(stream)
        x, target = stream.x, stream.target
        if steps is not None and x.shape[0] != steps:
            raise PyrtrlError(f"steps={steps} but the stream of {stream.path} has {x.shape[0]} steps")
    if horizon > x.shape[0]:
        raise PyrtrlError(f"horizon={horizon} is longer than the stream ({x.shape[0]} steps)")
    learner = OnlineLearner(model, lr=lr, update_every=update_every, method=method,
                            optimizer=optimizer, clip=clip, clip_mode="value",
                            readout_rule=readout_rule, train=train, horizon=horizon)
    out = prepare_out_dir(out_dir)
    import uuid

    run_id = uuid.uuid4().hex[:12]
    backend = "float"

    # the truth the forecast made at step t is scored on: s_{t+H} (x holds s_0..s_{T-1},
    # target s_1..s_T); the last H - 1 steps' forecasts have none and are not scored
    T_all = x.shape[0]
    T = T_all - horizon + 1
    write_json_atomic(os.path.join(out, "summary.json"), run_state("running", run_id, backend, T))
    if stream is None:
        s_all = np.concatenate([x[:, 0], target[-1:, 0]])
        truth = s_all[horizon:horizon + T][:, None]
        naive_x = x[:T, :1]
    else:
        truth, naive_x = stream.truth, stream.naive
        from .data import save_stream

        save_stream(out, stream)
    k_out = truth.shape[1]
    save_model(os.path.join(out, "model_before.npz"), model)

    from tqdm.auto import tqdm

    sq = np.empty(T)
    naive = np.empty(T)
    events = np.empty(T, dtype=np.int64)
    window = curve_window(T, signal.rate_hz)
    tel = TelemetryWriter(out, backend, k_out)
    t0 = time.perf_counter()
    try:
        with tqdm(total=T_all, disable=not progress, unit="step", desc=f"learning {signal.name}",
                  mininterval=0.5) as bar:
            for t in range(T_all):
                r = learner.step(x[t], target[t])
                if t >= T:  # learning goes on; this forecast's truth is past the recording
                    continue
                events[t] = r.events
                # the writer computes both losses (run_files: one definition for every backend)
                sq[t], naive[t] = tel.row(t, naive_x[t, :k_out], truth[t], r.output[:k_out], r.events)
                if (t + 1) % 100 == 0 or t + 1 == T:
                    lo = max(0, t + 1 - window)
                    elapsed = time.perf_counter() - t0
                    bar.set_postfix(mse=f"{sq[lo:t + 1].mean():.4g}",
                                    naive=f"{naive[lo:t + 1].mean():.4g}",
                                    steps_s=f"{(t + 1) / max(elapsed, 1e-9):.0f}", refresh=False)
                    bar.update(t + 1 - bar.n)
    except BaseException as e:  # any end before the last step: say so in the run directory
        tel.close()  # first: the summary counts the rows that reached the disk
        write_json_atomic(os.path.join(out, "summary.json"),
                          ended_state(e, run_id, backend, T, tel.rows))
        raise
    tel.close()
    wall = time.perf_counter() - t0

    save_model(os.path.join(out, "model_after.npz"), learner.model)
    summary = _summary(signal, model, learner, naive_x[:T], truth, sq, naive, events, wall,
                       lr=lr, update_every=update_every, method=method, seed=seed,
                       model_path=None if model_path is None else os.fspath(model_path),
                       horizon=horizon, optimizer=optimizer, clip=clip, readout_rule=readout_rule,
                       train=train, stream=stream)
    summary.update(run_state("finished", run_id, backend, T, steps_kept=tel.rows))
    write_json_atomic(os.path.join(out, "summary.json"), summary)
    write_report(out)
    return summary


def _summary(signal: Any, model: EGRU, learner: OnlineLearner, x: np.ndarray, target: np.ndarray,
             sq: np.ndarray, naive: np.ndarray, events: np.ndarray, wall: float,
             **config: Any) -> Dict[str, Any]:
    T = sq.size
    last = last_steps(T)
    mean_sq = np.mean(target * target, axis=1)  # the mean predictor: 0 in normalized units
    mse_l, mse_n, mse_m = (float(a[-last:].mean()) for a in (sq, naive, mean_sq))
    stream = config.pop("stream", None)
    if stream is None:
        data_info: Dict[str, Any] = {
            "data": signal.name, "source": signal.source, "rate_hz": signal.rate_hz,
            "normalization": {"offset": signal.offset, "scale": signal.scale,
                              "from": "median and 5-95% range of the first 10% of the stream"},
            "inputs": ["s_t"], "target": f"s_{{t+{config['horizon']}}}"}
        base = baselines_summary(stream_baselines(x, target, config["horizon"]))
    else:
        from .data import stream_baselines as data_baselines

        info = stream.summary()
        data_info = {"data": stream.name, "source": stream.source, "rate_hz": None,
                     "data_file": info, "normalization": info["normalization"],
                     "inputs": list(stream.inputs), "targets": list(stream.targets),
                     "target": (f"{', '.join(stream.targets)} at t+{stream.horizon}"
                                if stream.mode == "forecast" else f"{', '.join(stream.targets)} at t"),
                     "clamp_warning": stream.clamp_warning()}
        res = data_baselines(stream, LAST_FRACTION)
        base = baselines_summary(res)
        if "channels" in res:
            base["channels"] = res["channels"]
    eng = learner.engine
    c = eng.counters
    item = np.dtype(model.dtype).itemsize
    live = getattr(eng, "L", eng.index.P)  # sparse engine: columns that ever came alive
    return {
        **data_info,
        "horizon": config["horizon"],
        "steps": T,
        "hidden": model.n,
        "density": model.density(),
        "eps": model.eps,
        "gamma": model.gamma,
        "shared_mask": model.shared_mask,
        "dtype": str(np.dtype(model.dtype)),
        "readout": model.readout,
        "taps": model.taps,
        "readout_rule": config["readout_rule"],
        "train": config["train"],
        "lr": config["lr"],
        "clip": config["clip"],
        "optimizer": config["optimizer"],
        "update_every": config["update_every"],
        "method": config["method"],
        "seed": config["seed"],
        "model_path": config["model_path"],
        "params": model.num_params(),
        "params_cell": model.num_params(cell_only=True),
        "last_steps": last,
        "mse_learner_last": mse_l,
        "mse_naive_last": mse_n,
        "mse_mean_last": mse_m,
        "ratio_learner_over_naive_last": mse_l / mse_n if mse_n > 0 else None,
        "mse_learner_all": float(sq.mean()),
        "mse_naive_all": float(naive.mean()),
        "baselines": base,
        "health": assess(mse_l / mse_n if mse_n > 0 else None),
        "fwd_activity": float(events.sum()) / (T * model.n),
        "bwd_activity": c.bwd_active / (max(c.steps, 1) * model.n),
        "macs_per_step": c.macs / max(c.steps, 1),
        "macs_forward_per_step": c.macs_forward / max(c.steps, 1),
        "macs_influence_per_step": c.macs_influence / max(c.steps, 1),
        "macs_gradient_per_step": c.macs_gradient / max(c.steps, 1),
        "influence_bytes": int(eng.M.nbytes),
        "influence_live_bytes": int(model.n * live * item),
        "updates": learner.updates,
        "skipped_updates": learner.skipped_updates,
        "wall_seconds": wall,
        "steps_per_second": T / wall if wall > 0 else None,
    }


# -- report -------------------------------------------------------------------------------
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


def write_report(run_dir: PathLike) -> List[str]:
    """Save the figures as PNG and write ``report.md``; returns the files written."""
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
        "docs/run_directory.md), `model_before.npz`, `model_after.npz`, `summary.json`.",
        "",
    ]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    written.append(path)
    return written

