"""Labelled sequence data sets shipped inside installed packages: real time-series
classification problems of the UCR/UEA archive, read from the ``.ts`` files that sktime
(or aeon) carries in its wheel, without importing it (a large package: the files are
data) and without any download.

``pip install 'pyrtrl[ucr]'`` brings sktime. :func:`load_dataset` returns the training and
test sets as arrays; :func:`export_labelled` writes them as the labelled ``.npz`` that
``pyrtrl run --data FILE`` reads (:func:`pyrtrl.data.files.load_sequences`), normalised per
channel from the training set; ``pyrtrl dataset NAME -o FILE.npz`` is the same from the
command line, and ``pyrtrl run --data NAME`` runs a bundled set directly.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import PyrtrlError

PathLike = Union[str, "os.PathLike[str]"]

#: Packages that ship the archive's ``.ts`` files, searched in this order, and where.
PROVIDERS: Tuple[Tuple[str, str], ...] = (("sktime", "datasets/data"), ("aeon", "datasets/data"))

#: The bundled sets pyrtrl offers: name -> one line (equal-length sets with a class label).
DATASETS: Dict[str, str] = {
    "ItalyPowerDemand": "Italian electricity demand over one day (24 hourly values): October-March "
                        "or April-September; 67 training and 1029 test days, 2 classes",
    "GunPoint": "hand position (x) of an actor drawing a gun or pointing, 150 steps; 50 training "
                "and 150 test sequences, 2 classes",
    "ArrowHead": "outlines of arrowheads as 251-step series; 36 training and 175 test, 3 classes",
    "BasicMotions": "accelerometer and gyroscope (6 channels, 100 steps) of standing, walking, "
                    "running, badminton; 40 training and 40 test, 4 classes",
}


@dataclass
class Dataset:
    """A labelled sequence set read from a package.

    Attributes
    ----------
    name : str
        The archive's name (``ItalyPowerDemand``).
    X, X_test : ndarray (N, T, d) float64
        Training and test sequences as stored (not normalised).
    y, y_test : ndarray (N,) int64
        Classes 0 .. k - 1, in the order of the file's ``@classLabel`` line.
    class_names : list of str
        The file's label of each class.
    source : str
        One line: the files read and the package that shipped them.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: List[str]
    source: str


def _canonical(name: str) -> str:
    for n in DATASETS:
        if n.lower() == name.lower():
            return n
    raise PyrtrlError(f"unknown data set {name!r}; bundled sets: {', '.join(DATASETS)}")


def is_dataset_name(name: str) -> bool:
    """True if ``name`` is one of :data:`DATASETS` (any letter case)."""
    return any(n.lower() == name.lower() for n in DATASETS)


def data_dir(name: str) -> Tuple[str, str]:
    """(directory holding ``NAME_TRAIN.ts`` and ``NAME_TEST.ts``, providing package) from the
    first installed package of :data:`PROVIDERS` that has them; found with
    ``importlib.util.find_spec``, nothing imported. One-line error if none has them."""
    name = _canonical(name)
    for pkg, sub in PROVIDERS:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            d = os.path.join(root, *sub.split("/"), name)
            if all(os.path.isfile(os.path.join(d, f"{name}_{part}.ts")) for part in ("TRAIN", "TEST")):
                return d, pkg
    raise PyrtrlError(f"data set {name!r} is read from the sktime package, which ships it "
                      "(pip install 'pyrtrl[ucr]' or pip install sktime; aeon works too); none is installed")


def read_ts(path: PathLike) -> Tuple[np.ndarray, List[str], List[str]]:
    """Read an equal-length, classification ``.ts`` file (sktime/aeon format).

    Header lines start with ``@`` (``@classLabel true A B ...`` names the classes), ``#``
    lines are comments; after ``@data`` each line is one case: its channels separated by
    ``:``, values within a channel by ``,``, the class label last.

    Returns
    -------
    X : ndarray (N, T, d) float64
    labels : list of str
        Each case's label as written.
    class_names : list of str
        From ``@classLabel`` (the order classes are numbered in), or the labels in order of
        appearance if the header has none.

    Raises
    ------
    PyrtrlError
        One line naming the file and the line: missing ``@data``, missing values (``?``),
        a non-number, cases of different lengths or channel counts, a label not declared.
    """
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise PyrtrlError(f"{p}: cannot read: {e.strerror or e}") from None
    declared: Optional[List[str]] = None
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        low = s.lower()
        if low.startswith("@classlabel"):
            parts = s.split()
            if len(parts) >= 2 and parts[1].lower() == "true":
                declared = parts[2:]
        elif low.startswith("@data"):
            start = i + 1
            break
        elif low.startswith("@targetlabel true"):
            raise PyrtrlError(f"{p}: a regression set (@targetLabel), not classification")
    if start is None:
        raise PyrtrlError(f"{p}: no @data line: not a .ts file")
    cases: List[np.ndarray] = []
    labels: List[str] = []
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split(":")
        if len(parts) < 2:
            raise PyrtrlError(f"{p}, line {i + 1}: expected channels and a label separated by ':'")
        try:
            chans = [np.array([float(v) for v in c.split(",")]) for c in parts[:-1]]
        except ValueError:
            bad = next(v for c in parts[:-1] for v in c.split(",") if not _is_float(v))
            raise PyrtrlError(f"{p}, line {i + 1}: {bad.strip()!r} is not a number"
                              + (" (missing values are not supported)" if bad.strip() == "?" else "")) from None
        if len({c.size for c in chans}) != 1:
            raise PyrtrlError(f"{p}, line {i + 1}: channels of different lengths "
                              f"({', '.join(str(c.size) for c in chans)}): only equal-length sets are supported")
        case = np.stack(chans, axis=1)
        if cases and case.shape != cases[0].shape:
            raise PyrtrlError(f"{p}, line {i + 1}: {case.shape[0]} steps x {case.shape[1]} channel(s), "
                              f"the first case has {cases[0].shape[0]} x {cases[0].shape[1]}: only "
                              "equal-length sets are supported")
        if not np.isfinite(case).all():
            raise PyrtrlError(f"{p}, line {i + 1}: NaN or Inf (missing values are not supported)")
        cases.append(case)
        labels.append(parts[-1].strip())
    if not cases:
        raise PyrtrlError(f"{p}: no cases after @data")
    names = declared if declared else list(dict.fromkeys(labels))
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise PyrtrlError(f"{p}: label(s) {', '.join(unknown[:5])} not declared in @classLabel "
                          f"({' '.join(names)})")
    return np.stack(cases).astype(np.float64), labels, list(names)


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def load_dataset(name: str) -> Dataset:
    """The training and test sets of bundled data set ``name`` (see :data:`DATASETS`), read
    from the installed package's ``NAME_TRAIN.ts`` and ``NAME_TEST.ts``; classes numbered in
    the training file's ``@classLabel`` order."""
    name = _canonical(name)
    d, pkg = data_dir(name)
    tr, te = (os.path.join(d, f"{name}_{part}.ts") for part in ("TRAIN", "TEST"))
    X, lab, names = read_ts(tr)
    Xt, lab_t, names_t = read_ts(te)
    if Xt.shape[1:] != X.shape[1:]:
        raise PyrtrlError(f"{te}: cases of {Xt.shape[1]} steps x {Xt.shape[2]} channel(s), the training set's "
                          f"{X.shape[1]} x {X.shape[2]}")
    extra = [n for n in names_t if n not in names]
    if extra:
        raise PyrtrlError(f"{te}: class(es) {', '.join(extra)} not in the training file")
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[v] for v in lab], dtype=np.int64)
    yt = np.array([index[v] for v in lab_t], dtype=np.int64)
    try:
        from importlib.metadata import version

        ver = f" {version(pkg)}"
    except Exception:  # noqa: BLE001 - the version is only for the record
        ver = ""
    source = (f"{name} (UCR/UEA time-series classification archive) from {pkg}{ver}'s "
              f"{os.path.basename(tr)} and {os.path.basename(te)}")
    return Dataset(name, X, y, Xt, yt, names, source)


def normalise_channels(X: np.ndarray, X_test: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, X_test, offsets, scales) with every channel normalised by the median and robust
    spread of all its training values (:func:`pyrtrl.data.signals.robust_offset_scale`, as
    :func:`pyrtrl.data.files.load_sequences` does); the test set with the training numbers."""
    from .signals import robust_offset_scale

    X, Xt = X.astype(np.float64).copy(), X_test.astype(np.float64).copy()
    d = X.shape[2]
    off, sc = np.zeros(d), np.ones(d)
    for c in range(d):
        off[c], sc[c] = robust_offset_scale(X[:, :, c].ravel(), f"channel {c} is constant over the training set")
        X[:, :, c] = (X[:, :, c] - off[c]) / sc[c]
        Xt[:, :, c] = (Xt[:, :, c] - off[c]) / sc[c]
    return X, Xt, off, sc


def export_labelled(name: str, out: PathLike) -> Dict[str, object]:
    """Write bundled data set ``name`` as a labelled ``.npz`` for ``pyrtrl run --data``:
    ``X``, ``y``, ``X_test``, ``y_test`` (normalised per channel from the training set),
    ``channel_offset``, ``channel_scale`` (raw = offset + scale * value), ``class_names``
    and ``source``. Returns a description (name, shapes, classes, file)."""
    ds = load_dataset(name)
    X, Xt, off, sc = normalise_channels(ds.X, ds.X_test)
    p = os.fspath(out)
    if not p.lower().endswith(".npz"):
        raise PyrtrlError(f"{p}: the labelled file is an .npz (give a name ending in .npz)")
    parent = os.path.dirname(os.path.abspath(p))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".{os.path.basename(p)}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, X=X, y=ds.y, X_test=Xt, y_test=ds.y_test, channel_offset=off, channel_scale=sc,
                     class_names=np.array(ds.class_names), source=np.array(ds.source))
        os.replace(tmp, p)
    except OSError as e:
        raise PyrtrlError(f"{p}: cannot write: {e.strerror or e}") from None
    return describe(ds, p)


def describe(ds: Dataset, path: Optional[str] = None) -> Dict[str, object]:
    """JSON-able sizes of a data set (and the file it was written to)."""
    return {"name": ds.name, "source": ds.source, "file": path,
            "train_sequences": int(ds.X.shape[0]), "test_sequences": int(ds.X_test.shape[0]),
            "steps": int(ds.X.shape[1]), "channels": int(ds.X.shape[2]), "classes": len(ds.class_names),
            "class_names": list(ds.class_names),
            "class_counts_train": np.bincount(ds.y, minlength=len(ds.class_names)).tolist(),
            "class_counts_test": np.bincount(ds.y_test, minlength=len(ds.class_names)).tolist()}


def available() -> List[Tuple[str, str, Optional[str]]]:
    """(name, description, providing package or None) for every set of :data:`DATASETS`."""
    rows = []
    for n, text in DATASETS.items():
        try:
            pkg: Optional[str] = data_dir(n)[1]
        except PyrtrlError:
            pkg = None
        rows.append((n, text, pkg))
    return rows


def names() -> Sequence[str]:
    return tuple(DATASETS)
