"""Memory budget (pyrtrl.deploy.budget) and boards (pyrtrl.boards).

The RAM total must be the C runtime's own size query (rtrl_required_bytes through CLearner)
for every configuration (every readout: events or state, with or without input taps, SGD or
RLS), and its components must add up to it; flash must be the bytes of the arrays an
rtrl_model_t points to.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyrtrl import PyrtrlError, init_egru, save_model
from pyrtrl import run_defaults as RD
from pyrtrl.boards import BOARDS, RESERVED_RAM, get_board
from pyrtrl.deploy.budget import (CHUNK, CONTEXT_BYTES, FLASH_COMPONENTS, MAX_DELAY, MAX_FEATURES, MAX_PARAMS,
                           MAX_UNITS, RAM_COMPONENTS, budget, budget_for_model, component_help,
                           largest_hidden, required_bytes)
from pyrtrl.cli import main
from pyrtrl.deploy.runtime import CLearner, _lib, c_model_arrays

ROOT = Path(__file__).resolve().parents[2]

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


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("rule", ["gradient", "rls"])
@pytest.mark.parametrize("taps", [0, 16])
@pytest.mark.parametrize("readout", ["y", "c"])
def test_total_is_the_c_size_query_for_every_readout(readout, taps, rule, bits):
    """RTRL_REQUIRED_BYTES_RO: the readout's and its gradient's k x features, the input taps,
    z, and with RLS P (features + 1)^2, Pz and gain, exactly as rtrl_required_bytes says."""
    for hidden, d, k, density, shared, seed in ((1, 1, 1, 1.0, True, 0), (7, 3, 2, 0.5, False, 3),
                                                (32, 1, 1, 0.2, True, 0), (45, 2, 3, 0.3, False, 1)):
        if hidden + taps * d > MAX_FEATURES:
            continue
        model = init_egru(hidden, d, k, density=density, shared_mask=shared, seed=seed,
                          readout=readout, taps=taps)
        c = CLearner(model, influence_bits=bits, readout_rule=rule)
        chunk = int(c.lib.RTRL_CHUNK)
        b = budget(hidden, d, k, density, shared, influence_bits=bits, seed=seed, chunk=chunk,
                   taps=taps, readout=readout, readout_rule=rule)
        assert b.total_ram == c.required_bytes, (hidden, d, k)
        assert sum(b.components.values()) == b.total_ram and tuple(b.components) == RAM_COMPONENTS
        assert budget_for_model(model, bits, chunk=chunk, readout_rule=rule).to_dict() == b.to_dict()
        assert b.features == c.q.features == hidden + taps * d
        f1 = b.features + 1
        assert b.components["rls"] == (4 * (f1 * f1 + 2 * f1) if rule == "rls" else 0)
        assert b.components["weights"] == 4 * (b.params + k * b.features + k)
        assert b.components["state"] == 4 * (10 * hidden + taps * d)
        assert b.flash == sum(a.nbytes for a in c_model_arrays(c.q).values())
        assert b.flash_components["initial_readout"] == 4 * (k * b.features + k)
        assert b.to_dict()["readout"] == readout and b.to_dict()["taps"] == taps
        assert b.to_dict()["readout_rule"] == rule
        # the independent re-statement of the macro, at the firmware's chunk too
        nnz_w, nnz_r = sum(b.nnz_w), sum(b.nnz_r)
        assert required_bytes(hidden, d, k, nnz_w, nnz_r, b.nnz_union, bits, chunk, taps=taps,
                              rls=rule == "rls") == c.required_bytes
        fw = budget_for_model(model, bits, readout_rule=rule)
        assert fw.total_ram == b.total_ram - (bits // 8) * hidden * (chunk - CHUNK)
        # RLS adds its own component only (and may move the padding)
        sgd = budget_for_model(model, bits, readout_rule="gradient").components
        assert {c: v for c, v in sgd.items() if c not in ("rls", "padding")} == \
            {c: v for c, v in fw.components.items() if c not in ("rls", "padding")}


@pytest.mark.parametrize("horizon", [2, 3, 16])
@pytest.mark.parametrize("taps", [0, 5])
def test_total_is_the_c_size_query_with_a_horizon(taps, horizon):
    """RTRL_REQUIRED_BYTES_H: the input ring (D + max(taps, 1)) x d and the forecast banks."""
    for d, rule in ((1, "rls"), (3, "gradient")):
        model = init_egru(12, d, 2, density=0.5, shared_mask=True, seed=1, readout="c", taps=taps)
        c = CLearner(model, influence_bits=16, readout_rule=rule, horizon=horizon)
        chunk = int(c.lib.RTRL_CHUNK)
        b = budget_for_model(model, 16, chunk, readout_rule=rule, horizon=horizon)
        assert b.total_ram == c.required_bytes and b.horizon == horizon
        h1 = budget_for_model(model, 16, chunk, readout_rule=rule)
        D = horizon - 1
        assert b.components["state"] - h1.components["state"] == \
            4 * ((D + max(taps, 1)) * d - taps * d + 10 * 12)
        assert required_bytes(12, d, 2, sum(b.nnz_w), sum(b.nnz_r), b.nnz_union, 16, chunk, taps=taps,
                              rls=rule == "rls", delay=D) == c.required_bytes
    with pytest.raises(PyrtrlError, match="horizon"):
        budget(8, 1, 1, 0.5, True, horizon=0)


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("rule", ["gradient", "rls"])
@pytest.mark.parametrize("horizon", [1, 4])
def test_total_is_the_c_size_query_with_adam(rule, horizon, bits):
    """RTRL_REQUIRED_BYTES_OPT: Adam adds 12 bytes (int64 v, int32 m) per parameter learned by
    gradient: the cell's P, and the readout's k x features + k unless it learns by RLS."""
    for hidden, d, k, density, shared, seed, readout, taps in (
            (1, 1, 1, 1.0, True, 0, "y", 0), (7, 3, 2, 0.5, False, 3, "c", 5),
            (32, 1, 1, 0.2, True, 0, "c", 16), (13, 2, 3, 0.3, False, 1, "y", 0)):
        model = init_egru(hidden, d, k, density=density, shared_mask=shared, seed=seed,
                          readout=readout, taps=taps)
        c = CLearner(model, influence_bits=bits, readout_rule=rule, horizon=horizon, optimizer="adam")
        chunk = int(c.lib.RTRL_CHUNK)
        b = budget(hidden, d, k, density, shared, influence_bits=bits, seed=seed, chunk=chunk,
                   taps=taps, readout=readout, readout_rule=rule, horizon=horizon, optimizer="adam")
        assert b.total_ram == c.required_bytes, (hidden, d, k)
        assert sum(b.components.values()) == b.total_ram and tuple(b.components) == RAM_COMPONENTS
        assert b.to_dict()["optimizer"] == "adam"
        assert budget_for_model(model, bits, chunk, readout_rule=rule, horizon=horizon,
                                optimizer="adam").to_dict() == b.to_dict()
        trained = b.params + (0 if rule == "rls" else k * b.features + k)
        assert b.components["optimizer"] == 12 * trained
        assert required_bytes(hidden, d, k, sum(b.nnz_w), sum(b.nnz_r), b.nnz_union, bits, chunk,
                              taps=taps, rls=rule == "rls", delay=horizon - 1,
                              adam=True) == c.required_bytes
        # SGD: no optimizer component; everything else equal (but the padding)
        sgd = budget_for_model(model, bits, chunk, readout_rule=rule, horizon=horizon)
        assert sgd.components["optimizer"] == 0 and sgd.to_dict()["optimizer"] == "sgd"
        assert sgd.total_ram == CLearner(model, influence_bits=bits, readout_rule=rule,
                                         horizon=horizon).required_bytes
        assert b.total_ram - sgd.total_ram == (12 * trained + 7) // 8 * 8
        assert {n: v for n, v in sgd.components.items() if n not in ("optimizer", "padding")} == \
            {n: v for n, v in b.components.items() if n not in ("optimizer", "padding")}
    with pytest.raises(PyrtrlError, match="optimizer"):
        budget(8, 1, 1, 0.5, True, optimizer="rmsprop")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_python_figure_is_the_c_macro_with_adam(tmp_path):
    """RTRL_REQUIRED_BYTES_OPT compiled (the firmware's chunk, CHUNK) equals required_bytes
    and the Budget total, for Adam with RLS and SGD readouts, with and without a delay."""
    cases = [(12, 1, 1, 0.3, True, "c", 16, "rls", 1), (12, 1, 1, 0.3, True, "c", 16, "rls", 5),
             (9, 3, 2, 0.5, False, "y", 2, "gradient", 1), (9, 3, 2, 0.5, False, "c", 0, "gradient", 3),
             (RD.HIDDEN, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.READOUT, RD.TAPS, RD.READOUT_RULE, 1)]
    rows, want = [], []
    for n, d, k, dens, shared, readout, taps, rule, horizon in cases:
        for adam in (0, 1):
            b = budget(n, d, k, dens, shared, 16, taps=taps, readout=readout, readout_rule=rule,
                       horizon=horizon, optimizer="adam" if adam else "sgd")
            rows.append(f"RTRL_REQUIRED_BYTES_OPT({n}u, {d}u, {k}u, {sum(b.nnz_w)}u, {sum(b.nnz_r)}u, "
                        f"{b.nnz_union}u, {taps}u, {int(rule == 'rls')}u, {horizon - 1}u, {adam}u)")
            want.append(b.total_ram)
    src = tmp_path / "sizes.c"
    src.write_text('#include <stdio.h>\n#include "rtrl.h"\nint main(void) {\n'
                   + "".join(f'    printf("%zu\\n", (size_t)({r}));\n' for r in rows) + "    return 0;\n}\n")
    exe = tmp_path / "sizes"
    subprocess.run(["cc", "-DRTRL_INFLUENCE_BITS=16", "-I", str(ROOT / "runtime_c" / "include"),
                    str(src), "-o", str(exe)], check=True, timeout=120)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert got == want


def test_run_defaults_budget():
    """The default run's model (c readout, 16 taps, RLS) against the old readout."""
    new = budget(RD.HIDDEN, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS, taps=RD.TAPS,
                 readout=RD.READOUT, readout_rule=RD.READOUT_RULE)
    old = budget(RD.HIDDEN, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS)
    f = RD.HIDDEN + RD.TAPS
    assert new.features == f and new.readout == "c"
    assert new.components["rls"] == 4 * ((f + 1) ** 2 + 2 * (f + 1)) > 0
    assert new.total_ram > old.total_ram + new.components["rls"]
    # microbit: the default hidden size does not fit; the largest that does is a boundary
    n = largest_hidden("microbit", 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS, taps=RD.TAPS,
                       readout=RD.READOUT, readout_rule=RD.READOUT_RULE)
    assert 1 <= n < RD.HIDDEN
    kw = dict(taps=RD.TAPS, readout=RD.READOUT, readout_rule=RD.READOUT_RULE)
    assert budget(n, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS, **kw).fits("microbit")
    assert not budget(n + 1, 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS, **kw).fits("microbit")
    assert n < largest_hidden("microbit", 1, 1, RD.DENSITY, RD.SHARED_MASK, RD.INFLUENCE_BITS)
    assert all(component_help(name) for name in RAM_COMPONENTS)


def test_readout_limits():
    # features = hidden + taps x inputs <= 255: budget refuses, largest_hidden stops there
    with pytest.raises(PyrtrlError, match="readout features") as e:
        budget(16, 2, 1, 0.5, True, taps=120)
    assert "\n" not in str(e.value)
    n = largest_hidden("mps2-an386", 4, 1, 0.2, True, 16, taps=60)
    assert n == MAX_FEATURES - 60 * 4
    assert budget(n, 4, 1, 0.2, True, 16, taps=60).features == MAX_FEATURES
    for kw, word in ((dict(readout="z"), "readout"), (dict(readout_rule="ls"), "readout_rule"),
                     (dict(taps=-1), "taps"), (dict(taps=1.5), "taps")):
        with pytest.raises(PyrtrlError, match=word):
            budget(8, 1, 1, 0.5, True, **kw)
    with pytest.raises(PyrtrlError, match="readout_rule"):
        budget_for_model(init_egru(4, 1, 1, seed=0), 16, readout_rule="sgd")


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
                        ("RTRL_CHUNK", CHUNK), ("RTRL_MAX_FEATURES", MAX_FEATURES),
                        ("RTRL_MAX_DELAY", MAX_DELAY)):
        assert re.search(rf"#define {name} {value}\b", header), name


def test_influence_component_scales_with_width():
    b16 = budget(32, 1, 1, 0.2, True, 16)
    b32 = budget(32, 1, 1, 0.2, True, 32)
    assert b16.components["influence"] == 2 * 32 * b16.params
    assert b32.components["influence"] == 2 * b16.components["influence"]
    assert b16.flash == b32.flash  # flash holds no influence values


def test_n32_density02_shared_16bit_on_64kib():
    """The first sizing target was the learner's buffer and its context within 64 KiB
    (63,840 + 480 B). M's layout by postsynaptic unit (issue 14: zero blocks skipped) adds a
    column table (2 B per parameter), J row lists (4 B per union entry) and block flags:
    66,568 + 512 B, 3.9 % more, for ~4x fewer influence products; the influence update's
    five unit masks moved from the stack into the buffer (the 16 KiB boards' 1 KiB stack):
    66,592 + 512 B. This pins that cost.

    On the lm3s6965evb (exactly 64 KiB), with the planner's 4 KiB board reserve the largest
    such model is n = 30, which the planner says."""
    b = budget(32, 1, 1, 0.2, True, influence_bits=16)
    assert b.total_ram + CONTEXT_BYTES <= 66592 + 512
    assert b.components["column_maps"] == 2 * (b.params + 5 * 32 + 1) + 4 * (32 + 5)
    board = get_board("lm3s6965evb")
    assert board.ram_bytes == 64 * 1024
    assert not b.fits(board)  # with the 4 KiB firmware reserve it does not
    assert largest_hidden(board, 1, 1, 0.2, True, 16) == 30


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
    # without a board: no board keys; the width defaults to a run's (one default everywhere)
    res = _cli_json(capsys, "--hidden", "8", "--inputs", "2", "--outputs", "3", "--density", "0.5")
    assert "board" not in res and res["total_ram"] == budget(8, 2, 3, 0.5, False, RD.INFLUENCE_BITS).total_ram
    assert budget(8, 2, 3, 0.5, False).total_ram == res["total_ram"]
    assert res["total_ram"] != budget(8, 2, 3, 0.5, False, 48 - RD.INFLUENCE_BITS).total_ram


def test_cli_optimizer(capsys):
    """--optimizer adam: Adam's moments in the components and in the largest hidden search."""
    args = ["--hidden", "16", "--inputs", "1", "--outputs", "1", "--density", "0.2", "--shared-mask",
            "--influence-bits", "16", "--taps", "16", "--readout", "c", "--readout-rule", "rls",
            "--board", "microbit"]
    sgd = _cli_json(capsys, *args)
    adam = _cli_json(capsys, *args, "--optimizer", "adam")
    b = budget(16, 1, 1, 0.2, True, 16, taps=16, readout="c", readout_rule="rls", optimizer="adam")
    assert sgd["optimizer"] == "sgd" and sgd["components"]["optimizer"] == 0
    assert adam["optimizer"] == "adam" and adam["components"] == b.components
    assert adam["components"]["optimizer"] == 12 * b.params and adam["total_ram"] == b.total_ram
    assert adam["largest_hidden"] == largest_hidden("microbit", 1, 1, 0.2, True, 16, taps=16, readout="c",
                                                    readout_rule="rls", optimizer="adam")
    assert adam["largest_hidden"] < sgd["largest_hidden"]
    assert main(["budget", *args, "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "Adam" in out and "optimizer" in out


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
