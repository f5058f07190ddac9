"""One report writer for every kind of run and one run-directory preparer for every backend
(issue 12 item 2): :func:`pyrtrl.reporting.report.write_report` branches on the summary's kind
and backend and returns the same :class:`ReportFiles` (and ``report.json`` head) for a float
run, a host C run, a board run (QEMU or serial port) and a classification run;
:func:`pyrtrl.reporting.run_files.prepare_run_dir` starts every run on a non-empty ``--out``
by removing every file any run writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict

import numpy as np
import pytest

from pyrtrl.cli import main
from pyrtrl.data.files import load_sequences
from pyrtrl.errors import PyrtrlError
from pyrtrl.reporting import classification_report, device_report, float_report
from pyrtrl.reporting.common import REPORT_HEAD
from pyrtrl.reporting.report import ReportFiles, report_writer, write_report
from pyrtrl.reporting.run_files import (BACKENDS, KINDS, RUN_FILES, TELEMETRY_FILE, prepare_run_dir,
                                        read_labelled_telemetry, read_summary, read_telemetry, run_backend,
                                        run_kind)
from pyrtrl.runs.classify import run_classification
from pyrtrl.runs.device import run_on_device
from pyrtrl.runs.host import run_host


def _labelled(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 10)
    X = rng.normal(size=(10, 6, 1)) + np.where(y == 1, 0.5, -0.5)[:, None, None]
    yt = rng.integers(0, 2, 4)
    Xt = rng.normal(size=(4, 6, 1)) + np.where(yt == 1, 0.5, -0.5)[:, None, None]
    path = tmp / "seqs.npz"
    np.savez(path, X=X, y=y, X_test=Xt, y_test=yt)
    return str(path)


def _as_board(src: Path, dst: Path, backend: str) -> Path:
    """A host C run directory relabelled as a board run (QEMU or serial port) of mps2-an386:
    the device report of those backends, without a board at hand."""
    shutil.copytree(src, dst)
    s = json.loads((dst / "summary.json").read_text())
    s.update(backend=backend, board="mps2-an386", port="/dev/ttyACM0" if backend == "serial" else None)
    (dst / "summary.json").write_text(json.dumps(s))
    for f in dst.glob("report*"):
        f.unlink()
    return dst


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """One finished run directory of every kind and backend (reports removed)."""
    base = tmp_path_factory.mktemp("one_report")
    runs = {"forecast-float": base / "float", "forecast-host-c": base / "host"}
    run_host(steps=60, hidden=4, out_dir=runs["forecast-float"], progress=False)
    run_on_device("host", steps=60, out_dir=str(runs["forecast-host-c"]), progress=False, report=False)
    for b in ("qemu", "serial"):
        runs[f"forecast-{b}"] = _as_board(runs["forecast-host-c"], base / b, b)
    data = load_sequences(_labelled(base))
    for b, name in (("float", "float"), ("host", "host-c")):
        runs[f"classification-{name}"] = base / f"cls-{b}"
        run_classification(data, backend=b, epochs=2, hidden=4, taps=0, out_dir=str(runs[f"classification-{name}"]),
                           report=False)
    for d in runs.values():
        for f in list(d.glob("report.*")) + list(d.glob("*.png")):
            f.unlink()
    return runs


WRITER = {"forecast-float": float_report.write_report, "classification-float": classification_report.write_report,
          "classification-host-c": classification_report.write_report}


@pytest.mark.parametrize("name", ["forecast-float", "forecast-host-c", "forecast-qemu", "forecast-serial",
                                  "classification-float", "classification-host-c"])
def test_one_writer_for_every_kind(kinds: Dict[str, Path], name: str, capsys: pytest.CaptureFixture) -> None:
    """The writer is picked by the summary's kind and backend, and every kind gives the same
    shape: report.md, report.json (same head) and PNG figures, all on disk."""
    d = kinds[name]
    kind, backend = name.split("-", 1)
    s = read_summary(d)
    assert (run_kind(s), run_backend(s)) == (kind, backend)
    assert report_writer(s) is WRITER.get(name, device_report.write_report)
    files = write_report(d)
    assert isinstance(files, ReportFiles)
    assert (files.kind, files.backend, files.run_id) == (kind, backend, s["run_id"]) and files.run_id
    assert files.report == str(d / "report.md") and files.json == str(d / "report.json")
    assert files.figures and all(f.endswith(".png") and Path(f).read_bytes()[:4] == b"\x89PNG" for f in files.figures)
    assert set(files.files) >= {files.report, files.json, *files.figures}
    for f in files.figures:  # the report shows every figure
        assert f"({Path(f).name})" in Path(files.report).read_text()
    rep = json.loads(Path(files.json).read_text())
    assert tuple(rep)[:len(REPORT_HEAD)] == REPORT_HEAD
    assert rep["kind"] == kind and rep["backend"] == backend and rep["run_id"] == s["run_id"]
    assert rep["report"] == "report.md" and rep["figures"] == [Path(f).name for f in files.figures]
    assert len(rep) > len(REPORT_HEAD)  # the report's numbers follow
    # the command line prints the same structure for every kind
    assert main(["report", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rep
    assert main(["report", str(d)]) == 0
    assert capsys.readouterr().out.strip() == files.report


def test_the_writer_refuses_what_is_not_a_finished_run(kinds: Dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(PyrtrlError, match="no such run directory"):
        write_report(tmp_path / "nope")
    d = tmp_path / "running"
    shutil.copytree(kinds["classification-host-c"], d)
    for f in d.glob("report.*"):  # an earlier test may have written them
        f.unlink()
    s = json.loads((d / "summary.json").read_text())
    s.update(status="interrupted", steps_kept=3, reason="SIGTERM")
    (d / "summary.json").write_text(json.dumps(s))
    with pytest.raises(PyrtrlError, match="is interrupted .SIGTERM. with 3 of") as e:
        write_report(d)
    assert "\n" not in str(e.value) and not (d / "report.md").exists()


def test_old_summaries_keep_their_kind_and_backend() -> None:
    """Summaries written before kind and the run-file backends existed."""
    assert run_kind({"task": "classification"}) == "classification" and run_kind({"board": "host"}) == "forecast"
    assert run_backend({"task": "classification", "backend": "host"}) == "host-c"
    assert run_backend({"task": "classification", "backend": "mps2-an386", "board": "mps2-an386"}) == "qemu"
    assert run_backend({"backend": "mps2-an386", "board": "mps2-an386", "port": "/dev/x"}) == "serial"
    assert run_backend({"board": "host"}) == "host-c" and run_backend({}) == "float"


# -- one preparer -------------------------------------------------------------------------
def _fill(d: Path) -> None:
    """A directory holding every file any run writes (stale), earlier resumed counts and a
    file of the user's."""
    d.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (d / name).write_text("stale")
    (d / "instructions.until-40.txt").write_text("1\n")
    (d / "notes.txt").write_text("mine")


def test_run_files_cover_every_report_figure() -> None:
    for mod in (float_report, device_report, classification_report):
        for f in mod.FIGURES:
            assert f"{f}.png" in RUN_FILES, (mod.__name__, f)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_preparer_starts_a_fresh_run(tmp_path: Path, kind: str, backend: str) -> None:
    d = tmp_path / "run"
    _fill(d)
    first = prepare_run_dir(d, kind, backend, 10, extra={"board": "b"})
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt", "summary.json"]
    s = read_summary(d)
    assert s == {"status": "running", "run_id": first.run_id, "kind": kind, "backend": backend,
                 "steps_total": 10, "board": "b"}
    assert first.path == str(d) and len(first.run_id) == 12
    assert prepare_run_dir(d, kind, backend, 10).run_id != first.run_id  # every run its own id


def test_preparer_keeps_what_a_resumed_run_or_its_data_needs(tmp_path: Path) -> None:
    d = tmp_path / "run"
    _fill(d)
    (d / "instructions.txt").write_text("7\n")
    prepare_run_dir(d, "forecast", "qemu", 10, resume_at=55)
    assert sorted(p.name for p in d.iterdir()) == ["checkpoint.npz", "instructions.until-40.txt",
                                                  "instructions.until-55.txt", "notes.txt", "summary.json",
                                                  TELEMETRY_FILE]
    assert (d / "instructions.until-55.txt").read_text() == "7\n"
    _fill(d)
    prepare_run_dir(d, "classification", "host-c", 10, keep=["dataset.npz"])
    assert sorted(p.name for p in d.iterdir()) == ["dataset.npz", "notes.txt", "summary.json"]


def test_preparer_refuses_an_unwritable_directory_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PyrtrlError, match="cannot write the run directory") as e:
        prepare_run_dir(tmp_path / "file" / "run", "forecast", "float", 10)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("backend", ["float", "host"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_run_uses_the_one_preparer(tmp_path: Path, kind: str, backend: str) -> None:
    """A float, host C and classification run on a directory full of another run's files:
    only this run's files (and the user's) are there afterwards, the summary is this run's."""
    d = tmp_path / "run"
    _fill(d)
    if kind == "forecast" and backend == "float":
        s = run_host(steps=30, hidden=4, out_dir=d, progress=False)
    elif kind == "forecast":
        s = run_on_device("host", steps=30, out_dir=str(d), progress=False, report=False)
    else:
        s = run_classification(load_sequences(_labelled(tmp_path)), backend=backend, epochs=1, hidden=4, taps=0,
                               out_dir=str(d), report=False)
    assert s["status"] == "finished" and read_summary(d)["run_id"] == s["run_id"]
    names = {p.name for p in d.iterdir() if p.is_file()}
    assert "notes.txt" in names and "instructions.until-40.txt" not in names
    for name in names - {"notes.txt", "summary.json"}:
        assert (d / name).read_bytes() != b"stale", name  # written by this run, not left over
    if kind == "forecast":
        assert read_telemetry(d)["step"].size == s["steps_kept"]
        assert "accuracy.png" not in names and "predictions.csv" not in names
    else:
        assert read_labelled_telemetry(d)["step"].size == s["steps_kept"]
        assert "learning_curve.png" not in names and "float_learner.csv" not in names
