"""Labelled sequences (``pyrtrl run --data SEQS.npz``, :mod:`pyrtrl.runs.classify`) and the
inference mode both learners share: ``predict``, ``learn=False``, ``set_learning_rate(0)``
(runtime_c's lr_q = 0, bit for bit against :mod:`pyrtrl.fixed`), steps without a loss, label
types, missing losses and array layouts."""

import json

import numpy as np
import pytest

import pyrtrl
from pyrtrl.reporting.run_files import LABELLED_NAMES, read_labelled_telemetry
from pyrtrl.runs.classify import classify_sequence, evaluate, make_learner, run_classification, weights_of
from pyrtrl.cli import main
from pyrtrl.data.files import is_labelled, load_sequences
from pyrtrl.errors import PyrtrlError
from pyrtrl.fixed import FixedLearner, fixed_config, quantize, quantize_samples
from pyrtrl.deploy.runtime import CLearner


# -- a small labelled set: the class is the sign of the sequence's mean ---------------------
def sign_of_mean(n, T, seed, shift=0.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, T, 1)) + np.where(y == 1, shift, -shift)[:, None, None]
    return X, y


@pytest.fixture
def seqs(tmp_path):
    X, y = sign_of_mean(60, 20, seed=0)
    Xt, yt = sign_of_mean(40, 20, seed=1)
    path = str(tmp_path / "seqs.npz")
    np.savez(path, X=X, y=y, X_test=Xt, y_test=yt)
    return path


FAST = dict(epochs=4, hidden=8, taps=0, optimizer="adam", lr=0.01)  # the cell must carry the mean


@pytest.mark.parametrize("backend", ["float", "host"])
def test_learns_above_majority_and_tests_without_learning(backend, seqs, tmp_path):
    data = load_sequences(seqs)
    s = run_classification(data, backend=backend, out_dir=str(tmp_path / "run"), **FAST)
    assert s["accuracy_majority"] == pytest.approx(np.mean(data.y_test == np.bincount(data.y).argmax()))
    assert s["accuracy_test"] > s["accuracy_majority"] + 0.15, s
    assert s["accuracy_train_per_epoch"][-1] > s["accuracy_majority"] + 0.1, s
    assert s["accuracy_train"] == s["accuracy_train_per_epoch"][-1]
    assert len(s["accuracy_test_per_epoch"]) == FAST["epochs"]
    assert s["weights_unchanged_by_test"] is True
    m = np.array(s["confusion_matrix"])
    assert m.shape == (2, 2) and m.sum() == len(data.y_test)
    assert np.trace(m) / m.sum() == pytest.approx(s["accuracy_test"])
    report = open(tmp_path / "run" / "report.md").read()
    assert "Confusion matrix" in report and "| **1** |" in report and "accuracy.png" in report
    assert (tmp_path / "run" / "accuracy.png").stat().st_size > 1000
    # telemetry.csv (the labelled schema): every training sequence and every test pass, in order
    tel = read_labelled_telemetry(tmp_path / "run")
    assert tel["step"].size == FAST["epochs"] * (60 + 40) == s["steps_kept"] == s["steps_total"]
    assert np.all(np.diff(tel["step"]) == 20)  # one row per sequence's last step (T = 20)
    train = tel["learning"] == 1
    assert train.sum() == FAST["epochs"] * 60 and np.array_equal(tel["sequence"][~train][:40], np.arange(40))
    for e in range(1, FAST["epochs"] + 1):  # the rows give back the summary's accuracies
        on = train & (tel["epoch"] == e)
        assert np.mean(tel["predicted"][on] == tel["label"][on]) == s["accuracy_train_per_epoch"][e - 1]
        assert np.mean(tel["cross_entropy"][on]) == pytest.approx(s["loss_train_per_epoch"][e - 1])
    last = ~train & (tel["epoch"] == FAST["epochs"])
    assert np.array_equal(tel["label"][last], data.y_test)
    assert np.mean(tel["predicted"][last] == tel["label"][last]) == s["accuracy_test"]
    assert (tel["macs"] > 0).all() and (tel["events"] >= 0).all()
    assert s["status"] == "finished" and s["kind"] == "classification" and len(s["run_id"]) == 12
    assert s["backend"] == {"float": "float", "host": "host-c"}[backend]
    assert s["telemetry_columns"] == list(LABELLED_NAMES)
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == s


@pytest.mark.parametrize("backend", ["float", "host"])
def test_test_pass_changes_no_weight(backend):
    X, y = sign_of_mean(6, 15, seed=3)
    model = pyrtrl.init_egru(8, 1, 2, density=0.5, seed=0, readout="c", taps=2)
    learner = make_learner(model, backend, lr=0.01, optimizer="adam")
    for i in range(3):
        classify_sequence(learner, X[i], int(y[i]))  # learns: weights and Adam moments move
    before = weights_of(learner)
    preds, losses = evaluate(learner, X, y)
    after = weights_of(learner)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    assert np.all(losses > 0) and preds.shape == (6,)
    # and learning does change them (the comparison can fail)
    classify_sequence(learner, X[0], int(y[0]))
    assert any(not np.array_equal(before[n], weights_of(learner)[n]) for n in before)


@pytest.mark.parametrize("backend", ["float", "host"])
def test_state_is_reset_between_sequences(backend):
    X, y = sign_of_mean(2, 12, seed=4, shift=2.0)
    model = pyrtrl.init_egru(8, 1, 2, density=0.5, seed=1, readout="c", taps=3)
    learner = make_learner(model, backend, lr=0.01)
    learner.reset_state()
    first = learner.predict(X[0])
    learner.predict(X[1])  # another sequence in between
    learner.reset_state()
    again = learner.predict(X[0])
    np.testing.assert_array_equal(first[0], again[0])  # identical at its first step
    np.testing.assert_array_equal(first, again)
    carried = learner.predict(X[0])  # no reset: the state (and taps) carry over
    assert not np.array_equal(carried[0], first[0])
    # classify_sequence resets: the same sequence twice without learning, the same answer
    assert classify_sequence(learner, X[0], 0, learn=False) == classify_sequence(learner, X[0], 0, learn=False)


# -- one-line errors ----------------------------------------------------------------------
def one_line_error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


X2, Y2 = sign_of_mean(10, 6, seed=5)
BAD = {
    "missing-y": (dict(X=X2, y_test=Y2), "missing y"),
    "missing-X": (dict(y=Y2, x=X2[:, :, 0]), "missing X"),
    "X-shape": (dict(X=X2.ravel(), y=Y2), "expected (N sequences, T steps, d channels)"),
    "y-length": (dict(X=X2, y=Y2[:-1]), "y has shape (9,), expected (10,)"),
    "y-float": (dict(X=X2, y=np.where(Y2 == 1, 1.0, 0.5)), "y must hold integer classes; y[2] is 0.5"),
    "y-negative": (dict(X=X2, y=Y2 - 1), "classes 0, 1, ...;"),
    "NaN": (dict(X=np.where(np.arange(X2.size).reshape(X2.shape) == 3 * 6 + 4, np.nan, X2), y=Y2),
            "NaN in X at sequence 3, step 4, channel 0"),
    "one-class": (dict(X=X2, y=np.zeros(10, dtype=int)), "too few classes"),
    "test-alone": (dict(X=X2, y=Y2, X_test=X2), "X_test and y_test go together"),
    "test-channels": (dict(X=X2, y=Y2, X_test=np.concatenate([X2, X2], axis=2), y_test=Y2),
                      "X_test has 2 channel(s), X has 1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sequences_give_one_line(case, tmp_path, capsys):
    arrays, expect = BAD[case]
    path = str(tmp_path / f"{case}.npz")
    np.savez(path, **arrays)
    if "y" in arrays:
        assert is_labelled(path)
        with pytest.raises(PyrtrlError, match=None) as e:
            load_sequences(path)
        assert expect in str(e.value) and "\n" not in str(e.value), str(e.value)
        line = one_line_error(capsys, ["run", "--board", "host", "--data", path, "--out", str(tmp_path / "r")])
        assert expect in line and path in line, line
    else:  # no y: not labelled, and load_sequences says what is missing
        with pytest.raises(PyrtrlError) as e:
            load_sequences(path)
        assert expect in str(e.value)


def test_board_options_that_do_not_apply_give_one_line(seqs, tmp_path, capsys):
    out = ["--out", str(tmp_path / "r")]
    line = one_line_error(capsys, ["run", "--board", "float", "--port", "/dev/null", "--data", seqs] + out)
    assert "--port talks to a board" in line
    line = one_line_error(capsys, ["run", "--board", "host", "--data", seqs, "--epochs", "2",
                                   "--test-every", "3"] + out)
    assert "--test-every 3 is more than --epochs 2" in line
    line = one_line_error(capsys, ["run", "--board", "host", "--data", seqs, "--horizon", "3"] + out)
    assert "--horizon" in line and "labelled" in line


def test_json_keys_and_rls_note(seqs, tmp_path, capsys):
    rc = main(["run", "--board", "host", "--data", seqs, "--epochs", "2", "--hidden", "6",
               "--readout-rule", "rls", "--out", str(tmp_path / "r"), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "readout learns by gradient" in cap.err and len(cap.err.strip().splitlines()) == 1
    s = json.loads(cap.out)
    for key in ("accuracy_train", "accuracy_test", "accuracy_majority", "accuracy_train_per_epoch",
                "accuracy_test_per_epoch", "loss_train_per_epoch", "confusion_matrix", "classes",
                "epochs", "backend", "readout_rule", "weights_unchanged_by_test"):
        assert key in s, key
    assert s["kind"] == "classification" and s["readout_rule"] == "gradient" and s["epochs"] == 2
    assert len(s["accuracy_train_per_epoch"]) == 2 and s["classes"] == 2
    rc = main(["report", str(tmp_path / "r")])  # the report is regenerated from the summary
    assert rc == 0 and capsys.readouterr().out.strip().endswith("report.md")


def test_without_a_test_set(tmp_path):
    X, y = sign_of_mean(12, 8, seed=6)
    path = str(tmp_path / "train_only.npz")
    np.savez(path, X=X[:, :, 0], y=y)  # N x T: one channel
    s = run_classification(load_sequences(path), backend="host", epochs=1, hidden=6,
                           out_dir=str(tmp_path / "r"))
    assert s["accuracy_test"] is None and s["accuracy_majority_on"] == "train"
    assert s["confusion_on"].startswith("train") and np.sum(s["confusion_matrix"]) == 12


# -- the inference API, the same on both learners -----------------------------------------
def both(model, **kw):
    f = pyrtrl.OnlineLearner(model.copy(), optimizer=kw.pop("optimizer", "sgd"), clip=1.0,
                             clip_mode="value", **kw)
    c = CLearner(model, clip=1.0, **kw)
    return f, c


def fweights(f):
    return {k: v.copy() for k, v in f.model.params.items()}


def test_predict_changes_no_weight_and_advances_the_state():
    model = pyrtrl.init_egru(10, 2, 3, density=0.5, seed=2, readout="c", taps=2)
    x = np.random.default_rng(0).normal(size=(30, 2))
    f, c = both(model, lr=0.02)
    wf, wc = fweights(f), weights_of(c)
    pf, pc = f.predict(x), c.predict(x)
    assert pf.shape == pc.shape == (30, 3)
    np.testing.assert_allclose(pf, pc, atol=2e-3)  # float vs fixed point
    for n in wf:
        np.testing.assert_array_equal(wf[n], f.model.params[n])
    for n in wc:
        np.testing.assert_array_equal(wc[n], weights_of(c)[n])
    assert c.counters().updates == 0 and f.updates == 0 and not c.snapshot().M.any()
    one_f, one_c = f.predict(x[0]), c.predict(x[0])  # one step: (k,), continuing the state
    assert one_f.shape == one_c.shape == (3,)
    assert not np.allclose(one_c, pc[0]) and abs(c.snapshot().state["c"]).sum() > 0


def test_c_predict_equals_run_with_learning_off():
    model = pyrtrl.init_egru(10, 2, 3, density=0.5, seed=2, readout="c", taps=2)
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(40, 2)), rng.normal(size=(40, 3)) * 0.5
    outs = []
    for how in ("predict", "learn=False", "lr 0"):
        c = CLearner(model, lr=0.02)
        c.run(x[:20], t[:20])  # learn first: the inference must not disturb what was learned
        before = c.snapshot()
        if how == "predict":
            outs.append(c.predict(x[20:]))
        elif how == "learn=False":
            outs.append(c.run(x[20:], t[20:], learn=False).output)
        else:
            c.set_learning_rate(0)
            assert not c.learning
            outs.append(c.run(x[20:], t[20:]).output)
        after = c.snapshot()
        for name in ("theta", "w_o", "b_o", "M", "grad", "grad_wo", "grad_bo", "grad_thr"):
            np.testing.assert_array_equal(getattr(before, name), getattr(after, name), err_msg=f"{how}: {name}")
        assert after.counters.updates == before.counters.updates
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    c.set_learning_rate(0.02)  # learning back on
    assert c.learning and c.lr == pytest.approx(0.02)
    u = c.counters().updates
    c.run(x[:5], t[:5])
    assert c.counters().updates == u + 5
    for bad in (-1.0, float("nan"), 200.0):
        with pytest.raises(PyrtrlError):
            c.set_learning_rate(bad)
    f = pyrtrl.OnlineLearner(model.copy(), lr=0.02)
    with pytest.raises(PyrtrlError):
        f.set_learning_rate(-1.0)


# learning, then evaluation (lr 0) with targets and labels, then learning again: runtime_c
# and its specification agree bit for bit on every array and counter
LR0 = [
    dict(optimizer="sgd", readout_rule="rls", horizon=1, labels=False),
    dict(optimizer="adam", readout_rule="gradient", horizon=1, labels=True),
    dict(optimizer="adam", readout_rule="gradient", horizon=3, labels=False),
    dict(optimizer="sgd", readout_rule="gradient", horizon=1, labels=True, update_every=3),
]


@pytest.mark.parametrize("cfg", LR0, ids=lambda c: "{optimizer}-{readout_rule}-h{horizon}-{l}-K{K}".format(
    l="labels" if c["labels"] else "targets", K=c.get("update_every", 1), **c))
def test_learning_off_is_bit_exact_against_the_specification(cfg):
    from bitexact import assert_same

    model = pyrtrl.init_egru(12, 2, 3, density=0.4, shared_mask=True, eps=0.5, seed=9, readout="c", taps=2)
    rng = np.random.default_rng(10)
    T = 240
    xq = quantize_samples(rng.normal(size=(T, 2)))[0].astype(np.int32)
    tq = quantize_samples(rng.normal(size=(T, 3)) * 0.5)[0].astype(np.int32)
    labels = np.where(rng.random(T) < 0.3, rng.integers(0, 3, T), -1) if cfg["labels"] else None
    K = cfg.get("update_every", 1)
    kw = dict(optimizer=cfg["optimizer"], readout_rule=cfg["readout_rule"], horizon=cfg["horizon"])
    c = CLearner(model, lr=0.02, clip=1.0, update_every=K, influence_bits=16, **kw)
    f = FixedLearner(quantize(model), fixed_config(0.02, 1.0, K, 16, **kw))
    tgt = None if cfg["labels"] else tq
    updates_before = f.counters.updates
    for lo, hi, learn in ((0, 80, True), (80, 160, False), (160, 240, True)):
        if not learn:
            c.set_learning_rate(0)
            f.set_learning_rate(0)
        else:
            c.set_learning_rate(0.02)
            f.set_learning_rate(c.fcfg.lr_q)
        r = c.run_fixed(xq[lo:hi], None if tgt is None else tgt[lo:hi],
                        labels=None if labels is None else labels[lo:hi])
        for t in range(lo, hi):
            out, loss = f.step(xq[t], None if tgt is None else tgt[t], -1 if labels is None else int(labels[t]))
            np.testing.assert_array_equal(r.output_q[t - lo], out)
            assert r.loss_q[t - lo] == loss
        assert_same(c, f, f"after step {hi} (learning {'on' if learn else 'off'})")
        if not learn:
            assert f.counters.updates == updates_before
        updates_before = f.counters.updates


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_steps_without_a_loss_move_nothing_on_both(optimizer):
    model = pyrtrl.init_egru(8, 1, 3, density=0.5, seed=3, readout="c", taps=1)
    X, _ = sign_of_mean(1, 10, seed=7)
    f, c = both(model, lr=0.01, optimizer=optimizer)
    lab = np.full(10, -1)
    lab[4] = 2
    f.run(X[0], labels=lab)
    c.run(X[0], labels=lab)
    assert f.updates == 1 and c.counters().updates == 1  # only the labelled step updates
    wf, wc = fweights(f), weights_of(c)
    mom = None if optimizer == "sgd" else {k: v.copy() for k, v in f.optimizer.m.items()}
    f.run(X[0], labels=np.full(10, -1))  # no loss anywhere: the momentum must not move weights
    c.run(X[0], labels=np.full(10, -1))
    for n in wf:
        np.testing.assert_array_equal(wf[n], f.model.params[n], err_msg=n)
    for n in wc:
        np.testing.assert_array_equal(wc[n], weights_of(c)[n], err_msg=n)
    if mom is not None:
        for n in mom:
            np.testing.assert_array_equal(mom[n], f.optimizer.m[n])
    assert f.updates == 1 and c.counters().updates == 1


def test_run_without_a_loss_is_the_same_error_on_both():
    model = pyrtrl.init_egru(6, 2, 2, density=0.5, seed=4)
    x = np.random.default_rng(2).normal(size=(8, 2))
    f, c = both(model, lr=0.01)
    msgs = []
    for L in (f, c):
        with pytest.raises(PyrtrlError) as e:
            L.run(x)
        msgs.append(str(e.value))
        assert L.run(x, learn=False).output.shape == (8, 2)  # evaluation needs no loss
    assert msgs[0] == msgs[1] and "predict" in msgs[0]


def test_labels_are_checked_the_same_on_both():
    model = pyrtrl.init_egru(6, 2, 3, density=0.5, seed=4)
    x = np.random.default_rng(3).normal(size=(6, 2))
    for bad in (np.array([0, 1, 2.5, -1, 0, 1]), np.array([0, 1, 3, -1, 0, 1]), np.array([True] * 6),
                np.array([0, 1, 2])):
        msgs = []
        for L in both(model, lr=0.01):
            with pytest.raises(PyrtrlError) as e:
                L.run(x, labels=bad)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1], msgs
    f, c = both(model, lr=0.01)
    with pytest.raises(PyrtrlError, match="label 0 is 1.5"):
        f.step(x[0], label=1.5)
    with pytest.raises(PyrtrlError, match="label 0 is 1.5"):
        c.step(x[0], label=1.5)
    whole = np.array([0.0, 1.0, 2.0, -1.0, 0.0, 1.0])  # whole-number floats are classes
    ints = whole.astype(int)
    for L in both(model, lr=0.01):
        a = L.run(x, labels=whole).loss
        assert np.all(np.isfinite(a))
    fa, ca = both(model, lr=0.01)
    fb, cb = both(model, lr=0.01)
    np.testing.assert_array_equal(ca.run(x, labels=whole).output_q, cb.run(x, labels=ints).output_q)
    np.testing.assert_array_equal(fa.run(x, labels=whole).loss, fb.run(x, labels=ints).loss)


def test_any_strides_on_both():
    model = pyrtrl.init_egru(8, 3, 2, density=0.5, seed=5, readout="c", taps=2)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 3))
    t = rng.normal(size=(20, 2)) * 0.5
    xt = np.ascontiguousarray(x.T).T  # a transposed array's view: not C-contiguous
    tt = np.ascontiguousarray(t.T).T
    assert not xt.flags.c_contiguous
    for make in (lambda: both(model, lr=0.01)[0], lambda: both(model, lr=0.01)[1]):
        a, b = make(), make()
        ra, rb = a.run(x, t), b.run(xt, tt)
        np.testing.assert_array_equal(ra.output, rb.output)
        np.testing.assert_array_equal(a.predict(x[::-1]), b.predict(xt[::-1]))


def test_epochs_without_labelled_sequences_is_one_line(tmp_path, capsys):
    path = str(tmp_path / "s.npy")
    np.save(path, np.sin(np.arange(50) / 3.0))
    line = one_line_error(capsys, ["run", "--board", "float", "--data", path, "--epochs", "2",
                                   "--out", str(tmp_path / "r")])
    assert "--epochs is for labelled sequences" in line


# -- the run directory's lifecycle (issue 12 item 2) ----------------------------------------
@pytest.mark.parametrize("backend", ["float", "host"])
@pytest.mark.parametrize("end", ["interrupted", "failed"])
def test_a_classification_run_that_ends_early_says_so(backend, end, seqs, tmp_path, monkeypatch, capsys):
    """Like every run: the summary says running, then interrupted (Ctrl-C, SIGTERM, SIGHUP) or
    failed with the reason, with the labelled rows that reached telemetry.csv; the report
    refuses it in one line, and the earlier run's files are gone."""
    import pyrtrl.runs.classify as C

    out = tmp_path / "r"
    first = run_classification(load_sequences(seqs), backend=backend, out_dir=str(out), epochs=1, hidden=4)
    assert (out / "report.md").is_file() and (out / "accuracy.png").is_file()
    real = C.classify_sequence
    calls = {"n": 0}

    def stop_at_25(*a, **kw):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt if end == "interrupted" else PyrtrlError("link lost")
        return real(*a, **kw)

    monkeypatch.setattr(C, "classify_sequence", stop_at_25)
    with pytest.raises(KeyboardInterrupt if end == "interrupted" else PyrtrlError):
        run_classification(load_sequences(seqs), backend=backend, out_dir=str(out), epochs=2, hidden=4)
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == end and s["kind"] == "classification" and s["run_id"] != first["run_id"]
    assert s["steps_kept"] == 25 and s["steps_total"] == 2 * (60 + 40)
    assert s["reason"] == ("SIGINT" if end == "interrupted" else "link lost")
    tel = read_labelled_telemetry(out)
    assert tel["step"].size == 25 and np.all(tel["learning"] == 1)
    assert not (out / "report.md").exists() and not (out / "accuracy.png").exists()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"is {end}" in err and "25 of 200 steps" in err and err.count("\n") == 1
