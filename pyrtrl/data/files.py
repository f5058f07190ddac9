"""The user's own data: a table from a file, and the stream a run learns from it.

``pyrtrl run --data FILE`` reads

========= ==============================================================================
``.csv``  a header row of column names, then one row of numbers per time step (comma
          separated; blank lines are skipped)
``.npy``  one array: ``(T,)`` (one column named ``0``) or ``(T, C)`` (columns ``0`` ..
          ``C-1``)
``.npz``  the array ``x`` (or ``X``, ``data``; or the file's only array), shaped as for
          ``.npy``; an optional string array ``columns`` (C names) names its columns
========= ==============================================================================

and builds one of two streams (:func:`load_stream`):

* **forecasting** (no ``targets``): the model sees the input columns at step t and forecasts
  the same columns ``horizon`` steps ahead, as for the built-in signals;
* **supervised regression** (explicit ``targets``): the model sees the input columns at step
  t and is scored and trained on the target columns *at the same step* t.

Every column is normalised causally, as the built-in signals are
(:func:`pyrtrl.data.signals.causal_normalization`: median and robust spread of the first 10 % of
the rows the run uses), and values the fixed-point learner would clamp (beyond +-128 after
normalisation, :data:`pyrtrl.fixed.arith.SAMPLE_MAX`) are counted for a loud warning.

Everything wrong with a file is a one-line :class:`~pyrtrl.errors.PyrtrlError` naming the
file and the place (row numbers are 1-based data rows; a CSV's header is row 0).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import PyrtrlError
from ..fixed.arith import FRAC, SAMPLE_MAX
from .signals import MIN_SAMPLES, calibration_length, causal_normalization

PathLike = Union[str, "os.PathLike[str]"]

#: File name extensions :func:`load_table` reads.
EXTENSIONS: tuple = (".csv", ".npy", ".npz")
#: Names of the data array in an ``.npz``, in the order they are looked for.
NPZ_ARRAYS: tuple = ("x", "X", "data")
#: Largest magnitude of a normalised sample the fixed-point learner represents (about 128).
CLAMP_LIMIT: float = SAMPLE_MAX / float(1 << FRAC)


# -- the table ----------------------------------------------------------------------------
@dataclass
class Table:
    """A numeric table read from a file.

    Attributes
    ----------
    path : str
        The file it was read from.
    names : list of str
        Column names (a CSV's header; ``"0"``, ``"1"``, ... for arrays).
    values : ndarray (T, C) float64
        The raw values, finite.
    """

    path: str
    names: List[str]
    values: np.ndarray
    #: CSV columns holding text (a time stamp, a label), by index, with the one-line error of
    #: their first non-numeric cell: their values are NaN, and a run may not select them
    text: Dict[int, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Number of data rows T."""
        return int(self.values.shape[0])


def _where(row: int, col: int, names: Sequence[str]) -> str:
    return f"row {row}, column {col} ({names[col]!r})" if col < len(names) else f"row {row}, column {col}"


def _check_finite(path: str, values: np.ndarray, names: Sequence[str]) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if math.isnan(values[r, c]) else "Inf"
        raise PyrtrlError(f"{path}: {what} at {_where(r + 1, c, names)} "
                          f"({int(bad.sum())} non-finite value(s) in all)")


def _read_csv(path: str) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(i, r) for i, r in enumerate(csv.reader(f)) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise PyrtrlError(f"{path}: not a text CSV file (not UTF-8)") from None
    except csv.Error as e:
        raise PyrtrlError(f"{path}: malformed CSV: {' '.join(str(e).split())}") from None
    if not rows:
        raise PyrtrlError(f"{path}: empty file (expected a header row, then rows of numbers)")
    header = [h.strip() for h in rows[0][1]]
    if any(_is_number(h) for h in header) and all(_is_number(h) or not h for h in header):
        raise PyrtrlError(f"{path}: the first row must be a header of column names, got numbers "
                          f"({','.join(header[:4])}{',...' if len(header) > 4 else ''})")
    for j, h in enumerate(header):
        if not h:
            raise PyrtrlError(f"{path}: header column {j} has no name")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise PyrtrlError(f"{path}: header names column {dup[0]!r} more than once")
    body = rows[1:]
    values = np.empty((len(body), len(header)), dtype=np.float64)
    text: Dict[int, str] = {}
    for r, (_, cells) in enumerate(body, start=1):
        if len(cells) != len(header):
            raise PyrtrlError(f"{path}: ragged rows: row {r} has {len(cells)} value(s), the header "
                              f"{len(header)}")
        for c, cell in enumerate(cells):
            try:
                values[r - 1, c] = float(cell)
            except ValueError:  # a text column is fine as long as no run selects it
                values[r - 1, c] = math.nan
                text.setdefault(c, f"{path}: non-numeric value {cell.strip()[:30]!r} at "
                                   f"{_where(r, c, header)}")
    return Table(path, header, values, text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_array(path: str, a: Any, names: Optional[Sequence[str]] = None) -> Table:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise PyrtrlError(f"{path}: array of {a.dtype} values, expected numbers")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise PyrtrlError(f"{path}: array of shape {a.shape}, expected (T,) or (T, columns)")
    if names is None:
        names = [str(j) for j in range(a.shape[1])]
    elif len(names) != a.shape[1]:
        raise PyrtrlError(f"{path}: {len(names)} column names for {a.shape[1]} columns")
    return Table(path, list(names), a.astype(np.float64))


def _read_npz(path: str) -> Table:
    with np.load(path, allow_pickle=False) as z:
        files = list(z.files)
        key = next((k for k in NPZ_ARRAYS if k in files), None)
        if key is None:
            data = [k for k in files if k != "columns"]
            if len(data) != 1:
                raise PyrtrlError(f"{path}: expected an array named {', '.join(NPZ_ARRAYS)} (or a "
                                  f"single array), found {', '.join(files) or 'none'}")
            key = data[0]
        names = None
        if "columns" in files:
            cols = z["columns"]
            if cols.dtype.kind not in "US" or cols.ndim != 1:
                raise PyrtrlError(f"{path}: 'columns' must be a 1-D array of strings")
            names = [str(c) for c in cols]
        return _from_array(path, z[key], names)


def load_table(path: PathLike) -> Table:
    """Read a ``.csv`` (header row), ``.npy`` or ``.npz`` file as a finite numeric table.

    Parameters
    ----------
    path : path
        The file; its extension chooses the format (module docstring).

    Returns
    -------
    Table

    Raises
    ------
    PyrtrlError
        One line naming the file and the place: missing file, unsupported extension,
        no header, ragged rows, a non-numeric value (row, column), NaN or Inf (row,
        column), an array of the wrong shape, fewer than :data:`pyrtrl.data.signals.MIN_SAMPLES`
        rows.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in EXTENSIONS:
        raise PyrtrlError(f"{p}: unsupported file type {ext or '(no extension)'!r}; use "
                          f"{', '.join(EXTENSIONS)}")
    if not os.path.isfile(p):
        raise PyrtrlError(f"{p}: no such file")
    try:
        if ext == ".csv":
            table = _read_csv(p)
        elif ext == ".npy":
            table = _from_array(p, np.load(p, allow_pickle=False))
        else:
            table = _read_npz(p)
    except PyrtrlError:
        raise
    except (OSError, ValueError, EOFError) as e:  # unreadable, corrupt, pickled objects
        raise PyrtrlError(f"{p}: cannot read as {ext}: {' '.join(str(e).split())[:120]}") from None
    numeric = [j for j in range(len(table.names)) if j not in table.text]
    _check_finite(p, table.values[:, numeric], [table.names[j] for j in numeric])
    if table.rows < MIN_SAMPLES:
        raise PyrtrlError(f"{p}: too few rows: {table.rows}, need at least {MIN_SAMPLES}")
    return table


def select_columns(table: Table, spec: Optional[str], option: str = "--inputs") -> List[int]:
    """Column indices from a comma-separated list of names or 0-based indices.

    ``None`` or ``""`` selects every column. A name is matched first (so a CSV column may be
    called ``"2"``), then an index.

    Raises
    ------
    PyrtrlError
        A column that does not exist, or one named twice.
    """
    if spec is None or not str(spec).strip():
        return _numeric(table, list(range(len(table.names))), option)
    chosen: List[int] = []
    for item in (s.strip() for s in str(spec).split(",")):
        if not item:
            raise PyrtrlError(f"{option} {spec!r}: empty column name")
        if item in table.names:
            j = table.names.index(item)
        elif item.lstrip("-").isdigit():
            j = int(item)
            if not 0 <= j < len(table.names):
                raise PyrtrlError(f"{table.path}: {option}: no column {j} (columns 0 to "
                                  f"{len(table.names) - 1})")
        else:
            raise PyrtrlError(f"{table.path}: {option}: no column {item!r} (columns: "
                              f"{', '.join(table.names[:12])}{', ...' if len(table.names) > 12 else ''})")
        if j in chosen:
            raise PyrtrlError(f"{table.path}: {option}: column {table.names[j]!r} given twice")
        chosen.append(j)
    return _numeric(table, chosen, option)


def _numeric(table: Table, cols: List[int], option: str) -> List[int]:
    """``cols``, unless one of them holds text: then its first non-numeric cell, in one line."""
    for j in cols:
        if j in table.text:
            raise PyrtrlError(f"{table.text[j]} (choose the numeric columns with {option})")
    return cols


# -- the stream ---------------------------------------------------------------------------
@dataclass
class DataStream:
    """What a run learns from a data file (:func:`load_stream`).

    Attributes
    ----------
    path : str
        The file.
    mode : {"forecast", "regression"}
        Forecasting the inputs ``horizon`` steps ahead, or the target columns at each step.
    inputs, targets : list of str
        Column names: the model has ``d = len(inputs)`` inputs and ``k = len(targets)``
        outputs.
    horizon : int
        The learner's horizon H (1 for regression).
    x : ndarray (T, d)
        Normalised inputs fed at step t.
    target : ndarray (T, k)
        The target given to the learner at step t: the target columns at t + 1
        (forecasting; the learner runs H - 1 steps behind) or at t (regression).
    truth : ndarray (T - H + 1, k)
        What the output at step t is scored on: the target columns at t + H (forecasting)
        or at t (regression).
    naive : ndarray (T - H + 1, k)
        The naive forecaster's output at step t: the last value of each target column known
        at t (forecasting: row t; regression: row t - 1, 0 at t = 0).
    normalization : dict
        Column name -> ``{"offset", "scale"}``; raw = offset + scale * normalised.
    calibration_rows : int
        Rows the normalisation came from (the first 10 %).
    clamped_inputs, clamped_targets : int
        Normalised input / target values beyond +-:data:`CLAMP_LIMIT` (clamped by the
        fixed-point learner).
    """

    path: str
    mode: str
    inputs: List[str]
    targets: List[str]
    horizon: int
    x: np.ndarray
    target: np.ndarray
    truth: np.ndarray
    naive: np.ndarray
    normalization: Dict[str, Dict[str, float]]
    calibration_rows: int
    clamped_inputs: int = 0
    clamped_targets: int = 0
    baseline_series: List[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """The file's base name."""
        return os.path.basename(self.path)

    @property
    def steps(self) -> int:
        """Learner steps T."""
        return int(self.x.shape[0])

    @property
    def d(self) -> int:
        return int(self.x.shape[1])

    @property
    def k(self) -> int:
        return int(self.target.shape[1])

    @property
    def source(self) -> str:
        """One line: the file, the task and the columns."""
        task = (f"forecast {', '.join(self.targets)} {self.horizon} step(s) ahead"
                if self.mode == "forecast" else f"regression of {', '.join(self.targets)} at each step")
        return f"{self.path}: {task} from {', '.join(self.inputs)}"

    def clamp_warning(self) -> Optional[str]:
        """The loud one-line warning when values would clamp in fixed point, else None."""
        if not (self.clamped_inputs or self.clamped_targets):
            return None
        total_x, total_t = self.x.size, self.target.size
        return (f"{self.path}: after normalisation {self.clamped_inputs} of {total_x} input values "
                f"and {self.clamped_targets} of {total_t} target values lie beyond +-{CLAMP_LIMIT:.0f}, "
                "where the fixed-point learner (--board host and boards) clamps them; the "
                f"normalisation comes from the first {self.calibration_rows} rows only: check "
                "that they are typical of the whole file")

    def summary(self) -> Dict[str, Any]:
        """JSON-able description for a run's summary (file, columns, normalisation, clamps)."""
        return {
            "file": self.path, "mode": self.mode, "inputs": list(self.inputs),
            "targets": list(self.targets), "horizon": self.horizon,
            "normalization": {"columns": {k: dict(v) for k, v in self.normalization.items()},
                              "from": f"median and 5-95% range of the first {self.calibration_rows} "
                                      "rows (10 %) of the stream, per column"},
            "clamped_inputs": self.clamped_inputs, "clamped_targets": self.clamped_targets,
            "clamp_limit": CLAMP_LIMIT,
        }


def _normalize(table: Table, cols: Sequence[int], rows: int,
               norm: Dict[str, Dict[str, float]]) -> np.ndarray:
    """Columns ``cols`` of the first ``rows`` rows, each normalised from its own first 10 %."""
    out = np.empty((rows, len(cols)), dtype=np.float64)
    for i, j in enumerate(cols):
        raw = table.values[:rows, j]
        name = table.names[j]
        try:
            offset, scale = causal_normalization(raw)
        except PyrtrlError:
            raise PyrtrlError(f"{table.path}: column {name!r} is constant over its first "
                              f"{calibration_length(rows)} rows; cannot normalise it (leave it out "
                              "with --inputs/--targets)") from None
        norm[name] = {"offset": offset, "scale": scale}
        out[:, i] = (raw - offset) / scale
    return out


def load_stream(path: PathLike, inputs: Optional[str] = None, targets: Optional[str] = None,
                horizon: int = 1, max_steps: Optional[int] = None) -> DataStream:
    """Read a data file and build the stream a run learns from.

    Parameters
    ----------
    path : path
        ``.csv``, ``.npy`` or ``.npz`` (:func:`load_table`).
    inputs : str, optional
        Comma-separated column names or 0-based indices fed to the model (default: all).
    targets : str, optional
        Columns to learn at each step (supervised regression). Default: forecast the input
        columns ``horizon`` steps ahead.
    horizon : int
        Forecasting horizon H >= 1; must be 1 with ``targets``.
    max_steps : int, optional
        Use only the first rows needed for this many learner steps; the normalisation then
        comes from the first 10 % of those rows (as :func:`pyrtrl.data.signals.load_signal`).

    Returns
    -------
    DataStream

    Raises
    ------
    PyrtrlError
        Anything :func:`load_table` and :func:`select_columns` raise; a file too short for
        the horizon or for ``max_steps``; a column constant over the calibration rows.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.npy")
    >>> np.save(p, np.sin(np.arange(100) / 5.0))
    >>> s = load_stream(p, horizon=2)
    >>> s.mode, s.d, s.k, s.steps, s.truth.shape
    ('forecast', 1, 1, 99, (98, 1))
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise PyrtrlError(f"horizon must be an integer >= 1, got {horizon!r}")
    horizon = int(horizon)
    table = load_table(path)
    p = table.path
    icols = select_columns(table, inputs, "--inputs")
    regression = targets is not None and bool(str(targets).strip())
    tcols = select_columns(table, targets, "--targets") if regression else list(icols)
    if regression and horizon != 1:
        raise PyrtrlError(f"--horizon {horizon} forecasts the inputs; with --targets the target at "
                          "step t is those columns at step t (drop --horizon or --targets)")
    extra = 0 if regression else 1  # forecasting needs the next row as the last target
    rows = table.rows
    if max_steps is not None:
        if isinstance(max_steps, bool) or int(max_steps) != max_steps or max_steps < 1:
            raise PyrtrlError(f"steps must be a positive integer, got {max_steps!r}")
        if rows < max_steps + extra:
            raise PyrtrlError(f"{p}: too few rows for {max_steps} steps: {rows} rows give "
                              f"{rows - extra} step(s)")
        rows = int(max_steps) + extra
    T = rows - extra
    if T < horizon + 1 or T < 2:
        raise PyrtrlError(f"{p}: too few rows: {rows} rows give {T} step(s), need at least "
                          f"{max(2, horizon + 1)} for horizon {horizon}")
    norm: Dict[str, Dict[str, float]] = {}
    xs = _normalize(table, icols, rows, norm)
    if regression:
        ys = _normalize(table, tcols, rows, norm)
        x, target, truth = xs, ys, ys
        naive = np.vstack([np.zeros((1, ys.shape[1])), ys[:-1]])
        # the target's own past as the baselines' signal: s = [0, y_0, ..., y_{T-1}], H = 1
        series = [np.concatenate([[0.0], ys[:, i]]) for i in range(ys.shape[1])]
    else:
        x, target = xs[:-1], xs[1:]
        truth = xs[horizon:horizon + T - horizon + 1]
        naive = xs[: T - horizon + 1]
        series = [xs[:, i].copy() for i in range(xs.shape[1])]
    limit = CLAMP_LIMIT
    return DataStream(
        path=p, mode="regression" if regression else "forecast",
        inputs=[table.names[j] for j in icols], targets=[table.names[j] for j in tcols],
        horizon=horizon, x=np.ascontiguousarray(x), target=np.ascontiguousarray(target),
        truth=np.ascontiguousarray(truth), naive=np.ascontiguousarray(naive), normalization=norm,
        calibration_rows=calibration_length(rows),
        clamped_inputs=int(np.count_nonzero(np.abs(x) > limit)),
        clamped_targets=int(np.count_nonzero(np.abs(target) > limit)),
        baseline_series=series,
    )


def stream_baselines(stream: DataStream, last_fraction: float = 0.2) -> Dict[str, Any]:
    """The online baselines (:func:`pyrtrl.core.baselines.forecast_baselines`) per target channel,
    combined: each baseline's ``mse_last`` is the mean over channels of its per-channel MSE
    (hyperparameters chosen per channel, ``chosen`` is channel 0's), so it compares with a
    learner's mean squared error over channels; ``channels``
    holds every channel's summary; ``prediction`` and ``target`` are (forecasts, k) arrays.

    Forecasting: each target column forecast H steps ahead from its own past. Regression:
    each target column at step t forecast from its own values up to t - 1 (the targets the
    learner has been given), naive = the previous target.
    """
    from ..core.baselines import BASELINES, baselines_summary, forecast_baselines

    h = stream.horizon if stream.mode == "forecast" else 1
    per = [forecast_baselines(s, h, last_fraction) for s in stream.baseline_series]
    if len(per) == 1:
        return per[0]
    out: Dict[str, Any] = {k: per[0][k] for k in ("horizon", "forecasts", "last_steps", "last_fraction",
                                                  "learn_first", "target")}
    naive = float(np.mean([r["naive"]["mse_last"] for r in per]))
    for name in BASELINES:
        mse = float(np.mean([r[name]["mse_last"] for r in per]))
        out[name] = dict(per[0][name], mse_last=mse,
                         ratio_to_naive_last=mse / naive if naive > 0 else None,
                         chosen=per[0][name]["chosen"], candidates={},
                         chosen_per_channel=[r[name]["chosen"] for r in per],
                         prediction=np.column_stack([r[name]["prediction"] for r in per]))
    out["target"] = np.column_stack([r["target"] for r in per])
    out["channels"] = {t: baselines_summary(r) for t, r in zip(stream.targets, per)}
    return out


# -- in a run directory -------------------------------------------------------------------
#: The stream of a ``--data`` run, saved in its run directory for the report.
STREAM_FILE = "stream.npz"


def save_stream(run_dir: PathLike, stream: DataStream) -> str:
    """Write ``stream.npz`` (x, target, truth, naive, column names, mode, horizon) into a run
    directory, so that the report recomputes the float learner and the baselines on the
    very stream the run learned."""
    path = os.path.join(os.fspath(run_dir), STREAM_FILE)
    np.savez(path, x=stream.x, target=stream.target, truth=stream.truth, naive=stream.naive,
             inputs=np.array(stream.inputs, dtype=str), targets=np.array(stream.targets, dtype=str),
             mode=np.array(stream.mode), horizon=np.int64(stream.horizon), path=np.array(stream.path),
             series=np.array(stream.baseline_series))
    return path


def load_run_stream(run_dir: PathLike) -> Optional[Dict[str, Any]]:
    """A run directory's ``stream.npz`` as a dict (None for runs of a built-in signal)."""
    path = os.path.join(os.fspath(run_dir), STREAM_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise PyrtrlError(f"{path}: cannot read: {' '.join(str(e).split())}") from None
    out["inputs"] = [str(v) for v in out["inputs"]]
    out["targets"] = [str(v) for v in out["targets"]]
    out["mode"] = str(out["mode"])
    out["horizon"] = int(out["horizon"])
    return out


def run_stream_baselines(saved: Dict[str, Any], last_fraction: float = 0.2) -> Dict[str, Any]:
    """:func:`stream_baselines` for a stream read back by :func:`load_run_stream`."""
    s = DataStream(path=str(saved["path"]), mode=saved["mode"], inputs=saved["inputs"],
                   targets=saved["targets"], horizon=saved["horizon"], x=saved["x"],
                   target=saved["target"], truth=saved["truth"], naive=saved["naive"],
                   normalization={}, calibration_rows=0,
                   baseline_series=[np.asarray(v) for v in saved["series"]])
    return stream_baselines(s, last_fraction)


# -- labelled sequences -------------------------------------------------------------------
#: Arrays of a labelled-sequences ``.npz`` (``pyrtrl run --data seqs.npz``).
SEQUENCE_ARRAYS: tuple = ("X", "y", "X_test", "y_test")


@dataclass
class LabelledSequences:
    """Labelled sequences for classification (:func:`load_sequences`).

    Attributes
    ----------
    path : str
        The ``.npz`` file.
    X, X_test : ndarray (N, T, d) float64
        Training and test sequences, normalised per channel from the training set
        (``X_test`` has N = 0 when the file has none).
    y, y_test : ndarray (N,) int64
        Their classes, 0 .. k - 1.
    k : int
        Number of classes: the largest label + 1 (the model's outputs).
    normalization : dict
        Channel name (``"0"`` ...) -> ``{"offset", "scale"}``; raw = offset + scale * normalised.
    clamped : int
        Normalised values beyond +-:data:`CLAMP_LIMIT` (clamped by the fixed-point learner).
    """

    path: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    k: int
    normalization: Dict[str, Dict[str, float]]
    clamped: int = 0
    #: what the file says it holds (its optional string array ``source``, as
    #: :func:`pyrtrl.data.datasets.export_labelled` writes), else None
    description: Optional[str] = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def d(self) -> int:
        return int(self.X.shape[2])

    @property
    def has_test(self) -> bool:
        return int(self.X_test.shape[0]) > 0

    @property
    def source(self) -> str:
        """One line: the file, the sets and their sizes."""
        test = (f", {self.X_test.shape[0]} test sequences of {self.X_test.shape[1]} steps"
                if self.has_test else ", no test set")
        what = f" ({self.description})" if self.description else ""
        return (f"{self.path}{what}: {self.X.shape[0]} training sequences of {self.X.shape[1]} steps x "
                f"{self.d} channel(s){test}, {self.k} classes")

    def clamp_warning(self) -> Optional[str]:
        """The loud one-line warning when values would clamp in fixed point, else None."""
        if not self.clamped:
            return None
        total = self.X.size + self.X_test.size
        return (f"{self.path}: after normalisation {self.clamped} of {total} values lie beyond "
                f"+-{CLAMP_LIMIT:.0f}, where the fixed-point learner (--board host and boards) clamps them")

    def summary(self) -> Dict[str, Any]:
        """JSON-able description for a run's summary."""
        return {
            "file": self.path, "description": self.description, "mode": "classification",
            "train_sequences": int(self.X.shape[0]),
            "test_sequences": int(self.X_test.shape[0]), "steps_per_sequence": int(self.X.shape[1]),
            "channels": self.d, "classes": self.k,
            "class_counts_train": np.bincount(self.y, minlength=self.k).tolist(),
            "class_counts_test": np.bincount(self.y_test, minlength=self.k).tolist(),
            "normalization": {"columns": {c: dict(v) for c, v in self.normalization.items()},
                              "from": "median and 5-95% range of every training value, per channel"},
            "clamped": self.clamped, "clamp_limit": CLAMP_LIMIT,
        }


def is_labelled(path: PathLike) -> bool:
    """True for an ``.npz`` holding an array ``y`` (labelled sequences, :func:`load_sequences`)."""
    p = os.fspath(path)
    if not (p.lower().endswith(".npz") and os.path.isfile(p)):
        return False
    try:
        with np.load(p, allow_pickle=False) as z:
            return "y" in z.files
    except (OSError, ValueError, EOFError):
        return False  # load_table says what is wrong with it


def _sequences(p: str, name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise PyrtrlError(f"{p}: {name} holds {a.dtype} values, expected numbers")
    if a.ndim == 2:  # N x T: one channel
        a = a[:, :, None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise PyrtrlError(f"{p}: {name} has shape {a.shape}, expected (N sequences, T steps, d channels) "
                          "or (N, T)")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        i, t, c = (int(v) for v in np.argwhere(bad)[0])
        what = "NaN" if math.isnan(a[i, t, c]) else "Inf"
        raise PyrtrlError(f"{p}: {what} in {name} at sequence {i}, step {t}, channel {c} "
                          f"({int(bad.sum())} non-finite value(s) in all)")
    return a


def _labels(p: str, name: str, a: np.ndarray, n: int, xname: str) -> np.ndarray:
    if a.ndim != 1 or a.shape[0] != n:
        raise PyrtrlError(f"{p}: {name} has shape {a.shape}, expected ({n},): one class per sequence of {xname}")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PyrtrlError(f"{p}: {name} must hold integer classes; {name}[{i}] is {float(a[i]):g}")
    elif a.dtype.kind not in "iu":
        raise PyrtrlError(f"{p}: {name} must hold integer classes, got {a.dtype}")
    a = a.astype(np.int64)
    if (a < 0).any():
        i = int(np.flatnonzero(a < 0)[0])
        raise PyrtrlError(f"{p}: {name} must hold classes 0, 1, ...; {name}[{i}] is {a[i]}")
    return a


def load_sequences(path: PathLike) -> LabelledSequences:
    """Read labelled sequences: an ``.npz`` with ``X`` (N x T x d, or N x T for one channel)
    and ``y`` (N,) integer classes 0 .. k - 1, optionally ``X_test`` and ``y_test``.

    Every channel is normalised by the median and robust spread (5-95 % range / 3.29) of
    all its training values; the test set is normalised with the same numbers.

    Raises
    ------
    PyrtrlError
        One line naming the file: not an ``.npz``, missing ``X`` or ``y``, wrong shapes, a
        test set of another channel count or with only one of its arrays, non-integer or
        negative classes, NaN or Inf (with its sequence, step and channel), fewer than two
        classes in ``y``, a channel constant over the training set.
    """
    from .signals import robust_offset_scale

    p = os.fspath(path)
    if not p.lower().endswith(".npz"):
        raise PyrtrlError(f"{p}: labelled sequences are read from an .npz with X (N x T x d) and y (N,)")
    if not os.path.isfile(p):
        raise PyrtrlError(f"{p}: no such file")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in SEQUENCE_ARRAYS}
            files = list(z.files)
            src = z["source"] if "source" in z.files else None
    except (OSError, ValueError, EOFError) as e:
        raise PyrtrlError(f"{p}: cannot read as .npz: {' '.join(str(e).split())[:120]}") from None
    description = str(src) if src is not None and src.dtype.kind == "U" and src.ndim == 0 else None
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise PyrtrlError(f"{p}: labelled sequences need arrays X and y; missing {' and '.join(missing)} "
                          f"(found {', '.join(files) or 'none'})")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise PyrtrlError(f"{p}: X_test and y_test go together; found only "
                          f"{'X_test' if 'X_test' in arrays else 'y_test'}")
    X = _sequences(p, "X", arrays["X"])
    y = _labels(p, "y", arrays["y"], X.shape[0], "X")
    if "X_test" in arrays:
        Xt = _sequences(p, "X_test", arrays["X_test"])
        if Xt.shape[2] != X.shape[2]:
            raise PyrtrlError(f"{p}: X_test has {Xt.shape[2]} channel(s), X has {X.shape[2]}")
        yt = _labels(p, "y_test", arrays["y_test"], Xt.shape[0], "X_test")
    else:
        Xt, yt = np.zeros((0,) + X.shape[1:]), np.zeros(0, dtype=np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise PyrtrlError(f"{p}: too few classes: y holds only class {int(classes[0])}; "
                          "classification needs at least 2")
    k = int(max(y.max(), yt.max() if yt.size else 0)) + 1
    norm: Dict[str, Dict[str, float]] = {}
    for c in range(X.shape[2]):
        offset, scale = robust_offset_scale(
            X[:, :, c].ravel(), f"{p}: channel {c} of X is constant over the training set; "
            "cannot normalise it")
        norm[str(c)] = {"offset": offset, "scale": scale}
        X[:, :, c] = (X[:, :, c] - offset) / scale
        Xt[:, :, c] = (Xt[:, :, c] - offset) / scale
    clamped = int(np.count_nonzero(np.abs(X) > CLAMP_LIMIT) + np.count_nonzero(np.abs(Xt) > CLAMP_LIMIT))
    return LabelledSequences(p, np.ascontiguousarray(X), y, np.ascontiguousarray(Xt), yt, k, norm, clamped,
                             description)
