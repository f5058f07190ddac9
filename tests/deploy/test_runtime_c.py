"""runtime_c (through cffi) against its numpy specification pyrtrl.fixed, bit for bit."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.fixed import FixedLearner, fixed_config, quantize, quantize_samples
from pyrtrl.deploy.runtime import CLearner, c_model_arrays, param_columns

from bitexact import assert_same

# n from 8 to 64, densities 1.0 to 0.1, eps 1.0 to 0.2, shared and independent masks,
# both influence widths, and the dense mode
CONFIGS = [
    dict(n=8, density=1.0, eps=1.0, shared=True, bits=32),
    dict(n=16, density=0.5, eps=0.5, shared=False, bits=16),
    dict(n=24, density=0.3, eps=0.2, shared=True, bits=16),
    dict(n=32, density=0.2, eps=0.5, shared=False, bits=32),
    dict(n=48, density=0.1, eps=0.2, shared=False, bits=16),
    dict(n=64, density=0.1, eps=1.0, shared=True, bits=32),
]


def stream(T, d, k, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(T, d)) * scale
    x[rng.random((T, d)) < 0.2] = 0.0  # zero inputs: their columns must be skipped exactly
    tg = rng.normal(size=(T, k)) * 0.5
    return quantize_samples(x)[0].astype(np.int32), quantize_samples(tg)[0].astype(np.int32)


def run_both(model, cfg_kw, x, t, check_every, labels=None):
    c = CLearner(model, **cfg_kw)
    extra = {k: cfg_kw[k] for k in ("readout_rule", "train", "rls_forgetting", "rls_p0", "horizon",
                                    "optimizer", "adam_beta1", "adam_beta2", "adam_eps")
             if k in cfg_kw}
    f = FixedLearner(quantize(model), fixed_config(cfg_kw["lr"], cfg_kw["clip"], cfg_kw["update_every"],
                                                  cfg_kw["influence_bits"], cfg_kw.get("dense", False),
                                                  **extra))
    outs = []
    for start in range(0, x.shape[0], check_every):
        stop = min(start + check_every, x.shape[0])
        r = c.run_fixed(x[start:stop], None if t is None else t[start:stop],
                        labels=None if labels is None else labels[start:stop])
        for i in range(start, stop):
            out, loss = f.step(x[i], None if t is None else t[i], -1 if labels is None else int(labels[i]))
            outs.append((out, loss))
        np.testing.assert_array_equal(r.output_q, np.array([o for o, _ in outs[start:stop]]))
        np.testing.assert_array_equal(r.loss_q, np.array([lq for _, lq in outs[start:stop]]))
        assert_same(c, f, f"after step {stop}")
    return c, f


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "n{n}-d{density}-e{eps}-{s}-{bits}b".format(
    s="shared" if c["shared"] else "indep", **c))
def test_bit_exact_over_10k_steps(cfg):
    model = pyrtrl.init_egru(cfg["n"], 2, 2, density=cfg["density"], shared_mask=cfg["shared"],
                             eps=cfg["eps"], seed=cfg["n"])
    x, t = stream(10_000, 2, 2, seed=cfg["n"] + 1)
    c, f = run_both(model, dict(lr=0.05, clip=1.0, update_every=3, influence_bits=cfg["bits"]),
                    x, t, check_every=2500)
    cnt = f.counters
    assert cnt.steps == 10_000 and cnt.updates == 3333
    assert cnt.events > 0 and cnt.active_cols > 0 and cnt.macs > 0
    assert cnt.products + cnt.skipped == cnt.macs
    assert f.live.any() and np.abs(f.M).max() > 0


@pytest.mark.parametrize("bits", [32, 16])
def test_bit_exact_dense_mode(bits):
    model = pyrtrl.init_egru(16, 2, 2, density=0.3, eps=0.5, seed=7)
    x, t = stream(3000, 2, 2, seed=8)
    kw = dict(lr=0.05, clip=1.0, update_every=1, influence_bits=bits)
    c, f = run_both(model, {**kw, "dense": True}, x, t, check_every=1000)
    sparse = CLearner(model, **kw)
    sparse.run_fixed(x, t)
    # dense mode: the same numbers at a higher cost
    np.testing.assert_array_equal(sparse.snapshot().theta, c.snapshot().theta)
    assert sparse.counters().macs < c.counters().macs
    # dense mode skips no block of M; the sparse learner does
    assert c.counters().skipped == 0 and c.counters().products == c.counters().macs
    assert sparse.counters().skipped > 0


@pytest.mark.parametrize("bits", [32, 16])
def test_zero_blocks_skipped(bits):
    """M by postsynaptic unit: each live column sits in its unit's segment, and the (row,
    segment) blocks that are zero are skipped (counted alike by C and the specification)."""
    model = pyrtrl.init_egru(32, 1, 1, density=0.2, eps=0.2, shared_mask=True, seed=21)
    x, t = stream(1500, 1, 1, seed=22)
    c, f = run_both(model, dict(lr=0.05, clip=1.0, update_every=1, influence_bits=bits), x, t,
                    check_every=500)
    q = quantize(model)
    unit = f.seg_of  # postsynaptic unit of every parameter
    cap = np.bincount(unit, minlength=q.n)
    seg_off = np.concatenate([[0], np.cumsum(cap)])
    view_cols = np.flatnonzero(c.snapshot().live)  # live parameters (theta order)
    v = c.ffi.new("rtrl_view_t *")
    c.lib.rtrl_get_view(c.ctx, v)
    cols = param_columns(np.frombuffer(c.ffi.buffer(v.col_of, 2 * q.P), dtype=np.uint16))
    assert np.array_equal(np.flatnonzero(cols >= 0), view_cols)
    p = view_cols
    assert np.all((cols[p] >= seg_off[unit[p]]) & (cols[p] < seg_off[unit[p] + 1]))
    # the live columns of a segment are its first ones, each used once
    for s in range(q.n):
        got = np.sort(cols[p[unit[p] == s]])
        assert np.array_equal(got, seg_off[s] + np.arange(got.size))
    cnt = f.counters
    assert cnt.products + cnt.skipped == cnt.macs
    assert cnt.skipped > 0.2 * cnt.macs  # most of M is zero blocks at this sparsity


def test_bit_exact_under_saturation():
    """Huge inputs and learning rate: many values saturate, and both count them alike."""
    model = pyrtrl.init_egru(12, 2, 2, density=0.5, eps=0.5, seed=9)
    x, t = stream(3000, 2, 2, seed=10, scale=60.0)
    c, f = run_both(model, dict(lr=2.0, clip=0.0, update_every=1, influence_bits=16), x, t,
                    check_every=1000)
    assert f.counters.saturations > 100


def test_one_call_equals_many_calls():
    model = pyrtrl.init_egru(16, 2, 2, density=0.5, seed=11)
    x, t = stream(500, 2, 2, seed=12)
    a, b = CLearner(model), CLearner(model)
    a.run_fixed(x, t)
    for i in range(0, 500, 7):
        b.run_fixed(x[i:i + 7], t[i:i + 7])
    np.testing.assert_array_equal(a.snapshot().theta, b.snapshot().theta)
    assert a.counters() == b.counters()


def test_reset_state_keeps_weights():
    model = pyrtrl.init_egru(8, 2, 2, seed=13)
    x, t = stream(200, 2, 2, seed=14)
    c = CLearner(model)
    c.run_fixed(x, t)
    theta = c.snapshot().theta
    c.reset_state()
    s = c.snapshot()
    np.testing.assert_array_equal(s.theta, theta)
    assert not s.M.any() and not s.state["c"].any() and not s.live.any()
    assert s.counters.steps == 0


def test_bad_input_is_an_error_and_changes_nothing():
    model = pyrtrl.init_egru(8, 2, 1, seed=15)
    c = CLearner(model)
    c.run(np.ones((5, 2)), np.zeros((5, 1)))
    before = c.snapshot()
    with pytest.raises(pyrtrl.PyrtrlError, match="non-finite"):
        c.run(np.array([[np.nan, 0.0]]), np.zeros((1, 1)))
    with pytest.raises(pyrtrl.PyrtrlError):
        c.run(np.ones((3, 3)), np.zeros((3, 1)))
    big = np.full((1, 2), 1000.0)  # beyond |x| <= 128: saturated by the quantizer, counted
    r = c.run(big, np.zeros((1, 1)))
    assert r.saturated_inputs == 2
    # out-of-range integer samples are refused by C itself, state untouched
    c2 = CLearner(model)
    c2.run(np.ones((5, 2)), np.zeros((5, 1)))
    bad = np.array([[1 << 24, 0]], dtype=np.int32)
    with pytest.raises(pyrtrl.PyrtrlError, match="out of range"):
        c2.run_fixed(bad, np.zeros((1, 1), dtype=np.int32))
    after = c2.snapshot()
    np.testing.assert_array_equal(after.theta, before.theta)
    assert after.counters.steps == before.counters.steps


def test_unrepresentable_model_is_refused():
    model = pyrtrl.init_egru(8, 2, 1, seed=16)
    model.params["W_o"][0, 0] = 500.0
    with pytest.raises(pyrtrl.PyrtrlError, match="W_o"):
        CLearner(model)
    with pytest.raises(pyrtrl.PyrtrlError, match="255"):
        CLearner(pyrtrl.init_egru(256, 1, 1, density=0.01, seed=0))


def test_model_arrays_are_the_exported_layout():
    model = pyrtrl.init_egru(10, 3, 2, density=0.4, shared_mask=False, seed=17)
    a = c_model_arrays(quantize(model))
    assert a["W_u_colptr"].dtype == np.uint16 and a["theta"].dtype == np.int32
    assert "U_map_u" in a  # independent recurrent masks need the gate maps
    shared = c_model_arrays(quantize(pyrtrl.init_egru(10, 3, 2, density=0.4, shared_mask=True, seed=17)))
    assert "U_map_u" not in shared


def test_learner_interface_matches_the_float_learner():
    model = pyrtrl.init_egru(12, 1, 2, density=0.5, seed=18)
    from pyrtrl.data.tasks import delayed_recall

    x, tg = delayed_recall(300, seed=19)
    c = CLearner(model, lr=0.03)
    r = c.run(x[:299], tg[:299])
    assert isinstance(r, pyrtrl.RunResult)
    assert r.loss.shape == (299,) and r.output.shape == (299, 2) and r.events.shape == (299,)
    f = FixedLearner(quantize(model), fixed_config(0.03, 1.0, 1, 32))
    xq, tq = quantize_samples(x)[0], quantize_samples(tg)[0]
    ev = []
    for t in range(299):
        f.step(xq[t], tq[t])
        ev.append(int(f.o.sum()))
    np.testing.assert_array_equal(r.events, ev)
    s = c.step(x[299], tg[299])
    assert isinstance(s, pyrtrl.StepResult) and s.updated and s.output.shape == (2,)
    with pytest.raises(pyrtrl.PyrtrlError, match="labels"):
        c.run(x, tg, labels=np.full(300, 5))
    m = c.model  # current weights as a float model, masks kept
    assert isinstance(m, pyrtrl.EGRU)
    for name in pyrtrl.MASKED:
        assert not m.params[name][~m.masks[name]].any()


@pytest.mark.parametrize("with_target", [False, True])
@pytest.mark.parametrize("bits", [32, 16])
def test_bit_exact_cross_entropy(with_target, bits):
    """Softmax cross-entropy at labelled steps (-1 = none), alone or with squared error."""
    model = pyrtrl.init_egru(16, 2, 4, density=0.4, eps=0.5, seed=21)
    x, t = stream(3000, 2, 4, seed=22)
    rng = np.random.default_rng(23)
    labels = np.where(rng.random(3000) < 0.5, rng.integers(0, 4, 3000), -1)
    c, f = run_both(model, dict(lr=0.05, clip=1.0, update_every=2, influence_bits=bits),
                    x, t if with_target else None, check_every=1000, labels=labels)
    assert f.counters.updates == (np.count_nonzero(labels >= 0) if not with_target else 3000) // 2


def test_staged_weights_load_in_pieces():
    """The firmware's LOAD path: an image staged in arbitrary pieces replaces the weights
    only if its thresholds are valid; a refused commit changes nothing."""
    from pyrtrl.device import protocol as P

    model = pyrtrl.init_egru(10, 2, 3, density=0.5, seed=24)
    c = CLearner(model)
    x, t = stream(50, 2, 3, seed=25)
    c.run_fixed(x, t)
    s = c.snapshot()
    image = bytearray(P.weights_image(s.theta + 1, s.w_o - 2, s.b_o + 3))
    lib = c.lib
    assert lib.rtrl_weights_image_bytes(c.ctx) == len(image)
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(1, len(image), 7).tolist()))
    for a, b in zip([0] + cuts, cuts + [len(image)]):
        assert lib.rtrl_stage_weights(c.ctx, a, bytes(image[a:b]), b - a) == 0
    assert lib.rtrl_stage_weights(c.ctx, len(image), b"x", 1) != 0  # past the end
    assert lib.rtrl_commit_weights(c.ctx) == 0
    s2 = c.snapshot()
    np.testing.assert_array_equal(s2.theta, s.theta + 1)
    np.testing.assert_array_equal(s2.b_o, s.b_o + 3)
    assert not s2.grad.any()
    bad = bytearray(image)
    thr0 = 4 * c.q.offsets["thr"]
    bad[thr0:thr0 + 4] = (-1).to_bytes(4, "little", signed=True)
    assert lib.rtrl_stage_weights(c.ctx, 0, bytes(bad), len(bad)) == 0
    assert lib.rtrl_commit_weights(c.ctx) != 0
    np.testing.assert_array_equal(c.snapshot().theta, s2.theta)


# the readout's variants: state source, input taps, RLS or SGD, frozen cell; RLS over long
# streams exercises the bounded-diagonal guard (forgetting pauses and resumes)
READOUTS = [
    dict(readout="c", taps=0, rule="gradient", train="all", bits=32, dense=False, horizon=3),
    dict(readout="y", taps=0, rule="gradient", train="all", bits=16, dense=False, horizon=2),
    dict(readout="c", taps=5, rule="rls", train="all", bits=16, dense=False, horizon=8),
    dict(readout="c", taps=0, rule="gradient", train="all", bits=32, dense=False),
    dict(readout="c", taps=4, rule="rls", train="all", bits=16, dense=False),
    dict(readout="y", taps=3, rule="rls", train="all", bits=32, dense=False),
    dict(readout="y", taps=2, rule="gradient", train="all", bits=16, dense=False),
    dict(readout="c", taps=8, rule="rls", train="readout", bits=16, dense=False),
    dict(readout="c", taps=2, rule="rls", train="all", bits=32, dense=True),
]


@pytest.mark.parametrize("ro", READOUTS, ids=lambda r: "{readout}-t{taps}-{rule}-{train}-{bits}b{d}-h{h}".format(
    d="-dense" if r["dense"] else "", h=r.get("horizon", 1), **r))
def test_bit_exact_readouts(ro):
    model = pyrtrl.init_egru(20, 2, 2, density=0.3, shared_mask=True, eps=0.5, seed=7,
                             readout=ro["readout"], taps=ro["taps"])
    x, t = stream(4000, 2, 2, seed=8, scale=2.0)
    c, f = run_both(model, dict(lr=0.05, clip=1.0, update_every=2, influence_bits=ro["bits"],
                                dense=ro["dense"], readout_rule=ro["rule"], train=ro["train"],
                                rls_forgetting=0.99, rls_p0=1.0, horizon=ro.get("horizon", 1)),
                    x, t, check_every=1000)
    if ro["train"] == "readout":
        np.testing.assert_array_equal(f.theta, quantize(model).theta)
        assert not f.live.any()
    if ro["rule"] == "rls":
        assert not np.array_equal(f.w_o, quantize(model).w_o)
        assert np.abs(f.rls.P).max() <= f.rls.c.p0_q28 / 0.99 + 2


# Adam: both readout rules, momentum on and off (beta1 = 0 is RMSprop), K > 1, a rate that
# saturates (u and weights clamp: counters must agree), a delay, both widths
ADAMS = [
    dict(lr=0.01, K=1, beta1=1 - 2.0 ** -3, beta2=1 - 2.0 ** -10, rule="rls", taps=4, bits=16, h=1),
    dict(lr=0.003, K=3, beta1=0.0, beta2=1 - 2.0 ** -7, rule="gradient", taps=0, bits=32, h=1),
    dict(lr=0.02, K=2, beta1=1 - 2.0 ** -4, beta2=1 - 2.0 ** -10, rule="gradient", taps=2, bits=16, h=4),
    dict(lr=100.0, K=1, beta1=1 - 2.0 ** -1, beta2=1 - 2.0 ** -16, rule="gradient", taps=0, bits=32, h=1),
]


@pytest.mark.parametrize("ad", ADAMS, ids=lambda a: "lr{lr}-K{K}-{rule}-t{taps}-{bits}b-h{h}".format(**a))
def test_bit_exact_adam(ad):
    model = pyrtrl.init_egru(20, 2, 2, density=0.3, shared_mask=True, eps=0.5, seed=5,
                             readout="c", taps=ad["taps"])
    x, t = stream(1200, 2, 2, seed=6, scale=2.0)
    c, f = run_both(model, dict(lr=ad["lr"], clip=1.0, update_every=ad["K"], influence_bits=ad["bits"],
                                readout_rule=ad["rule"], optimizer="adam", adam_beta1=ad["beta1"],
                                adam_beta2=ad["beta2"], adam_eps=1e-5, horizon=ad["h"]),
                    x, t, check_every=400)
    q = quantize(model)
    assert not np.array_equal(f.theta, q.theta)  # it learned
    if ad["lr"] > 10:
        assert f.counters.saturations > 0  # the clamps were exercised, and counted alike


def test_adam_with_labels_is_bit_exact():
    model = pyrtrl.init_egru(16, 3, 4, density=0.4, shared_mask=False, eps=0.5, seed=2)
    x, _ = stream(800, 3, 4, seed=3)
    labels = np.random.default_rng(4).integers(-1, 4, size=800)
    run_both(model, dict(lr=0.01, clip=1.0, update_every=1, influence_bits=16, optimizer="adam"),
             x, None, check_every=400, labels=labels)


def test_context_of_the_other_width_is_refused():
    """A context records the influence width of the build that initialised it: the other
    build returns RTRL_ERR_WIDTH instead of reading M with the wrong element size."""
    from pyrtrl.deploy.runtime import _lib

    model = pyrtrl.init_egru(6, 1, 1, density=0.5, seed=0)
    for bits, other in ((16, 32), (32, 16)):
        c = CLearner(model, influence_bits=bits)
        ffi_o, lib_o = _lib(other)
        ctx = ffi_o.cast("rtrl_t *", int(c.ffi.cast("uintptr_t", c.ctx)))
        assert lib_o.rtrl_reset_state(ctx) == lib_o.RTRL_ERR_WIDTH
        x = np.zeros(1, dtype=np.int32)
        out, loss = ffi_o.new("int32_t[1]"), ffi_o.new("int32_t *")
        xp = ffi_o.cast("int32_t *", ffi_o.from_buffer(x))
        assert lib_o.rtrl_step(ctx, xp, xp, out, loss) == lib_o.RTRL_ERR_WIDTH
        assert "other influence width" in ffi_o.string(lib_o.rtrl_status_str(lib_o.RTRL_ERR_WIDTH)).decode()
        c.run(np.zeros((3, 1)), np.zeros((3, 1)))  # its own build still steps it


def test_init_and_load_weights_apply_the_same_threshold_range():
    c = CLearner(pyrtrl.init_egru(6, 1, 1, density=0.5, seed=0))
    ffi, lib = c.ffi, c.lib
    theta = c._arrays["theta"].copy()
    theta[c.q.offsets["thr"]] = -1  # a negative threshold
    m = ffi.new("rtrl_model_t *", c.model_c[0])
    m.theta = ffi.cast("int32_t *", ffi.from_buffer(theta))
    ctx = ffi.new("rtrl_t *")
    assert lib.rtrl_init(ctx, c.cfg, m, ffi.from_buffer(c._buf), c.required_bytes, ffi.NULL) == lib.RTRL_ERR_RANGE
    before = c.snapshot().theta.copy()
    i32 = lambda a: ffi.cast("int32_t *", ffi.from_buffer(a))  # noqa: E731
    assert lib.rtrl_load_weights(c.ctx, i32(theta), i32(c._arrays["w_o"]),
                                 i32(c._arrays["b_o"])) == lib.RTRL_ERR_RANGE
    np.testing.assert_array_equal(c.snapshot().theta, before)


def test_rls_refuses_labels_and_changes_nothing():
    model = pyrtrl.init_egru(8, 1, 2, seed=0, readout="c", taps=2)
    c = CLearner(model, readout_rule="rls")
    before = c.snapshot()
    with pytest.raises(pyrtrl.PyrtrlError, match="configuration"):
        c.run_fixed(np.zeros((1, 1), dtype=np.int32), None, labels=np.array([1]))
    after = c.snapshot()
    np.testing.assert_array_equal(before.w_o, after.w_o)
    assert after.counters.steps == 0


def test_kernel_name_is_the_native_vector_kernel():
    """The binding says which vector kernel it was compiled with; built -march=native on an
    x86 host whose compiler defines __AVX2__ it is a vector kernel, not the portable loops
    (the bit-exact tests above then ran that kernel against pyrtrl.fixed)."""
    import subprocess

    from pyrtrl._build_runtime import native_flags
    from pyrtrl.deploy.runtime import KERNEL_NAMES, kernel_name

    names = {kernel_name(16), kernel_name(32)}
    assert len(names) == 1 and names <= set(KERNEL_NAMES), names
    flags = native_flags()
    try:
        macros = subprocess.run(["cc", *flags, "-dM", "-E", "-x", "c", "/dev/null"],
                                capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot ask the compiler for its target macros")
    defined = {line.split()[1] for line in macros.splitlines() if line.startswith("#define ")}
    kernel = names.pop()
    if "__AVX512F__" in defined:
        assert kernel == "avx512"
    elif "__AVX2__" in defined:
        assert kernel == "avx2"
    elif "__ARM_NEON" in defined and "__aarch64__" in defined:
        assert kernel == "neon"
    else:
        assert kernel == "portable"
