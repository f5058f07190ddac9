"""The report of a classification run (labelled sequences, :mod:`pyrtrl.runs.classify`):
``accuracy.png`` (accuracy per epoch against the majority class and the logistic
regressions), ``report.json`` and ``report.md`` (the run's learner, the accuracies, the
device's bit-for-bit checks, the confusion matrix), all from ``summary.json``.

:func:`pyrtrl.reporting.report.write_report` calls it for a run whose summary's ``kind`` is
``classification``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import PyrtrlError
from .common import PathLike, write_report_json, write_report_md
from .run_files import read_summary, run_backend, run_kind, unfinished_run_message

if TYPE_CHECKING:  # matplotlib is imported only when figures are drawn
    from matplotlib.figure import Figure

#: Figure names of a classification report; each is saved as ``<name>.png``.
FIGURES: tuple = ("accuracy",)


def accuracy_figure(s: Dict[str, Any]) -> "Figure":
    """Accuracy per epoch: training (online, before each update), test (no learning), the
    majority class and (with a test set) the better logistic regression.

    Parameters
    ----------
    s : dict
        A classification run's summary.

    Returns
    -------
    matplotlib.figure.Figure
        A plain figure (nothing registered with pyplot).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ep = np.arange(1, len(s["accuracy_train_per_epoch"]) + 1)
    ax.plot(ep, s["accuracy_train_per_epoch"], "o-", label="training (online, before each update)")
    tested = [(e, a) for e, a in zip(ep, s.get("accuracy_test_per_epoch") or []) if a is not None]
    if tested:
        ax.plot([e for e, _ in tested], [a for _, a in tested], "s-", label="test (no learning)")
    ax.axhline(s["accuracy_majority"], color="gray", ls="--",
               label=f"majority class ({s['accuracy_majority_on']})")
    if s.get("accuracy_logreg") is not None:
        b = s["baselines"]
        ax.axhline(s["accuracy_logreg"], color="tab:red", ls=":",
                   label=f"logistic regression ({b['logreg_best_features'].replace('_', ' ')}, test)")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(ep)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    who = f"board {s['board']}" if s.get("board") else f"{run_backend(s)} learner"
    ax.set_title(f"Accuracy per epoch ({who}, {s['data']})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
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
    """``accuracy.png``, ``report.json`` and ``report.md`` of a finished classification run
    directory.

    Parameters
    ----------
    run_dir : path
        The run directory (:mod:`pyrtrl.runs.classify`).

    Returns
    -------
    list of str
        The files written: the figure, ``report.json``, ``report.md``.

    Raises
    ------
    PyrtrlError
        One line for an unfinished run or a run of another kind.
    """
    out = os.fspath(run_dir)
    s = read_summary(out)
    if run_kind(s) != "classification":
        raise PyrtrlError(f"{out}: not a classification run (its summary's kind is {run_kind(s)})")
    msg = unfinished_run_message(out, s)
    if msg is not None:
        raise PyrtrlError(msg)
    fig = accuracy_figure(s)
    png = os.path.join(out, "accuracy.png")
    fig.savefig(png, dpi=110)
    js = write_report_json(out, s, report_numbers(s), [png])
    f = s["data_file"]
    norm = ", ".join(f"channel {c} (offset {v['offset']:.6g}, scale {v['scale']:.6g})"
                     for c, v in f["normalization"]["columns"].items())
    if s.get("board"):
        learner = (f"board {s['board']} (the learner firmware running runtime_c, fixed point, "
                   f"{s['influence_bits']}-bit influence, "
                   + (f"on the serial port {s['port']})" if s.get("port") else "under QEMU)"))
    else:
        learner = ("host float learner (OnlineLearner)" if run_backend(s) == "float"
                   else f"C library (CLearner, fixed point, {s['influence_bits']}-bit influence)")
    per_epoch = ["| epoch | training accuracy (online) | training cross-entropy | test accuracy |", "|---|---|---|---|"]
    for e, (a, l) in enumerate(zip(s["accuracy_train_per_epoch"], s["loss_train_per_epoch"])):
        t = s["accuracy_test_per_epoch"][e] if s["accuracy_test_per_epoch"] else None
        per_epoch.append(f"| {e + 1} | {_pct(a)} | {l:.4g} | {_pct(t) if t is not None else 'not run'} |")
    base = s.get("baselines")
    base_rows = [] if not base else [
        f"| logistic regression on each channel's mean and std (test) | {_pct(base['logreg_mean_std'])} |",
        f"| logistic regression on the raw values (test) | {_pct(base['logreg_raw'])} |",
    ]
    device_rows: List[str] = []
    if s.get("board"):
        ok = "**yes**" if s["weights_match_host"] else "**NO**"
        device_rows = [
            f"| device weights equal the host C library's (bit for bit) | {ok} |",
            f"| device predictions and losses equal the host C library's | "
            f"{'yes' if s['predictions_match_host'] else '**NO**'} |",
            f"| device steps (of which test, learning off) | {s['device_steps']:,} ({s['device_test_steps']:,}) |",
        ]
        if s.get("instructions_per_train_step") is not None:
            device_rows.append(f"| instructions per step: training / test (exact, QEMU) | "
                               f"{s['instructions_per_train_step']:,.0f} / "
                               + (f"{s['instructions_per_test_step']:,.0f}" if s.get("instructions_per_test_step")
                                  is not None else "n/a") + " |")
        device_rows += [
            f"| learner RAM / firmware peak RAM | {s['learner_ram_bytes']:,} B / {s['ram_used_bytes']:,} B |",
            f"| frames bad / sequence gaps / device errors | {s['frames_bad']} / {s['seq_gaps']} / "
            f"{s['device_errors']} |",
        ]
    test_line = (f"| test accuracy (no learning) | {_pct(s['accuracy_test'])} |" if s["accuracy_test"] is not None
                 else "| test accuracy | no test set in the file |")
    lines = [
        f"# Classification run: {f.get('description') or s['data']}",
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
        "sequences run with learning off (forward only"
        + ("; on the device by `SET_LR 0`, then the learning rate again" if s.get("board") else "") + ")"
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
        *base_rows,
        *device_rows,
        f"| MACs per training step | {s['macs_per_step']:.4g} |",
        f"| forward activity (events / unit / step) | {100 * s['fwd_activity']:.1f} % |",
        f"| wall time | {s['wall_seconds']:.1f} s |",
        "",
        *([f"Baselines: logistic regression (multinomial, L2 with C = {base['logreg_C']:g}, "
           "features standardised on the training set, fitted to convergence) on each channel's "
           "mean and standard deviation over the sequence, and on the raw values; the better of "
           f"the two on the test set is {_pct(base['logreg_best'])} "
           f"({base['logreg_best_features'].replace('_', ' ')}): the learner's test accuracy is "
           f"{_pct(s['accuracy_test'])}, "
           f"{100 * (s['accuracy_test'] - base['logreg_best']):+.1f} points from it.", ""] if base else []),
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
        "Files: `telemetry.csv` (one row per labelled step, training and test sequences in the "
        "order run: step, epoch, learning, sequence, label, predicted, cross_entropy, events, "
        "macs: docs/run_directory.md), `model_before.npz`, `model_after.npz`"
        + (" (from the device's weights dump)" if s.get("board") else "") + ", `summary.json`, `report.json`"
        + (", `instructions.txt` (exact instructions of every device step, in order)"
           if s.get("instructions_per_train_step") is not None else "") + ".",
        "",
    ]
    return [png, js, write_report_md(out, lines)]


#: The summary fields a classification run's ``report.json`` holds (those present).
NUMBERS: tuple = (
    "data", "board", "port", "classes", "epochs", "hidden", "train_steps", "accuracy_train", "accuracy_test",
    "accuracy_majority", "accuracy_majority_on", "accuracy_logreg", "accuracy_train_per_epoch",
    "accuracy_test_per_epoch", "loss_train_per_epoch", "loss_test", "confusion_matrix", "confusion_on",
    "weights_unchanged_by_test", "baselines", "macs_per_step", "fwd_activity", "weights_match_host",
    "predictions_match_host", "device_steps", "device_test_steps", "instructions_per_train_step",
    "instructions_per_test_step", "learner_ram_bytes", "ram_used_bytes", "frames_bad", "seq_gaps",
    "device_errors", "wall_seconds",
)


def report_numbers(s: Dict[str, Any]) -> Dict[str, Any]:
    """The numbers of a classification run's report (``report.json``): the summary's
    :data:`NUMBERS` that it holds (a float or host run has no device fields)."""
    return {k: s[k] for k in NUMBERS if k in s}
