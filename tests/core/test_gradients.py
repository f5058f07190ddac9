"""The invariant everything is checked against: sparse RTRL = dense RTRL = BPTT (= finite differences)."""

import itertools

import numpy as np
import pytest

import pyrtrl
from pyrtrl.core.bptt import bptt, forward_sequence
from pyrtrl.core.gradcheck import GradcheckConfig, flat, rel_err, run_gradcheck
from pyrtrl.core.gradients import make_engine, readout_backward

GRID = list(itertools.product((4, 16, 32), (1.0, 0.3, 0.1), (1.0, 0.2), (False, True)))


def make_problem(n, density, eps, shared, loss, seed=0, T=60, d=3, k=3, dtype=np.float64):
    model = pyrtrl.init_egru(n, d, k, density=density, shared_mask=shared, eps=eps, seed=seed,
                             thr_mean=0.15, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    x = rng.normal(size=(T, d)) * 1.5
    target = rng.normal(size=(T, k)) if loss in ("mse", "both") else None
    labels = None
    if loss in ("ce", "both"):
        labels = np.where(rng.random(T) < 0.6, rng.integers(0, k, T), -1)
    return model, x, target, labels


def eventful_problem(n, density, eps, shared, loss):
    """The first seed whose trajectory fires, resets and falls silent (tiny, very sparse
    nets are often silent for some seeds; a silent trajectory would prove little)."""
    for seed in range(50):
        model, x, target, labels = make_problem(n, density, eps, shared, loss, seed=seed)
        caches = forward_sequence(model, x)
        o = np.array([s.o for s in caches])
        psi = np.array([s.psi for s in caches])
        if o.any() and (np.diff(o, axis=0) < 0).any() and (o == 0).any() and (psi != 0).any():
            return model, x, target, labels
    pytest.fail(f"no seed gives an eventful trajectory for n={n} density={density}")


@pytest.mark.parametrize("n,density,eps,shared", GRID)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_three_methods_agree(n, density, eps, shared, loss):
    model, x, target, labels = eventful_problem(n, density, eps, shared, loss)

    gb = pyrtrl.gradients(model, x, target, labels, method="bptt")
    gd = pyrtrl.gradients(model, x, target, labels, method="rtrl_dense")
    gs = pyrtrl.gradients(model, x, target, labels, method="rtrl_sparse")
    assert gb["loss"] == pytest.approx(gd["loss"], rel=1e-12) == gs["loss"]
    assert np.linalg.norm(flat(gb)) > 0
    assert rel_err(flat(gd), flat(gb)) <= 1e-9
    assert rel_err(flat(gs), flat(gb)) <= 1e-9
    # each array separately too, so a small parameter group cannot hide in the total
    for name in pyrtrl.PARAMS:
        scale = max(np.abs(gb[name]).max(), 1e-300)
        assert np.abs(gs[name] - gb[name]).max() <= 1e-9 * max(scale, np.abs(flat(gb)).max() * 1e-3), name
    for name in pyrtrl.MASKED:
        for g in (gb, gd, gs):
            assert not g[name][~model.masks[name]].any()


@pytest.mark.parametrize("method", ["rtrl_dense", "rtrl_sparse"])
@pytest.mark.parametrize("shared", [False, True])
def test_per_step_gradient_equals_bptt_of_that_step(method, shared):
    model, x, target, _ = make_problem(16, 0.3, 0.5, shared, "mse", T=40)
    engine = make_engine(model, method)
    ro = {"W_o": np.zeros_like(model.params["W_o"]), "b_o": np.zeros_like(model.params["b_o"])}
    prev = None
    checked = 0
    for t in range(x.shape[0]):
        engine.step(x[t])
        _, _, dy = readout_backward(model, engine.features(), target[t], -1, ro)
        engine.backprop_output(dy)
        engine_grad = engine.cell_gradient()
        step_grad = {k: v - (prev[k] if prev else 0) for k, v in engine_grad.items()}
        prev = engine_grad
        if t % 7 != 3:
            continue
        # BPTT of the loss at step t alone = BPTT(losses up to t) - BPTT(losses up to t-1)
        g_upto, _ = bptt(model, x[:t + 1], target[:t + 1])
        g_before, _ = bptt(model, x[:t], target[:t]) if t else ({k: 0 for k in g_upto}, 0)
        ref = np.concatenate([(g_upto[k] - g_before[k]).ravel() for k in pyrtrl.CELL])
        got = np.concatenate([step_grad[k].ravel() for k in pyrtrl.CELL])
        assert np.linalg.norm(ref) > 0
        assert rel_err(got, ref) <= 1e-9
        checked += 1
    assert checked >= 5


def test_per_step_cross_entropy_single_label():
    """Labels at one step only: RTRL's accumulated gradient is that step's BPTT gradient."""
    model, x, _, _ = make_problem(16, 0.3, 0.2, True, "ce", T=30)
    for t in (0, 9, 29):
        labels = np.full(30, -1)
        labels[t] = 1
        gb = pyrtrl.gradients(model, x, labels=labels, method="bptt")
        gs = pyrtrl.gradients(model, x, labels=labels, method="rtrl_sparse")
        assert rel_err(flat(gs), flat(gb)) <= 1e-9


@pytest.mark.parametrize("method", ["rtrl_dense", "rtrl_sparse"])
def test_smooth_mode_rtrl_equals_bptt(method):
    """In the smooth forward every psi path carries gradient; RTRL must follow all of them."""
    model, x, target, labels = make_problem(16, 0.3, 0.5, False, "both")
    gb, _ = bptt(model, x, target, labels, smooth=True)
    gr = pyrtrl.gradients(model, x, target, labels, method=method, smooth=True)
    assert rel_err(flat(gr), flat(gb)) <= 1e-9


@pytest.mark.parametrize("shared,density,eps", [(False, 0.5, 0.5), (True, 0.3, 1.0), (False, 1.0, 0.2)])
def test_bptt_equals_finite_differences(shared, density, eps):
    res = run_gradcheck(GradcheckConfig(hidden=12, steps=40, density=density, eps=eps,
                                        shared_mask=shared, seed=3, fd_per_array=8))
    assert res["fd_coordinates"] >= 13 * 4
    assert res["rel_err_bptt_vs_fd"] <= 1e-6
    # heaviside setting: most coordinates must be usable (no event flipped)
    assert res["fd_heaviside_flipped"] < res["fd_coordinates"] / 2
    assert res["rel_err_bptt_vs_fd_heaviside"] <= 1e-6
    assert res["passed"]


def test_finite_differences_catch_a_wrong_gradient():
    """The FD comparison is sensitive: a gradient with the threshold's immediate term dropped fails."""
    model, x, target, labels = make_problem(12, 0.5, 0.5, False, "mse")
    from pyrtrl.core.gradcheck import finite_differences

    g, _ = bptt(model, x, target, labels, smooth=True)
    coords = [("thr", (j,)) for j in range(model.n)]
    fd, _ = finite_differences(model, x, target, labels, coords, smooth=True)
    assert rel_err(g["thr"], fd) <= 1e-6
    engine = make_engine(model, "rtrl_sparse", smooth=True)
    ro = {"W_o": np.zeros_like(model.params["W_o"]), "b_o": np.zeros_like(model.params["b_o"])}
    for t in range(x.shape[0]):
        engine.step(x[t])
        engine.backprop_output(readout_backward(model, engine.features(), target[t], -1, ro)[2])
    engine.grad_thr_immediate[:] = 0  # the classic bug
    assert rel_err(engine.cell_gradient()["thr"], fd) > 1e-3


def test_float32_matches_float64():
    m64, x, target, labels = make_problem(16, 0.3, 0.5, True, "both")
    m32 = m64.astype(np.float32)
    g64 = pyrtrl.gradients(m64, x, target, labels)
    g32 = pyrtrl.gradients(m32, x, target, labels)
    assert all(g32[k].dtype == np.float32 for k in pyrtrl.PARAMS)
    assert rel_err(flat(g32).astype(np.float64), flat(g64)) < 1e-3
    gb32 = pyrtrl.gradients(m32, x, target, labels, method="bptt")
    assert rel_err(flat(g32).astype(np.float64), flat(gb32).astype(np.float64)) < 1e-4


def test_gradients_rejects_bad_input():
    model, x, target, labels = make_problem(4, 1.0, 1.0, False, "mse", T=5)
    bad = [
        dict(x=x[:, :2], target=target),
        dict(x=np.where(np.eye(5, 3) > 0, np.nan, x), target=target),
        dict(x=x, target=target[:4]),
        dict(x=x, target=None, labels=None),
        dict(x=x, labels=np.full(5, 7)),
        dict(x=x, labels=np.full(5, 0.5)),
    ]
    for kw in bad:
        with pytest.raises(pyrtrl.PyrtrlError) as e:
            pyrtrl.gradients(model, **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(pyrtrl.PyrtrlError):
        pyrtrl.gradients(model, x, target, method="magic")
