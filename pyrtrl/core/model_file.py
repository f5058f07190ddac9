"""Model files: one ``.npz`` archive per :class:`~pyrtrl.core.model.EGRU`.

This ``.npz`` is the interchange format for every later tool (C export, firmware
images, reports): they all read models through :func:`load_model` and nothing else.

Layout (``np.savez``, no pickled objects):

* one array per name in :data:`~pyrtrl.core.model.PARAMS` (``W_u`` ... ``b_o``), all of
  one dtype, float32 or float64;
* ``mask_<NAME>`` boolean arrays for the six names in :data:`~pyrtrl.core.model.MASKED`;
* ``gamma`` and ``eps``, 0-d float64 arrays;
* optionally ``readout`` (0-d integer: 0 = events y, 1 = state c) and ``taps`` (0-d
  integer, input taps of the readout); files without them read as y and 0, the readout
  every model had before they existed.

Nothing else may be in the archive.
"""

from __future__ import annotations

import os
import secrets
import zipfile
from typing import Dict, List, Union

import numpy as np

from ..errors import PyrtrlError
from .model import EGRU, MASKED, MAX_TAPS, PARAMS, READOUT_SOURCES

PathLike = Union[str, "os.PathLike[str]"]

#: Prefix of the mask arrays in a model file.
MASK_PREFIX = "mask_"
#: The two pseudo-derivative scalars stored as 0-d arrays.
SCALARS: tuple[str, ...] = ("gamma", "eps")
#: Every array in a model file, in the order they are written.
FILE_KEYS: tuple[str, ...] = PARAMS + tuple(MASK_PREFIX + name for name in MASKED) + SCALARS
#: Readout description, 0-d integers; optional (absent = events y, no taps).
READOUT_KEYS: tuple[str, ...] = ("readout", "taps")


def _one_line(text: object) -> str:
    """``text`` as a single line (exception messages may span several)."""
    return " ".join(str(text).split())


def save_model(path: PathLike, model: EGRU) -> None:
    """Write ``model`` to ``path`` as a ``.npz`` model file.

    The file is written exactly at ``path`` (no ``.npz`` suffix is appended) and
    atomically: the archive goes to a temporary file in the same directory, is flushed
    to disk and then renamed over ``path``, so a crash leaves either the old file or
    the complete new one, never half a model.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    model : EGRU
        The model to save; it is validated first.

    Raises
    ------
    PyrtrlError
        If the model is invalid or the file cannot be written (one line, naming
        ``path``).
    """
    label = os.fspath(path)
    try:
        model.validate()
    except PyrtrlError as e:
        raise PyrtrlError(f"{label}: cannot save invalid model: {e}") from None

    arrays: Dict[str, np.ndarray] = {}
    for name in PARAMS:
        arrays[name] = np.asarray(model.params[name])
    for name in MASKED:
        arrays[MASK_PREFIX + name] = np.asarray(model.masks[name], dtype=np.bool_)
    arrays["gamma"] = np.array(float(model.gamma), dtype=np.float64)
    arrays["eps"] = np.array(float(model.eps), dtype=np.float64)
    arrays["readout"] = np.array(READOUT_SOURCES.index(model.readout), dtype=np.int64)
    arrays["taps"] = np.array(int(model.taps), dtype=np.int64)

    directory = os.path.dirname(os.path.abspath(label))
    base = os.path.basename(label)
    tmp = ""
    try:
        # O_EXCL with a random name instead of mkstemp so the final file gets the
        # usual umask-derived permissions rather than mkstemp's 0600.
        for _ in range(100):
            tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 collisions of 48 random bits
            tmp = ""
            raise PyrtrlError(f"{label}: cannot create a temporary file in {directory}")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, label)
        tmp = ""
    except OSError as e:
        raise PyrtrlError(f"{label}: cannot write model file: {_one_line(e.strerror or e)}") from None
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_arrays(label: str, path: PathLike) -> Dict[str, object]:
    """Every member of the archive at ``path``, read fully into memory."""
    if not os.path.exists(path):
        raise PyrtrlError(f"{label}: no such file")
    if os.path.isdir(path):
        raise PyrtrlError(f"{label}: is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            if not zipfile.is_zipfile(f):
                raise PyrtrlError(f"{label}: not an .npz model file (not a zip archive)")
            f.seek(0)
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):  # pragma: no cover - zip checked above
                raise PyrtrlError(f"{label}: not an .npz model file")
            with z:
                return {name: z[name] for name in z.files}
    except PyrtrlError:
        raise
    except OSError as e:
        raise PyrtrlError(f"{label}: cannot read model file: {_one_line(e.strerror or e)}") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise PyrtrlError(
                f"{label}: holds pickled object arrays, which model files never contain"
            ) from None
        raise PyrtrlError(f"{label}: corrupt .npz model file (ValueError: {_one_line(e)})") from None
    except Exception as e:  # zipfile, zlib, numpy header and allocation errors on bad bytes
        raise PyrtrlError(
            f"{label}: corrupt .npz model file ({type(e).__name__}: {_one_line(e)})"
        ) from None


def _native(a: np.ndarray) -> np.ndarray:
    """``a`` in native byte order and C layout."""
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    return np.asarray(a, order="C")  # not ascontiguousarray: that makes 0-d arrays 1-d


def load_model(path: PathLike) -> EGRU:
    """Read and fully check a model file written by :func:`save_model`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` model file.

    Returns
    -------
    EGRU
        The model, with parameters in the file's dtype (float32 or float64).

    Raises
    ------
    PyrtrlError
        One line, starting with ``path``, naming the problem: missing or unreadable
        file, corrupt archive, missing or unknown arrays, wrong dtypes or shapes,
        non-finite values, weights that are nonzero where their mask is False,
        thresholds outside [0, 1] or invalid ``gamma``/``eps``.
    """
    label = os.fspath(path)
    raw = _read_arrays(label, path)

    # -- names ---------------------------------------------------------------------------
    missing = [key for key in FILE_KEYS if key not in raw]
    extra = sorted(set(raw) - set(FILE_KEYS) - set(READOUT_KEYS))
    problems: List[str] = []
    if missing:
        problems.append(f"missing array(s): {', '.join(missing)}")
    if extra:
        problems.append(f"unknown array(s): {', '.join(extra)}")
    if problems:
        raise PyrtrlError(f"{label}: {'; '.join(problems)}")
    for key in FILE_KEYS:
        if not isinstance(raw[key], np.ndarray):
            raise PyrtrlError(f"{label}: member {key} is not a numpy array")
    arrays: Dict[str, np.ndarray] = {key: _native(raw[key]) for key in FILE_KEYS}  # type: ignore[arg-type]

    # -- dtypes --------------------------------------------------------------------------
    for name in PARAMS:
        dt = arrays[name].dtype
        if dt not in (np.float32, np.float64):
            raise PyrtrlError(f"{label}: parameter {name} has dtype {dt}, expected float32 or float64")
    groups: Dict[str, List[str]] = {}
    for name in PARAMS:
        groups.setdefault(str(arrays[name].dtype), []).append(name)
    if len(groups) > 1:
        ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
        major, major_names = ordered[0]
        rest = "; ".join(f"{dt}: {', '.join(names)}" for dt, names in ordered[1:])
        raise PyrtrlError(
            f"{label}: parameters must share one dtype, {len(major_names)} are {major} but {rest}"
        )
    for name in MASKED:
        key = MASK_PREFIX + name
        dt = arrays[key].dtype
        if dt != np.bool_:
            raise PyrtrlError(f"{label}: {key} has dtype {dt}, expected bool")
    for key in SCALARS:
        a = arrays[key]
        if a.ndim != 0 or a.dtype.kind != "f":
            raise PyrtrlError(
                f"{label}: {key} must be a 0-d float array, got shape {a.shape} dtype {a.dtype}"
            )

    readout = {"readout": 0, "taps": 0}
    for key in READOUT_KEYS:
        if key not in raw:
            continue
        a = _native(raw[key]) if isinstance(raw[key], np.ndarray) else None
        if a is None or a.ndim != 0 or a.dtype.kind not in "iu":
            raise PyrtrlError(f"{label}: {key} must be a 0-d integer array")
        readout[key] = int(a)
    if not (0 <= readout["readout"] < len(READOUT_SOURCES)):
        raise PyrtrlError(f"{label}: readout must be 0 (events y) or 1 (state c), got {readout['readout']}")
    if not (0 <= readout["taps"] <= MAX_TAPS):
        raise PyrtrlError(f"{label}: taps must be in [0, {MAX_TAPS}], got {readout['taps']}")
    taps = readout["taps"]

    # -- shapes --------------------------------------------------------------------------
    for name, ndim in (("b_u", 1), ("W_u", 2), ("b_o", 1)):
        if arrays[name].ndim != ndim:
            raise PyrtrlError(
                f"{label}: parameter {name} must have {ndim} dimension(s), got shape {arrays[name].shape}"
            )
    n, d, k = arrays["b_u"].shape[0], arrays["W_u"].shape[1], arrays["b_o"].shape[0]
    want: Dict[str, tuple] = {}
    for name in PARAMS:
        if name in MASKED:
            want[name] = (n, d) if name[0] == "W" else (n, n)
        elif name == "W_o":
            want[name] = (k, n + taps * d)
        elif name == "b_o":
            want[name] = (k,)
        else:
            want[name] = (n,)
    for name in PARAMS:
        if arrays[name].shape != want[name]:
            raise PyrtrlError(
                f"{label}: parameter {name} has shape {arrays[name].shape}, expected {want[name]}"
            )
    for name in MASKED:
        key = MASK_PREFIX + name
        if arrays[key].shape != want[name]:
            raise PyrtrlError(f"{label}: {key} has shape {arrays[key].shape}, expected {want[name]}")

    # -- values (finiteness, masks, thresholds, gamma/eps) via EGRU.validate -------------
    params = {name: arrays[name] for name in PARAMS}
    masks = {name: arrays[MASK_PREFIX + name] for name in MASKED}
    try:
        return EGRU(params, masks, float(arrays["gamma"]), float(arrays["eps"]),
                    READOUT_SOURCES[readout["readout"]], taps)
    except PyrtrlError as e:
        raise PyrtrlError(f"{label}: {_one_line(e)}") from None
