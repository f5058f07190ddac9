"""Bad arguments to every ``pyrtrl`` command: exit status 2 and one line on stderr, no
traceback (docs/reliability.md). In-process: argparse errors exit through SystemExit(2)."""

import pytest

import pyrtrl
from pyrtrl.cli import main

M = "{model}"  # replaced by a valid model file
CASES = [
    ["run", "--steps", "0"],
    ["run", "--board", "nosuch", "--steps", "5"],
    ["run", "--board", "host", "--influence-bits", "8"],
    ["run", "--lr", "-1"],
    ["run", "--board", "host", "--lr", "nan"],
    ["run", "--board", "host", "--steps", "5", "--model", "{tmp}/missing.npz"],
    ["run", "--board", "host", "--steps", "5", "--checkpoint-every", "0"],
    ["run", "--board", "host", "--steps", "5", "--resume", "{tmp}/missing.npz", "--out", "{tmp}/r"],
    ["run", "--board", "host", "--steps", "5", "--model", M, "--resume", M, "--out", "{tmp}/r"],
    ["run", "--board", "float", "--steps", "5", "--checkpoint-every", "5"],
    ["run", "--board", "host", "--data", "nosuch", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--data", "nosuch", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--hidden", "0"],
    ["run", "--density", "0"],
    ["run", "--method", "foo"],
    ["run", "--board", "host", "--optimizer", "rmsprop", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--board", "float", "--horizon", "0"],
    ["run", "--board", "float", "--taps", "65", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--board", "host", "--horizon", "100000", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--port", "/dev/pyrtrl_no_such_tty", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--board", "host", "--steps", "1", "--out", "{tmp}/r"],
    ["run", "--board", "host", "--port", "/dev/null", "--steps", "5", "--out", "{tmp}/r"],
    ["run", "--board", "host", "--hidden", "5000", "--steps", "5", "--out", "{tmp}/big"],
    ["budget"],
    ["budget", "--hidden", "8", "--inputs", "1", "--outputs", "1"],
    ["budget", "--hidden", "8", "--inputs", "1", "--outputs", "1", "--density", "0.5", "--board", "nosuch"],
    ["budget", "--model", "{tmp}/missing.npz"],
    ["budget", "--model", M, "--hidden", "4"],
    ["budget", "--hidden", "300", "--inputs", "1", "--outputs", "1", "--density", "0.5"],
    ["budget", "--influence-bits", "7", "--hidden", "8"],
    ["budget", "--hidden", "8", "--inputs", "1", "--outputs", "1", "--density", "0.5", "--optimizer", "lbfgs"],
    ["export"],
    ["export", "{tmp}/missing.npz", "--board", "mps2-an386", "-o", "{tmp}/e"],
    ["export", M, "--board", "nosuch", "-o", "{tmp}/e"],
    ["export", M, "--board", "mps2-an386", "-o", "{tmp}/e", "--update-every", "0"],
    ["export", M, "--board", "mps2-an386", "-o", "{tmp}/e", "--lr", "0"],
    ["export", M, "--board", "mps2-an386", "-o", "{tmp}/e", "--clip", "nan"],
    ["export", M, "--board", "mps2-an386", "-o", "{tmp}/e", "--optimizer", "rmsprop"],
    ["export", M, "--board", "mps2-an386", "-o", "{model}/sub"],
    ["report", "{tmp}/missing_dir"],
    ["report", "{tmp}"],
    ["monitor", "{tmp}/missing_dir", "--once"],
    ["monitor", "{tmp}", "--once"],
    ["monitor", "{tmp}", "--every", "0"],
    ["bench", "--hidden", "0"],
    ["bench", "--density", "2"],
    ["bench", "--eps", "-1"],
    ["bench", "--masks", "half"],
    ["gradcheck", "--steps", "1"],
    ["gradcheck", "--inputs", "0"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_bad_arguments_give_one_line(args, tmp_path, capsys):
    model = tmp_path / "m.npz"
    pyrtrl.save_model(model, pyrtrl.init_egru(4, 1, 1, density=0.5, seed=0))
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{model}", str(model)) for a in args]
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error" in lines[0]


def test_oversized_model_is_refused_before_anything_is_written(tmp_path, capsys):
    """issue 12: --hidden 5000 --board host wrote 1.3 GB of model files before the 255-unit
    limit was checked, and left the directory behind."""
    out = tmp_path / "big"
    assert main(["run", "--board", "host", "--hidden", "5000", "--steps", "5", "--out", str(out)]) == 2
    assert "from 1 to 255, got 5000" in capsys.readouterr().err
    assert not out.exists()
