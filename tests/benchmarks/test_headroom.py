"""The headroom analysis: its online forecasters are causal and learn, its table picks the best."""

import numpy as np

from pyrtrl.benchmarks import headroom
from pyrtrl.benchmarks.quality import score


def test_rls_online_learns_an_ar2_signal_exactly():
    s = np.sin(0.3 * np.arange(600))  # s[t+1] = 2 cos(0.3) s[t] - s[t-1]: AR(2), noise-free
    for h in (1, 5):
        pred = headroom.rls_online(np.hstack([headroom.lag_matrix(s, 2), np.ones((600, 1))]), s, h, p0=100.0)
        assert score(s, pred, h) < 1e-3  # a weak prior (P0 = 100 I): the exact AR(2)


def test_rls_online_does_not_see_the_future():
    """On white noise the best forecast is 0 (half the naive error): a forecaster that used
    the sample it forecasts would score near 0."""
    s = np.random.default_rng(1).normal(size=4000)
    for h in (1, 8):
        for F in (headroom.rff_features(s, 16, 1.0, features=50),
                  np.hstack([headroom.lag_matrix(s, 16), np.ones((s.size, 1))])):
            assert 0.45 < score(s, headroom.rls_online(F, s, h), h) < 0.7


def test_rff_features_are_deterministic_and_bounded():
    s = np.random.default_rng(2).normal(size=300)
    a, b = headroom.rff_features(s, 8, 1.0, 20, seed=3), headroom.rff_features(s, 8, 1.0, 20, seed=3)
    assert np.array_equal(a, b) and a.shape == (300, 20 + 8 + 1)
    assert np.all(np.abs(a[:, :20]) <= 1) and np.all(a[:, -1] == 1)


def _res(frozen, full, nlms, rls, rff):
    run = dict(signal="ppg", horizon=1, density=0.2, eps=0.2, optimizer="sgd", lr=0.003, taps=16, seed=0)
    return {"defaults": {"DENSITY": 0.2, "EPS": 0.2, "OPTIMIZER": "sgd"},
            "baselines": {"ppg/1": {"nlms": {"ratio": nlms}, "rls": {"ratio": rls, "chosen": {"order": 32}}},
                          "ppg/1/frontier": {}},
            "horizons": [dict(run, train="readout", ratio=frozen), dict(run, train="all", ratio=full)],
            "headroom": [{"signal": "ppg", "horizon": 1, "order": 16, "scale": 1.0, "ratio": rff}],
            "seeds": [dict(run, train="all", ratio=full * 0.5, seed=0), dict(run, train="all", ratio=full * 1.5, seed=1)]}


def test_rows_take_the_best_of_every_forecaster():
    (r,) = headroom.rows(_res(frozen=0.2, full=0.19, nlms=0.3, rls=0.25, rff=0.15))
    assert r["best"] == 0.15 and r["best_name"].startswith("RFF-RLS p=16")
    assert abs(r["room"] - 0.25) < 1e-12 and abs(r["needed"] - 0.17) < 1e-12
    (r,) = headroom.rows(_res(frozen=0.2, full=0.19, nlms=0.3, rls=0.18, rff=0.4))
    assert r["best"] == 0.18 and r["best_name"] == "RLS AR(32)" and r["room"] < headroom.BAR
    assert "ppg at H = 1" in headroom.reading(_res(frozen=0.2, full=0.19, nlms=0.3, rls=0.18, rff=0.4))
    assert "reachable everywhere" in headroom.reading(_res(frozen=0.2, full=0.1, nlms=0.3, rls=0.18, rff=0.4))
