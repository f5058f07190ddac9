"""pyrtrl export: C arrays that runtime_c runs exactly like the host binding (every readout:
events or state, input taps, SGD or RLS, frozen cell, forecast horizon); budgets enforced."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyrtrl
from pyrtrl.device import protocol as P
from pyrtrl import run_defaults as RD
from pyrtrl.deploy.budget import budget_for_model
from pyrtrl.cli import main
from pyrtrl.deploy.export import export_model
from pyrtrl.fixed import quantize_samples
from pyrtrl.deploy.runtime import CLearner
from pyrtrl.data.tasks import delayed_recall

ROOT = Path(__file__).resolve().parents[2]
RT = ROOT / "runtime_c"

HARNESS = r"""
#include <stdio.h>
#include "model_data.h"
static uint64_t buffer[MODEL_BUFFER_WORDS];
int main(void) {
    rtrl_t ctx;
    size_t needed = 0;
    rtrl_status_t st = rtrl_init(&ctx, &model_config, &model_def, buffer, sizeof buffer, &needed);
    if (st != RTRL_OK) { fprintf(stderr, "init %d needed %zu\n", (int)st, needed); return 2; }
    int32_t xt[MODEL_D + MODEL_K];
    while (fread(xt, sizeof(int32_t), MODEL_D + MODEL_K, stdin) == MODEL_D + MODEL_K)
        if (rtrl_step(&ctx, xt, xt + MODEL_D, NULL, NULL) != RTRL_OK) return 3;
    rtrl_view_t v;
    rtrl_get_view(&ctx, &v);
    fwrite(v.theta, 4, MODEL_P, stdout);
    if (v.features != MODEL_FEATURES || rtrl_weights_image_bytes(&ctx) != MODEL_WEIGHTS_BYTES) return 4;
    fwrite(v.w_o, 4, MODEL_K * MODEL_FEATURES, stdout);
    fwrite(v.b_o, 4, MODEL_K, stdout);
    return 0;
}
"""


def _run_exported(tmp_path, bits=16):
    """Compile the harness with the export in ``tmp_path``; run it on a delayed-recall
    stream; (its weights image, xq, tq)."""
    (tmp_path / "harness.c").write_text(HARNESS)
    exe = tmp_path / "harness"
    srcs = [str(p) for p in sorted((RT / "src").glob("*.c"))]
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-DRTRL_INFLUENCE_BITS={bits}",
                    f"-I{RT / 'include'}", f"-I{RT / 'src'}", f"-I{tmp_path}", str(tmp_path / "harness.c"),
                    str(tmp_path / "model_data.c"), *srcs, "-o", str(exe)], check=True, timeout=120)
    x, tg = delayed_recall(400, seed=3)
    xq = quantize_samples(x)[0].astype(np.int32)
    tq = quantize_samples(tg)[0].astype(np.int32)
    stream = np.concatenate([xq, tq], axis=1).astype("<i4").tobytes()
    out = subprocess.run([str(exe)], input=stream, capture_output=True, check=True, timeout=60).stdout
    return out, xq, tq


@pytest.mark.parametrize("shared", [True, False])
def test_exported_model_runs_like_the_host_library(tmp_path, shared):
    model = pyrtrl.init_egru(16, 1, 2, density=0.3, shared_mask=shared, eps=0.5, seed=2)
    export_model(model, "lm3s6965evb", str(tmp_path), lr=0.03, influence_bits=16)
    out, xq, tq = _run_exported(tmp_path)
    ref = CLearner(model, lr=0.03, influence_bits=16)
    ref.run_fixed(xq, tq)
    s = ref.snapshot()
    assert out == P.weights_image(s.theta, s.w_o, s.b_o)


# (readout, taps, readout_rule, train, horizon, influence bits)
READOUTS = [("c", RD.TAPS, "rls", "all", 1, 16), ("y", 4, "rls", "all", 1, 32),
            ("c", 3, "gradient", "all", 1, 16), ("c", 8, "rls", "readout", 1, 16),
            ("c", 4, "rls", "all", 3, 16)]


@pytest.mark.parametrize("readout,taps,rule,train,horizon,bits", READOUTS,
                         ids=["-".join(map(str, r)) for r in READOUTS])
def test_exported_readout_runs_like_the_host_library(tmp_path, readout, taps, rule, train, horizon, bits):
    """The exported rtrl_config_t carries the readout source, taps, rule, frozen cell, RLS
    constants and delay: compiled, the host library's weights after 400 steps, bit for bit."""
    model = pyrtrl.init_egru(20, 1, 2, density=0.3, shared_mask=True, eps=0.2, seed=4,
                             readout=readout, taps=taps)
    kw = dict(readout_rule=rule, train=train, rls_forgetting=0.995, rls_p0=2.0, horizon=horizon)
    export_model(model, "netduinoplus2", str(tmp_path), lr=0.05, influence_bits=bits, **kw)
    h = (tmp_path / "model_data.h").read_text()
    c = (tmp_path / "model_data.c").read_text()
    assert f"#define MODEL_TAPS {taps}u" in h and f"#define MODEL_FEATURES {20 + taps}u" in h
    assert f"#define MODEL_RLS {int(rule == 'rls')}u" in h and f"#define MODEL_DELAY {horizon - 1}u" in h
    want = budget_for_model(model, bits, readout_rule=rule, horizon=horizon).total_ram
    assert f"#define MODEL_BUFFER_BYTES {want}u" in h
    for field in (".n = 20", ".readout_c = MODEL_READOUT_C", ".taps = MODEL_TAPS",
                  ".readout_rls = MODEL_RLS", f".freeze_cell = {int(train == 'readout')}",
                  ".delay = MODEL_DELAY"):
        assert field in c, field
    assert (".rls_p0_q = " in c) == (rule == "rls")
    out, xq, tq = _run_exported(tmp_path, bits)
    ref = CLearner(model, lr=0.05, influence_bits=bits, **kw)
    ref.run_fixed(xq, tq)
    s = ref.snapshot()
    assert s.w_o.shape == (2, 20 + taps)
    assert out == P.weights_image(s.theta, s.w_o, s.b_o)
    if rule == "rls":  # the readout learned, by the rule exported (not SGD)
        sgd = CLearner(model, lr=0.05, influence_bits=bits, **dict(kw, readout_rule="gradient"))
        sgd.run_fixed(xq, tq)
        g = sgd.snapshot()
        assert out != P.weights_image(g.theta, g.w_o, g.b_o)


# (readout, taps, readout_rule, horizon, update_every, beta1)
ADAM = [("c", RD.TAPS, "rls", 1, 1, RD.ADAM_BETA1), ("c", 4, "rls", 3, 1, RD.ADAM_BETA1),
        ("y", 2, "gradient", 1, 2, RD.ADAM_BETA1), ("c", 0, "gradient", 2, 1, 0.0)]


@pytest.mark.parametrize("readout,taps,rule,horizon,K,beta1", ADAM, ids=["-".join(map(str, r)) for r in ADAM])
def test_exported_adam_runs_like_the_host_library(tmp_path, readout, taps, rule, horizon, K, beta1):
    """optimizer="adam": the config carries adam, adam_a, adam_b, adam_eps2_q, the buffer holds
    the moments (RTRL_REQUIRED_BYTES_OPT), lr is per update; compiled, the host library's
    weights after 400 steps, bit for bit, and not SGD's."""
    model = pyrtrl.init_egru(20, 1, 2, density=0.3, shared_mask=True, eps=0.2, seed=4,
                             readout=readout, taps=taps)
    kw = dict(readout_rule=rule, horizon=horizon, update_every=K, optimizer="adam", adam_beta1=beta1,
              adam_beta2=1 - 2.0 ** -8, adam_eps=1e-5)
    export_model(model, "netduinoplus2", str(tmp_path), lr=0.003, influence_bits=16, **kw)
    h = (tmp_path / "model_data.h").read_text()
    c = (tmp_path / "model_data.c").read_text()
    assert "#define MODEL_ADAM 1u" in h
    want = budget_for_model(model, 16, readout_rule=rule, horizon=horizon, optimizer="adam")
    assert want.components["optimizer"] > 0
    assert f"#define MODEL_BUFFER_BYTES {want.total_ram}u" in h
    a = 0 if beta1 == 0 else 3
    eps2 = round(1e-10 * 2.0 ** 48)
    for field in (".adam = MODEL_ADAM", f".adam_a = {a},", ".adam_b = 8,", f".adam_eps2_q = {eps2}u",
                  f".lr_q = {round(0.003 * 2 ** 24)}, /* lr 0.003 per update (Adam)",
                  "RTRL_REQUIRED_BYTES_OPT(", "MODEL_ADAM) == MODEL_BUFFER_BYTES"):
        assert field in c, field
    out, xq, tq = _run_exported(tmp_path, 16)
    ref = CLearner(model, lr=0.003, influence_bits=16, **kw)
    assert ref.required_bytes == want.total_ram + 2 * 20 * (int(ref.lib.RTRL_CHUNK) - 16)
    ref.run_fixed(xq, tq)
    s = ref.snapshot()
    assert out == P.weights_image(s.theta, s.w_o, s.b_o)
    sgd = CLearner(model, lr=0.003, influence_bits=16, **dict(kw, optimizer="sgd"))
    sgd.run_fixed(xq, tq)
    g = sgd.snapshot()
    assert out != P.weights_image(g.theta, g.w_o, g.b_o)


def test_sgd_export_says_sgd(tmp_path):
    """The default (SGD) export: MODEL_ADAM 0, .adam 0 and no Adam constants; lr per sample."""
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=1)
    export_model(model, "microbit", str(tmp_path), lr=0.03, update_every=2)
    h = (tmp_path / "model_data.h").read_text()
    c = (tmp_path / "model_data.c").read_text()
    assert "#define MODEL_ADAM 0u" in h and ".adam = MODEL_ADAM, /* SGD */" in c
    assert ".adam_a" not in c and ".adam_eps2_q" not in c and "lr 0.03 / K" in c
    assert "model_buffer_size_check_ro" in c
    assert f"#define MODEL_BUFFER_BYTES {budget_for_model(model, 16).total_ram}u" in h
    with pytest.raises(pyrtrl.PyrtrlError, match="optimizer"):
        export_model(model, "microbit", str(tmp_path / "bad"), optimizer="rmsprop")
    with pytest.raises(pyrtrl.PyrtrlError, match="beta2"):
        export_model(model, "microbit", str(tmp_path / "bad"), optimizer="adam", adam_beta2=0.99)


def test_adam_moments_can_tip_a_model_over_budget(tmp_path):
    """Adam's 12 bytes per parameter count toward the budget: the message names Adam."""
    fits = [n for n in range(8, 40) if budget_for_model(
        pyrtrl.init_egru(n, 1, 1, density=0.2, shared_mask=True, seed=0, readout="c", taps=16), 16,
        readout_rule="rls").fits("microbit") and not budget_for_model(
        pyrtrl.init_egru(n, 1, 1, density=0.2, shared_mask=True, seed=0, readout="c", taps=16), 16,
        readout_rule="rls", optimizer="adam").fits("microbit")]
    assert fits
    model = pyrtrl.init_egru(fits[0], 1, 1, density=0.2, shared_mask=True, seed=0, readout="c", taps=16)
    export_model(model, "microbit", str(tmp_path / "sgd"), readout_rule="rls")  # fits
    with pytest.raises(pyrtrl.PyrtrlError) as e:
        export_model(model, "microbit", str(tmp_path / "adam"), readout_rule="rls", optimizer="adam")
    msg = str(e.value)
    assert "\n" not in msg and "by RLS, the cell by Adam is" in msg
    assert not (tmp_path / "adam").exists()


def test_over_budget_rls_readout_names_the_readout(tmp_path):
    """RLS's P is what tips this model over the micro:bit's budget: the message says so."""
    model = pyrtrl.init_egru(16, 1, 1, density=0.2, shared_mask=True, seed=0, readout="c", taps=16)
    export_model(model, "microbit", str(tmp_path / "sgd"), readout_rule="gradient")  # fits
    with pytest.raises(pyrtrl.PyrtrlError) as e:
        export_model(model, "microbit", str(tmp_path / "rls"), readout_rule="rls")
    msg = str(e.value)
    assert "\n" not in msg and "readout of c + 16 input taps by RLS is 13" in msg
    assert not (tmp_path / "rls").exists()
    with pytest.raises(pyrtrl.PyrtrlError, match="readout_rule"):
        export_model(model, "mps2-an386", str(tmp_path / "bad"), readout_rule="ls")


def test_over_budget_model_fails_export_with_the_numbers(tmp_path):
    model = pyrtrl.init_egru(64, 1, 1, density=1.0, seed=0)
    with pytest.raises(pyrtrl.PyrtrlError) as e:
        export_model(model, "microbit", str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "microbit" in msg and "needs" in msg and "largest hidden size" in msg
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
def test_stale_export_over_budget_fails_the_build(tmp_path):
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=0)
    export_model(model, "microbit", str(tmp_path))
    h = tmp_path / "model_data.h"
    h.write_text(h.read_text().replace("#define MODEL_BOARD_RAM_BYTES 16384u", "#define MODEL_BOARD_RAM_BYTES 4096u"))
    r = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-mcpu=cortex-m0", "-mthumb", "-DRTRL_INFLUENCE_BITS=16",
                        f"-I{RT / 'include'}", "-c", str(tmp_path / "model_data.c"), "-o", str(tmp_path / "m.o")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "over the RAM budget of board microbit" in r.stderr


def test_cli_export(tmp_path, capsys):
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=1)
    path = tmp_path / "m.npz"
    pyrtrl.save_model(path, model)
    assert main(["export", str(path), "--board", "microbit", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model_data.c").exists()
    assert "#define MODEL_ADAM 0u" in (tmp_path / "out" / "model_data.h").read_text()
    assert main(["export", str(path), "--board", "microbit", "--optimizer", "adam", "-o",
                 str(tmp_path / "adam")]) == 0
    assert "#define MODEL_ADAM 1u" in (tmp_path / "adam" / "model_data.h").read_text()
    big = tmp_path / "big.npz"
    pyrtrl.save_model(big, pyrtrl.init_egru(64, 1, 1, seed=0))
    assert main(["export", str(big), "--board", "microbit", "-o", str(tmp_path / "o2")]) == 2
    assert "largest hidden size" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None,
                    reason="needs the Arm toolchain and make")
def test_model_exported_for_a_big_board_fails_the_microbit_build(tmp_path):
    model = pyrtrl.init_egru(24, 1, 1, density=0.5, shared_mask=True, seed=0)
    export_model(model, "mps2-an386", str(tmp_path / "m"), influence_bits=16)
    r = subprocess.run(["make", "-s", "-C", str(ROOT / "firmware"), "BOARD=microbit", "APP=learner",
                        f"MODEL_DIR={tmp_path / 'm'}", "INFLUENCE_BITS=16", f"BUILD={tmp_path / 'b'}"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "over this board's RAM budget" in r.stderr and "learner buffer" in r.stderr
