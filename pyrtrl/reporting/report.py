"""The one report writer: :func:`write_report` reads a run directory's summary, branches on
the run's kind and backend, and returns the same :class:`ReportFiles` for every run.

=============================== =============================================================
kind, backend                   report
=============================== =============================================================
forecast, ``float``             :mod:`pyrtrl.reporting.float_report` (the host float learner)
forecast, ``host-c``, ``qemu``, :mod:`pyrtrl.reporting.device_report` (the host C library, a
``serial``                      board under QEMU or on a serial port, beside the float learner)
classification, any backend     :mod:`pyrtrl.reporting.classification_report`
=============================== =============================================================

Every kind writes ``report.md``, ``report.json`` (which starts with the same fields for every
kind: :data:`pyrtrl.reporting.common.REPORT_HEAD`) and its PNG figures. The runs call
:func:`write_report` as their last act; ``pyrtrl report RUN_DIR`` calls it again from the
run directory alone and prints ``report.md``'s path, or with ``--json`` ``report.json``.
A run that has not finished (``running``, ``interrupted``, ``failed``) gets no report: one
line says what its directory holds instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple, Union

from ..errors import PyrtrlError
from .run_files import read_summary, run_backend, run_kind, unfinished_run_message

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote, the same for every kind of run.

    Attributes
    ----------
    run_dir : str
        The run directory.
    kind : str
        The run's kind (:data:`pyrtrl.reporting.run_files.KINDS`).
    backend : str
        The run's backend (:data:`pyrtrl.reporting.run_files.BACKENDS`).
    run_id : str
        The run's id (from its summary; empty for summaries older than run ids).
    report : str
        Path of ``report.md``.
    json : str
        Path of ``report.json``.
    figures : tuple of str
        Paths of the PNG figures, in the report's order.
    other : tuple of str
        Other files written (a device run's ``float_learner.csv`` when it was computed).
    """

    run_dir: str
    kind: str
    backend: str
    run_id: str
    report: str
    json: str
    figures: Tuple[str, ...]
    other: Tuple[str, ...] = field(default=())

    @property
    def files(self) -> List[str]:
        """Every file written: the figures, the other files, ``report.json``, ``report.md``."""
        return [*self.figures, *self.other, self.json, self.report]

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a JSON-ready dict (lists for tuples)."""
        return {"run_dir": self.run_dir, "kind": self.kind, "backend": self.backend,
                "run_id": self.run_id, "report": self.report, "json": self.json,
                "figures": list(self.figures), "other": list(self.other)}


def report_writer(s: Dict[str, Any]) -> Callable[[PathLike], List[str]]:
    """The kind-specific writer of a run from its summary ``s`` (see the module's table)."""
    if run_kind(s) == "classification":
        from .classification_report import write_report as classification_report

        return classification_report
    if run_backend(s) == "float":
        from .float_report import write_report as float_report

        return float_report
    from .device_report import write_report as device_report

    return device_report


def write_report(run_dir: PathLike) -> ReportFiles:
    """Write the report of a finished run directory of any kind (figures, ``report.json``,
    ``report.md``).

    Parameters
    ----------
    run_dir : path
        A run directory (``pyrtrl run --out DIR``).

    Returns
    -------
    ReportFiles
        The paths written, with the run's kind, backend and id.

    Raises
    ------
    PyrtrlError
        One line: no such directory, no readable summary, or a run that has not finished.
    """
    out = os.fspath(run_dir)
    if not os.path.isdir(out):
        raise PyrtrlError(f"{out}: no such run directory")
    s = read_summary(out)
    msg = unfinished_run_message(out, s)
    if msg is not None:
        raise PyrtrlError(msg)
    written = report_writer(s)(out)
    md, js = os.path.join(out, "report.md"), os.path.join(out, "report.json")
    return ReportFiles(
        run_dir=out, kind=run_kind(s), backend=run_backend(s), run_id=str(s.get("run_id", "")),
        report=md, json=js, figures=tuple(p for p in written if p.endswith(".png")),
        other=tuple(p for p in written if not p.endswith(".png") and p not in (md, js)))
