"""The online learner: it learns, keeps masks and threshold range, and its memory is fixed."""

import tracemalloc

import numpy as np
import pytest

import pyrtrl
from pyrtrl.data.tasks import delayed_recall


@pytest.mark.parametrize("n", [16, 32])
def test_learns_delayed_recall(n):
    model = pyrtrl.init_egru(n, 1, 2, density=0.5, eps=0.5, seed=0)
    x, target = delayed_recall(5000, delays=(1, 2), noise=0.1, seed=1)
    res = pyrtrl.OnlineLearner(model, lr=3e-3).run(x, target)
    initial = res.loss[:250].mean()
    final = res.loss[-500:].mean()
    assert final <= 0.4 * initial, (initial, final)


@pytest.mark.parametrize("optimizer,update_every,dtype", [
    ("adam", 1, np.float64), ("sgd", 5, np.float64), ("adam", 3, np.float32)])
def test_masks_and_threshold_range_kept_over_1000_steps(optimizer, update_every, dtype):
    model = pyrtrl.init_egru(16, 1, 2, density=0.3, eps=0.5, seed=2, dtype=dtype)
    before = model.copy()
    x, target = delayed_recall(1000, seed=3)
    learner = pyrtrl.OnlineLearner(model, lr=1e-2, optimizer=optimizer, update_every=update_every)
    learner.run(x, target)
    assert learner.updates == 1000 // update_every
    for name in pyrtrl.MASKED:
        assert not model.params[name][~model.masks[name]].any(), name
        assert np.array_equal(model.masks[name], before.masks[name])
        assert not np.array_equal(model.params[name], before.params[name]), f"{name} never trained"
    thr = model.params["thr"]
    assert thr.min() >= 0 and thr.max() <= 1
    assert all(a.dtype == dtype for a in model.params.values())
    model.validate()


def test_update_uses_the_mean_gradient_of_k_steps():
    """With SGD and K steps, the update equals lr * mean of the K per-step gradients (clip off)."""
    model = pyrtrl.init_egru(8, 1, 1, density=0.5, seed=4)
    x = np.random.default_rng(0).normal(size=(4, 1))
    tg = np.random.default_rng(1).normal(size=(4, 1))
    g = pyrtrl.gradients(model.copy(), x, tg, method="bptt")
    learner = pyrtrl.OnlineLearner(model.copy(), lr=0.1, optimizer="sgd", update_every=4, clip=0)
    start = learner.model.copy()
    learner.run(x, tg)
    for name in pyrtrl.PARAMS:
        expect = start.params[name] - 0.1 * g[name] / 4
        if name == "thr":
            expect = np.clip(expect, 0, 1)
        np.testing.assert_allclose(learner.model.params[name], expect, rtol=1e-10, atol=1e-12)


def test_memory_does_not_grow_with_stream_length():
    model = pyrtrl.init_egru(8, 1, 2, density=0.5, eps=0.5, seed=5)
    learner = pyrtrl.OnlineLearner(model, lr=1e-3)
    x, target = delayed_recall(6000, seed=6)
    tracemalloc.start()  # slows each step ~10x: 5,000 steps resolve a leak of 1 byte a step
    try:
        for t in range(1000):
            learner.step(x[t], target[t])
        at_1k = tracemalloc.get_traced_memory()[0]
        for t in range(1000, 6000):
            learner.step(x[t], target[t])
        at_6k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert at_6k - at_1k < 4 * 1024, (at_1k, at_6k)  # measured: under 100 bytes


def test_bad_samples_are_rejected_and_lose_nothing():
    model = pyrtrl.init_egru(8, 2, 1, seed=0)
    learner = pyrtrl.OnlineLearner(model, lr=1e-3)
    learner.step(np.array([0.1, 0.2]), np.array([0.3]))
    snapshot = model.copy()
    steps = learner.steps
    for bad in (dict(x=np.array([np.nan, 0.0]), target=np.array([0.0])),
                dict(x=np.array([0.1]), target=np.array([0.0])),
                dict(x=np.array([0.1, 0.2]), target=np.array([np.inf])),
                dict(x=np.array([0.1, 0.2]), target=None, label=3)):
        with pytest.raises(pyrtrl.PyrtrlError) as e:
            learner.step(**bad)
        assert "\n" not in str(e.value)
    assert learner.steps == steps
    for name in pyrtrl.PARAMS:
        assert np.array_equal(model.params[name], snapshot.params[name])


def test_bad_configuration_is_rejected():
    model = pyrtrl.init_egru(4, 1, 1, seed=0)
    for kw in (dict(lr=0), dict(lr=float("nan")), dict(optimizer="rmsprop"), dict(update_every=0),
               dict(clip=-1), dict(method="bptt")):
        with pytest.raises(pyrtrl.PyrtrlError):
            pyrtrl.OnlineLearner(model, **kw)
