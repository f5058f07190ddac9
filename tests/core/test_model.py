"""EGRU construction: shapes, initialisation, masks, pruning, validation."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.core.forward import cell_step, psi, sigmoid, smooth_event


def test_shapes_and_names():
    m = pyrtrl.init_egru(10, 3, 2, seed=0)
    assert set(m.params) == set(pyrtrl.PARAMS)
    assert m.params["W_u"].shape == (10, 3) and m.params["R_g"].shape == (10, 10)
    assert m.params["W_o"].shape == (2, 10) and m.params["b_o"].shape == (2,)
    assert (m.n, m.d, m.k) == (10, 3, 2)
    assert m.gamma == 0.7 and m.eps == 1.0


@pytest.mark.parametrize("density", [1.0, 0.5, 0.2, 0.05])
@pytest.mark.parametrize("shared", [False, True])
def test_masks_density_and_sharing(density, shared):
    m = pyrtrl.init_egru(40, 6, 1, density=density, shared_mask=shared, seed=1)
    for name in pyrtrl.MASKED:
        mk = m.masks[name]
        assert mk.sum() == max(1, round(density * mk.size))
        assert not m.params[name][~mk].any()
    assert m.shared_mask == (shared or density == 1.0)
    if not shared and density < 1:
        assert not np.array_equal(m.masks["R_u"], m.masks["R_r"])


def test_init_statistics():
    m = pyrtrl.init_egru(200, 4, 1, density=0.25, seed=2)
    thr = m.params["thr"]
    assert thr.min() >= 0 and thr.max() <= 1
    assert abs(thr.mean() - 0.3) < 0.03
    for b in ("b_u", "b_r", "b_g", "b_rg", "b_o"):
        assert not m.params[b].any()
    # Xavier-normal scaled by 1/sqrt(density) on the kept entries
    kept = m.params["R_u"][m.masks["R_u"]]
    assert abs(kept.std() - np.sqrt(1 / 200) / np.sqrt(0.25)) < 0.1 * np.sqrt(1 / 200) / 0.5


def test_seed_reproducible_and_dtype():
    a = pyrtrl.init_egru(8, 2, 1, density=0.5, seed=3)
    b = pyrtrl.init_egru(8, 2, 1, density=0.5, seed=3)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in pyrtrl.PARAMS)
    c = pyrtrl.init_egru(8, 2, 1, seed=3, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in c.params.values())


@pytest.mark.parametrize("shared", [False, True])
def test_magnitude_pruning(shared):
    m = pyrtrl.init_egru(20, 5, 1, density=1.0, seed=4)
    p = pyrtrl.prune_magnitude(m, 0.3, shared=shared)
    assert p.shared_mask == shared
    for name in pyrtrl.MASKED:
        mk = p.masks[name]
        assert mk.sum() == round(0.3 * mk.size)
        kept, dropped = np.abs(m.params[name][mk]), np.abs(m.params[name][~mk])
        if not shared:
            assert kept.min() >= dropped.max()
        assert np.array_equal(p.params[name][mk], m.params[name][mk])
        assert not p.params[name][~mk].any()
    # pruning an already pruned model never revives a weight
    q = pyrtrl.prune_magnitude(p, 0.5)
    for name in pyrtrl.MASKED:
        assert not (q.masks[name] & ~p.masks[name]).any()


def test_validate_one_line_errors():
    good = pyrtrl.init_egru(4, 2, 1, density=0.5, seed=0)
    cases = {
        "missing": lambda m: m.params.pop("b_rg"),
        "shape": lambda m: m.params.__setitem__("R_u", np.zeros((4, 5))),
        "nan": lambda m: m.params["W_g"].__setitem__((0, 0), np.nan),
        "masked nonzero": lambda m: m.params["R_r"].__setitem__(~m.masks["R_r"], 1.0),
        "thr": lambda m: m.params["thr"].__setitem__(0, 1.5),
        "dtype": lambda m: m.params.__setitem__("b_o", m.params["b_o"].astype(np.float32)),
    }
    for label, breakit in cases.items():
        m = good.copy()
        breakit(m)
        with pytest.raises(pyrtrl.PyrtrlError) as e:
            m.validate()
        assert "\n" not in str(e.value), label
    with pytest.raises(pyrtrl.PyrtrlError):
        pyrtrl.init_egru(0, 1, 1)
    with pytest.raises(pyrtrl.PyrtrlError):
        pyrtrl.init_egru(4, 1, 1, density=0)
    with pytest.raises(pyrtrl.PyrtrlError):
        pyrtrl.init_egru(4, 1, 1, eps=-1)


def test_cell_step_follows_the_equations():
    m = pyrtrl.init_egru(6, 2, 1, seed=5, thr_mean=0.1)
    p = m.params
    rng = np.random.default_rng(0)
    x, y, h = rng.normal(size=2), rng.normal(size=6) * (rng.random(6) < 0.5), rng.normal(size=6)
    s = cell_step(p, x, y, h, m.gamma, m.eps)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    u = sig(p["W_u"] @ x + p["R_u"] @ y + p["b_u"])
    r = sig(p["W_r"] @ x + p["R_r"] @ y + p["b_r"])
    g = np.tanh(p["W_g"] @ x + p["b_g"] + r * (p["R_g"] @ y + p["b_rg"]))
    c = u * h + (1 - u) * g
    o = (c - p["thr"] > 0).astype(float)
    np.testing.assert_allclose(s.c, c, rtol=1e-13)
    np.testing.assert_array_equal(s.o, o)
    np.testing.assert_allclose(s.y, o * c, rtol=1e-13)
    np.testing.assert_allclose(s.h, c - o * p["thr"], rtol=1e-13)


def test_heaviside_at_zero_and_pseudo_derivative():
    v = np.array([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0])
    np.testing.assert_allclose(psi(v, 0.7, 1.0), 0.7 * np.maximum(0, 1 - np.abs(v)))
    # S' = psi (numerically), S continuous, S = 0 left of -eps
    h = 1e-6
    z = np.linspace(-1.5, 1.5, 31) + 0.0123
    np.testing.assert_allclose((smooth_event(z + h, 0.7, 1.0) - smooth_event(z - h, 0.7, 1.0)) / (2 * h),
                               psi(z, 0.7, 1.0), atol=1e-6)
    assert smooth_event(np.array([-1.0]), 0.7, 1.0)[0] == 0
    # H(0) = 0: a unit exactly at its threshold does not fire
    m = pyrtrl.init_egru(1, 1, 1, seed=0)
    m.params["thr"][:] = 0.0
    s = cell_step(m.params, np.zeros(1), np.zeros(1), np.zeros(1), 0.7, 1.0)
    assert s.c[0] == 0 and s.o[0] == 0
    assert np.allclose(sigmoid(np.array([-800.0, 0.0, 800.0])), [0, 0.5, 1])
