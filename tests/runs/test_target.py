"""pyrtrl.open_target: one learner interface on the C library, the simulated device and a
board under QEMU, with the same numbers everywhere."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from needs import require_board

import pyrtrl
from pyrtrl.errors import PyrtrlError
from pyrtrl.runs.target import open_target

SETTINGS = dict(readout_rule="gradient", optimizer="adam", lr=0.01)


def _model():
    return pyrtrl.init_egru(10, 2, 3, density=0.5, eps=0.5, seed=7, readout="c", taps=2)


def _session(t) -> dict:
    """Every kind of call, in an order that exercises each semantic; what came out."""
    rng = np.random.default_rng(3)
    x = rng.normal(scale=0.5, size=(40, 2))
    y = np.tanh(np.roll(x, 1, axis=0) @ rng.normal(size=(2, 3)))
    out = {}
    out["run"] = t.run(x[:20], y[:20])
    out["step"] = t.step(x[20], y[20])
    out["free"] = t.step(x[21])  # no loss: nothing learns
    before = t.weights()
    out["predict"] = t.predict(x[22:26])
    after = t.weights()
    out["predict_kept_weights"] = all(np.array_equal(before.params[k], after.params[k]) for k in before.params)
    t.reset_state()
    lab = np.full(6, -1)
    lab[-1] = 2
    out["labelled"] = t.run(x[26:32], labels=lab)
    pre_off = t.weights()
    t.set_learning_rate(0)
    out["off"] = t.run(x[32:36], y[32:36])
    off = t.weights()
    out["off_kept_weights"] = all(np.array_equal(off.params[k], pre_off.params[k]) for k in off.params)
    t.set_learning_rate(0.005)
    out["again"] = t.run(x[36:40], y[36:40])
    out["weights"] = t.weights()
    out["off_weights"] = off
    return out


def _same(a: dict, b: dict) -> None:
    for key in ("run", "labelled", "off", "again"):
        np.testing.assert_array_equal(a[key].output, b[key].output, err_msg=key)
        np.testing.assert_array_equal(a[key].loss, b[key].loss, err_msg=key)
    for key in ("step", "free"):
        np.testing.assert_array_equal(a[key].output, b[key].output, err_msg=key)
        assert a[key].loss == b[key].loss, key
    np.testing.assert_array_equal(a["predict"], b["predict"])
    assert b["predict_kept_weights"] and b["off_kept_weights"]
    for k in a["weights"].params:
        np.testing.assert_array_equal(a["weights"].params[k], b["weights"].params[k], err_msg=k)


@pytest.fixture(scope="module")
def on_host():
    with open_target("host", _model(), **SETTINGS) as t:
        return _session(t)


def test_host_semantics(on_host):
    s = on_host
    assert s["run"].output.shape == (20, 3) and s["predict"].shape == (4, 3)
    assert s["free"].loss == 0.0 and s["predict_kept_weights"]
    assert s["labelled"].loss[-1] > 0 and np.all(s["labelled"].loss[:-1] == 0)
    assert s["off_kept_weights"] and s["off"].loss.min() > 0  # scored, not learned
    # and learning resumes afterwards
    assert any(not np.array_equal(s["weights"].params[k], s["off_weights"].params[k]) for k in s["weights"].params)


def test_simulated_device_equals_host(on_host):
    with open_target("simulated", _model(), **SETTINGS) as t:
        _same(on_host, _session(t))


def test_board_under_qemu_equals_host(on_host, tmp_path):
    require_board("mps2-an386")
    with open_target("mps2-an386", _model(), work_dir=str(tmp_path), **SETTINGS) as t:
        got = _session(t)
    assert t.exit_status == 0  # the firmware exited on EXIT, no fault
    _same(on_host, got)


def test_learning_off_changes_no_weight():
    m = _model()
    with open_target("host", m, **SETTINGS) as t:
        t.set_learning_rate(0)
        t.run(np.ones((5, 2)), np.zeros((5, 3)))
        w = t.weights()
    for k in m.params:
        np.testing.assert_allclose(w.params[k], m.params[k], atol=2.0 ** -24)  # Q24 of the start


def test_bad_use_is_one_line():
    m = _model()
    with pytest.raises(PyrtrlError, match="unknown target 'nope'"):
        open_target("nope", m)
    with pytest.raises(PyrtrlError, match="port goes with a board"):
        open_target("host", m, port="/dev/null")
    t = open_target("host", m, **SETTINGS)
    with pytest.raises(PyrtrlError, match="x must be T x 2"):
        t.run(np.zeros((3, 5)))
    with pytest.raises(PyrtrlError, match="targets or labels, not both"):
        t.run(np.zeros((3, 2)), np.zeros((3, 3)), np.zeros(3, dtype=int))
    t.close()
    t.close()  # idempotent
    with pytest.raises(PyrtrlError, match="closed"):
        t.predict(np.zeros(2))


def test_import_pyrtrl_does_not_load_the_c_library():
    code = ("import sys, pyrtrl; assert 'pyrtrl.deploy.runtime' not in sys.modules; "
            "assert callable(pyrtrl.open_target) and pyrtrl.CLearner.__name__ == 'CLearner'")
    subprocess.run([sys.executable, "-c", code], check=True)
