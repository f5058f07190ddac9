"""Public real-world series as users' CSV files, on the host C library and on a board.

Two CSV files shipped in river's wheel (a test dependency): hourly water flow through a pipe
branch (one channel, with a time-stamp column the run must leave out), and daily US
presidential approval ratings from six pollsters (several channels). Each is copied as it
ships into a scratch directory and run with ``pyrtrl run --data FILE`` on ``--board host``
and ``--board mps2-an386`` under QEMU; the report and the summary carry every baseline of
the learning-quality work (naive, NLMS, RLS) and the device's weights equal the host C
library's.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from needs import in_ci, require_board

from pyrtrl.cli import main

WATER = "water-flow.csv"
APPROVAL = "trump_approval.csv.gz"
POLLS = "gallup,ipsos,rasmussen"


def _river_file(name: str) -> Path:
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        msg = "OPTIONAL PACKAGE MISSING: river (pip install 'pyrtrl[signals]') ships the real series"
        if in_ci():
            pytest.fail(msg + "; CI installs the test extra, which has it", pytrace=False)
        pytest.skip(msg)
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / name


@pytest.fixture
def water_csv(tmp_path) -> str:
    dst = tmp_path / WATER
    shutil.copy(_river_file(WATER), dst)
    return str(dst)


@pytest.fixture
def approval_csv(tmp_path) -> str:
    dst = tmp_path / "approval.csv"
    with gzip.open(_river_file(APPROVAL), "rb") as f:
        dst.write_bytes(f.read())
    return str(dst)


def _run(argv, capsys):
    rc = main(argv + ["--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def _has_every_baseline(run_dir: Path, s: dict) -> None:
    assert {"naive", "nlms", "rls"} <= set(s["baselines"]), s["baselines"].keys()
    md = (run_dir / "report.md").read_text()
    for name in ("naive", "NLMS", "RLS"):
        assert name in md, name


def test_water_flow_csv_on_host_and_board(water_csv, tmp_path, capsys):
    """One channel: the time-stamp column is left out with --inputs (it is not a number)."""
    col = "Water flow [l/s]"
    host = _run(["run", "--board", "host", "--data", water_csv, "--inputs", col, "--horizon", "8",
                 "--out", str(tmp_path / "host")], capsys)
    assert host["inputs"] == host["targets"] == [col] and host["steps"] > 1000
    _has_every_baseline(tmp_path / "host", host)
    require_board("mps2-an386")
    dev = _run(["run", "--board", "mps2-an386", "--data", water_csv, "--inputs", col, "--horizon", "8",
                "--steps", "400", "--out", str(tmp_path / "board")], capsys)
    assert dev["weights_match_host"] is True and dev["frames_bad"] == 0 and dev["qemu_exit_status"] == 0
    _has_every_baseline(tmp_path / "board", dev)


def test_approval_polls_csv_several_channels_on_host_and_board(approval_csv, tmp_path, capsys):
    """Three pollsters' series forecast together: one output per channel, a panel each."""
    host = _run(["run", "--board", "host", "--data", approval_csv, "--inputs", POLLS,
                 "--out", str(tmp_path / "host")], capsys)
    assert host["inputs"] == host["targets"] == POLLS.split(",")
    _has_every_baseline(tmp_path / "host", host)
    require_board("mps2-an386")
    dev = _run(["run", "--board", "mps2-an386", "--data", approval_csv, "--inputs", POLLS,
                "--steps", "300", "--out", str(tmp_path / "board")], capsys)
    assert dev["weights_match_host"] is True and dev["frames_bad"] == 0
    assert dev["inputs"] == POLLS.split(",")
    assert len((tmp_path / "board" / "channels.csv").read_text().splitlines()) == 301
    _has_every_baseline(tmp_path / "board", dev)
