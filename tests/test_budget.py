"""Memory budget (pyrtrl.budget) and boards (pyrtrl.boards).

The RAM total must be the C runtime's own size query (rtrl_required_bytes through CLearner)
for every configuration, and its components must add up to it; flash must be the bytes of
the arrays an rtrl_model_t points to.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyrtrl import PyrtrlError, init_egru, save_model
from pyrtrl.boards import BOARDS, RESERVED_RAM, get_board
from pyrtrl.budget import (CHUNK, CONTEXT_BYTES, FLASH_COMPONENTS, MAX_PARAMS, MAX_UNITS,
                           RAM_COMPONENTS, budget, budget_for_model, largest_hidden)
from pyrtrl.cli import main
from pyrtrl.runtime import CLearner, _lib, c_model_arrays

ROOT = Path(__file__).resolve().parents[1]

HIDDEN = [1, 4, 8, 16, 32, 64]
DENSITY = [1.0, 0.5, 0.2, 0.1]


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "indep"])
@pytest.mark.parametrize("density", DENSITY)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_total_is_the_c_size_query(hidden, density, shared, bits):
    for d, k, seed in ((1, 1, 0), (3, 2, 7)):
        model = init_egru(hidden, d, k, density=density, shared_mask=shared, seed=seed)
        c = CLearner(model, influence_bits=bits)
        # the host binding's RTRL_CHUNK; firmware builds use the header default CHUNK
        b = budget(hidden, d, k, density, shared, influence_bits=bits, seed=seed,
                   chunk=int(c.lib.RTRL_CHUNK))
        assert b.total_ram == c.required_bytes
        assert sum(b.components.values()) == b.total_ram
        assert tuple(b.components) == RAM_COMPONENTS
        assert all(v >= 0 for v in b.components.values())
        assert b.params == c.q.P and b.nnz_union == c.q.union.nnz
        assert b.flash == sum(a.nbytes for a in c_model_arrays(c.q).values())
        assert tuple(b.flash_components) == FLASH_COMPONENTS
        assert budget_for_model(model, bits, chunk=int(c.lib.RTRL_CHUNK)).to_dict() == b.to_dict()
        fw = budget_for_model(model, bits)
        assert fw.total_ram == b.total_ram - (bits // 8) * hidden * (int(c.lib.RTRL_CHUNK) - CHUNK)


def test_padding_is_counted_and_nonzero_somewhere():
    pads = {budget(n, 1, 1, 0.5, False, bits, seed=1).components["padding"]
            for n in (1, 3, 5, 7) for bits in (16, 32)}
    assert max(pads) > 0 and max(pads) <= 4 * 7


def test_constants_match_the_runtime():
    for bits in (16, 32):
        _, lib = _lib(bits)
        assert lib.RTRL_CHUNK >= CHUNK  # the host binding may use wider chunks
    header = (ROOT / "runtime_c" / "include" / "rtrl.h").read_text()
    for name, value in (("RTRL_MAX_UNITS", MAX_UNITS), ("RTRL_MAX_PARAMS", MAX_PARAMS),
                        ("RTRL_CHUNK", CHUNK)):
        assert re.search(rf"#define {name} {value}\b", header), name


def test_influence_component_scales_with_width():
    b16 = budget(32, 1, 1, 0.2, True, 16)
    b32 = budget(32, 1, 1, 0.2, True, 32)
    assert b16.components["influence"] == 2 * 32 * b16.params
    assert b32.components["influence"] == 2 * b16.components["influence"]
    assert b16.flash == b32.flash  # flash holds no influence values


def test_n32_density02_shared_16bit_fits_in_64kib():
    """The issue's sizing target: the learner's buffer and its context fit in 64 KiB.

    On the lm3s6965evb (exactly 64 KiB) that leaves little for the firmware: with the
    planner's 4 KiB board reserve the largest such model is n = 31, which the planner says."""
    b = budget(32, 1, 1, 0.2, True, influence_bits=16)
    assert b.total_ram + CONTEXT_BYTES <= 64 * 1024
    board = get_board("lm3s6965evb")
    assert board.ram_bytes == 64 * 1024
    assert not b.fits(board)  # with the 4 KiB firmware reserve it does not
    assert largest_hidden(board, 1, 1, 0.2, True, 16) == 31


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "indep"])
@pytest.mark.parametrize("board", [b.name for b in BOARDS])
def test_largest_hidden_is_a_boundary(board, shared, bits):
    n = largest_hidden(board, 1, 1, 0.2, shared, bits)
    assert 1 <= n <= MAX_UNITS
    assert budget(n, 1, 1, 0.2, shared, bits).fits(board)
    if n < MAX_UNITS:
        assert not budget(n + 1, 1, 1, 0.2, shared, bits).fits(board)


def test_largest_hidden_edges():
    # nothing fits when the reserve takes all RAM
    assert largest_hidden("microbit", 1, 1, 0.2, True, 16, reserve=16 * 1024) == 0
    # more RAM never means fewer units; a wider influence matrix never more
    lm16 = largest_hidden("lm3s6965evb", 1, 1, 0.2, True, 16)
    assert largest_hidden("mps2-an386", 1, 1, 0.2, True, 16) >= lm16
    assert largest_hidden("lm3s6965evb", 1, 1, 0.2, True, 32) <= lm16
    with pytest.raises(PyrtrlError):
        largest_hidden("lm3s6965evb", 1, 1, 0.0, True, 16)


def test_limits_are_one_line_errors():
    for args, word in (((300, 1, 1, 0.5, True), "hidden"), ((8, 0, 1, 0.5, True), "inputs"),
                       ((200, 1, 1, 1.0, True), "cell parameters")):
        with pytest.raises(PyrtrlError, match=word) as e:
            budget(*args)
        assert "\n" not in str(e.value)
    with pytest.raises(PyrtrlError, match="influence_bits"):
        budget(8, 1, 1, 0.5, True, influence_bits=8)


# -- boards ------------------------------------------------------------------------------
def test_boards():
    want = {"lm3s6965evb": (64, 256, 50), "netduinoplus2": (128, 1024, 168),
            "mps2-an386": (4096, 4096, 25), "mps2-an500": (4096, 4096, 25),
            "mps3-an547": (512, 512, 32), "microbit": (16, 256, 16), "sifive_e": (16, 4096, 16)}
    assert {b.name for b in BOARDS} == set(want)
    for b in BOARDS:
        ram, flash, mhz = want[b.name]
        assert (b.ram_bytes, b.flash_bytes, b.clock_hz) == (ram * 1024, flash * 1024, mhz * 10**6)
        assert b.reserved_ram == RESERVED_RAM[b.name] == (4096 if ram >= 64 else 2048)
        assert get_board(b.name) is b


def test_unknown_board_is_one_line():
    with pytest.raises(PyrtrlError) as e:
        get_board("esp32")
    assert "lm3s6965evb" in str(e.value) and "\n" not in str(e.value)
    r = subprocess.run([sys.executable, "-m", "pyrtrl", "budget", "--hidden", "8", "--inputs", "1",
                        "--outputs", "1", "--density", "0.5", "--board", "esp32"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown board 'esp32'" in lines[0] and "sifive_e" in lines[0]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("bits", [16, 32])
def test_context_bytes(tmp_path, bits):
    src = tmp_path / "ctx.c"
    src.write_text('#include "rtrl.h"\nchar ctx_size[sizeof(rtrl_t)];\n')
    obj = tmp_path / "ctx.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", f"-DRTRL_INFLUENCE_BITS={bits}",
                    "-I", str(ROOT / "runtime_c" / "include"), "-c", str(src), "-o", str(obj)],
                   check=True, timeout=120)
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    size = next(int(line.split()[1], 16) for line in out.splitlines() if line.endswith("ctx_size"))
    assert size == CONTEXT_BYTES


# -- CLI ---------------------------------------------------------------------------------
def _cli_json(capsys, *args):
    rc = main(["budget", *args, "--json"])
    assert rc == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json_round_trip(capsys):
    res = _cli_json(capsys, "--hidden", "32", "--inputs", "1", "--outputs", "1", "--density", "0.2",
                    "--shared-mask", "--influence-bits", "16", "--board", "lm3s6965evb")
    b = budget(32, 1, 1, 0.2, True, 16)
    board = get_board("lm3s6965evb")
    assert res["components"] == b.components and sum(res["components"].values()) == res["total_ram"]
    assert res["total_ram"] == b.total_ram and res["flash"] == b.flash
    assert res["board"] == "lm3s6965evb" and res["board_ram"] == board.ram_bytes
    assert res["reserve"] == board.reserved_ram
    assert res["fits"] == b.fits(board)
    assert res["largest_hidden"] == largest_hidden(board, 1, 1, 0.2, True, 16)
    # without a board: no board keys
    res = _cli_json(capsys, "--hidden", "8", "--inputs", "2", "--outputs", "3", "--density", "0.5")
    assert "board" not in res and res["total_ram"] == budget(8, 2, 3, 0.5, False, 32).total_ram


def test_cli_model_file(capsys, tmp_path):
    model = init_egru(12, 2, 1, density=0.3, shared_mask=False, seed=5)
    path = tmp_path / "m.npz"
    save_model(path, model)
    res = _cli_json(capsys, "--model", str(path), "--influence-bits", "16", "--board", "microbit")
    c = CLearner(model, influence_bits=16)
    host = budget_for_model(model, 16, chunk=int(c.lib.RTRL_CHUNK))
    assert host.total_ram == c.required_bytes
    assert res["total_ram"] == budget_for_model(model, 16).total_ram
    assert res["hidden"] == 12 and res["shared_mask"] is False
    rc = main(["budget", "--model", str(path), "--hidden", "4"])
    assert rc == 2 and "--model" in capsys.readouterr().err


def test_cli_text_and_help(capsys):
    rc = main(["budget", "--hidden", "16", "--inputs", "1", "--outputs", "1", "--density", "0.5",
               "--shared-mask", "--board", "netduinoplus2"])
    out = capsys.readouterr().out
    assert rc == 0
    for word in ("influence", "total", "flash", "netduinoplus2", "largest hidden"):
        assert word in out
    with pytest.raises(SystemExit) as e:
        main(["budget", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "example:" in out and "pyrtrl budget" in out and "draw" in out


def test_cli_missing_and_bad_arguments(capsys):
    assert main(["budget", "--hidden", "8"]) == 2
    err = capsys.readouterr().err
    assert "--density" in err and len(err.strip().splitlines()) == 1
    assert main(["budget", "--hidden", "256", "--inputs", "1", "--outputs", "1", "--density", "0.5"]) == 2
    with pytest.raises(SystemExit) as e:
        main(["budget", "--hidden", "8", "--inputs", "1", "--outputs", "1", "--density", "0.5",
              "--influence-bits", "8"])
    assert e.value.code == 2
