"""What every run directory holds, whichever backend ran it: the schema of ``telemetry.csv``
(and ``channels.csv``) with one writer and one reader, and the core of ``summary.json``.

The backends (:data:`BACKENDS`) are the host float learner (``pyrtrl run --board float``,
:mod:`pyrtrl.runs.host`), the host C library behind the device protocol (``--board host``),
a board under QEMU (``--board B``) and a real board on a serial port (``--port P``), the
last three by :mod:`pyrtrl.runs.device`. They all write the same columns
(:data:`COLUMNS`); a cell a backend does not measure is left empty.

**loss** means one thing everywhere: the squared error of the row's forecast, the mean over
the target channels, ``mean_j (prediction_j - target_j)^2`` in the targets' normalized
units. The writer computes it from the prediction and the truth it is given (the same
float64 arithmetic for every backend), so it is never a backend's own figure: a device's
``loss_q`` is its training objective (half the *summed* square of the Q16 error, clamped,
against the target it learned from: for a horizon H > 1 the forecast made H - 1 steps
earlier; plus cross-entropy for labelled steps), not the row's forecast error. For H = 1 and
errors inside the clamp the two agree: ``loss = 2 loss_q / (k 2^16)`` to Q16 rounding.
``naive_loss`` is the same for the naive forecast.

A classification run (labelled sequences, :mod:`pyrtrl.runs.classify`) writes the same
run directory with a documented extension of the schema: its ``telemetry.csv`` holds one
row per *labelled* step (:data:`LABELLED_COLUMNS`, written by
:class:`LabelledTelemetryWriter`, read by :func:`read_labelled_telemetry`), whose error is
the cross-entropy of the label, in a column of its own (``cross_entropy``): ``loss`` keeps
its one meaning. The summary's ``kind`` (:data:`KINDS`) says which of the two a run
directory holds.

Every run starts with :func:`prepare_run_dir` (the one rule for an existing ``--out``) and
ends by writing its summary atomically (:func:`write_json_atomic`): ``finished``,
``interrupted`` or ``failed`` with a reason (:func:`ended_state`).

The tables of ``docs/run_directory.md`` are :func:`schema_markdown`'s output (a test checks
that they agree).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from typing import IO, Any, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..errors import PyrtrlError

PathLike = Union[str, "os.PathLike[str]"]

TELEMETRY_FILE = "telemetry.csv"
CHANNELS_FILE = "channels.csv"
SUMMARY_FILE = "summary.json"

#: What ran the learner: the host float learner, the host C library behind the device
#: protocol (``--board host``), a board under QEMU, a real board on a serial port.
BACKENDS: Tuple[str, ...] = ("float", "host-c", "qemu", "serial")
_ALL: FrozenSet[str] = frozenset(BACKENDS)
_C: FrozenSet[str] = frozenset(("host-c", "qemu", "serial"))
_BOARD: FrozenSet[str] = frozenset(("qemu", "serial"))

#: What a run directory holds: a forecasting run (one row per forecast with a truth) or a
#: classification run (labelled sequences: one row per labelled step).
KINDS: Tuple[str, ...] = ("forecast", "classification")

#: Rows between flushes when the caller does not flush itself: a crash loses at most these.
FLUSH_EVERY = 200


@dataclass(frozen=True)
class Column:
    """One column of ``telemetry.csv``."""

    name: str
    integer: bool  # written as an integer (else the shortest exact float repr)
    unit: str
    meaning: str
    backends: FrozenSet[str]  # the backends that measure it; the others leave it empty


#: The columns of ``telemetry.csv``, in file order: one row per forecast that has a truth.
COLUMNS: Tuple[Column, ...] = (
    Column("step", True, "step", "0-based step of the stream: the learner has just seen the inputs at t "
           "and forecasts the target", _ALL),
    Column("x", False, "normalized", "the naive forecast of target channel 0: s(t) for a built-in signal "
           "(repeat the last sample), the last value of the first target column for a data file (the "
           "input itself when forecasting one column)", _ALL),
    Column("target", False, "normalized", "the truth of this row's forecast, target channel 0: "
           "s(t+H) for a horizon H", _ALL),
    Column("prediction", False, "normalized", "the learner's forecast of target channel 0, made before "
           "the target is learned from (a device's Q16 output / 2^16, exact)", _ALL),
    Column("loss", False, "normalized^2", "squared error of the forecast, the mean over the k target "
           "channels: mean_j (prediction_j - target_j)^2, computed by the writer for every backend", _ALL),
    Column("naive_loss", False, "normalized^2", "the same for the naive forecast: "
           "mean_j (naive_j - target_j)^2", _ALL),
    Column("events", True, "units", "hidden units that emitted an event at this step (device records "
           "that cover several steps: their sum)", _ALL),
    Column("active_cols", True, "columns", "active Jacobian columns of the step (backward activity; "
           "runtime_c's counter)", _C),
    Column("macs", True, "MACs", "multiply-accumulates of the step: forward, influence matrix and "
           "gradient (runtime_c's counter)", _C),
    Column("ticks", True, "board clock ticks", "the board's own timer over the learning step "
           "(SysTick or mtime, core clock cycles on a real board; emulated time under QEMU: exact "
           "instruction counts are in instructions.txt)", _BOARD),
    Column("saturations", True, "count", "saturated fixed-point results since the learner started "
           "(running total)", _C),
)
#: Column names, in file order.
NAMES: Tuple[str, ...] = tuple(c.name for c in COLUMNS)
#: Columns written as integers.
INT_NAMES: Tuple[str, ...] = tuple(c.name for c in COLUMNS if c.integer)
_BY_NAME: Dict[str, Column] = {c.name: c for c in COLUMNS}

#: The columns of a classification run's ``telemetry.csv``, in file order: one row per
#: labelled step (a sequence's last step), training and test sequences in the order run.
LABELLED_COLUMNS: Tuple[Column, ...] = (
    Column("step", True, "step", "0-based step of the whole stream the learner ran (training and test "
           "sequences in the order run) at which the label was given: the sequence's last step "
           "(a QEMU run's instructions.txt has one line per step of the same stream)", _ALL),
    Column("epoch", True, "epoch", "1-based pass over the training sequences (a test pass: the epoch "
           "after which it ran)", _ALL),
    Column("learning", True, "0 or 1", "1: a training sequence, the learner learned from its label; "
           "0: a test sequence, learning off (forward only)", _ALL),
    Column("sequence", True, "index", "the sequence's index in its set (X, or X_test for a test pass)", _ALL),
    Column("label", True, "class", "the sequence's true class", _ALL),
    Column("predicted", True, "class", "the class the learner read at the labelled step (argmax of "
           "the output), before that step's update", _ALL),
    Column("cross_entropy", False, "nats", "softmax cross-entropy of the label at that step (the "
           "learner's own; the C library's and a device's: their Q16 figure / 2^16, exact); not a "
           "`loss`, which is a forecast's squared error", _ALL),
    Column("events", True, "units", "hidden-unit events summed over the sequence's steps", _ALL),
    Column("macs", True, "MACs", "multiply-accumulates summed over the sequence's steps (the learner's "
           "counter: the float engine's or runtime_c's)", _ALL),
)
#: Column names of a classification run's ``telemetry.csv``, in file order.
LABELLED_NAMES: Tuple[str, ...] = tuple(c.name for c in LABELLED_COLUMNS)
#: The labelled columns written as integers.
LABELLED_INT_NAMES: Tuple[str, ...] = tuple(c.name for c in LABELLED_COLUMNS if c.integer)


def channel_columns(k: int) -> List[str]:
    """Header of ``channels.csv`` (runs with k > 1 target channels): the step, then every
    channel's target, prediction and naive forecast."""
    return ["step"] + [f"{what}_{j}" for j in range(k) for what in ("target", "prediction", "naive")]


def squared_error(prediction: Any, target: Any) -> float:
    """The telemetry's ``loss``: ``mean_j (prediction_j - target_j)^2`` in float64 (for one
    channel exactly ``(p - t) * (p - t)``)."""
    e = np.asarray(prediction, dtype=np.float64).ravel() - np.asarray(target, dtype=np.float64).ravel()
    return float(np.mean(e * e))


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a one-line error."""
    if backend not in BACKENDS:
        raise PyrtrlError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a one-line error."""
    if kind not in KINDS:
        raise PyrtrlError(f"unknown run kind {kind!r}; choose one of {', '.join(KINDS)}")
    return kind


def _oneline(e: BaseException) -> str:
    return " ".join(str(getattr(e, "strerror", None) or e).split())


class TelemetryWriter:
    """``telemetry.csv`` (and, for k > 1 target channels, ``channels.csv``) written row by row.

    Rows reach the disk at each :meth:`flush` (a device run flushes after every window of
    records) or, with ``flush_every``, every that many rows. A failed write (a full disk)
    cuts both files back to the last flushed row and ends writing: no row is ever
    half-written; the error is raised again for the caller to report.

    Parameters
    ----------
    run_dir : path
        The run directory.
    backend : str
        One of :data:`BACKENDS`: which counter columns are written (the others stay empty).
    k : int
        Target channels; ``channels.csv`` is written when k > 1.
    keep_before : int
        A resumed run: the rows of the existing ``telemetry.csv`` before this step are kept.
    flush_every : int, optional
        Flush every that many rows (None: only at :meth:`flush`).
    """

    #: The header this writer writes (:data:`NAMES`; a subclass may write another schema's).
    columns: Tuple[str, ...] = NAMES

    def __init__(self, run_dir: PathLike, backend: str, k: int = 1, keep_before: int = 0,
                 flush_every: Optional[int] = FLUSH_EVERY) -> None:
        out = os.fspath(run_dir)
        self.backend = check_backend(backend)
        self.k = int(k)
        self.flush_every = flush_every
        self.path = os.path.join(out, TELEMETRY_FILE)
        self.channels_path = os.path.join(out, CHANNELS_FILE) if self.k > 1 else None
        kept = _rows_before(self.path, keep_before, self.columns) if keep_before else []
        self.f: IO[str] = open(self.path, "w", newline="")
        self.w = csv.writer(self.f)
        self.good: Tuple[int, Optional[int]] = (0, 0)  # file sizes at the last flush
        self.cf: Optional[IO[str]] = None
        self.cw: Any = None
        try:
            self.w.writerow(self.columns)
            self.w.writerows(kept)
            if self.channels_path is not None:
                self.cf = open(self.channels_path, "w", newline="")
                self.cw = csv.writer(self.cf)
                self.cw.writerow(channel_columns(self.k))
        except BaseException:
            self.f.close()
            if self.cf is not None:
                self.cf.close()
            raise
        self.rows = len(kept)  # rows in the file at the last flush
        self.pending = 0  # rows written since
        self.closed = False
        self.flush()

    def row(self, step: int, naive: Any, truth: Any, prediction: Any, events: int, *,
            active_cols: Optional[int] = None, macs: Optional[int] = None, ticks: Optional[int] = None,
            saturations: Optional[int] = None) -> Tuple[float, float]:
        """Write one step's row; returns its ``(loss, naive_loss)``.

        ``naive``, ``truth`` and ``prediction`` hold the k target channels (a float for one).
        The counters are written only for the backends that measure them (:data:`COLUMNS`).
        """
        naive_a = np.asarray(naive, dtype=np.float64).ravel()
        truth_a = np.asarray(truth, dtype=np.float64).ravel()
        pred_a = np.asarray(prediction, dtype=np.float64).ravel()
        loss, naive_loss = squared_error(pred_a, truth_a), squared_error(naive_a, truth_a)
        counters = {"active_cols": active_cols, "macs": macs, "ticks": ticks, "saturations": saturations}
        cells: List[Any] = [int(step), repr(float(naive_a[0])), repr(float(truth_a[0])),
                            repr(float(pred_a[0])), repr(loss), repr(naive_loss), int(events)]
        for name in NAMES[len(cells):]:
            v = counters[name]
            cells.append("" if v is None or self.backend not in _BY_NAME[name].backends else int(v))
        # repr() is the shortest exact round trip: a summary recomputes bit for bit
        self._write(cells, None if self.cw is None else
                    [int(step)] + [repr(float(a[j])) for j in range(self.k) for a in (truth_a, pred_a, naive_a)])
        return loss, naive_loss

    def _write(self, cells: List[Any], channel_cells: Optional[List[Any]] = None) -> None:
        """Write one row (and its ``channels.csv`` row); flush every ``flush_every`` rows.
        A failed write cuts the files back to the last flush and raises again."""
        try:
            self.w.writerow(cells)
            if self.cw is not None and channel_cells is not None:
                self.cw.writerow(channel_cells)
        except OSError:
            self._cut_back()
            raise
        self.pending += 1
        if self.flush_every and self.pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Push the rows written so far to the disk; they survive a later failed write."""
        try:
            self.f.flush()
            if self.cf is not None:
                self.cf.flush()
        except OSError:
            self._cut_back()
            raise
        self.good = (self.f.tell(), None if self.cf is None else self.cf.tell())
        self.rows += self.pending
        self.pending = 0

    def _cut_back(self) -> None:
        """After a failed write: close the files and cut them back to the last flush (by path:
        a buffered file that failed cannot be flushed or sought). Writing ends."""
        self.closed = True
        self.pending = 0
        for f, path, size in ((self.f, self.path, self.good[0]), (self.cf, self.channels_path, self.good[1])):
            if f is None or path is None:
                continue
            try:
                f.close()
            except (OSError, ValueError):
                pass
            try:
                os.truncate(path, size)
            except OSError:
                pass

    def close(self) -> None:
        """Flush and close; if the last rows cannot be written, keep the flushed ones."""
        if self.closed:
            return
        try:
            self.flush()
            self.f.close()
            if self.cf is not None:
                self.cf.close()
        except OSError:
            self._cut_back()
        self.closed = True


class LabelledTelemetryWriter(TelemetryWriter):
    """A classification run's ``telemetry.csv`` (:data:`LABELLED_COLUMNS`): one row per
    labelled step, written as the run goes, with :class:`TelemetryWriter`'s flushing and
    cutting back on a failed write.

    Parameters
    ----------
    run_dir : path
        The run directory.
    backend : str
        One of :data:`BACKENDS` (every backend writes every labelled column).
    flush_every : int, optional
        Flush every that many rows (None: only at :meth:`flush`).
    """

    columns: Tuple[str, ...] = LABELLED_NAMES

    def __init__(self, run_dir: PathLike, backend: str, flush_every: Optional[int] = FLUSH_EVERY) -> None:
        super().__init__(run_dir, backend, 1, flush_every=flush_every)

    def labelled_row(self, step: int, epoch: int, learning: bool, sequence: int, label: int,
                     predicted: int, cross_entropy: float, events: int, macs: int) -> None:
        """Write one labelled step's row (the columns of :data:`LABELLED_COLUMNS`, in order)."""
        self._write([int(step), int(epoch), int(bool(learning)), int(sequence), int(label),
                     int(predicted), repr(float(cross_entropy)), int(events), int(macs)])


def _rows_before(path: str, step: int, names: Tuple[str, ...] = NAMES) -> List[List[str]]:
    """The rows of an existing ``telemetry.csv`` before ``step`` (a resumed run keeps them)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != names:
        raise PyrtrlError(f"{path}: cannot resume into this telemetry: its header is not "
                          f"{','.join(names)} (written by an older pyrtrl?)")
    return [r for r in rows[1:] if r and int(r[0]) < step]


def read_telemetry(run_dir: PathLike, partial: bool = False) -> Dict[str, np.ndarray]:
    """A forecasting run directory's ``telemetry.csv`` as named numpy columns.

    Integer columns (:data:`INT_NAMES`) come as int64, the others as float64. A column that
    is empty in every row (the backend does not measure it) is left out; one empty in some
    rows only comes as float64 with NaN there. With ``partial=True`` (a file still being
    written) an unterminated last line and every row from the first malformed one on are
    dropped, and a missing or empty file gives no columns; otherwise they are one-line errors.
    A classification run's telemetry (:func:`read_labelled_telemetry`) is refused in one line.
    """
    return _read_schema(run_dir, NAMES, INT_NAMES, tuple(c.name for c in COLUMNS if c.backends == _ALL), partial)


def read_labelled_telemetry(run_dir: PathLike, partial: bool = False) -> Dict[str, np.ndarray]:
    """A classification run directory's ``telemetry.csv`` (:data:`LABELLED_COLUMNS`) as named
    numpy columns (integers as int64, ``cross_entropy`` as float64), with
    :func:`read_telemetry`'s rules for ``partial`` and for errors."""
    return _read_schema(run_dir, LABELLED_NAMES, LABELLED_INT_NAMES, LABELLED_NAMES, partial)


def _read_schema(run_dir: PathLike, names: Tuple[str, ...], int_names: Tuple[str, ...],
                 required: Tuple[str, ...], partial: bool) -> Dict[str, np.ndarray]:
    """``telemetry.csv`` with the header ``names`` (see :func:`read_telemetry`); ``required``:
    the columns that may not be empty in every row."""
    path = os.path.join(os.fspath(run_dir), TELEMETRY_FILE)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        if partial:
            return {}
        raise PyrtrlError(f"{path}: no telemetry (is this a run directory?)") from None
    except OSError as e:
        raise PyrtrlError(f"{path}: cannot read telemetry: {_oneline(e)}") from None
    lines = text.split("\n")
    if lines and (lines[-1] == "" or partial):
        lines.pop()  # the newline after the last row, or a row still being written
    if not lines:
        if partial:
            return {}
        raise PyrtrlError(f"{path}: empty telemetry")
    header = tuple(h.strip() for h in lines[0].rstrip("\r").split(","))
    if header != names:
        other = {NAMES: "a forecasting run's", LABELLED_NAMES: "a classification run's"}.get(header)
        if other is not None:
            raise PyrtrlError(f"{path}: {other} telemetry, not {'a forecasting' if names == NAMES else 'a classification'} "
                              f"run's (pyrtrl report RUN_DIR reads either)")
        raise PyrtrlError(f"{path}: not this pyrtrl's telemetry (header {','.join(header)}, expected "
                          f"{','.join(names)}): rerun to get a report")
    rows: List[List[float]] = []
    for i, line in enumerate(lines[1:], start=2):
        parts = line.rstrip("\r").split(",")
        try:
            if len(parts) != len(names):
                raise ValueError
            rows.append([float(p) if p else np.nan for p in parts])
        except ValueError:
            if partial:
                break
            raise PyrtrlError(f"{path}: malformed line {i}") from None
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    cols: Dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        v = arr[:, j]
        missing = np.isnan(v)
        if v.size and missing.all():
            continue  # not measured by this backend
        cols[name] = v.astype(np.int64) if name in int_names and not missing.any() else v
    for name in required:
        if name not in cols:  # every backend writes these
            raise PyrtrlError(f"{path}: column {name} is empty")
    return cols


def schema_markdown(kind: str = "forecast") -> str:
    """The table of :data:`COLUMNS` (``kind="forecast"``) or of :data:`LABELLED_COLUMNS`
    (``kind="classification"``) in Markdown (``docs/run_directory.md`` holds both)."""
    label = {"float": "float", "host-c": "host C", "qemu": "QEMU", "serial": "serial"}
    columns = {"forecast": COLUMNS, "classification": LABELLED_COLUMNS}[check_kind(kind)]
    lines = ["| column | unit | written by | meaning |", "| --- | --- | --- | --- |"]
    for c in columns:
        who = "all" if c.backends == _ALL else ", ".join(label[b] for b in BACKENDS if b in c.backends)
        lines.append(f"| `{c.name}` | {c.unit} | {who} | {c.meaning} |")
    return "\n".join(lines) + "\n"


# -- summary.json ---------------------------------------------------------------------------
#: Fields every summary carries, whatever its kind and status (``reason`` only for
#: ``failed`` and ``interrupted``; ``steps_kept`` is known once the run has ended).
SUMMARY_STATE = ("status", "run_id", "kind", "backend", "steps_total")
#: Fields every finished run's summary carries, whatever its kind and backend.
SUMMARY_CORE = SUMMARY_STATE + ("steps_kept", "data", "source", "hidden", "telemetry_columns",
                                "pyrtrl_version")
#: Fields every finished forecasting run's summary carries besides (``rate_hz`` is None for
#: a data file, whose rows have no sample rate).
FORECAST_CORE = SUMMARY_CORE + ("rate_hz", "horizon")
#: What ``status`` can say.
STATUSES = ("running", "finished", "interrupted", "failed")


def run_state(status: str, run_id: str, backend: str, steps_total: int, *,
              steps_kept: Optional[int] = None, reason: Optional[str] = None,
              kind: str = "forecast") -> Dict[str, Any]:
    """The state fields of a summary (:data:`SUMMARY_STATE`, with ``steps_kept`` and
    ``reason`` when given; a finished run's also ``telemetry_columns`` and
    ``pyrtrl_version``).

    Parameters
    ----------
    status : str
        One of :data:`STATUSES`.
    run_id : str
        The run's id (:func:`prepare_run_dir`).
    backend : str
        One of :data:`BACKENDS`.
    steps_total : int
        The rows a complete run writes to ``telemetry.csv``.
    steps_kept : int, optional
        The rows it holds (once the run has ended).
    reason : str, optional
        Why a run ended early.
    kind : str
        One of :data:`KINDS`: which ``telemetry.csv`` schema the run writes.

    Returns
    -------
    dict
        The fields, to be merged into the summary.
    """
    if status not in STATUSES:
        raise PyrtrlError(f"unknown run status {status!r}; choose one of {', '.join(STATUSES)}")
    s: Dict[str, Any] = {"status": status, "run_id": run_id, "kind": check_kind(kind),
                         "backend": check_backend(backend), "steps_total": int(steps_total)}
    if steps_kept is not None:
        s["steps_kept"] = int(steps_kept)
    if reason is not None:
        s["reason"] = reason
    if status == "finished":
        from .. import __version__

        s["telemetry_columns"] = list(NAMES if kind == "forecast" else LABELLED_NAMES)
        s["pyrtrl_version"] = __version__
    return s


def ended_state(e: BaseException, run_id: str, backend: str, steps_total: int,
                steps_kept: int, kind: str = "forecast") -> Dict[str, Any]:
    """The summary of a run that ended early on ``e``: ``interrupted`` (Ctrl-C, SIGTERM and
    SIGHUP arrive as KeyboardInterrupt) or ``failed`` with the error's one line."""
    if isinstance(e, KeyboardInterrupt):
        return run_state("interrupted", run_id, backend, steps_total, steps_kept=steps_kept,
                         reason=str(e) or "SIGINT", kind=kind)
    return run_state("failed", run_id, backend, steps_total, steps_kept=steps_kept,
                     reason=" ".join(str(e).split()) or type(e).__name__, kind=kind)


def write_json_atomic(path: PathLike, obj: Dict[str, Any]) -> None:
    """Write ``obj`` as JSON so that a reader sees the old file or the new one, never a part
    (a temporary file in the same directory, then a rename)."""
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read_summary(run_dir: PathLike) -> Dict[str, Any]:
    """A run directory's ``summary.json`` (one-line error if unreadable)."""
    path = os.path.join(os.fspath(run_dir), SUMMARY_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise PyrtrlError(f"{path}: cannot read summary: {' '.join(str(e).split())}") from None


def unfinished_run_message(run_dir: PathLike, s: Dict[str, Any]) -> Optional[str]:
    """None for a finished run's summary (older ones have no status: they finished), else
    the one line that says what the run directory holds instead of a report."""
    if s.get("status", "finished") == "finished":
        return None
    return (f"{os.fspath(run_dir)}: the run {s.get('run_id', '')} is {s['status']}"
            + (f" ({s['reason']})" if s.get("reason") else "")
            + (f" with {s['steps_kept']} of {s['steps_total']} steps in {TELEMETRY_FILE}"
               if "steps_kept" in s else "") + ": no report")


def run_backend(s: Dict[str, Any]) -> str:
    """The backend (:data:`BACKENDS`) of a run from its summary. Older summaries: without
    ``backend``, a ``board`` means a device run, else the float learner; a classification
    run's ``backend`` was ``host`` or the board's name."""
    b = s.get("backend")
    if b in BACKENDS:
        return str(b)
    board = s.get("board") or (b if b not in (None, "float") else None)
    if board is None:
        return "float"
    if board == "host":
        return "host-c"
    return "serial" if s.get("port") else "qemu"


def run_kind(s: Dict[str, Any]) -> str:
    """The kind (:data:`KINDS`) of a run from its summary (older summaries: ``task``
    ``classification``, else a forecasting run)."""
    if s.get("kind") in KINDS:
        return str(s["kind"])
    return "classification" if s.get("task") == "classification" else "forecast"


# -- the run directory ----------------------------------------------------------------
#: Every file a run of any kind writes into its run directory (figures of every report
#: included). :func:`prepare_run_dir` removes them all, whichever kind ran there before.
RUN_FILES: Tuple[str, ...] = (
    SUMMARY_FILE, TELEMETRY_FILE, CHANNELS_FILE, "stream.npz", "model_before.npz", "model_after.npz",
    "report.md", "report.json", "float_learner.csv", "instructions.txt", "checkpoint.npz",
    "predictions.csv",  # written by classification runs before they wrote telemetry.csv
    "dataset.npz",
    # the reports' figures: float runs, device runs, classification runs
    "learning_curve.png", "prediction_start.png", "prediction_end.png", "events.png",
    "activity.png", "cost.png", "memory.png", "accuracy.png",
)
#: Earlier runs' instruction counts kept by resumed runs (``instructions.until-<step>.txt``).
RESUMED_COUNTS = "instructions.until-{step}.txt"


class RunStart(NamedTuple):
    """A prepared run directory: its path and the new run's id."""

    path: str
    run_id: str


def prepare_run_dir(out_dir: PathLike, kind: str, backend: str, steps_total: int, *,
                    keep: Iterable[str] = (), resume_at: Optional[int] = None,
                    extra: Optional[Dict[str, Any]] = None) -> RunStart:
    """Make ``out_dir`` a fresh run directory, the one rule for every kind and backend.

    ``--out`` on a non-empty directory starts a fresh run there: every file a run of any
    kind writes (:data:`RUN_FILES`, and earlier resumed runs' instruction counts) is
    removed first, so a report or monitor never mixes the files of two runs; other files
    stay. Then ``summary.json`` says ``running`` with a new run id (written atomically). All
    of it happens before anything large is written.

    Parameters
    ----------
    out_dir : path
        The run directory (created with its parents).
    kind, backend : str
        The run's kind (:data:`KINDS`) and backend (:data:`BACKENDS`).
    steps_total : int
        The rows a complete run writes to ``telemetry.csv``.
    keep : iterable of str
        Names of files to keep (the run's own input: a bundled data set exported to
        ``dataset.npz`` before the run).
    resume_at : int, optional
        A run resumed from a checkpoint at this step: ``telemetry.csv`` (the writer keeps its
        rows before the step), ``checkpoint.npz`` and earlier runs' instruction counts stay,
        and ``instructions.txt`` becomes ``instructions.until-<step>.txt``.
    extra : dict, optional
        Fields the ``running`` summary carries besides the state (a device run's board).

    Returns
    -------
    RunStart
        The directory's path and the run id.

    Raises
    ------
    PyrtrlError
        One line if the directory cannot be made, cleared or written.
    """
    import uuid

    path = os.fspath(out_dir)
    check_kind(kind)
    check_backend(backend)
    kept = set(keep) | ({TELEMETRY_FILE, "checkpoint.npz"} if resume_at is not None else set())
    try:
        os.makedirs(path, exist_ok=True)
        counts = os.path.join(path, "instructions.txt")
        if resume_at is not None and os.path.isfile(counts):
            os.replace(counts, os.path.join(path, RESUMED_COUNTS.format(step=resume_at)))
        names = list(RUN_FILES)
        if resume_at is None:
            names += [n for n in os.listdir(path) if n.startswith("instructions.until-") and n.endswith(".txt")]
        for name in names:
            target = os.path.join(path, name)
            if name not in kept and os.path.isfile(target):
                os.unlink(target)
        run_id = uuid.uuid4().hex[:12]
        write_json_atomic(os.path.join(path, SUMMARY_FILE),
                          {**run_state("running", run_id, backend, steps_total, kind=kind), **(extra or {})})
    except OSError as e:
        raise PyrtrlError(f"{path}: cannot write the run directory: {_oneline(e)}") from None
    return RunStart(path, run_id)


# -- other run files -------------------------------------------------------------------
def text_lines(text: str, partial: bool) -> List[str]:
    """The lines of ``text``; with ``partial``, without an unterminated last one (still
    being written)."""
    lines = text.split("\n")
    if lines and (lines[-1] == "" or partial):
        lines.pop()
    return lines


def read_columns(path: PathLike, partial: bool = False) -> Dict[str, np.ndarray]:
    """A CSV file with a header row as float arrays by column name.

    With ``partial=True`` (a file still being written) an unterminated last line and any
    row from the first malformed one on are dropped; otherwise they are an error.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PyrtrlError(f"{path}: cannot read: {' '.join(str(e.strerror or e).split())}") from None
    lines = text_lines(data.decode("utf-8", errors="replace"), partial)
    if not lines:
        if partial:
            return {}
        raise PyrtrlError(f"{path}: empty file")
    header = [h.strip() for h in lines[0].split(",")]
    rows: List[List[float]] = []
    for i, line in enumerate(lines[1:], start=2):
        parts = line.rstrip("\r").split(",")
        try:
            if len(parts) != len(header):
                raise ValueError
            rows.append([float(p) for p in parts])
        except ValueError:
            if partial:
                break
            raise PyrtrlError(f"{path}: malformed line {i}") from None
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    return {name: arr[:, j] for j, name in enumerate(header)}


def read_instructions(run_dir: PathLike, partial: bool = False) -> Optional[np.ndarray]:
    """Exact instructions per step (``instructions.txt``, QEMU runs), or None if absent."""
    path = os.path.join(os.fspath(run_dir), "instructions.txt")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        lines = text_lines(f.read().decode("ascii", errors="replace"), partial)
    try:
        return np.array([int(v) for v in lines], dtype=np.int64)
    except ValueError:
        raise PyrtrlError(f"{path}: malformed instruction count") from None
