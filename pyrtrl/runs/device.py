"""``pyrtrl run --board B``: a board learns a recorded signal online, streamed from the host.

Builds the learner firmware for the model (``pyrtrl export`` + ``make -C firmware``), boots
it under QEMU with its UART on a loopback socket (or opens a real board's serial port, or,
for ``--board host``, runs the same learner through cffi with no emulator), streams the
samples under the device's flow control, saves every step's telemetry as it arrives, then
dumps the device's weights and checks them bit for bit against the host C library run on
the same model and stream.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from ..device import protocol as P
from .. import run_defaults as RD
from ..core.baselines import baselines_summary, forecast_baselines, stream_signal
from ..boards import get_board
from ..deploy.budget import largest_hidden
from ..deploy.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from ..deploy.deployment import Deployment
from ..device.client import Device, MemoryLink, SimulatedDevice
from ..errors import PyrtrlError
from ..deploy.export import export_model
from ..fixed.arith import FRAC
from ..fixed.model import fixed_config
from ..fixed.quantize import quantize_samples
from ..core.health import assess
from ..reporting.common import last_steps
from ..core.model import EGRU, init_egru
from ..core.model_file import load_model, save_model
from ..paths import cache_dir, firmware_dir, is_checkout, plugin_source
from ..reporting.run_files import TelemetryWriter, ended_state, prepare_run_dir, run_state, write_json_atomic
from ..deploy.runtime import CLearner
from ..data.signals import forecasting_stream, load_signal

DEFAULT_BOARD = "mps2-an386"


def default_model(board: str, seed: int = 0, influence_bits: int = RD.INFLUENCE_BITS, *,
                  readout_rule: str = RD.READOUT_RULE, horizon: int = 1, inputs: int = 1,
                  outputs: int = 1, optimizer: str = RD.OPTIMIZER) -> EGRU:
    """A fresh model sized for the board, with a learning run's defaults
    (:mod:`pyrtrl.run_defaults`): hidden = min(HIDDEN, the largest that fits the board with
    this readout, its taps, ``readout_rule`` and ``optimizer``: Adam's moments count), DENSITY, EPS, SHARED_MASK, READOUT, TAPS
    (on the 16 KiB boards that is the largest model that fits); ``inputs`` and ``outputs``
    inputs and outputs (a data file's columns)."""
    n = RD.HIDDEN if board == "host" else min(RD.HIDDEN, largest_hidden(
        board, inputs, outputs, RD.DENSITY, RD.SHARED_MASK, influence_bits, taps=RD.TAPS, readout=RD.READOUT,
        readout_rule=readout_rule, horizon=horizon, optimizer=optimizer))
    if n < 1:
        raise PyrtrlError(f"no model fits board {board}")
    return init_egru(n, inputs, outputs, density=RD.DENSITY, shared_mask=RD.SHARED_MASK, eps=RD.EPS,
                     seed=seed, readout=RD.READOUT, taps=RD.TAPS)


def build_firmware(board: str, model: Union[EGRU, Deployment], out_dir: Path, lr: float,
                   influence_bits: int, *,
                   readout_rule: str = "gradient", train: str = "all",
                   rls_forgetting: float = RD.RLS_FORGETTING, rls_p0: float = RD.RLS_P0,
                   horizon: int = 1, optimizer: str = RD.OPTIMIZER) -> Path:
    """Export the model (an EGRU, or a run's :class:`~pyrtrl.deploy.deployment.Deployment`)
    and build the learner app for the board; returns the ELF path.

    The readout settings are :func:`pyrtrl.deploy.export.export_model`'s (defaults: gradient readout,
    all trained, as there); ``optimizer`` defaults to a learning run's
    (:data:`pyrtrl.run_defaults.OPTIMIZER`)."""
    model_dir = out_dir / "firmware_model"
    export_model(model, board, str(model_dir), lr=lr, influence_bits=influence_bits,
                 readout_rule=readout_rule, train=train, rls_forgetting=rls_forgetting, rls_p0=rls_p0,
                 horizon=horizon, optimizer=optimizer)
    build = _firmware_build_dir(out_dir, model_dir, board, influence_bits)
    cmd = ["make", "-s", "-C", str(firmware_dir()), f"BOARD={board}", "APP=learner",
           f"MODEL_DIR={model_dir}", f"INFLUENCE_BITS={influence_bits}", f"BUILD={build}"]
    with _build_lock(build) if not is_checkout() else contextlib.nullcontext():
        r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise PyrtrlError(f"firmware build for {board} failed: {last[0]}")
    elf = build / board / "learner.elf"
    if not elf.is_file():
        raise PyrtrlError(f"firmware build for {board} produced no {elf}")
    return elf


def _firmware_build_dir(out_dir: Path, model_dir: Path, board: str, influence_bits: int) -> Path:
    """A checkout builds into the run directory (``out_dir/firmware_build``); an installed
    package into its cache (:func:`pyrtrl.paths.cache_dir`), one directory per board,
    influence width and exported model (the files ``export_model`` wrote), so two models or
    two versions never share objects."""
    if is_checkout():
        return out_dir / "firmware_build"
    import hashlib

    h = hashlib.sha256(f"{board}\0{influence_bits}\0".encode())
    for f in sorted(model_dir.iterdir()):
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return cache_dir() / "firmware" / f"{board}-{influence_bits}-{h.hexdigest()[:16]}"


class _build_lock:
    """An exclusive lock on ``<dir>.lock`` while a build writes into ``dir`` (two runs of
    the same model of an installed package share its cache directory)."""

    def __init__(self, build: Path) -> None:
        self.path = build.parent / (build.name + ".lock")

    def __enter__(self) -> "_build_lock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.f.close()  # releases the lock


def build_plugin(out_dir: Path) -> Path:
    """Compile the instruction-counting TCG plugin (a host shared library): into ``out_dir``
    in a checkout, once per package version into the cache when installed."""
    src = plugin_source("stepcount.c")
    if is_checkout():
        so = out_dir / "stepcount.so"
    else:
        so = cache_dir() / "plugin" / "stepcount.so"
        if so.is_file():
            return so
    so.parent.mkdir(parents=True, exist_ok=True)
    tmp = so.with_name(f"{so.name}.{os.getpid()}.tmp")
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(tmp),
                        str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise PyrtrlError(f"building the QEMU plugin failed: {(r.stderr.strip().splitlines() or ['?'])[0]}")
    os.replace(tmp, so)  # whole or not at all: a concurrent run never loads a half-written file
    return so


def marker_addresses(elf: Path, board: str) -> tuple:
    """Entry addresses of learn_mark_begin / learn_mark_end (Thumb bit cleared)."""
    nm = "riscv64-unknown-elf-nm" if get_board(board).target.startswith("rv") else "arm-none-eabi-nm"
    r = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True)
    syms = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in ("learn_mark_begin", "learn_mark_end"):
            syms[parts[2]] = int(parts[0], 16) & ~1
    if len(syms) != 2:
        raise PyrtrlError(f"{elf} has no learn_mark_begin/learn_mark_end markers")
    return syms["learn_mark_begin"], syms["learn_mark_end"]


class _Telemetry(TelemetryWriter):
    """telemetry.csv (:mod:`pyrtrl.reporting.run_files`) written from the device's records as they
    arrive, flushed per window: a crash keeps them; a failed write, e.g. a full disk, is cut
    back to the last whole window, so no row is ever half-written.

    ``x`` holds each step's naive forecast of every target channel, ``target`` each
    forecast's truth (rows for the steps that have one). ``first_step`` > 0 (a resumed
    run): the device counts from 0 again, rows get ``first_step + step``; rows of an
    earlier run before ``first_step`` are kept. ``backend``: :data:`pyrtrl.reporting.run_files.BACKENDS`
    (the host C library measures no ticks).
    """

    def __init__(self, path: Path, x: np.ndarray, target: np.ndarray, first_step: int = 0,
                 backend: str = "host-c") -> None:
        super().__init__(Path(path).parent, backend, target.shape[1], keep_before=first_step,
                         flush_every=None)
        self.x, self.target = x, target
        self.first_step = first_step
        self.count = 0  # records of this run in whole windows on disk
        self.losses: List[float] = []  # this run's rows' loss (run_files' definition)

    def add(self, recs: List[P.StepRecord]) -> None:
        k = self.target.shape[1]
        losses = []
        for rec in recs:
            t = rec.step + self.first_step
            if t >= self.target.shape[0]:  # a forecast past the recording: no truth
                continue
            pred = np.asarray(rec.out_q[:k], dtype=np.float64) / (1 << FRAC)  # exact
            # the device's loss_q is not written: the writer computes the row's loss
            loss, _ = self.row(t, self.x[t, :k], self.target[t], pred, rec.events,
                               active_cols=rec.active_cols, macs=rec.macs, ticks=rec.instructions,
                               saturations=rec.saturations)
            losses.append(loss)
        self.flush()
        self.count += len(recs)
        self.losses += losses


def _device_error(records: List[P.StepRecord], x: np.ndarray, truth: np.ndarray,
                  first: int) -> Dict[str, Any]:
    """The device's forecast error over the last 20 % of the forecasts this run made that
    have a truth (the window the baselines are scored on for a whole run), and the naive
    forecaster's (s_t for s_{t+H}) on the same steps."""
    steps = np.array([r.step + first for r in records], dtype=np.int64)
    keep = steps < truth.shape[0]
    if not keep.any():
        return {"mse_device_last": None, "mse_naive_last": None, "ratio_device_over_naive_last": None}
    k = truth.shape[1]
    pred = P.records_as_float(records, k)[0][keep]
    steps = steps[keep]
    a = steps.size - last_steps(steps.size)
    tr = truth[steps[a:]]
    # the mean over target channels; x holds each channel's naive forecast (a data file's
    # stream) or s_t (the built-in signals' one channel)
    mse_d = float(np.mean((pred[a:] - tr) ** 2))
    mse_n = float(np.mean((x[steps[a:], :k] - tr) ** 2))
    return {"mse_device_last": mse_d, "mse_naive_last": mse_n,
            "ratio_device_over_naive_last": mse_d / mse_n if mse_n > 0 else None}


def _baselines(stream: Optional[Any], x: np.ndarray, target: np.ndarray, horizon: int) -> Dict[str, Any]:
    """The online baselines' summary: on the signal, or per target channel of a data file's
    stream (:func:`pyrtrl.data.files.stream_baselines`)."""
    if stream is None:
        return baselines_summary(forecast_baselines(stream_signal(x, target), horizon))
    from ..data.files import stream_baselines

    res = stream_baselines(stream)
    out = baselines_summary(res)
    if "channels" in res:
        out["channels"] = res["channels"]
    return out


def start_backend(board: str, model: Union[EGRU, Deployment], out: Path, lr: float, influence_bits: int,
                  settings: Dict[str, Any], port: Optional[str] = None,
                  timeout: float = 20.0) -> "tuple[Any, Any, Any]":
    """Start what runs the learner for ``model`` with ``lr`` and ``settings`` (the keyword
    arguments of :func:`build_firmware` and :class:`pyrtrl.deploy.runtime.CLearner`) and return
    ``(link, qemu, sim)``: the serial-like link to talk to it, and the QEMU process or the
    simulated device (None when not used).

    ``board == "host"``: a :class:`SimulatedDevice` over the C library on an in-memory link.
    ``port``: the real board's serial port (the firmware exported to ``out/firmware_model``
    for flashing). Otherwise the learner firmware is built and booted under QEMU with the
    instruction-counting plugin, which writes one count per learning step to
    ``out/instructions.txt``. End it with :func:`stop_backend`.

    ``model`` is the run's :class:`~pyrtrl.deploy.deployment.Deployment` (an EGRU is
    quantized here once): the simulated device's learner and the exported firmware share it."""
    dep = Deployment.of(model)
    if board == "host":
        host_end, dev_end = MemoryLink.pair(timeout=0.05)
        sim = SimulatedDevice(CLearner(dep, lr=lr, influence_bits=influence_bits, **settings), dev_end)
        sim.start()
        return host_end, None, sim
    if port:
        import serial

        export_model(dep, board, str(out / "firmware_model"), lr=lr, influence_bits=influence_bits,
                     **settings)
        try:
            return serial.serial_for_url(port, baudrate=115200, timeout=1.0), None, None
        except serial.SerialException as e:
            raise PyrtrlError(f"cannot open serial port {port}: {e}") from None
    from ..device.qemu import Qemu

    elf = build_firmware(board, dep, out, lr, influence_bits, **settings)
    begin, end = marker_addresses(elf, board)
    counts_path = out / "instructions.txt"
    plugin = (f"{build_plugin(out)},arg=begin={begin:#x},arg=end={end:#x},"
              f"arg=out={counts_path}")
    qemu = Qemu(board, elf, timeout=timeout, extra_args=["-plugin", plugin])
    qemu.start()
    return qemu.serial, qemu, None


def check_hello(hello: P.Hello, model: EGRU, readout_rule: str, train: str, optimizer: str) -> None:
    """One-line error unless the device's HELLO announces ``model``'s sizes and readout and
    these learning settings (the firmware built for them)."""
    if (hello.n, hello.d, hello.k) != (model.n, model.d, model.k):
        raise PyrtrlError(f"device runs a {hello.n}x{hello.d}x{hello.k} model, expected "
                          f"{model.n}x{model.d}x{model.k}: flash the firmware built for this model")
    flags = P.readout_flags(model.readout == "c", readout_rule == "rls", train == "readout",
                            optimizer == "adam")
    if ((hello.features is not None and hello.features != model.features)
            or (hello.readout_flags is not None and hello.readout_flags != flags)):
        raise PyrtrlError(f"device's readout has {hello.features} features (flags {hello.readout_flags}), "
                          f"expected {model.features} (flags {flags}: readout {model.readout}, "
                          f"{model.taps} taps, {readout_rule}, train {train}, {optimizer}): flash the "
                          f"firmware built for this model and these settings")


def stop_backend(qemu: Any, sim: Any, link: Any) -> Optional[int]:
    """End what :func:`start_backend` started (QEMU by PID, or the simulated device's
    thread); QEMU's exit status (None without QEMU)."""
    if sim is not None:
        sim.stop_flag = True
        link.close()
    return qemu.stop() if qemu is not None else None


def run_on_device(board: str = DEFAULT_BOARD, model_path: Optional[str] = None, data: str = "ppg",
                  steps: Optional[int] = None, out_dir: str = "runs/device", lr: Optional[float] = None,
                  influence_bits: int = RD.INFLUENCE_BITS, port: Optional[str] = None, seed: int = 0,
                  progress: bool = True, timeout: float = 20.0, report: bool = True,
                  checkpoint_every: Optional[int] = None, resume_from: Optional[str] = None, *,
                  readout_rule: str = RD.READOUT_RULE, train: str = RD.TRAIN,
                  rls_forgetting: float = RD.RLS_FORGETTING,
                  rls_p0: float = RD.RLS_P0, horizon: int = RD.HORIZON,
                  stream: Optional[Any] = None, optimizer: str = RD.OPTIMIZER) -> Dict[str, Any]:
    """Run the on-device learner on a recorded stream and write a run directory.

    The learning settings default to :mod:`pyrtrl.run_defaults`: ``optimizer`` ("sgd" or
    "adam": Adam in fixed point, its moments in the learner's RAM), ``lr`` (the cell's step:
    per mean gradient with SGD, per update with Adam; default LR, or ADAM_LR with Adam), ``readout_rule`` ("gradient": by the
    optimizer, or "rls"), ``train`` ("all", or "readout": the cell frozen), ``rls_forgetting``
    and ``rls_p0``; the model's readout source (y or c) and
    taps come from the model (without ``model_path``: :func:`default_model`). The firmware,
    the simulated device and the host reference learner all use these settings.

    ``horizon`` H: the device forecasts H steps ahead (learning H - 1 steps behind, in the
    library: rtrl.h); the stream is the same for every H (x_t with target x_{t+1}) and
    ``telemetry.csv``'s ``target`` column is the truth of each row's forecast, s_{t+H}, for
    the steps that have one.

    Returns the summary (also written to ``summary.json``) with at least ``board, steps,
    first_loss, final_loss, instructions_per_step, learner_ram_bytes, frames_bad,
    weights_match_host``.

    ``checkpoint_every`` (steps): after every that many steps, dump the device's weights to
    ``RUN_DIR/checkpoint.npz`` (with the step number; written atomically). ``resume_from``
    (a checkpoint file, same model): LOAD its weights into the freshly booted device (and
    check them by a dump), then stream only the steps after the checkpoint's. A resumed run
    restarts from zero state, a zero influence matrix and (RLS readout) P = p0 I, so it is
    not bit-equal to an
    uninterrupted one; ``weights_match_host`` then compares with the host C library started
    from the same checkpoint weights. A lost link (or any failure while the device runs)
    raises one line saying how many steps reached ``telemetry.csv`` and QEMU's exit status.

    ``stream`` (:class:`pyrtrl.data.files.DataStream`, already cut to ``steps``): learn a data
    file's stream instead of the signal ``data``, with ``horizon`` the stream's; a fresh
    model then has the stream's inputs and outputs. ``telemetry.csv``'s ``x`` is the naive
    forecast of target channel 0 (the input itself when forecasting one column), the
    stream is saved as ``stream.npz`` for the report, and with several targets every
    channel goes to ``channels.csv``.
    """
    if checkpoint_every is not None and checkpoint_every < 1:
        raise PyrtrlError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
    if board != "host":
        get_board(board)  # one-line error for an unknown board
    if influence_bits not in (16, 32):
        raise PyrtrlError(f"influence_bits must be 16 or 32, got {influence_bits}")
    if lr is None:
        lr = RD.ADAM_LR if optimizer == "adam" else RD.LR
    settings = dict(readout_rule=readout_rule, train=train, rls_forgetting=rls_forgetting, rls_p0=rls_p0,
                    horizon=horizon, optimizer=optimizer)
    fixed_config(lr, 1.0, 1, influence_bits, False, **settings)  # one-line error for a bad setting
    if stream is None:
        sig = load_signal(data, max_steps=None if steps is None else steps + 1, seed=seed)
        x, target = forecasting_stream(sig)
        if steps is not None:
            x, target = x[:steps], target[:steps]
        source: str = sig.source
    else:
        horizon = stream.horizon
        x, target = stream.x, stream.target
        data, source = stream.name, stream.source
        if steps is not None and x.shape[0] != steps:
            raise PyrtrlError(f"steps={steps} but the stream of {stream.path} has {x.shape[0]} steps")
    T = x.shape[0]
    if horizon > T:
        raise PyrtrlError(f"horizon={horizon} is longer than the stream ({T} steps)")
    if stream is None:
        # the truth of the forecast made at step t: s_{t+H}, for t <= T - H
        truth = np.concatenate([x[:, 0], target[-1:, 0]])[horizon:, None]
        naive_x = x
    else:
        truth = stream.truth
        # each row's naive forecast of every target channel (rows past the truth: unused)
        naive_x = np.vstack([stream.naive, np.zeros((T - stream.naive.shape[0], stream.k))])
    d, k = x.shape[1], target.shape[1]
    model = (load_model(model_path) if model_path
             else default_model(board, seed, influence_bits, readout_rule=readout_rule,
                                horizon=horizon, inputs=d, outputs=k, optimizer=optimizer))
    if model.d != d or model.k != k:
        raise PyrtrlError(f"the stream has {d} input(s) and {k} target(s) but the model "
                          f"inputs={model.d} outputs={model.k}")
    dep = Deployment.from_model(model)  # quantized once: the host twin, export and device share it
    resume_image, first = (None, 0) if resume_from is None else load_checkpoint(resume_from, dep)
    if first >= T:
        raise PyrtrlError(f"{resume_from}: the checkpoint is at step {first}, the stream has only {T} steps")
    out = Path(out_dir).resolve()  # make runs in firmware/: paths must be absolute
    backend = "host-c" if board == "host" else ("serial" if port else "qemu")
    rows_total = T - horizon + 1  # the forecasts that have a truth
    # a fresh run directory (a resumed run keeps its telemetry before the checkpoint)
    run_id = prepare_run_dir(out, "forecast", backend, rows_total, resume_at=first if resume_from else None,
                             extra={"board": board, "resumed_from_step": first if resume_from else None}).run_id
    save_model(out / "model_before.npz", model)
    if stream is not None:
        from ..data.files import save_stream

        save_stream(out, stream)
    xq = quantize_samples(x, "x")[0].astype(np.int32)
    tq = quantize_samples(target, "target")[0].astype(np.int32)
    T_run = T - first  # steps this run streams

    started = time.monotonic()
    link, qemu, sim = start_backend(board, dep, out, lr, influence_bits, settings, port, timeout)
    exit_status: Optional[int] = None
    failure: Optional[Exception] = None
    interrupted: Optional[BaseException] = None
    resume_checked = None
    try:
        tele = _Telemetry(out / "telemetry.csv", naive_x, truth, first, backend)
    except BaseException:  # nothing may keep running: QEMU or the simulated device
        stop_backend(qemu, sim, link)
        raise
    try:
        dev = Device(link, timeout=timeout)
        hello = dev.hello()
        check_hello(hello, model, readout_rule, train, optimizer)
        if resume_image is not None:
            dev.load_weights(resume_image)
            resume_checked = dev.dump_weights() == resume_image
            if not resume_checked:
                raise PyrtrlError("the device's weights differ from the checkpoint after LOAD")
        dev.start()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=T_run, desc=f"learning on {board}", unit="step")

        def on_records(recs: List[P.StepRecord]) -> None:
            tele.add(recs)
            if bar is not None:
                bar.update(len(recs))
                bar.set_postfix(loss=f"{tele.losses[-1]:.3g}" if tele.losses else "-",
                                sat=recs[-1].saturations)

        records: List[P.StepRecord] = []
        seg = checkpoint_every or T_run
        for a in range(first, T, seg):
            b = min(a + seg, T)
            records += dev.stream(xq[a:b], tq[a:b], on_records=on_records)
            if checkpoint_every:
                save_checkpoint(out / CHECKPOINT, dev.dump_weights(), b, dep)
        if bar is not None:
            bar.close()
        image = dev.dump_weights()
        peak = dev.request_hello()  # after the deepest paths (steps, DUMP) have run
        dec = dev.decoder.stats
        if qemu is not None:  # a clean exit lets QEMU report the firmware's own status
            dev.exit()
            exit_status = qemu.wait(timeout=timeout)
    except (PyrtrlError, OSError) as e:  # OSError: pyserial's SerialException (link lost)
        failure = e
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM / SIGHUP (cli.Terminated)
        interrupted = e
    finally:
        try:  # the emulator first: nothing below may leave it running
            status = stop_backend(qemu, sim, link)
            exit_status = status if exit_status is None else exit_status
        finally:
            tele.close()
    if interrupted is not None or failure is not None:
        ended = interrupted if interrupted is not None else failure
        assert ended is not None
        write_json_atomic(out / "summary.json", {
            **ended_state(ended, run_id, backend, rows_total, tele.rows),
            "board": board, "telemetry": str(out / "telemetry.csv")})
    if interrupted is not None:
        raise interrupted
    if failure is not None:
        from ..device.qemu import describe_status

        raise PyrtrlError(
            f"run on {board} stopped after {first + tele.count} of {T} steps "
            f"({tele.count} received this run, all in {out / 'telemetry.csv'}): "
            f"{' '.join(str(failure).split()) or type(failure).__name__}"
            + (f"; QEMU exit status {describe_status(exit_status)}" if qemu is not None else ""))
    wall = time.monotonic() - started

    ref = CLearner(dep, lr=lr, influence_bits=influence_bits, **settings)
    if resume_image is not None:  # the device restarted from the checkpoint's weights (and
        # from RLS's P = p0 I, as this fresh learner)
        ref.load_image(resume_image)
    ref.run_fixed(xq[first:], tq[first:])
    match = image == ref.weights_image()
    save_model(out / "model_after.npz", dep.model_from_image(image))
    loss = np.array(tele.losses, dtype=np.float64)  # run_files' loss of this run's rows
    head = max(1, loss.size // 10)
    ticks = np.array([r.instructions for r in records], dtype=np.float64)
    instructions = None
    if qemu is not None:
        counts = np.loadtxt(out / "instructions.txt", dtype=np.int64, ndmin=1)
        if counts.size != T_run:
            raise PyrtrlError(f"instruction counter saw {counts.size} steps, expected {T_run}")
        instructions = counts
    summary: Dict[str, Any] = {
        "board": board, "data": data, "source": source, "steps": T,
        # figures in seconds without reloading the signal (a data file has no rate)
        "rate_hz": None if stream is not None else float(sig.rate_hz),
        "hidden": model.n, "density": round(model.density(), 4), "shared_mask": model.shared_mask,
        "influence_bits": influence_bits, "lr": lr,
        "eps": float(model.eps), "readout": model.readout, "taps": model.taps,
        "features": model.features, "readout_rule": readout_rule, "train": train,
        "rls_forgetting": rls_forgetting, "rls_p0": rls_p0, "horizon": horizon,
        "optimizer": optimizer,
        **({"adam_beta1": RD.ADAM_BETA1, "adam_beta2": RD.ADAM_BETA2, "adam_eps": RD.ADAM_EPS}
           if optimizer == "adam" else {}),
        # the mean loss (telemetry's: squared error, mean over channels) of the first and
        # last tenth of this run's rows
        "first_loss": float(loss[:head].mean()) if loss.size else None,
        "final_loss": float(loss[-head:].mean()) if loss.size else None,
        # exact guest instructions per learning step (TCG plugin) under QEMU; on a real
        # board the device's own tick counter (cycles at its clock) instead
        "instructions_per_step": (float(instructions.mean()) if instructions is not None else None),
        "instructions_min": int(instructions.min()) if instructions is not None else None,
        "instructions_max": int(instructions.max()) if instructions is not None else None,
        "ticks_per_step": float(ticks.mean()) if ticks.any() else None,
        "learner_ram_bytes": hello.learner_ram, "ram_used_bytes": peak.ram_used,
        "frames_ok": dec.frames_ok, "frames_bad": dec.frames_bad, "seq_gaps": dec.seq_gaps,
        "device_errors": len(dev.stats.errors), "weights_match_host": bool(match),
        "macs_per_step": float(np.mean([r.macs for r in records])),
        "fwd_activity": float(np.mean([r.events for r in records]) / model.n),
        "saturations": int(records[-1].saturations) if records else 0,
        "qemu_exit_status": exit_status, "wall_seconds": wall,
        "resumed_from_step": first, "resume_weights_verified": resume_checked,
        "checkpoint": str(out / CHECKPOINT) if checkpoint_every else None,
        # the online baselines on the whole stream, scored on the same last 20 % (report.json
        # recomputes them from telemetry.csv: the same numbers)
        "baselines": _baselines(stream, x, target, horizon),
        **_device_error(records, naive_x, truth, first),
    }
    if stream is not None:
        info = stream.summary()
        summary.update(data_file=info, normalization=info["normalization"],
                       inputs=list(stream.inputs), targets=list(stream.targets),
                       clamp_warning=stream.clamp_warning())
    summary["health"] = assess(summary["ratio_device_over_naive_last"], summary["saturations"], T_run)
    summary.update(run_state("finished", run_id, backend, rows_total, steps_kept=tele.rows))
    write_json_atomic(out / "summary.json", summary)
    if report:  # figures, report.md, report.json (pyrtrl.reporting.report)
        from ..reporting.report import write_report

        write_report(out)
    return summary
