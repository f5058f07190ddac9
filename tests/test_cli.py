"""The ``pyrtrl`` command: help with examples, JSON output, one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from pyrtrl.cli import build_parser, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pyrtrl", *args], capture_output=True, text=True,
                          timeout=300)


def test_top_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("gradcheck", "bench", "run", "budget", "export", "report", "monitor"):
        assert cmd in r.stdout


@pytest.mark.parametrize("cmd", ["gradcheck", "bench", "run", "budget", "export", "report", "monitor"])
def test_every_command_help_has_an_example(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"pyrtrl {cmd}" in out


def test_gradcheck_json_passes(capsys):
    rc = main(["gradcheck", "--hidden", "8", "--inputs", "2", "--steps", "30", "--density", "0.5",
               "--eps", "0.5", "--shared-mask", "--seed", "1", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["passed"]
    for key in ("rel_err_dense_vs_bptt", "rel_err_sparse_vs_bptt", "rel_err_bptt_vs_fd",
                "mac_ratio_dense_over_sparse"):
        assert key in res
    assert res["rel_err_dense_vs_bptt"] < 1e-9 and res["rel_err_bptt_vs_fd"] < 1e-6
    assert res["shared_mask"] is True and res["hidden"] == 8


def test_gradcheck_exit_status_follows_the_result(monkeypatch, capsys):
    import pyrtrl.core.gradcheck as gc

    real = gc.run_gradcheck
    monkeypatch.setattr(gc, "run_gradcheck", lambda cfg: {**real(cfg), "passed": False})
    assert main(["gradcheck", "--hidden", "4", "--steps", "10", "--json"]) == 1


@pytest.mark.parametrize("args", [
    ["gradcheck", "--density", "1.5"],
    ["gradcheck", "--hidden", "0"],
    ["gradcheck", "--eps", "nan"],
    ["gradcheck", "--steps", "x"],
    ["bench", "--masks", "half"],
    ["nosuchcommand"],
])
def test_bad_arguments_one_line(args):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_library_errors_are_one_line_and_debug_shows_traceback(tmp_path):
    bad = tmp_path / "m.npz"
    bad.write_text("not a model")
    r = run_cli("run", "--model", str(bad), "--steps", "10", "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "m.npz" in r.stderr
    r = run_cli("--debug", "run", "--model", str(bad), "--steps", "10", "--out", str(tmp_path / "run"))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_parser_builds():
    assert build_parser().prog == "pyrtrl"
