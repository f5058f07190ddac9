"""Forecasting H steps ahead: the same order of operations on every backend, no forecast
sees what it forecasts, and the delayed learner is the H = 1 learner run behind."""

import numpy as np
import pytest

import pyrtrl
from pyrtrl.errors import PyrtrlError
from pyrtrl.fixed import FixedLearner, fixed_config, quantize, quantize_samples
from pyrtrl.benchmarks.quality import score
from pyrtrl.deploy.runtime import CLearner


def _model(seed=0, taps=3):
    return pyrtrl.init_egru(12, 1, 1, density=0.5, shared_mask=True, eps=0.5, seed=seed,
                            readout="c", taps=taps)


def _stream(T=300, seed=0):
    t = np.arange(T + 1)
    s = np.sin(2 * np.pi * t / 23) + 0.1 * np.random.default_rng(seed).normal(size=t.size)
    return s[:-1, None], s[1:, None]


def _outputs(kind, model, x, tg, H):
    if kind == "float":
        L = pyrtrl.OnlineLearner(model.copy(), lr=0.05, optimizer="sgd", clip=1.0, clip_mode="value",
                                 readout_rule="rls", horizon=H)
        return L.run(x, tg).output[:, 0]
    if kind == "c":
        return CLearner(model, lr=0.05, readout_rule="rls", horizon=H).run(x, tg).output[:, 0]
    f = FixedLearner(quantize(model), fixed_config(0.05, readout_rule="rls", horizon=H))
    xq, tq = quantize_samples(x)[0], quantize_samples(tg)[0]
    return np.array([f.step(xq[i], tq[i])[0][0] for i in range(len(x))]) / 65536.0


@pytest.mark.parametrize("kind", ["float", "c", "fixed"])
@pytest.mark.parametrize("H", [1, 4])
def test_no_forecast_sees_its_future(kind, H):
    """Changing the stream from step t on changes no output before t: the forecast made at
    call t uses inputs up to x_t and targets given before call t only."""
    model = _model()
    x, tg = _stream(120)
    base = _outputs(kind, model, x, tg, H)
    t = 70
    x2, tg2 = x.copy(), tg.copy()
    tg2[t:] += 3.0  # the target given at call t and after
    x2[t + 1:] -= 2.0
    out = _outputs(kind, model, x2, tg2, H)
    np.testing.assert_array_equal(out[:t + 1], base[:t + 1])
    assert not np.array_equal(out[t + 1:], base[t + 1:])


def test_delayed_learning_is_the_learner_run_behind():
    """Learning H-1 steps behind on (x_{t-H+1}, x_{t+1}) gives the weights of a horizon-1
    learner fed the pairs (x_s, x_{s+H}): the same learning step, only later."""
    H = 5
    model = _model(taps=2)
    x, tg = _stream(200)
    s = np.concatenate([x[:, 0], tg[-1:, 0]])
    a = pyrtrl.OnlineLearner(model.copy(), lr=0.05, optimizer="sgd", clip=1.0, clip_mode="value",
                             readout_rule="rls", horizon=H)
    a.run(x, tg)
    T = len(x) - H + 1  # learning steps the delayed learner took
    b = pyrtrl.OnlineLearner(model.copy(), lr=0.05, optimizer="sgd", clip=1.0, clip_mode="value",
                             readout_rule="rls")
    b.run(s[:T, None], s[H:H + T, None])
    for name, v in a.model.params.items():
        np.testing.assert_allclose(v, b.model.params[name], rtol=0, atol=1e-12, err_msg=name)


def test_float_and_fixed_agree_at_horizon_8():
    """The fixed-point learner tracks the float one at a long horizon (same rule, 600 steps)."""
    model = pyrtrl.init_egru(16, 1, 1, density=0.5, shared_mask=True, eps=0.5, seed=1,
                             readout="c", taps=8)
    x, tg = _stream(600, seed=2)
    s = np.concatenate([x[:, 0], tg[-1:, 0]])
    r_float = score(s, _outputs("float", model, x, tg, 8), 8)
    r_c = score(s, _outputs("c", model, x, tg, 8), 8)
    assert r_c < 1.0 and r_float < 1.0
    assert abs(r_c - r_float) <= 0.15 * r_float, (r_c, r_float)


def test_score_is_relative_to_naive():
    s = np.sin(np.arange(200) / 5.0)
    H = 3
    perfect = np.concatenate([s[H:], np.zeros(H)])
    naive = s.copy()
    assert score(s, perfect, H) == 0.0
    assert score(s, naive, H) == pytest.approx(1.0)


@pytest.mark.parametrize("H", [0, -1, 1.5, 300])
def test_bad_horizon(H):
    with pytest.raises(PyrtrlError, match="horizon"):
        pyrtrl.OnlineLearner(_model(), horizon=H)
    with pytest.raises(PyrtrlError, match="horizon"):
        CLearner(_model(), horizon=H)
