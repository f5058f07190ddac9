"""Labelled sequences: online classification with softmax cross-entropy (``pyrtrl run --data
seqs.npz`` with ``X`` and ``y``), on the host float learner or the C library.

Each training sequence starts from a reset state (``reset_state``: zero state, influence
matrix and pending gradient; weights and optimizer moments kept) and carries its label at
its last step only (-1 elsewhere), so the readout is scored and learns once per sequence,
from the exact gradient of that step's cross-entropy through the whole sequence (RTRL).
Steps without a label move nothing (no update, no optimizer moment). ``epochs`` passes go
over the training sequences in an order shuffled with the seed; the class predicted at a
sequence's last step is recorded *before* that step's update (online accuracy). The test
sequences then run without learning (``learn=False``: forward only, the weights are
checked unchanged).

The readout learns by gradient: an RLS readout learns squared-error targets only.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import __version__
from . import run_defaults as D
from .baselines import majority_class
from .data import LabelledSequences
from .errors import PyrtrlError
from .checks import check_float, check_int
from .host_run import prepare_out_dir
from .model import EGRU, init_egru
from .model_file import load_model, save_model

PathLike = Union[str, "os.PathLike[str]"]

#: Backends that run labelled sequences (boards: not yet).
BACKENDS: Tuple[str, ...] = ("float", "host")
#: Files a classification run writes into its run directory.
CLASSIFY_FILES: Tuple[str, ...] = ("model_before.npz", "model_after.npz", "summary.json",
                                   "report.md", "accuracy.png", "predictions.csv")
#: Default passes over the training sequences.
EPOCHS = 5


def sequence_labels(steps: int, label: int) -> np.ndarray:
    """Per-step labels of one sequence: ``label`` at its last step, -1 (none) elsewhere."""
    lab = np.full(steps, -1, dtype=np.int64)
    lab[-1] = int(label)
    return lab


def make_learner(model: EGRU, backend: str, lr: float, optimizer: str = D.OPTIMIZER,
                 clip: float = D.CLIP, update_every: int = 1, train: str = D.TRAIN,
                 influence_bits: int = D.INFLUENCE_BITS) -> Any:
    """The classification learner of ``backend``: :class:`pyrtrl.OnlineLearner` (``"float"``,
    on a copy of ``model``) or :class:`pyrtrl.runtime.CLearner` (``"host"``), with the
    readout learning by gradient and the gradient clipped per component on both."""
    if backend == "float":
        from .learner import OnlineLearner

        return OnlineLearner(model.copy(), lr=lr, optimizer=optimizer, update_every=update_every,
                             clip=clip, clip_mode="value", readout_rule="gradient", train=train)
    if backend == "host":
        from .runtime import CLearner

        return CLearner(model, lr=lr, clip=clip, update_every=update_every,
                        influence_bits=influence_bits, readout_rule="gradient", train=train,
                        optimizer=optimizer)
    raise PyrtrlError(f"labelled sequences run on --board {' or '.join(BACKENDS)} (boards: not yet), "
                      f"got {backend!r}")


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
    """Copies of the learner's weights (float arrays or the C library's Q24 integers)."""
    if hasattr(learner, "engine"):
        return {k: v.copy() for k, v in learner.model.params.items()}
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


def run_classification(
    data: LabelledSequences,
    backend: str = "float",
    epochs: int = EPOCHS,
    seed: int = 0,
    hidden: int = D.HIDDEN,
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
) -> Dict[str, Any]:
    """Learn labelled sequences online, evaluate the test set without learning and write a
    run directory (``summary.json``, ``predictions.csv``, ``report.md``, ``accuracy.png``,
    the models before and after).

    Parameters
    ----------
    data : LabelledSequences
        From :func:`pyrtrl.data.load_sequences`.
    backend : {"float", "host"}
        The float learner or the C library (fixed point).
    epochs : int
        Passes over the training sequences (order shuffled with ``seed`` every pass).
    hidden, density, eps, shared_mask, readout, taps : model
        A fresh model with ``data.d`` inputs and ``data.k`` outputs (ignored with ``model_path``).
    lr, optimizer, clip, update_every, train, influence_bits :
        As for the learners; ``lr`` defaults to ``LR`` (SGD) or ``ADAM_LR`` (Adam).
    report : bool
        Write ``report.md`` and its figure.

    Returns
    -------
    dict
        The summary (``accuracy_train``: last epoch, online; ``accuracy_test``: no
        learning; ``accuracy_majority``; per-epoch accuracies; confusion matrix).
    """
    if backend not in BACKENDS:
        make_learner(None, backend, 0.0)  # the one-line error
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    update_every = check_int("update_every", update_every, 1)
    lr = check_float("lr", (D.ADAM_LR if optimizer == "adam" else D.LR) if lr is None else lr, 0.0)
    k, d = data.k, data.d
    if model_path is None:
        model = init_egru(check_int("hidden", hidden, 1), d, k, density=density, shared_mask=bool(shared_mask),
                          eps=eps, seed=seed, readout=readout, taps=taps)
    else:
        model = load_model(model_path)
        if model.d != d or model.k != k:
            raise PyrtrlError(f"{os.fspath(model_path)}: model has {model.d} input(s) and {model.k} "
                              f"output(s); the sequences have {d} channel(s) and {k} classes")
    learner = make_learner(model, backend, lr, optimizer, clip, update_every, train, influence_bits)
    out = prepare_out_dir(out_dir)
    for name in CLASSIFY_FILES:
        if os.path.isfile(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    save_model(os.path.join(out, "model_before.npz"), model)

    from tqdm.auto import tqdm

    X, y, Xt, yt = data.X, data.y, data.X_test, data.y_test
    N = len(y)
    rng = np.random.default_rng(seed)
    acc_train: List[float] = []
    loss_train: List[float] = []
    acc_test: List[float] = []
    loss_test: List[float] = []
    rows: List[Tuple[Any, ...]] = []
    macs = events = steps = 0
    unchanged = True
    t0 = time.perf_counter()
    with tqdm(total=epochs * N, disable=not progress, unit="seq", desc=f"learning {data.name}",
              mininterval=0.5) as bar:
        for e in range(epochs):
            order = rng.permutation(N)
            preds = np.empty(N, dtype=np.int64)
            losses = np.empty(N)
            for j, i in enumerate(order):
                preds[j], losses[j] = classify_sequence(learner, X[i], int(y[i]))
                m, ev = _macs(learner)
                macs, events, steps = macs + m, events + ev, steps + X.shape[1]
                rows.append((e + 1, "train", int(i), int(y[i]), int(preds[j]), repr(float(losses[j]))))
                bar.update(1)
            acc_train.append(float(np.mean(preds == y[order])))
            loss_train.append(float(np.mean(losses)))
            last_train = (y[order], preds)
            if data.has_test:
                before = weights_of(learner)
                tp, tl = evaluate(learner, Xt, yt)
                after = weights_of(learner)
                unchanged &= all(np.array_equal(before[n], after[n]) for n in before)
                acc_test.append(float(np.mean(tp == yt)))
                loss_test.append(float(np.mean(tl)))
            bar.set_postfix(acc=f"{acc_train[-1]:.3f}", **({"test": f"{acc_test[-1]:.3f}"} if acc_test else {}),
                            refresh=False)
    wall = time.perf_counter() - t0
    if data.has_test:
        for i in range(len(yt)):
            rows.append((epochs, "test", i, int(yt[i]), int(tp[i]), repr(float(tl[i]))))
    with open(os.path.join(out, "predictions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("epoch", "set", "sequence", "label", "predicted", "loss"))
        w.writerows(rows)
    save_model(os.path.join(out, "model_after.npz"), learner.model)

    truth, pred = (yt, tp) if data.has_test else last_train
    summary: Dict[str, Any] = {
        "task": "classification", "pyrtrl_version": __version__,
        "backend": backend, "data": data.name, "source": data.source,
        "data_file": data.summary(), "clamp_warning": data.clamp_warning(),
        "classes": k, "epochs": epochs, "seed": seed,
        "accuracy_train": acc_train[-1],
        "accuracy_test": acc_test[-1] if acc_test else None,
        "accuracy_majority": majority_class(y, yt if data.has_test else y),
        "accuracy_majority_on": "test" if data.has_test else "train",
        "accuracy_train_per_epoch": acc_train,
        "accuracy_test_per_epoch": acc_test,
        "loss_train_per_epoch": loss_train,
        "loss_test": loss_test[-1] if loss_test else None,
        "confusion_matrix": confusion(truth, pred, k),
        "confusion_on": "test" if data.has_test else "train (last epoch, online)",
        "weights_unchanged_by_test": unchanged if data.has_test else None,
        "hidden": model.n, "inputs": d, "outputs": k, "density": float(model.density()),
        "shared_mask": bool(model.shared_mask), "eps": float(model.eps), "gamma": float(model.gamma),
        "params": model.num_params(),
        "readout": model.readout, "taps": int(model.taps), "readout_rule": "gradient",
        "optimizer": optimizer, "lr": lr, "clip": clip, "update_every": update_every, "train": train,
        "influence_bits": influence_bits if backend == "host" else None,
        "model": None if model_path is None else os.fspath(model_path),
        "train_steps": steps, "macs_per_step": macs / max(steps, 1),
        "fwd_activity": events / max(steps * model.n, 1),
        "wall_seconds": wall,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    if report:
        write_report(out)
    return summary


# -- report -------------------------------------------------------------------------------
def accuracy_figure(s: Dict[str, Any]) -> "Any":
    """Accuracy per epoch: training (online, before each update), test (no learning) and
    the majority class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ep = np.arange(1, len(s["accuracy_train_per_epoch"]) + 1)
    ax.plot(ep, s["accuracy_train_per_epoch"], "o-", label="training (online, before each update)")
    if s.get("accuracy_test_per_epoch"):
        ax.plot(ep, s["accuracy_test_per_epoch"], "s-", label="test (no learning)")
    ax.axhline(s["accuracy_majority"], color="gray", ls="--",
               label=f"majority class ({s['accuracy_majority_on']})")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(ep)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy per epoch ({s['backend']} learner, {s['data']})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _confusion_lines(m: Sequence[Sequence[int]]) -> List[str]:
    k = len(m)
    lines = ["| true \\ predicted | " + " | ".join(str(j) for j in range(k)) + " | recall |",
             "|---|" + "---|" * (k + 1)]
    for i, row in enumerate(m):
        n = sum(row)
        rec = f"{row[i] / n:.3f}" if n else "n/a"
        lines.append(f"| **{i}** | " + " | ".join(str(v) for v in row) + f" | {rec} |")
    return lines


def _pct(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def write_report(run_dir: PathLike) -> List[str]:
    """``accuracy.png`` and ``report.md`` of a classification run directory; the files written."""
    out = os.fspath(run_dir)
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    fig = accuracy_figure(s)
    png = os.path.join(out, "accuracy.png")
    fig.savefig(png, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    f = s["data_file"]
    norm = ", ".join(f"channel {c} (offset {v['offset']:.6g}, scale {v['scale']:.6g})"
                     for c, v in f["normalization"]["columns"].items())
    learner = ("host float learner (OnlineLearner)" if s["backend"] == "float"
               else f"C library (CLearner, fixed point, {s['influence_bits']}-bit influence)")
    per_epoch = ["| epoch | training accuracy (online) | training loss | test accuracy |", "|---|---|---|---|"]
    for e, (a, l) in enumerate(zip(s["accuracy_train_per_epoch"], s["loss_train_per_epoch"])):
        t = s["accuracy_test_per_epoch"][e] if s["accuracy_test_per_epoch"] else None
        per_epoch.append(f"| {e + 1} | {_pct(a)} | {l:.4g} | {_pct(t)} |")
    test_line = (f"| test accuracy (no learning) | {_pct(s['accuracy_test'])} |" if s["accuracy_test"] is not None
                 else "| test accuracy | no test set in the file |")
    lines = [
        f"# Classification run: {s['data']}",
        "",
        f"Data: {s['source']}.",
        f"Normalised per channel from the training set ({f['normalization']['from']}): {norm}.",
        *(["", f"**WARNING**: {s['clamp_warning']}."] if s.get("clamp_warning") else []),
        "",
        f"Learner: {learner}. Each sequence starts from a reset state; its label is given at "
        "its last step only, where the model's output is scored by softmax cross-entropy and "
        f"the weights learn by exact RTRL through the whole sequence (cell: {s['optimizer']} "
        f"lr {s['lr']:g}, clip {s['clip']:g} per component; readout from {s['readout']} with "
        f"{s['taps']} input taps, by gradient; train {s['train']}). {s['epochs']} epoch(s) over "
        "the training sequences, shuffled each epoch; the training accuracy is measured online, "
        "the class read at a sequence's last step before that step's update. The test "
        "sequences run with learning off (forward only)"
        + ("; the weights were checked unchanged by the test pass." if s.get("weights_unchanged_by_test")
           else "." if s.get("weights_unchanged_by_test") is None
           else ": **the weights changed during the test pass**."),
        "",
        "| | |",
        "|---|---|",
        f"| model | {s['hidden']} units, {s['inputs']} input(s), {s['outputs']} outputs (classes), "
        f"density {s['density']:.3f}, shared mask {s['shared_mask']}, eps {s['eps']:g} |",
        f"| training accuracy, last epoch (online) | {_pct(s['accuracy_train'])} |",
        test_line,
        f"| majority class (on the {s['accuracy_majority_on']} set) | {_pct(s['accuracy_majority'])} |",
        f"| MACs per training step | {s['macs_per_step']:.4g} |",
        f"| forward activity (events / unit / step) | {100 * s['fwd_activity']:.1f} % |",
        f"| wall time | {s['wall_seconds']:.1f} s |",
        "",
        "## Accuracy per epoch",
        "",
        *per_epoch,
        "",
        "![accuracy per epoch](accuracy.png)",
        "",
        f"## Confusion matrix ({s['confusion_on']})",
        "",
        *_confusion_lines(s["confusion_matrix"]),
        "",
        "Files: `predictions.csv` (epoch, set, sequence, label, predicted, loss for every "
        "sequence run), `model_before.npz`, `model_after.npz`, `summary.json`.",
        "",
    ]
    md = os.path.join(out, "report.md")
    with open(md, "w") as fh:
        fh.write("\n".join(lines))
    return [png, md]


# -- command line -------------------------------------------------------------------------
def cli_run(args: Any, print_json: Any) -> int:
    """``pyrtrl run --data seqs.npz`` with labelled sequences (called by :mod:`pyrtrl.cli`)."""
    from .data import load_sequences

    board = "float" if args.board == "float" else args.board
    if args.port or board not in BACKENDS:
        raise PyrtrlError("labelled sequences run on --board float and --board host; boards and "
                          "--port do not take them yet")
    bad = [o for o, v in (("--inputs", args.inputs), ("--targets", args.targets), ("--steps", args.steps),
                          ("--checkpoint-every", args.checkpoint_every), ("--resume", args.resume))
           if v is not None]
    if args.horizon != 1:
        bad.append("--horizon")
    if bad:
        raise PyrtrlError(f"{', '.join(bad)} do(es) not apply to labelled sequences (X, y in {args.data})")
    data = load_sequences(args.data)
    warning = data.clamp_warning()
    if warning:
        print(f"pyrtrl run: WARNING: {warning}", file=sys.stderr)
    if args.readout_rule == "rls":
        print("pyrtrl run: labelled sequences: the readout learns by gradient (RLS learns "
              "squared-error targets only, not labels)", file=sys.stderr)
    s = run_classification(
        data, backend=board, epochs=args.epochs if args.epochs is not None else EPOCHS, seed=args.seed,
        hidden=args.hidden or D.HIDDEN, density=args.density or D.DENSITY, eps=args.eps or D.EPS,
        shared_mask=not args.independent_masks, lr=args.lr, optimizer=args.optimizer,
        readout=args.readout, taps=args.taps, train=args.train, influence_bits=args.influence_bits,
        model_path=args.model, out_dir=args.out, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print_json(s)
        return 0
    print(f"run directory: {args.out}")
    print(f"  {s['source']}")
    for key in ("backend", "epochs", "hidden", "accuracy_train", "accuracy_test", "accuracy_majority",
                "wall_seconds"):
        print(f"  {key:32s} {s[key]}")
    print("  accuracy per epoch (training, online): "
          + ", ".join(f"{a:.3f}" for a in s["accuracy_train_per_epoch"]))
    return 0
