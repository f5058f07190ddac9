"""The main job on the host: the float learner forecasts a real signal online and reports.

:func:`run_host` streams a recorded signal (by default a PPG, :mod:`pyrtrl.data.signals`) through
an :class:`~pyrtrl.core.learner.OnlineLearner` one sample at a time: at step t the model sees
s_t, predicts s_{t+1}, is scored on it and then learns from it (prequential evaluation:
every prediction is made before its target is used for learning). It writes a run
directory:

============== ===============================================================
model_before   ``model_before.npz``, the model the run started from
telemetry      ``telemetry.csv``, one row per step (written as the run goes)
model_after    ``model_after.npz``, the model after the last update
summary        ``summary.json``, configuration, errors, activity and cost
report         ``report.md``, ``report.json`` and the PNG figures it shows
               (:func:`pyrtrl.reporting.report.write_report`)
============== ===============================================================

The layout is meant to stay the same when the learner runs on an emulated microcontroller:
per-step telemetry, the models before and after, a summary.

Telemetry and summary follow :mod:`pyrtrl.reporting.run_files`, as a device run's do: ``loss`` is
the squared error (the mean over target channels), so that it compares directly with
``naive_loss`` and with a device run's; the learner minimizes half of it. The float learner
leaves the counter columns (``active_cols``, ``macs``, ``ticks``, ``saturations``) empty.

The summary, the report and the learning curve also hold the online linear baselines of
:mod:`pyrtrl.core.baselines` (NLMS and RLS autoregressive forecasters) on the same stream,
scored over the same last 20 %.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

import numpy as np

from .. import run_defaults as D
from ..core.baselines import baselines_summary
from ..checks import check_float, check_int
from ..errors import PyrtrlError
from ..core.gradients import ENGINES
from ..core.health import assess
from ..core.learner import OnlineLearner
from ..core.model import EGRU, init_egru
from ..core.model_file import load_model, save_model
from ..reporting.common import LAST_FRACTION, curve_window, last_steps, stream_baselines
from ..reporting.report import write_report
from ..reporting.run_files import TelemetryWriter, ended_state, prepare_run_dir, run_state, write_json_atomic
from ..data.signals import check_signal_name, forecasting_stream, load_signal

if TYPE_CHECKING:
    from ..data.files import DataStream

PathLike = Union[str, "os.PathLike[str]"]

# -- the run ------------------------------------------------------------------------------
class _StreamSignal:
    """What the summary and report say about a data file's stream (a
    :class:`pyrtrl.data.signals.Signal`'s fields)."""

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
        The signal (:func:`pyrtrl.data.signals.load_signal`).
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
        The run directory (created; a fresh run: :func:`pyrtrl.reporting.run_files.prepare_run_dir`).
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
        Learn this stream from a data file (:func:`pyrtrl.data.files.load_stream`, already cut to
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
    backend = "float"
    # the truth the forecast made at step t is scored on: s_{t+H} (x holds s_0..s_{T-1},
    # target s_1..s_T); the last H - 1 steps' forecasts have none and are not scored
    T_all = x.shape[0]
    T = T_all - horizon + 1
    # a fresh run directory (the earlier run's files removed), summary "running"
    out, run_id = prepare_run_dir(out_dir, "forecast", backend, T)
    if stream is None:
        s_all = np.concatenate([x[:, 0], target[-1:, 0]])
        truth = s_all[horizon:horizon + T][:, None]
        naive_x = x[:T, :1]
    else:
        truth, naive_x = stream.truth, stream.naive
        from ..data.files import save_stream

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
        from ..data.files import stream_baselines as data_baselines

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
