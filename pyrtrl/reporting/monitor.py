"""``pyrtrl monitor RUN_DIR``: a live view of a run while it writes its telemetry.

A run (``pyrtrl run --board B --out DIR``, also ``--port`` for a real board and
``--board float``) appends to ``DIR/telemetry.csv`` as the statistics arrive. The monitor
re-reads that file (a last line still being written is ignored) and ``instructions.txt``
(QEMU runs) and draws four panels:

* loss (:mod:`pyrtrl.reporting.run_files`: the squared error, the same for every backend), running
  mean, beside the naive "repeat the last sample" forecaster's;
* prediction vs target over the last N steps;
* event rate: forward (events / n) and, on devices, backward activity (active columns / n);
* cost per step: the device's MACs and, under QEMU, its exact instructions.

With a display it refreshes a matplotlib window; headless it rewrites a PNG (atomically)
every few seconds. It stops when the run's ``summary.json`` appears (the run finished), or
on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Union

import numpy as np

from ..errors import PyrtrlError
from .common import running_mean
from .run_files import read_instructions
from .run_files import SUMMARY_FILE, read_telemetry, run_backend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds between refreshes.
DEFAULT_EVERY = 2.0
#: Steps shown by the prediction-vs-target panel.
DEFAULT_LAST = 300
#: Non-interactive matplotlib backends (no window can be shown).
_HEADLESS_BACKENDS = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def looks_like_port(source: str) -> bool:
    """Whether ``source`` names a serial device rather than a run directory."""
    if source.startswith("/dev/") or re.fullmatch(r"(?i)com\d+", source) or "://" in source:
        return True
    try:
        return stat.S_ISCHR(os.stat(source).st_mode)
    except OSError:
        return False


def read_live(run_dir: PathLike) -> Dict[str, Any]:
    """What a run directory holds so far: ``rows``, ``kind`` ("device", "float" or None),
    ``tel`` (:func:`pyrtrl.reporting.run_files.read_telemetry`'s columns), ``instructions`` (or None),
    ``n`` (hidden units, None if unknown), ``done``."""
    out = os.fspath(run_dir)
    info: Dict[str, Any] = {"rows": 0, "kind": None, "tel": {}, "instructions": None, "n": None,
                            "done": False}
    cols = read_telemetry(out, partial=True)
    if not cols:
        return info
    info["kind"] = "float" if _backend(out, cols) == "float" else "device"
    if info["kind"] == "device":
        info["instructions"] = read_instructions(out, partial=True)
    info["tel"] = cols
    info["rows"] = rows = int(cols["step"].size)
    info["n"] = _hidden(out)
    info["done"] = run_finished(out, rows)
    return info


def _backend(run_dir: str, cols: Dict[str, np.ndarray]) -> str:
    """The run's backend from its summary (written first, as ``running``), else from the
    counters the telemetry holds (the float learner writes none)."""
    import json

    try:
        with open(os.path.join(run_dir, SUMMARY_FILE)) as f:
            return run_backend(json.load(f))
    except (OSError, ValueError):
        return "float" if "macs" not in cols else "host-c"


def _hidden(run_dir: str) -> Optional[int]:
    """Hidden units of the run's model (``model_before.npz`` is saved before the run)."""
    path = os.path.join(run_dir, "model_before.npz")
    try:
        with np.load(path) as z:
            return int(z["R_u"].shape[0])
    except Exception:  # not there yet, or being written
        return None


def run_finished(run_dir: PathLike, rows: int) -> bool:
    """Whether the run writing ``run_dir`` has finished: its ``summary.json`` is newer than
    the telemetry and counts the steps the telemetry holds (an older run's summary in the
    same directory does not count)."""
    import json

    out = os.fspath(run_dir)
    spath, tpath = os.path.join(out, "summary.json"), os.path.join(out, "telemetry.csv")
    try:
        if os.stat(spath).st_mtime_ns < os.stat(tpath).st_mtime_ns:
            return False
        with open(spath) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return False
    if s.get("status") in ("interrupted", "failed"):  # it ended: nothing more will arrive
        return True
    # steps_kept: the rows of its telemetry (summaries without it: steps)
    return s.get("status", "finished") == "finished" and int(s.get("steps_kept", s.get("steps", -1))) == rows


def draw(fig: "Figure", run_dir: PathLike, last: int = DEFAULT_LAST) -> Dict[str, Any]:
    """Draw the monitor's four panels into ``fig`` (cleared first); returns :func:`read_live`'s
    information (without the arrays)."""
    info = read_live(run_dir)
    tel, rows = info["tel"], info["rows"]
    fig.clear()
    axes = fig.subplots(2, 2)
    state = "finished" if info["done"] else ("waiting for telemetry" if rows == 0 else "running")
    fig.suptitle(f"pyrtrl monitor: {os.fspath(run_dir)}, {rows} steps ({state})")
    window = max(1, min(300, rows // 5))
    step = tel.get("step", np.zeros(0, dtype=np.int64))

    ax = axes[0, 0]
    if rows:
        floor = 1e-12
        ax.plot(step, np.maximum(running_mean(tel["loss"], window), floor), "-",
                label="learner" if info["kind"] == "float" else "device")
        ax.plot(step, np.maximum(running_mean(tel["naive_loss"], window), floor), "--",
                label="naive: repeat last sample")
        ax.set_yscale("log")
    _finish(ax, f"Loss (running mean over {window} steps)", "step", "(prediction - target)², mean over targets", rows)

    ax = axes[0, 1]
    if rows:
        sl = slice(max(0, rows - last), rows)
        ax.plot(step[sl], tel["target"][sl], "k-", lw=1.2, label="target")
        ax.plot(step[sl], tel["prediction"][sl], "-", color="tab:blue", label="prediction")
        ax.plot(step[sl], tel["x"][sl], "--", color="tab:orange", lw=0.8, label="naive: s(t)")
    _finish(ax, f"Prediction vs target (last {min(last, rows) if rows else last} steps)", "step",
            "signal (normalized)", rows)

    ax = axes[1, 0]
    n = info["n"]
    if rows:
        scale = float(n) if n else 1.0
        ax.plot(step, running_mean(tel["events"] / scale, window), "-", color="tab:red",
                label="forward: events" + (" / n" if n else ""))
        if "active_cols" in tel:
            ax.plot(step, running_mean(tel["active_cols"] / scale, window), "-", color="tab:purple",
                    label="backward: active columns" + (" / n" if n else ""))
        ax.set_ylim(bottom=0)
    _finish(ax, f"Event rate (running mean over {window} steps)", "step",
            f"fraction of {n} units" if n else "units per step", rows)

    ax = axes[1, 1]
    ins = info["instructions"]
    if rows and "macs" in tel:
        ax.plot(step, running_mean(tel["macs"], window), "-", color="tab:blue", label="MACs per step")
        ax.set_ylim(bottom=0)
        if ins is not None and ins.size:
            k = min(ins.size, rows)
            ax2 = ax.twinx()
            ax2.plot(step[:k], running_mean(ins[:k], window), "-", color="tab:green",
                     label="instructions per step")
            ax2.set_ylabel("instructions per step")
            ax2.set_ylim(bottom=0)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize="small")
    elif rows:
        ax.text(0.5, 0.5, "this run records no cost counters", ha="center", va="center",
                transform=ax.transAxes)
    _finish(ax, f"Cost per step (running mean over {window} steps)", "step", "MACs per step", rows,
            legend=not (ins is not None and ins.size))
    info = {k: v for k, v in info.items() if k not in ("tel", "instructions")}
    return info


def _finish(ax: Any, title: str, xlabel: str, ylabel: str, rows: int, legend: bool = True) -> None:
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if not rows:
        ax.text(0.5, 0.5, "waiting for telemetry", ha="center", va="center", transform=ax.transAxes)
    elif legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")


def new_figure() -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=(12, 7.5), layout="constrained")


def render_png(run_dir: PathLike, png: Optional[PathLike] = None, last: int = DEFAULT_LAST) -> Dict[str, Any]:
    """Render the monitor once into a PNG (default ``RUN_DIR/monitor.png``, replaced
    atomically); returns :func:`draw`'s information plus ``png``."""
    out = os.fspath(run_dir)
    path = os.fspath(png) if png is not None else os.path.join(out, "monitor.png")
    fig = new_figure()
    info = draw(fig, out, last)
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, path)
    info["png"] = path
    return info


def gui_available() -> bool:
    """Whether a window can be shown: a display and an interactive matplotlib backend."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import matplotlib.pyplot as plt

        backend = str(plt.get_backend()).lower()
    except Exception:
        return False
    return backend not in _HEADLESS_BACKENDS and not backend.startswith("module://")


def check_source(source: str) -> str:
    """The run directory named by ``source``, or a one-line error."""
    if looks_like_port(source):
        raise PyrtrlError(f"{source} looks like a serial port; the monitor reads a run directory: "
                          f"run `pyrtrl run --board BOARD --port {source} --out DIR` and monitor DIR")
    if not os.path.isdir(source):
        raise PyrtrlError(f"{source}: no such run directory (start `pyrtrl run ... --out {source}` first)")
    return source


def monitor(source: str, png: Optional[str] = None, every: float = DEFAULT_EVERY, once: bool = False,
            last: int = DEFAULT_LAST, gui: Optional[bool] = None,
            say: Callable[[str], None] = print) -> Dict[str, Any]:
    """Watch a run directory until its run finishes (or Ctrl-C); returns the last information.

    ``gui`` None: a window if :func:`gui_available` and neither ``png`` nor ``once`` is
    given, else PNG files.
    """
    out = check_source(source)
    if not every > 0:
        raise PyrtrlError(f"--every must be > 0 seconds, got {every}")
    if once:
        if not os.path.isfile(os.path.join(out, "telemetry.csv")):
            raise PyrtrlError(f"{out}: no telemetry.csv yet (is a run writing there?)")
        info = render_png(out, png, last)
        say(info["png"])
        return info
    if gui is None:
        gui = png is None and gui_available()
    if gui:
        return _monitor_window(out, every, last, say)
    path = png if png is not None else os.path.join(out, "monitor.png")
    say(f"writing {path} every {every:g} s until the run finishes (Ctrl-C to stop)")
    info: Dict[str, Any] = {}
    try:
        while True:
            info = render_png(out, path, last)
            if info["done"]:
                say(f"run finished: {info['rows']} steps; {path}")
                return info
            time.sleep(every)
    except KeyboardInterrupt:
        say(f"stopped at {info.get('rows', 0)} steps; {path}")
        return info


def _monitor_window(out: str, every: float, last: int, say: Callable[[str], None]) -> Dict[str, Any]:
    import matplotlib.pyplot as plt

    plt.ion()
    fig = plt.figure(figsize=(12, 7.5), layout="constrained")
    num = fig.number
    info: Dict[str, Any] = {}
    try:
        while plt.fignum_exists(num):
            info = draw(fig, out, last)
            fig.canvas.draw_idle()
            if info["done"]:
                say(f"run finished: {info['rows']} steps (close the window to exit)")
                plt.ioff()
                plt.show()
                break
            plt.pause(every)
    except KeyboardInterrupt:
        say(f"stopped at {info.get('rows', 0)} steps")
    finally:
        plt.close("all")
    return info
