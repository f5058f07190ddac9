"""Labelled sequences: online classification with softmax cross-entropy (``pyrtrl run --data
seqs.npz`` with ``X`` and ``y``), on the host float learner, the C library, or a board.

Each training sequence starts from a reset state (``reset_state``: zero state, influence
matrix and pending gradient; weights and optimizer moments kept) and carries its label at
its last step only (-1 elsewhere), so the readout is scored and learns once per sequence,
from the exact gradient of that step's cross-entropy through the whole sequence (RTRL).
Steps without a label move nothing (no update, no optimizer moment). ``epochs`` passes go
over the training sequences in an order shuffled with the seed; the class predicted at a
sequence's last step is recorded *before* that step's update (online accuracy). The test
sequences then run without learning (``learn=False``: forward only, the weights are
checked unchanged).

On a board (``backend`` a board name, under QEMU or on ``port``) the same loop drives the
learner firmware through the telemetry protocol (:class:`DeviceLearner`): RESET before
every sequence, the sequence's samples with their labels, ``SET_LR 0`` for the test pass
and the exported learning rate after it. Then the host C library runs the same stream and
the device's weights (a DUMP) must equal its weights bit for bit, and every prediction and
loss the device reported must equal the library's.

The readout learns by gradient: an RLS readout learns squared-error targets only.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import run_defaults as D
from ..core.baselines import classification_baselines, majority_class
from ..data.files import LabelledSequences
from ..errors import PyrtrlError
from ..checks import check_float, check_int
from ..core.model import EGRU, init_egru
from ..deploy.deployment import Deployment
from ..core.model_file import load_model, save_model
from ..reporting.report import write_report
from ..reporting.run_files import (LabelledTelemetryWriter, ended_state, prepare_run_dir, run_state,
                                   write_json_atomic)

PathLike = Union[str, "os.PathLike[str]"]

#: Backends that run labelled sequences in this process; every board name runs them too.
BACKENDS: Tuple[str, ...] = ("float", "host")
#: The bundled data set a command-line run exports into its run directory (kept by the
#: run-directory preparer when it is the run's data).
DATASET_FILE = "dataset.npz"
#: Default passes over the training sequences.
EPOCHS = 5


def sequence_labels(steps: int, label: int) -> np.ndarray:
    """Per-step labels of one sequence: ``label`` at its last step, -1 (none) elsewhere."""
    lab = np.full(steps, -1, dtype=np.int64)
    lab[-1] = int(label)
    return lab


def make_learner(model: Union[EGRU, Deployment], backend: str, lr: float, optimizer: str = D.OPTIMIZER,
                 clip: float = D.CLIP, update_every: int = 1, train: str = D.TRAIN,
                 influence_bits: int = D.INFLUENCE_BITS) -> Any:
    """The classification learner of ``backend``: :class:`pyrtrl.OnlineLearner` (``"float"``,
    on a copy of ``model``) or :class:`pyrtrl.deploy.runtime.CLearner` (``"host"``), with the
    readout learning by gradient and the gradient clipped per component on both. (A board's
    learner is a :class:`DeviceLearner` on a running device.) ``model`` may be the run's
    :class:`~pyrtrl.deploy.deployment.Deployment`, which the C library then shares."""
    if backend == "float":
        from ..core.learner import OnlineLearner

        float_model = model.model if isinstance(model, Deployment) else model
        return OnlineLearner(float_model.copy(), lr=lr, optimizer=optimizer, update_every=update_every,
                             clip=clip, clip_mode="value", readout_rule="gradient", train=train)
    if backend == "host":
        from ..deploy.runtime import CLearner

        return CLearner(model, lr=lr, clip=clip, update_every=update_every,
                        influence_bits=influence_bits, readout_rule="gradient", train=train,
                        optimizer=optimizer)
    raise PyrtrlError(f"make_learner runs --board {' or '.join(BACKENDS)} in this process, got {backend!r} "
                      "(a board's learner is a DeviceLearner)")


class DeviceLearner:
    """A learner device (firmware under QEMU, a real board, or
    :class:`pyrtrl.device.client.SimulatedDevice`) driven through the telemetry protocol, with the
    classification interface of the host learners: ``reset_state`` (RESET), ``run(x,
    labels, learn)`` (SAMPLES with labels, no targets; ``learn=False`` sends ``SET_LR 0``
    first and the learning rate ``lr_q`` again before the next learning run), ``counters``
    (MACs and events of the last run, from the device's step statistics) and ``weights``
    (a DUMP: the weights image). A device that announces ``CAP_LABELLED_ONLY`` (HELLO)
    reports only the labelled steps of a sequence that ends with one (SAMPLES flag
    LABELLED_ONLY), which spares the UART one record per step.

    Parameters
    ----------
    device : pyrtrl.device.client.Device
        Started (``HELLO`` answered, ``START`` sent).
    lr_q : int
        The learning rate the firmware was built with (Q24, ``fixed_config(...).lr_q``).
    k : int
        Outputs (classes).
    """

    def __init__(self, device: Any, lr_q: int, k: int) -> None:
        self.device = device
        hello = device.hello_msg
        # only the labelled steps reported (their counts summed over the sequence): a
        # sequence then costs the UART one record instead of one per step
        self.labelled_only = bool(hello is not None and hello.labelled_only)
        self.lr_q = int(lr_q)
        self.k = int(k)
        self.learning = True
        self._macs = self._events = 0
        self.steps_run: List[bool] = []  # per step sent: learning on (True) or off

    def reset_state(self) -> None:
        self.device.reset()

    def set_learning(self, on: bool) -> None:
        if bool(on) != self.learning:
            self.device.set_lr(self.lr_q if on else 0)
            self.learning = bool(on)

    def run(self, x: np.ndarray, target: None = None, labels: Optional[np.ndarray] = None,
            learn: bool = True) -> SimpleNamespace:
        """One sequence on the device: ``output`` and ``loss`` as floats, from the device's
        Q16 numbers (the host library's ``CRunResult`` conversion), one row per reported
        step: every step, or with :attr:`labelled_only` the labelled ones (the last row is
        the last step's when it carries a label)."""
        from ..fixed.quantize import quantize_samples
        from ..device.protocol import records_as_float

        if target is not None:
            raise PyrtrlError("DeviceLearner runs labelled sequences (labels, no targets)")
        self.set_learning(learn)
        xq = quantize_samples(np.asarray(x, dtype=np.float64), "x")[0].astype(np.int32)
        lab = None if labels is None else np.asarray(labels, dtype=np.int16)
        quiet = self.labelled_only and lab is not None and lab.size > 0 and lab[-1] >= 0
        recs = self.device.stream(xq, None, lab, labelled_only=quiet)
        self._macs = sum(int(r.macs) for r in recs)
        self._events = sum(int(r.events) for r in recs)
        self.steps_run += [bool(learn)] * xq.shape[0]
        out, loss = records_as_float(recs, self.k)
        return SimpleNamespace(output=out, loss=loss)

    def counters(self) -> SimpleNamespace:
        return SimpleNamespace(macs=self._macs, events=self._events)

    def weights(self) -> bytes:
        return self.device.dump_weights()


def classify_sequence(learner: Any, x: np.ndarray, label: int, learn: bool = True) -> Tuple[int, float]:
    """Reset the state, run one sequence with ``label`` at its last step; the class predicted
    there (argmax of the output, before that step's update) and its cross-entropy."""
    learner.reset_state()
    r = learner.run(x, labels=sequence_labels(x.shape[0], label), learn=learn)
    return int(np.argmax(r.output[-1])), float(r.loss[-1])


def _macs(learner: Any) -> Tuple[int, int]:
    """(MACs, events) counted since the learner's last reset."""
    if hasattr(learner, "engine"):
        c = learner.engine.counters
        return int(c.macs), int(c.events)
    c = learner.counters()
    return int(c.macs), int(c.events)


def weights_of(learner: Any) -> Dict[str, np.ndarray]:
    """Copies of the learner's weights (float arrays, the C library's Q24 integers, or a
    device's weights image)."""
    if hasattr(learner, "engine"):
        return {k: v.copy() for k, v in learner.model.params.items()}
    if isinstance(learner, DeviceLearner):
        return {"image": np.frombuffer(learner.weights(), dtype=np.uint8).copy()}
    s = learner.snapshot()
    return {"theta": s.theta, "w_o": s.w_o, "b_o": s.b_o}


def evaluate(learner: Any, X: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Predicted classes and cross-entropies of every sequence, without learning."""
    preds = np.empty(len(y), dtype=np.int64)
    losses = np.empty(len(y))
    for i in range(len(y)):
        preds[i], losses[i] = classify_sequence(learner, X[i], int(y[i]), learn=False)
    return preds, losses


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> List[List[int]]:
    """k x k counts: row = true class, column = predicted class."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m.tolist()


def tested_epochs(epochs: int, test_every: int) -> List[int]:
    """The epochs (1-based) after which the test set runs: every ``test_every``-th and the last."""
    return sorted({e for e in range(test_every, epochs + 1, test_every)} | {epochs})


def labelled_rows_total(data: LabelledSequences, epochs: int, test_every: int) -> int:
    """The rows a complete classification run writes to ``telemetry.csv``: one per training
    sequence per epoch, one per test sequence per test pass (:func:`tested_epochs`)."""
    tests = len(tested_epochs(epochs, test_every)) * len(data.y_test) if data.has_test else 0
    return epochs * len(data.y) + tests


def learn_sequences(learner: Any, data: LabelledSequences, epochs: int, seed: int,
                    test_every: int = 1, on_sequence: Optional[Callable[[], None]] = None,
                    telemetry: Optional[LabelledTelemetryWriter] = None) -> Dict[str, Any]:
    """The classification run's loop on one learner: ``epochs`` shuffled passes over the
    training sequences (learning), the test sequences without learning after the epochs of
    :func:`tested_epochs`. The same ``seed`` gives the same order on every learner, so a
    device and the host library see the same stream.

    Parameters
    ----------
    learner : object
        :func:`make_learner`'s, or a :class:`DeviceLearner`.
    data : LabelledSequences
        The training (and test) sequences.
    epochs, seed, test_every : int
        Passes, the order's seed, and which passes the test set follows.
    on_sequence : callable, optional
        Called after every training sequence (a progress bar).
    telemetry : LabelledTelemetryWriter, optional
        Gets one row per labelled step (every sequence run, training and test), as it runs.

    Returns
    -------
    dict
        ``acc_train``, ``loss_train`` (per epoch), ``acc_test``, ``loss_test`` (per epoch,
        None where not tested), ``rows`` ((epoch, set, sequence, label, predicted, repr of
        the cross-entropy) of every sequence run: two learners on the same stream agree
        exactly when these do), ``macs``, ``events``, ``train_steps``, ``unchanged`` (the
        weights were equal before and after every test pass), ``test_pred``, ``test_loss``
        (the last test pass), ``last_train`` (labels and predictions of the last epoch, in
        order).
    """
    X, y, Xt, yt = data.X, data.y, data.X_test, data.y_test
    N = len(y)
    rng = np.random.default_rng(seed)
    when = set(tested_epochs(epochs, test_every)) if data.has_test else set()
    res: Dict[str, Any] = {"acc_train": [], "loss_train": [], "acc_test": [], "loss_test": [], "rows": [],
                           "macs": 0, "events": 0, "train_steps": 0, "unchanged": True,
                           "test_pred": None, "test_loss": None}
    rows = res["rows"]
    stream_steps = [0]  # steps the learner has run, training and test

    def one(x: np.ndarray, epoch: int, learn: bool, i: int, label: int) -> Tuple[int, float, int, int]:
        pred, loss = classify_sequence(learner, x, label, learn=learn)
        m, ev = _macs(learner)
        stream_steps[0] += x.shape[0]
        rows.append((epoch, "train" if learn else "test", i, label, pred, repr(loss)))
        if telemetry is not None:
            telemetry.labelled_row(stream_steps[0] - 1, epoch, learn, i, label, pred, loss, ev, m)
        return pred, loss, m, ev

    for e in range(epochs):
        order = rng.permutation(N)
        preds = np.empty(N, dtype=np.int64)
        losses = np.empty(N)
        for j, i in enumerate(order):
            preds[j], losses[j], m, ev = one(X[i], e + 1, True, int(i), int(y[i]))
            res["macs"] += m
            res["events"] += ev
            res["train_steps"] += X.shape[1]
            if on_sequence is not None:
                on_sequence()
        res["acc_train"].append(float(np.mean(preds == y[order])))
        res["loss_train"].append(float(np.mean(losses)))
        res["last_train"] = (y[order], preds)
        if e + 1 in when:
            before = weights_of(learner)
            tp = np.empty(len(yt), dtype=np.int64)
            tl = np.empty(len(yt))
            for i in range(len(yt)):  # learning off: the weights must not move
                tp[i], tl[i], _, _ = one(Xt[i], e + 1, False, i, int(yt[i]))
            after = weights_of(learner)
            res["unchanged"] &= all(np.array_equal(before[n], after[n]) for n in before)
            res["acc_test"].append(float(np.mean(tp == yt)))
            res["loss_test"].append(float(np.mean(tl)))
            res["test_pred"], res["test_loss"] = tp, tl
        else:
            res["acc_test"].append(None)
            res["loss_test"].append(None)
    return res


def _default_hidden(backend: str, d: int, k: int, density: float, shared_mask: bool, influence_bits: int,
                    readout: str, taps: int, optimizer: str) -> int:
    """HIDDEN, or on a board the largest hidden size up to HIDDEN that fits it with this
    readout and optimizer (gradient readout)."""
    if backend in BACKENDS:
        return D.HIDDEN
    from ..deploy.budget import largest_hidden

    n = min(D.HIDDEN, largest_hidden(backend, d, k, density, shared_mask, influence_bits, taps=taps,
                                     readout=readout, readout_rule="gradient", optimizer=optimizer))
    if n < 1:
        raise PyrtrlError(f"no model with {d} input(s) and {k} outputs fits board {backend}")
    return n


def run_classification(
    data: LabelledSequences,
    backend: str = "float",
    epochs: int = EPOCHS,
    seed: int = 0,
    hidden: Optional[int] = None,
    density: float = D.DENSITY,
    eps: float = D.EPS,
    shared_mask: bool = D.SHARED_MASK,
    lr: Optional[float] = None,
    optimizer: str = D.OPTIMIZER,
    readout: str = D.READOUT,
    taps: int = D.TAPS,
    train: str = D.TRAIN,
    clip: float = D.CLIP,
    update_every: int = 1,
    influence_bits: int = D.INFLUENCE_BITS,
    model_path: Optional[PathLike] = None,
    out_dir: PathLike = "runs/latest",
    progress: bool = False,
    report: bool = True,
    test_every: Optional[int] = None,
    port: Optional[str] = None,
    timeout: float = 20.0,
) -> Dict[str, Any]:
    """Learn labelled sequences online, evaluate the test set without learning and write a
    run directory in the one schema (:mod:`pyrtrl.reporting.run_files`, ``kind``
    ``classification``): prepared by ``prepare_run_dir`` (summary ``running``, a new run
    id), ``telemetry.csv`` with one row per labelled step as the run goes, the models
    before and after, ``summary.json`` written atomically as the run's last act
    (``finished``; ``interrupted`` on Ctrl-C, SIGTERM or SIGHUP, ``failed`` with the reason
    on any error, with the rows kept), then the report (``report.md``, ``report.json``,
    ``accuracy.png``: :func:`pyrtrl.reporting.report.write_report`).

    Parameters
    ----------
    data : LabelledSequences
        From :func:`pyrtrl.data.files.load_sequences`.
    backend : str
        ``"float"`` (the float learner), ``"host"`` (the C library, fixed point) or a board
        name (:func:`pyrtrl.boards.board_names`): the learner firmware under QEMU, or on the
        real board at ``port``; its weights are then checked against the host C library's.
    epochs : int
        Passes over the training sequences (order shuffled with ``seed`` every pass).
    hidden, density, eps, shared_mask, readout, taps : model
        A fresh model with ``data.d`` inputs and ``data.k`` outputs (ignored with
        ``model_path``); ``hidden`` defaults to HIDDEN, on a board to the largest up to
        HIDDEN that fits it.
    lr, optimizer, clip, update_every, train, influence_bits :
        As for the learners; ``lr`` defaults to ``LR`` (SGD) or ``ADAM_LR`` (Adam). A board
        takes ``clip`` = CLIP and ``update_every`` = 1 (what its firmware is built with).
    report : bool
        Write the report (``report.md``, ``report.json`` and its figure).
    test_every : int, optional
        Run the test set after every ``test_every``-th epoch and after the last (default:
        every epoch on float and host; on a board only after the last, as its test pass
        costs as many device steps as the test set has).
    port : str, optional
        A real board's serial port (with a board ``backend``).
    timeout : float
        Seconds a device may stay silent.

    Returns
    -------
    dict
        The summary (``accuracy_train``: last epoch, online; ``accuracy_test``: no
        learning; ``accuracy_majority``; ``baselines`` (:func:`pyrtrl.core.baselines.classification_baselines`)
        and ``accuracy_logreg`` with a test set; per-epoch accuracies; confusion matrix; on
        a board ``weights_match_host``, ``predictions_match_host``, instructions per step).
    """
    on_board = backend not in BACKENDS
    if on_board:
        from ..boards import get_board

        get_board(backend)  # one-line error for an unknown board
    elif port:
        raise PyrtrlError(f"--port talks to a board: give --board with the board's name, not {backend}")
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    update_every = check_int("update_every", update_every, 1)
    test_every = check_int("test_every", epochs if on_board else 1, 1) if test_every is None \
        else check_int("test_every", test_every, 1)
    lr = check_float("lr", (D.ADAM_LR if optimizer == "adam" else D.LR) if lr is None else lr, 0.0)
    if on_board and (clip != D.CLIP or update_every != 1):
        raise PyrtrlError(f"a board's learner is built with clip {D.CLIP:g} and update_every 1; "
                          f"got clip {clip:g}, update_every {update_every}")
    k, d = data.k, data.d
    if model_path is None:
        n = _default_hidden(backend, d, k, density, bool(shared_mask), influence_bits, readout, taps, optimizer) \
            if hidden is None else check_int("hidden", hidden, 1)
        model = init_egru(n, d, k, density=density, shared_mask=bool(shared_mask),
                          eps=eps, seed=seed, readout=readout, taps=taps)
    else:
        model = load_model(model_path)
        if model.d != d or model.k != k:
            raise PyrtrlError(f"{os.fspath(model_path)}: model has {model.d} input(s) and {model.k} "
                              f"output(s); the sequences have {d} channel(s) and {k} classes")
    if not on_board:
        learner = make_learner(model, backend, lr, optimizer, clip, update_every, train, influence_bits)
    kind, rb = "classification", run_backend_of(backend, port)
    rows_total = labelled_rows_total(data, epochs, test_every)
    ids = {"board": backend if on_board else None, "port": port}
    # the run's data may be a bundled set exported into the run directory: it stays
    own = os.path.join(os.fspath(out_dir), DATASET_FILE)
    keep = [DATASET_FILE] if data.path and os.path.abspath(data.path) == os.path.abspath(own) else []
    out, run_id = prepare_run_dir(out_dir, kind, rb, rows_total, keep=keep, extra=ids)
    tel: Optional[LabelledTelemetryWriter] = None
    try:
        save_model(os.path.join(out, "model_before.npz"), model)
        tel = LabelledTelemetryWriter(out, rb)

        from tqdm.auto import tqdm

        where = backend if not port else f"{backend} at {port}"
        t0 = time.perf_counter()
        with tqdm(total=epochs * len(data.y), disable=not progress, unit="seq",
                  desc=f"learning {data.name} on {where}", mininterval=0.5) as bar:
            if on_board:
                res, device = _run_on_board(model, data, backend, port, lr, optimizer, train, influence_bits,
                                            epochs, seed, test_every, Path(out).resolve(), timeout,
                                            lambda: bar.update(1), tel)
            else:
                res = learn_sequences(learner, data, epochs, seed, test_every, lambda: bar.update(1), tel)
                device = {}
        wall = time.perf_counter() - t0
        tel.close()
        save_model(os.path.join(out, "model_after.npz"), device.pop("model_after") if on_board else learner.model)
        summary = _summary(data, model, res, device, wall, backend=backend, port=port, epochs=epochs, seed=seed,
                           test_every=test_every, optimizer=optimizer, lr=lr, clip=clip,
                           update_every=update_every, train=train, influence_bits=influence_bits,
                           model_path=model_path)
    except BaseException as e:  # any end before the summary: say so in the run directory
        kept = 0
        if tel is not None:
            tel.close()  # first: the summary counts the rows that reached the disk
            kept = tel.rows
        write_json_atomic(os.path.join(out, "summary.json"),
                          {**ended_state(e, run_id, rb, rows_total, kept, kind=kind), **ids})
        raise
    summary.update(run_state("finished", run_id, rb, rows_total, steps_kept=tel.rows, kind=kind))
    write_json_atomic(os.path.join(out, "summary.json"), summary)  # the run's last act
    if report:
        write_report(out)
    return summary


def run_backend_of(backend: str, port: Optional[str] = None) -> str:
    """The run directory's backend (:data:`pyrtrl.reporting.run_files.BACKENDS`) of a
    classification run on ``backend`` (:data:`BACKENDS` or a board name) and ``port``."""
    if backend in BACKENDS:
        return "float" if backend == "float" else "host-c"
    return "serial" if port else "qemu"


def _summary(data: LabelledSequences, model: EGRU, res: Dict[str, Any], device: Dict[str, Any], wall: float,
             **c: Any) -> Dict[str, Any]:
    """A finished classification run's summary (without the state fields)."""
    k, d = data.k, data.d
    y, yt = data.y, data.y_test
    truth, pred = (yt, res["test_pred"]) if data.has_test else res["last_train"]
    tested = [a for a in res["acc_test"] if a is not None]
    base = (classification_baselines(data.X, y, data.X_test, yt, k=k) if data.has_test else None)
    steps = res["train_steps"]
    on_board = c["backend"] not in BACKENDS
    return {
        "board": c["backend"] if on_board else None, "port": c["port"],
        "data": data.name, "source": data.source,
        "data_file": data.summary(), "clamp_warning": data.clamp_warning(),
        "classes": k, "epochs": c["epochs"], "seed": c["seed"],
        "test_every": c["test_every"] if data.has_test else None,
        "accuracy_train": res["acc_train"][-1],
        "accuracy_test": tested[-1] if tested else None,
        "accuracy_majority": majority_class(y, yt if data.has_test else y),
        "accuracy_majority_on": "test" if data.has_test else "train",
        "accuracy_logreg": base["logreg_best"] if base else None,
        "baselines": base,
        "accuracy_train_per_epoch": res["acc_train"],
        "accuracy_test_per_epoch": res["acc_test"] if data.has_test else [],
        "loss_train_per_epoch": res["loss_train"],
        "loss_test": res["loss_test"][-1] if data.has_test else None,
        "confusion_matrix": confusion(truth, pred, k),
        "confusion_on": "test" if data.has_test else "train (last epoch, online)",
        "weights_unchanged_by_test": res["unchanged"] if data.has_test else None,
        "hidden": model.n, "inputs": d, "outputs": k, "density": float(model.density()),
        "shared_mask": bool(model.shared_mask), "eps": float(model.eps), "gamma": float(model.gamma),
        "params": model.num_params(),
        "readout": model.readout, "taps": int(model.taps), "readout_rule": "gradient",
        "optimizer": c["optimizer"], "lr": c["lr"], "clip": c["clip"], "update_every": c["update_every"],
        "train": c["train"], "influence_bits": c["influence_bits"] if c["backend"] != "float" else None,
        "model": None if c["model_path"] is None else os.fspath(c["model_path"]),
        "train_steps": steps, "macs_per_step": res["macs"] / max(steps, 1),
        "fwd_activity": res["events"] / max(steps * model.n, 1),
        **device,
        "wall_seconds": wall,
    }


def _run_on_board(model: EGRU, data: LabelledSequences, board: str, port: Optional[str], lr: float,
                  optimizer: str, train: str, influence_bits: int, epochs: int, seed: int, test_every: int,
                  out: Path, timeout: float, on_sequence: Callable[[], None],
                  telemetry: Optional[LabelledTelemetryWriter] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """:func:`learn_sequences` on the learner firmware (QEMU or ``port``, its labelled steps
    to ``telemetry``), then on the host C library with the same model, settings and order;
    (the device's loop result, the summary's device entries and ``model_after`` from the
    device's weights)."""
    from ..device import protocol as P
    from ..device.client import Device
    from .device import check_hello, start_backend, stop_backend
    from ..fixed.model import fixed_config
    from ..device.qemu import describe_status

    settings: Dict[str, Any] = {"readout_rule": "gradient", "train": train, "optimizer": optimizer}
    lr_q = fixed_config(lr, D.CLIP, 1, influence_bits, False, **settings).lr_q  # one-line error if bad
    dep = Deployment.from_model(model)  # one quantization for the board, the host twin and the result
    link, qemu, sim = start_backend(board, dep, out, lr, influence_bits, settings, port, timeout)
    exit_status: Optional[int] = None
    learner: Optional[DeviceLearner] = None
    sequences = [0]

    def count() -> None:
        sequences[0] += 1
        on_sequence()

    try:
        dev = Device(link, timeout=timeout)
        hello = dev.hello()
        check_hello(hello, model, "gradient", train, optimizer)
        dev.start()
        learner = DeviceLearner(dev, lr_q, model.k)
        res = learn_sequences(learner, data, epochs, seed, test_every, count, telemetry)
        image = learner.weights()
        peak = dev.request_hello()
        stats = dev.decoder.stats
        if qemu is not None:
            dev.exit()
            exit_status = qemu.wait(timeout=timeout)
    except (PyrtrlError, OSError) as e:
        status = stop_backend(qemu, sim, link)
        steps = len(learner.steps_run) if learner is not None else 0
        raise PyrtrlError(f"labelled run on {board} stopped after {sequences[0]} training sequence(s), {steps} "
                          f"device steps: {' '.join(str(e).split()) or type(e).__name__}"
                          + (f"; QEMU exit status {describe_status(status)}" if qemu is not None else "")) from None
    except BaseException:
        stop_backend(qemu, sim, link)
        raise
    status = stop_backend(qemu, sim, link)
    exit_status = status if exit_status is None else exit_status

    ref = make_learner(dep, "host", lr, optimizer, D.CLIP, 1, train, influence_bits)
    ref_res = learn_sequences(ref, data, epochs, seed, test_every)
    s = ref.snapshot()
    match = image == P.weights_image(s.theta, s.w_o, s.b_o)
    learning = np.array(learner.steps_run, dtype=bool)
    device: Dict[str, Any] = {
        "weights_match_host": bool(match),
        "predictions_match_host": ref_res["rows"] == res["rows"],
        "device_steps": int(learning.size), "device_test_steps": int(np.count_nonzero(~learning)),
        "instructions_per_train_step": None, "instructions_per_test_step": None,
        "learner_ram_bytes": hello.learner_ram, "ram_used_bytes": peak.ram_used,
        "frames_ok": stats.frames_ok, "frames_bad": stats.frames_bad, "seq_gaps": stats.seq_gaps,
        "device_errors": len(dev.stats.errors), "qemu_exit_status": exit_status,
        "model_after": dep.model_from_image(image),
    }
    if qemu is not None:
        counts = np.loadtxt(out / "instructions.txt", dtype=np.int64, ndmin=1)
        if counts.size != learning.size:
            raise PyrtrlError(f"instruction counter saw {counts.size} steps, expected {learning.size}")
        device["instructions_per_train_step"] = float(counts[learning].mean()) if learning.any() else None
        device["instructions_per_test_step"] = float(counts[~learning].mean()) if (~learning).any() else None
    return res, device


# -- command line -------------------------------------------------------------------------
def cli_run(args: Any, print_json: Any) -> int:
    """``pyrtrl run --data seqs.npz`` with labelled sequences (called by :mod:`pyrtrl.cli`):
    on ``--board float``, ``host`` or a board (QEMU, or ``--port``). ``args.data`` may name
    a bundled data set (:mod:`pyrtrl.data.datasets`), written to ``RUN_DIR/dataset.npz`` first."""
    from ..data.files import load_sequences

    board = args.board
    if args.port and board in BACKENDS:
        raise PyrtrlError(f"--port talks to a board: give --board with the board's name, not {board}")
    bad = [o for o, v in (("--inputs", args.inputs), ("--targets", args.targets), ("--steps", args.steps),
                          ("--checkpoint-every", args.checkpoint_every), ("--resume", args.resume))
           if v is not None]
    if args.horizon != 1:
        bad.append("--horizon")
    if bad:
        raise PyrtrlError(f"{', '.join(bad)} do(es) not apply to labelled sequences (X, y in {args.data})")
    if getattr(args, "test_every", None) is not None and args.epochs is not None and args.test_every > args.epochs:
        raise PyrtrlError(f"--test-every {args.test_every} is more than --epochs {args.epochs}")
    path = args.data
    if not os.path.exists(path):
        from ..data.datasets import export_labelled, is_dataset_name

        if is_dataset_name(path):  # a bundled set: its .npz in the run directory
            try:  # the run's preparer keeps it (pyrtrl.reporting.run_files.prepare_run_dir)
                os.makedirs(args.out, exist_ok=True)
            except OSError as e:
                raise PyrtrlError(f"{args.out}: cannot write the run directory: "
                                  f"{' '.join(str(e.strerror or e).split())}") from None
            path = export_labelled(path, os.path.join(args.out, DATASET_FILE))["file"]
    data = load_sequences(path)
    warning = data.clamp_warning()
    if warning:
        print(f"pyrtrl run: WARNING: {warning}", file=sys.stderr)
    if args.readout_rule == "rls":
        print("pyrtrl run: labelled sequences: the readout learns by gradient (RLS learns "
              "squared-error targets only, not labels)", file=sys.stderr)
    s = run_classification(
        data, backend=board, epochs=args.epochs if args.epochs is not None else EPOCHS, seed=args.seed,
        hidden=args.hidden, density=args.density or D.DENSITY, eps=args.eps or D.EPS,
        shared_mask=not args.independent_masks, lr=args.lr, optimizer=args.optimizer,
        readout=args.readout, taps=args.taps, train=args.train, influence_bits=args.influence_bits,
        model_path=args.model, out_dir=args.out, progress=not args.json and sys.stderr.isatty(),
        test_every=getattr(args, "test_every", None), port=args.port)
    if args.json:
        print_json(s)
    else:
        print(f"run directory: {args.out}")
        print(f"  {s['source']}")
        keys = ["backend", "epochs", "hidden", "accuracy_train", "accuracy_test", "accuracy_majority",
                "accuracy_logreg"]
        if s.get("board"):
            keys += ["weights_match_host", "predictions_match_host", "instructions_per_train_step",
                     "instructions_per_test_step", "frames_bad", "qemu_exit_status"]
        for key in keys + ["wall_seconds"]:
            print(f"  {key:32s} {s[key]}")
        print("  accuracy per epoch (training, online): "
              + ", ".join(f"{a:.3f}" for a in s["accuracy_train_per_epoch"]))
    if s.get("board"):
        return 0 if s["weights_match_host"] and s["predictions_match_host"] and s["frames_bad"] == 0 else 1
    return 0
