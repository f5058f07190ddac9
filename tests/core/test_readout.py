"""The readout's choices: state source (y or c), input taps, RLS; gradients stay exact."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.errors import PyrtrlError
from pyrtrl.core.gradcheck import flat, rel_err
from pyrtrl.core.rls import RLSReadout


def _model(readout, taps, density=0.5, shared=True, seed=1):
    m = pyrtrl.init_egru(10, 2, 2, density=density, shared_mask=shared, eps=0.5, seed=seed,
                         readout=readout, taps=taps)
    m.params["W_o"][:] = np.random.default_rng(seed + 1).normal(size=m.params["W_o"].shape)
    return m


@pytest.mark.parametrize("readout", ["y", "c"])
@pytest.mark.parametrize("taps", [0, 1, 3])
@pytest.mark.parametrize("density,shared", [(0.5, True), (1.0, False)])
def test_rtrl_equals_bptt(readout, taps, density, shared):
    m = _model(readout, taps, density, shared)
    rng = np.random.default_rng(0)
    x, tg = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    gb = pyrtrl.gradients(m, x, target=tg, method="bptt")
    for method in ("rtrl_sparse", "rtrl_dense"):
        g = pyrtrl.gradients(m, x, target=tg, method=method)
        assert rel_err(flat(g), flat(gb)) < 1e-10, (method, readout, taps)
        assert abs(g["loss"] - gb["loss"]) < 1e-9


@pytest.mark.parametrize("readout,taps", [("c", 2), ("y", 2)])
def test_finite_differences_smooth(readout, taps):
    """With the smooth event function FD sees every path, the readout's taps included."""
    from pyrtrl.core.gradcheck import finite_differences, fd_coordinates

    m = _model(readout, taps)
    rng = np.random.default_rng(3)
    x, tg = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
    g = pyrtrl.gradients(m, x, target=tg, method="rtrl_sparse", smooth=True)
    coords = fd_coordinates(m, 3, np.random.default_rng(4))
    fd, _ = finite_differences(m, x, tg, None, coords, smooth=True)
    an = np.array([g[name][idx] for name, idx in coords])
    assert rel_err(an, fd) < 1e-5


def test_taps_reach_the_output_and_the_gradient():
    """A tap weight moves the output by exactly that weight times the delayed input."""
    m = _model("c", 3)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 2))
    eng = pyrtrl.make_engine(m, "rtrl_sparse")
    for t in range(6):
        eng.step(x[t])
    z = eng.features()
    np.testing.assert_array_equal(z[10:12], x[5])
    np.testing.assert_array_equal(z[12:14], x[4])
    np.testing.assert_array_equal(z[14:16], x[3])
    np.testing.assert_array_equal(z[:10], eng.last.c)


def test_model_file_round_trip(tmp_path):
    m = _model("c", 4)
    pyrtrl.save_model(tmp_path / "m.npz", m)
    back = pyrtrl.load_model(tmp_path / "m.npz")
    assert back.readout == "c" and back.taps == 4 and back.params["W_o"].shape == (2, 18)
    np.testing.assert_array_equal(back.params["W_o"], m.params["W_o"])


def test_old_files_read_as_events_without_taps(tmp_path):
    m = _model("y", 0)
    pyrtrl.save_model(tmp_path / "m.npz", m)
    with np.load(tmp_path / "m.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in ("readout", "taps")}
    np.savez(tmp_path / "old.npz", **arrays)
    back = pyrtrl.load_model(tmp_path / "old.npz")
    assert back.readout == "y" and back.taps == 0


@pytest.mark.parametrize("kw,msg", [({"readout": "h"}, "readout must be"), ({"taps": -1}, "taps must be"),
                                    ({"taps": 65}, "taps must be")])
def test_bad_readout_arguments(kw, msg):
    with pytest.raises(PyrtrlError, match=msg):
        pyrtrl.init_egru(4, 1, 1, **kw)


def test_bad_tap_count_in_file(tmp_path):
    m = _model("c", 2)
    pyrtrl.save_model(tmp_path / "m.npz", m)
    with np.load(tmp_path / "m.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["taps"] = np.array(3)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(PyrtrlError, match="W_o has shape"):
        pyrtrl.load_model(tmp_path / "bad.npz")


def test_rls_solves_least_squares():
    """Forgetting 1: RLS equals batch ridge regression with penalty 1 / p0, to rounding."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 5))
    w_true, b_true = rng.normal(size=5), 0.7
    y = Z @ w_true + b_true
    params = {"W_o": np.zeros((1, 5)), "b_o": np.zeros(1)}
    rls = RLSReadout(5, forgetting=1.0, p0=4.0)
    for z, t in zip(Z, y):
        out = params["W_o"] @ z + params["b_o"]
        rls.update(params, z, out - t)
    Z1 = np.hstack([Z, np.ones((200, 1))])
    ridge = np.linalg.solve(Z1.T @ Z1 + np.eye(6) / 4.0, Z1.T @ y)
    np.testing.assert_allclose(params["W_o"][0], ridge[:5], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(params["b_o"][0], ridge[5], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ridge[:5], w_true, atol=5e-3)


def test_rls_guard_stops_wind_up():
    """A feature that never moves must not make P grow without bound under forgetting."""
    params = {"W_o": np.zeros((1, 3)), "b_o": np.zeros(1)}
    rls = RLSReadout(3, forgetting=0.99, p0=1.0)
    rng = np.random.default_rng(1)
    for _ in range(5000):
        z = np.array([rng.normal(), 0.0, 0.0])  # two silent features
        rls.update(params, z, np.array([rng.normal()]))
    assert np.max(np.abs(rls.P)) <= 1.0 / 0.99 + 1e-12
    assert rls.P[0, 0] < 0.1  # the excited feature still forgets: its variance stays small
    unguarded = 0.99 ** -5000  # what plain forgetting would have made of P's silent diagonal
    assert unguarded > 1e20


def test_learner_rls_readout_beats_gradient_readout():
    """On a noisy sine at horizon 1, the RLS readout ends with a clearly lower error than SGD on it."""
    t = np.arange(1500)
    s = np.sin(2 * np.pi * t / 37) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    x, tg = s[:-1, None], s[1:, None]
    err = {}
    for rule in ("gradient", "rls"):
        m = pyrtrl.init_egru(16, 1, 1, density=0.5, shared_mask=True, eps=0.5, seed=0,
                             readout="c", taps=4)
        r = pyrtrl.OnlineLearner(m, lr=0.01, optimizer="sgd", readout_rule=rule).run(x, tg)
        err[rule] = float(np.mean((r.output[-300:] - tg[-300:]) ** 2))
    assert err["rls"] < 0.6 * err["gradient"], err


def test_frozen_cell_keeps_cell_weights():
    m = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=0, readout="c", taps=2)
    before = m.copy()
    L = pyrtrl.OnlineLearner(m, lr=0.05, optimizer="sgd", readout_rule="rls", train="readout")
    rng = np.random.default_rng(0)
    L.run(rng.normal(size=(50, 1)), rng.normal(size=(50, 1)))
    for name in pyrtrl.core.model.CELL:
        np.testing.assert_array_equal(m.params[name], before.params[name])
    assert not np.array_equal(m.params["W_o"], before.params["W_o"])


def test_rls_refuses_labels():
    m = pyrtrl.init_egru(4, 1, 2, seed=0, readout="c")
    L = pyrtrl.OnlineLearner(m, readout_rule="rls")
    with pytest.raises(PyrtrlError, match="RLS readout"):
        L.step(np.zeros(1), label=1)
