"""Bundled labelled data sets (pyrtrl.data.datasets: .ts files read from an installed package
without importing it) and the classification baselines (pyrtrl.core.baselines: majority class,
logistic regression on mean/std and on raw values)."""

import importlib.util
import json

import numpy as np
import pytest
from needs import in_ci

from pyrtrl.data import datasets
from pyrtrl.core.baselines import (classification_baselines, logistic_regression, mean_std_features,
                              raw_features)
from pyrtrl.cli import main
from pyrtrl.data.files import load_sequences
from pyrtrl.errors import PyrtrlError

UNI = """#A comment line
@problemName Toy
@timeStamps false
@univariate true
@equalLength true
@seriesLength 3
@classLabel true b a
@data
1.0,2.0,3.0:a
-1,0.5,2:b
4,5,6:a
"""

MULTI = """@problemName Toy2
@univariate false
@dimensions 2
@classLabel true Standing Running
@data
1,2,3,4:5,6,7,8:Running
0,0,1,1:2,2,3,3:Standing
"""


def test_read_ts_univariate_and_multivariate(tmp_path):
    p = tmp_path / "u.ts"
    p.write_text(UNI)
    X, labels, names = datasets.read_ts(p)
    assert X.shape == (3, 3, 1) and labels == ["a", "b", "a"] and names == ["b", "a"]
    np.testing.assert_array_equal(X[1, :, 0], [-1, 0.5, 2])
    p = tmp_path / "m.ts"
    p.write_text(MULTI)
    X, labels, names = datasets.read_ts(p)
    assert X.shape == (2, 4, 2) and names == ["Standing", "Running"]
    np.testing.assert_array_equal(X[0, :, 1], [5, 6, 7, 8])  # channels split at ':'


@pytest.mark.parametrize("body, message", [
    ("@problemName x\n1,2:a\n", "no @data line"),
    ("@classLabel true a\n@data\n1,?,3:a\n", "'?' is not a number (missing values"),
    ("@classLabel true a\n@data\n1,2,3:a\n1,2:a\n", "line 4: 2 steps x 1 channel(s), the first case has 3 x 1"),
    ("@classLabel true a\n@data\n1,2:3:a\n", "channels of different lengths"),
    ("@classLabel true a b\n@data\n1,2:c\n", "label(s) c not declared"),
    ("@targetLabel true\n@data\n1,2:0.5\n", "regression set"),
    ("@data\n", "no cases after @data"),
])
def test_read_ts_one_line_errors(tmp_path, body, message):
    p = tmp_path / "bad.ts"
    p.write_text(body)
    with pytest.raises(PyrtrlError) as e:
        datasets.read_ts(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.fixture
def fake_provider(tmp_path, monkeypatch):
    """A package named sktime (first on sys.path) that ships ItalyPowerDemand's two files in
    its datasets/data directory: the loader must find them there without importing it."""
    root = tmp_path / "site"
    pkg = root / "sktime"
    d = pkg / "datasets" / "data" / "ItalyPowerDemand"
    d.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('pyrtrl must not import the provider')\n")
    rng = np.random.default_rng(0)

    def write(path, n):
        y = rng.integers(1, 3, n)
        X = rng.normal(size=(n, 24)) + 3.0 * (y[:, None] == 2) * np.sin(np.arange(24) / 4.0)
        lines = ["@problemName ItalyPowerDemand", "@univariate true", "@classLabel true 1 2", "@data"]
        lines += [",".join(f"{v:.6f}" for v in X[i]) + f":{y[i]}" for i in range(n)]
        path.write_text("\n".join(lines) + "\n")
        return X, y - 1

    train = write(d / "ItalyPowerDemand_TRAIN.ts", 20)
    test = write(d / "ItalyPowerDemand_TEST.ts", 12)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return train, test


def test_load_and_export_a_bundled_set(fake_provider, tmp_path):
    (X, y), (Xt, yt) = fake_provider
    ds = datasets.load_dataset("italypowerdemand")  # any letter case
    assert ds.name == "ItalyPowerDemand" and ds.class_names == ["1", "2"]
    assert "sktime" in ds.source
    np.testing.assert_allclose(ds.X[:, :, 0], X, atol=1e-6)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.y_test, yt)
    info = datasets.export_labelled("ItalyPowerDemand", tmp_path / "ipd.npz")
    assert info["train_sequences"] == 20 and info["test_sequences"] == 12 and info["steps"] == 24
    with np.load(tmp_path / "ipd.npz") as z:
        off, sc = z["channel_offset"], z["channel_scale"]
        np.testing.assert_allclose(off + sc * z["X"][:, :, 0], X, atol=1e-6)  # raw = offset + scale * value
        np.testing.assert_allclose(off + sc * z["X_test"][:, :, 0], Xt, atol=1e-6)
        assert abs(np.median(z["X"])) < 1e-9  # normalised by the training set's median and spread
    data = load_sequences(tmp_path / "ipd.npz")  # what pyrtrl run --data reads
    assert (data.k, data.d, data.X.shape, data.X_test.shape) == (2, 1, (20, 24, 1), (12, 24, 1))
    assert "ItalyPowerDemand" in data.source and "sktime" in data.source  # the file says where it came from


def test_dataset_cli_lists_and_exports(fake_provider, tmp_path, capsys):
    assert main(["dataset", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["ItalyPowerDemand"]["package"] == "sktime"
    assert main(["dataset", "ItalyPowerDemand", "-o", str(tmp_path / "x.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["file"].endswith("x.npz")
    assert main(["dataset", "NoSuchSet", "-o", str(tmp_path / "y.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown data set 'NoSuchSet'" in err and "ItalyPowerDemand" in err and "\n" not in err


def test_run_data_name_runs_the_bundled_set(fake_provider, tmp_path, capsys):
    rc = main(["run", "--board", "host", "--data", "ItalyPowerDemand", "--epochs", "1", "--hidden", "4",
               "--taps", "0", "--out", str(tmp_path / "r"), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    assert s["data_file"]["train_sequences"] == 20 and (tmp_path / "r" / "dataset.npz").is_file()
    assert s["baselines"]["logreg_raw"] == s["accuracy_logreg"] or s["baselines"]["logreg_mean_std"] == s["accuracy_logreg"]


def test_missing_provider_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("sktime", "aeon") else real(name, *a))
    with pytest.raises(PyrtrlError) as e:
        datasets.load_dataset("GunPoint")
    assert "pip install 'pyrtrl[ucr]'" in str(e.value)


def test_the_real_italy_power_demand_when_installed():
    """The set the README's demonstration learns, from the installed package (optional:
    pip install 'pyrtrl[ucr]')."""
    try:
        ds = datasets.load_dataset("ItalyPowerDemand")
    except PyrtrlError as e:
        if in_ci():
            pytest.fail(f"CI lacks the data set ({e}): tools/test.sh installs sktime", pytrace=False)
        pytest.skip(f"OPTIONAL PACKAGE MISSING: {e}")
    assert ds.X.shape == (67, 24, 1) and ds.X_test.shape == (1029, 24, 1)
    assert np.bincount(ds.y).tolist() == [34, 33] and np.bincount(ds.y_test).tolist() == [513, 516]
    b = classification_baselines(ds.X, ds.y, ds.X_test, ds.y_test)
    # each day is z-normalised in the archive, so mean and std carry nothing; the shape does
    assert b["logreg_mean_std"] < 0.6 < 0.9 < b["logreg_raw"] == b["logreg_best"]


# -- logistic regression ----------------------------------------------------------------------
def test_logistic_regression_separates_separable_data():
    rng = np.random.default_rng(1)
    w = np.array([2.0, -1.0, 0.5])
    F = rng.normal(size=(200, 3))
    margin = F @ w
    keep = np.abs(margin) > 0.3  # a clear margin
    F, y = F[keep], (margin[keep] > 0).astype(int)
    Ft = rng.normal(size=(300, 3))
    mt = Ft @ w
    Ft, yt = Ft[np.abs(mt) > 0.3], (mt[np.abs(mt) > 0.3] > 0).astype(int)
    pred = logistic_regression(F, y, Ft)
    assert np.mean(pred == yt) == 1.0
    np.testing.assert_array_equal(pred, logistic_regression(F, y, Ft))  # deterministic


def test_logistic_regression_three_classes_and_xor():
    rng = np.random.default_rng(2)
    centres = np.array([[0, 4], [4, 0], [-4, -4]])
    y = np.repeat(np.arange(3), 30)
    F = centres[y] + rng.normal(size=(90, 2))
    assert np.mean(logistic_regression(F, y, F) == y) == 1.0
    # XOR: no linear classifier does better than chance on the four corners
    Fx = np.array([[0, 0], [1, 1], [0, 1], [1, 0]] * 10, dtype=float)
    yx = np.array([0, 0, 1, 1] * 10)
    assert np.mean(logistic_regression(Fx, yx, Fx) == yx) <= 0.5


def test_classification_baselines_pick_the_features_that_carry_the_class():
    rng = np.random.default_rng(3)
    n, T = 60, 30
    y = rng.integers(0, 2, n)
    yt = rng.integers(0, 2, n)
    # the class is the spread of the sequence: mean and std see it, single values barely
    X = rng.normal(size=(n, T, 1)) * np.where(y == 1, 3.0, 1.0)[:, None, None]
    Xt = rng.normal(size=(n, T, 1)) * np.where(yt == 1, 3.0, 1.0)[:, None, None]
    b = classification_baselines(X, y, Xt, yt)
    assert b["logreg_mean_std"] >= 0.95 and b["logreg_raw"] < 0.8
    assert b["logreg_best"] == b["logreg_mean_std"] and b["logreg_best_features"] == "mean_std"
    assert b["majority"] == pytest.approx(np.mean(yt == np.bincount(y).argmax()))
    assert mean_std_features(X).shape == (n, 2) and raw_features(X).shape == (n, T)


def test_logistic_regression_bad_input_is_one_line():
    with pytest.raises(PyrtrlError):
        logistic_regression(np.zeros((3, 2)), [0, 1], np.zeros((1, 2)))
    with pytest.raises(PyrtrlError):
        logistic_regression(np.zeros((2, 2)), [0, 1], np.zeros((1, 2)), C=0)
