"""Every board learns the recorded signal online under QEMU with the default run's model and
settings (pyrtrl.run_defaults: c readout, 16 input taps, RLS, the cell's OPTIMIZER); its weights equal the host C
library's bit for bit; no frame is lost or damaged."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from board_files import board_mk
from needs import require_board

from pyrtrl import run_defaults as RD
from pyrtrl.boards import board_names, get_board
from pyrtrl.deploy.budget import CONTEXT_BYTES, budget_for_model, largest_hidden
from pyrtrl.cli import main
from pyrtrl.runs.device import run_on_device
from pyrtrl.fixed import quantize, quantize_samples
from pyrtrl.core.model_file import load_model
from pyrtrl.deploy.runtime import CLearner
from pyrtrl.data.signals import forecasting_stream, load_signal

SETTINGS = dict(readout_rule=RD.READOUT_RULE, train=RD.TRAIN, rls_forgetting=RD.RLS_FORGETTING,
                rls_p0=RD.RLS_P0, optimizer=RD.OPTIMIZER)


def _need(board: str) -> None:
    require_board(board)


def _stack_used(board: str, elf: Path, ram_used: int) -> int:
    """Deepest stack of the run: the device's peak RAM use minus its static RAM, read from
    the ELF's linker symbols (__data_start .. __bss_end, common/link.ld)."""
    nm = "riscv64-unknown-elf-nm" if board_mk(board)["ARCH"] == "riscv" else "arm-none-eabi-nm"
    syms = {}
    for line in subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True,
                               timeout=60).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in ("__data_start", "__bss_end"):
            syms[parts[2]] = int(parts[0], 16)
    return ram_used - (syms["__bss_end"] - syms["__data_start"])


def _default_hidden(board: str) -> int:
    return min(RD.HIDDEN, largest_hidden(board, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS,
                                         taps=RD.TAPS, readout=RD.READOUT, readout_rule=RD.READOUT_RULE,
                                         optimizer=RD.OPTIMIZER))


def _check_against_host(run_dir: Path, steps: int) -> None:
    """The device's weights (model_after.npz, from its dump) equal a host C learner's run
    here from model_before.npz with the run defaults: independent of the run's own check."""
    before = load_model(run_dir / "model_before.npz")
    assert (before.readout, before.taps) == (RD.READOUT, RD.TAPS)
    x, target = forecasting_stream(load_signal("ppg", max_steps=steps + 1))
    ref = CLearner(before, lr=RD.LR, influence_bits=RD.INFLUENCE_BITS, **SETTINGS)
    ref.run_fixed(quantize_samples(x[:steps])[0].astype(np.int32),
                  quantize_samples(target[:steps])[0].astype(np.int32))
    s = ref.snapshot()
    after = quantize(load_model(run_dir / "model_after.npz"))
    assert after.w_o.shape == (1, before.n + RD.TAPS)
    np.testing.assert_array_equal(after.theta, s.theta)
    np.testing.assert_array_equal(after.w_o, s.w_o)
    np.testing.assert_array_equal(after.b_o, s.b_o)


def _learned(run_dir: Path) -> tuple:
    """(device / naive MSE over the first 10 %, over the last 20 %) of the run."""
    rows = np.genfromtxt(run_dir / "telemetry.csv", delimiter=",", names=True)
    sq_dev, sq_naive = (rows["prediction"] - rows["target"]) ** 2, (rows["x"] - rows["target"]) ** 2
    T = rows.shape[0]
    a, b = slice(0, T // 10), slice(T - T // 5, T)
    return sq_dev[a].mean() / sq_naive[a].mean(), sq_dev[b].mean() / sq_naive[b].mean()


@pytest.mark.parametrize("board", board_names())
def test_board_learns_and_matches_host(board, tmp_path):
    _need(board)
    s = run_on_device(board, steps=2000, out_dir=str(tmp_path), progress=False, report=False)
    assert s["weights_match_host"], s
    assert s["frames_bad"] == 0 and s["seq_gaps"] == 0 and s["device_errors"] == 0
    assert s["hidden"] == _default_hidden(board)
    assert (s["readout"], s["taps"], s["features"], s["lr"]) == (RD.READOUT, RD.TAPS, s["hidden"] + RD.TAPS, RD.LR)
    assert {k: s[k] for k in SETTINGS} == SETTINGS
    _check_against_host(tmp_path, 2000)
    # it learns: the RLS readout is good within a few dozen steps, so first vs last loss says
    # little; against the naive forecaster the end is well below half and below the start
    first, last = _learned(tmp_path)
    assert last < 0.5 and last < first, (first, last)
    assert s["instructions_per_step"] > 0 and s["learner_ram_bytes"] > 0
    assert s["qemu_exit_status"] == 0  # the firmware exited on EXIT, it did not fault
    rows = np.genfromtxt(tmp_path / "telemetry.csv", delimiter=",", names=True)
    assert rows.shape == (2000,) and rows["step"][-1] == 1999
    assert (tmp_path / "model_after.npz").exists() and (tmp_path / "model_before.npz").exists()
    # the memory budget, pinned: the learner's deepest stack (2000 steps and a weights DUMP)
    # stays within the stack the board's link-time check keeps free (STACK_BYTES)
    stack = _stack_used(board, tmp_path / "firmware_build" / board / "learner.elf", s["ram_used_bytes"])
    budget = int(board_mk(board)["STACK_BYTES"])
    assert 200 < stack <= budget, (board, stack, budget)


def test_microbit_runs_the_largest_model_that_fits(tmp_path):
    """The default hidden size does not fit the micro:bit's 16 KiB with the RLS readout over
    16 taps: the run uses the largest that does, and its weights match the host's."""
    _need("microbit")
    s = run_on_device("microbit", steps=300, out_dir=str(tmp_path), progress=False)
    n = largest_hidden("microbit", 1, 1, RD.DENSITY, RD.SHARED_MASK, 16, taps=RD.TAPS,
                       readout=RD.READOUT, readout_rule=RD.READOUT_RULE, optimizer=RD.OPTIMIZER)
    assert s["hidden"] == n < RD.HIDDEN
    assert s["readout_rule"] == "rls" and s["taps"] == RD.TAPS and s["optimizer"] == RD.OPTIMIZER
    assert s["ram_used_bytes"] <= get_board("microbit").ram_bytes
    assert s["weights_match_host"]
    _check_against_host(tmp_path, 300)


def test_instruction_counts_repeat_exactly(tmp_path):
    _need("microbit")
    a = run_on_device("microbit", steps=300, out_dir=str(tmp_path / "a"), progress=False)
    b = run_on_device("microbit", steps=300, out_dir=str(tmp_path / "b"), progress=False)
    ia = np.loadtxt(tmp_path / "a" / "instructions.txt", dtype=np.int64)
    ib = np.loadtxt(tmp_path / "b" / "instructions.txt", dtype=np.int64)
    assert ia.shape == (300,) and ia.min() > 0
    np.testing.assert_array_equal(ia, ib)  # exact, step by step
    assert a["instructions_per_step"] == b["instructions_per_step"] == ia.mean()


def test_cli_run_board_json(tmp_path, capsys):
    _need("netduinoplus2")
    rc = main(["run", "--board", "netduinoplus2", "--steps", "500", "--out", str(tmp_path), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in ("board", "steps", "final_loss", "first_loss", "instructions_per_step",
                "learner_ram_bytes", "frames_bad", "weights_match_host"):
        assert key in s
    assert s["board"] == "netduinoplus2" and s["steps"] == 500 and s["weights_match_host"] is True


def test_host_board_needs_no_emulator(tmp_path):
    s = run_on_device("host", steps=300, out_dir=str(tmp_path), progress=False)
    assert s["weights_match_host"] and s["qemu_exit_status"] is None
    assert s["hidden"] == RD.HIDDEN and s["readout_rule"] == "rls"
    _check_against_host(tmp_path, 300)


def test_host_board_with_other_readout_settings(tmp_path):
    """The settings reach the simulated device and the reference alike (SGD readout, frozen
    cell, other RLS constants); bad ones are one-line errors before anything runs."""
    import pyrtrl

    for kw in (dict(readout_rule="gradient"), dict(train="readout", rls_forgetting=0.99, rls_p0=0.5)):
        s = run_on_device("host", steps=200, out_dir=str(tmp_path / kw.get("train", "g")), progress=False,
                          report=False, **kw)
        assert s["weights_match_host"] and all(s[k] == v for k, v in kw.items())
    with pytest.raises(pyrtrl.PyrtrlError, match="readout_rule"):
        run_on_device("host", steps=10, out_dir=str(tmp_path / "bad"), readout_rule="lms")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("rule", ["rls", "gradient"])
def test_adam_on_a_board_matches_the_host(tmp_path, rule):
    """optimizer="adam" on mps2-an386 (the cell, and with a gradient readout the readout too):
    the firmware says Adam in its HELLO, its weights after 300 steps equal the host C
    library's with Adam, and differ from SGD's on the same stream."""
    _need("mps2-an386")
    s = run_on_device("mps2-an386", steps=300, out_dir=str(tmp_path), progress=False, report=False,
                      optimizer="adam", readout_rule=rule)
    assert s["optimizer"] == "adam" and s["weights_match_host"] and s["frames_bad"] == 0
    assert (s["adam_beta1"], s["adam_beta2"], s["adam_eps"]) == (RD.ADAM_BETA1, RD.ADAM_BETA2, RD.ADAM_EPS)
    h = (tmp_path / "firmware_model" / "model_data.h").read_text()
    assert "#define MODEL_ADAM 1u" in h
    before = load_model(tmp_path / "model_before.npz")
    x, target = forecasting_stream(load_signal("ppg", max_steps=301))
    xq, tq = (quantize_samples(a[:300])[0].astype(np.int32) for a in (x, target))
    kw = dict(SETTINGS, readout_rule=rule)
    after = quantize(load_model(tmp_path / "model_after.npz"))
    for opt, same in (("adam", True), ("sgd", False)):
        ref = CLearner(before, lr=RD.LR, influence_bits=RD.INFLUENCE_BITS, **dict(kw, optimizer=opt))
        ref.run_fixed(xq, tq)
        r = ref.snapshot()
        eq = (np.array_equal(after.theta, r.theta) and np.array_equal(after.w_o, r.w_o)
              and np.array_equal(after.b_o, r.b_o))
        assert eq == same, opt
    # the device's buffer holds Adam's moments: the budget's figure, plus its context
    b = budget_for_model(before, RD.INFLUENCE_BITS, readout_rule=rule, optimizer="adam")
    assert b.components["optimizer"] > 0
    assert s["learner_ram_bytes"] == b.total_ram + CONTEXT_BYTES


def test_host_board_with_sgd(tmp_path):
    """optimizer="sgd" reaches the simulated device and the reference alike."""
    s = run_on_device("host", steps=200, out_dir=str(tmp_path), progress=False, report=False,
                      optimizer="sgd")
    assert s["optimizer"] == "sgd" and "adam_beta1" not in s and s["weights_match_host"]


def test_no_frame_lost_over_10k_steps(tmp_path):
    _need("mps2-an386")
    import pyrtrl

    model_path = tmp_path / "m.npz"  # a small model: the link, not the learner, is under test
    pyrtrl.save_model(model_path, pyrtrl.init_egru(12, 1, 1, density=0.5, shared_mask=True, seed=1))
    s = run_on_device("mps2-an386", data="ppg-long", steps=10_000, out_dir=str(tmp_path / "run"),
                      progress=False, model_path=str(model_path))
    assert s["steps"] == 10_000
    assert s["frames_bad"] == 0 and s["seq_gaps"] == 0 and s["device_errors"] == 0
    assert s["weights_match_host"]
