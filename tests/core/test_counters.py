"""The sparse engine's MAC counter against a count derived independently from activity and masks.

The expected count is rebuilt here from the float forward trajectory (events, psi, a) and
the masks alone, following the cost model written in pyrtrl.core.rtrl_sparse's docstring; it
never looks inside the engine.
"""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.core.bptt import forward_sequence
from pyrtrl.core.gradients import make_engine, readout_backward
from pyrtrl.core.kernels import HAVE_C_KERNELS
from pyrtrl.core.rtrl_dense import dense_step_macs
from pyrtrl.core.rtrl_sparse import SparseRTRL

GATES = ("u", "r", "g")


def expected_sparse_macs(model, x, target):
    p, m = model.params, model.masks
    n, d = model.n, model.d
    caches = forward_sequence(model, x)
    union = m["R_u"] | m["R_r"] | m["R_g"]
    Wm = [m[f"W_{g}"] for g in GATES]
    Rm = [m[f"R_{g}"] for g in GATES]
    ever_x = np.zeros(d, bool)  # input k nonzero at some step so far
    ever_y = np.zeros(n, bool)  # unit k emitted an event (y != 0) before some step
    ever_thr = np.zeros(n, bool)
    out = []
    zero = np.zeros(n)
    for t, s in enumerate(caches):
        prev = caches[t - 1] if t else None
        o_prev = prev.o if prev else zero
        psi_prev = prev.psi if prev else zero
        a_prev = prev.a if prev else zero
        y_prev = prev.y if prev else zero
        xon, yon = s.x != 0, y_prev != 0
        act = a_prev != 0
        # live columns before this step's update
        L_before = (sum(int(w[:, ever_x].sum()) for w in Wm) + sum(int(r[:, ever_y].sum()) for r in Rm)
                    + (4 * n if t else 0) + int(ever_thr.sum()))
        fwd = sum(int(w[:, xon].sum()) for w in Wm) + sum(int(r[:, yon].sum()) for r in Rm)
        infl = sum(int(r[:, act].sum()) for r in Rm)  # forming A_t's active columns
        nnz_a = int(union[:, act].sum())
        if L_before:
            infl += n * L_before + nnz_a * (L_before + 1)
        # Mbar: one product per parameter with a nonzero source, plus the threshold terms
        infl += sum(int(w[:, xon].sum()) for w in Wm) + sum(int(r[:, yon].sum()) for r in Rm) + 4 * n
        thr_live = (o_prev != 0) | (psi_prev != 0)
        infl += int(thr_live.sum()) + int(union[:, act & (psi_prev != 0)].sum())
        ever_x |= xon
        ever_y |= yon
        ever_thr |= thr_live
        L_after = (sum(int(w[:, ever_x].sum()) for w in Wm) + sum(int(r[:, ever_y].sum()) for r in Rm)
                   + 4 * n + int(ever_thr.sum()))
        out_t = p["W_o"] @ s.y + p["b_o"]
        dy = p["W_o"].T @ (out_t - target[t])
        grad = int(np.count_nonzero(dy * s.a)) * L_after
        out.append((fwd, infl, grad))
    return out


@pytest.mark.parametrize("n,density,eps,shared", [
    (16, 0.3, 0.2, True), (16, 0.3, 0.2, False), (24, 1.0, 1.0, False), (32, 0.1, 0.5, True)])
@pytest.mark.parametrize("use_c", [True, False])
def test_sparse_mac_counter_matches_independent_count(n, density, eps, shared, use_c, monkeypatch):
    monkeypatch.setattr(SparseRTRL, "use_c", use_c)
    model = pyrtrl.init_egru(n, 3, 2, density=density, shared_mask=shared, eps=eps, seed=5, thr_mean=0.2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 3)) * 1.5
    x[::5, 1] = 0  # some zero inputs: their W columns must cost nothing
    target = rng.normal(size=(80, 2))
    engine = make_engine(model, "rtrl_sparse", record=True)
    ro = {"W_o": np.zeros_like(model.params["W_o"]), "b_o": np.zeros_like(model.params["b_o"])}
    for t in range(x.shape[0]):
        engine.step(x[t])
        engine.backprop_output(readout_backward(model, engine.features(), target[t], -1, ro)[2])
    expected = expected_sparse_macs(model, x, target)
    assert engine.counters.per_step == expected
    assert engine.counters.macs == sum(map(sum, expected))


def test_dense_counter_is_the_dense_formula():
    model = pyrtrl.init_egru(12, 2, 1, density=0.5, seed=0)
    engine = make_engine(model, "rtrl_dense", record=True)
    for t in range(10):
        engine.step(np.ones(2))
        engine.backprop_output(np.ones(12))
    P = engine.index.P
    assert P == model.num_params(cell_only=True)
    assert engine.counters.per_step == [dense_step_macs(12, 2, P)] * 10


def test_sparse_is_cheaper_and_records_activity():
    model = pyrtrl.init_egru(32, 1, 1, density=0.2, shared_mask=True, eps=0.2, seed=2)
    x = np.random.default_rng(0).normal(size=(100, 1))
    _, sd = pyrtrl.gradients(model, x, np.zeros((100, 1)), method="rtrl_dense", return_stats=True)
    _, ss = pyrtrl.gradients(model, x, np.zeros((100, 1)), method="rtrl_sparse", return_stats=True)
    assert ss.macs_per_step * 5 < sd.macs_per_step
    assert 0 < ss.fwd_activity < 1 and 0 < ss.bwd_activity <= 1
    assert ss.fwd_activity == sd.fwd_activity and ss.bwd_activity == sd.bwd_activity
    assert ss.influence_nonzero == pytest.approx(sd.influence_nonzero)


def test_c_kernels_are_built_in_ci():
    """CI installs the package with pip, which compiles the kernels; a silent fallback to
    numpy there would hide a broken build."""
    import os

    if os.environ.get("CI"):
        assert HAVE_C_KERNELS
    elif not HAVE_C_KERNELS:
        pytest.skip("C kernels not built here (source checkout without pip install)")


@pytest.mark.skipif(not HAVE_C_KERNELS, reason="needs the compiled kernels to compare")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_c_and_numpy_kernels_agree(dtype, monkeypatch):
    model = pyrtrl.init_egru(20, 2, 2, density=0.3, eps=0.5, seed=4, dtype=dtype, thr_mean=0.2)
    x = np.random.default_rng(3).normal(size=(50, 2))
    tg = np.random.default_rng(4).normal(size=(50, 2))
    g_c = pyrtrl.gradients(model, x, tg)
    monkeypatch.setattr(SparseRTRL, "use_c", False)
    g_np = pyrtrl.gradients(model, x, tg)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for k in pyrtrl.PARAMS:
        np.testing.assert_allclose(g_c[k], g_np[k], rtol=tol, atol=tol * np.abs(g_np[k]).max())
