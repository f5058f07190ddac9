"""``pyrtrl run --data FILE``: reading .csv/.npy/.npz, one-line errors naming the file and the
place, forecasting and regression streams, causal normalisation, the clamp warning, and runs
through the CLI on the float learner and the host C library."""

import json
import os

import numpy as np
import pytest
from needs import require_board

from pyrtrl.cli import main
from pyrtrl.data.files import load_stream, load_table, select_columns
from pyrtrl.errors import PyrtrlError
from pyrtrl.data.signals import causal_normalization, forecasting_stream, load_signal, synthetic_signal


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(v if isinstance(v, str) else repr(float(v)) for v in r) + "\n")
    return str(path)


def three_columns(T=160, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    a = np.sin(t / 5) + 0.1 * rng.normal(size=T)
    b = np.cos(t / 7) + 0.1 * rng.normal(size=T)
    c = 0.5 * a + 0.3 * b + 0.05 * rng.normal(size=T)
    return np.column_stack([a, b, c])


@pytest.fixture
def multi_csv(tmp_path):
    return write_csv(tmp_path / "m.csv", ["a", "b", "c"], three_columns())


def one_line_error(capsys, argv):
    """Run the CLI, expect exit status 2 and exactly one line on stderr; return it."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- every bad file gives one line naming the file and the place ---------------------------
def bad_files(tmp_path):
    ok_rows = [[1, 2], [3, 4], [5, 7], [2, 1]]
    return {
        "non-numeric": (write_csv(tmp_path / "nn.csv", ["a", "b"], ok_rows[:2] + [["3", "abc"]] + ok_rows[2:]),
                        None, ["non-numeric", "'abc'", "row 3, column 1 ('b')"]),
        "nan": (write_csv(tmp_path / "nan.csv", ["a", "b"], ok_rows[:3] + [["nan", "1"]]),
                None, ["NaN", "row 4, column 0 ('a')"]),
        "inf": (write_csv(tmp_path / "inf.csv", ["a", "b"], [["1", "inf"]] + ok_rows),
                None, ["Inf", "row 1, column 1 ('b')"]),
        "ragged": (write_csv(tmp_path / "rag.csv", ["a", "b"], ok_rows[:2] + [["1", "2", "3"]] + ok_rows),
                   None, ["ragged", "row 3 has 3 value(s)", "header 2"]),
        "too few rows": (write_csv(tmp_path / "few.csv", ["a", "b"], ok_rows[:2]), None,
                         ["too few rows", "2"]),
        "no column": (write_csv(tmp_path / "col.csv", ["a", "b"], ok_rows), "zz",
                      ["--inputs", "no column 'zz'", "columns: a, b"]),
        "no column index": (write_csv(tmp_path / "idx.csv", ["a", "b"], ok_rows), "5",
                            ["--inputs", "no column 5"]),
        "extension": (str(tmp_path / "data.txt"), None, ["unsupported file type '.txt'", ".csv"]),
        "missing": (str(tmp_path / "missing.csv"), None, ["no such file"]),
        "npy nan": (str(tmp_path / "n.npy"), None, ["NaN", "row 2, column 0"]),
        "npz names": (str(tmp_path / "w.npz"), None, ["expected an array named x, X, data"]),
        "no header": (write_csv(tmp_path / "nohead.csv", ["1", "2"], ok_rows), None, ["header"]),
    }


def _make_binary_files(tmp_path):
    (tmp_path / "data.txt").write_text("a\n1\n2\n3\n")
    np.save(tmp_path / "n.npy", np.array([1.0, np.nan, 2.0, 3.0]))
    np.savez(tmp_path / "w.npz", a=np.ones(5), b=np.ones(5))


@pytest.mark.parametrize("case", ["non-numeric", "nan", "inf", "ragged", "too few rows", "no column",
                                  "no column index", "extension", "missing", "npy nan", "npz names",
                                  "no header"])
def test_bad_file_gives_one_line_naming_file_and_place(case, tmp_path, capsys):
    _make_binary_files(tmp_path)
    path, inputs, needles = bad_files(tmp_path)[case]
    with pytest.raises(PyrtrlError) as e:
        load_stream(path, inputs=inputs)
    msg = str(e.value)
    assert "\n" not in msg and os.fspath(path) in msg
    for n in needles:
        assert n in msg, (n, msg)
    # the CLI prints that one line and exits 2, before any run starts
    argv = ["run", "--board", "host", "--data", path, "--out", str(tmp_path / "r")]
    line = one_line_error(capsys, argv + (["--inputs", inputs] if inputs else []))
    assert line.startswith("pyrtrl run: error: ") and msg in line
    assert not (tmp_path / "r").exists()


def test_missing_target_column_and_horizon_with_targets(multi_csv, capsys):
    line = one_line_error(capsys, ["run", "--board", "float", "--data", multi_csv, "--targets", "d"])
    assert "--targets" in line and "no column 'd'" in line and multi_csv in line
    line = one_line_error(capsys, ["run", "--board", "float", "--data", multi_csv, "--targets", "c",
                                   "--horizon", "3"])
    assert "--horizon 3" in line
    line = one_line_error(capsys, ["run", "--board", "float", "--inputs", "a"])
    assert "--data FILE" in line
    line = one_line_error(capsys, ["run", "--board", "float", "--data", multi_csv, "--steps", "500"])
    assert "too few rows for 500 steps" in line


def test_data_and_signal_are_mutually_exclusive_and_documented(multi_csv, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--data", multi_csv, "--signal", "ppg"])
    assert e.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for needle in ("--data FILE", "--signal", "--inputs COLS", "--targets COLS", ".npz", "regression"):
        assert needle in out, needle


# -- reading and streams -------------------------------------------------------------------
def test_csv_npy_npz_round_trip(tmp_path):
    v = three_columns(50)
    csv_path = write_csv(tmp_path / "t.csv", ["a", "b", "c"], v)
    np.save(tmp_path / "t.npy", v)
    np.savez(tmp_path / "t.npz", X=v, columns=np.array(["a", "b", "c"]))
    np.savez(tmp_path / "single.npz", anything=v)
    np.save(tmp_path / "one.npy", v[:, 0])
    tables = [load_table(p) for p in (csv_path, tmp_path / "t.npy", tmp_path / "t.npz",
                                       tmp_path / "single.npz")]
    for t in tables:
        np.testing.assert_array_equal(t.values, v)  # repr() in the CSV: exact round trip
    assert tables[0].names == tables[2].names == ["a", "b", "c"]
    assert tables[1].names == ["0", "1", "2"]
    one = load_table(tmp_path / "one.npy")
    assert one.names == ["0"] and one.values.shape == (50, 1)
    # the same columns by name or by index give the same stream
    s1 = load_stream(csv_path, inputs="a,c", targets="b")
    s2 = load_stream(tmp_path / "t.npy", inputs="0,2", targets="1")
    for key in ("x", "target", "truth", "naive"):
        np.testing.assert_array_equal(getattr(s1, key), getattr(s2, key))
    assert select_columns(tables[0], "c,0") == [2, 0]


def test_forecast_and_regression_streams(tmp_path):
    v = three_columns(100)
    path = write_csv(tmp_path / "s.csv", ["a", "b", "c"], v)
    H = 3
    f = load_stream(path, inputs="a,b", horizon=H, max_steps=80)
    assert (f.mode, f.d, f.k, f.steps, f.horizon) == ("forecast", 2, 2, 80, H)
    # normalised from the first 10 % of the 81 rows used, with signals' own function
    off, sc = causal_normalization(v[:81, 0])
    xs = (v[:81, :2] - [off, causal_normalization(v[:81, 1])[0]]) / [sc, causal_normalization(v[:81, 1])[1]]
    np.testing.assert_allclose(f.x, xs[:-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(f.target, xs[1:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(f.truth, xs[H:], rtol=0, atol=1e-12)  # s_{t+H}
    np.testing.assert_allclose(f.naive, xs[:81 - H], rtol=0, atol=1e-12)
    assert f.normalization["a"] == {"offset": off, "scale": sc}
    r = load_stream(path, inputs="a,b", targets="c", max_steps=80)
    assert (r.mode, r.d, r.k, r.steps) == ("regression", 2, 1, 80)
    oc, scc = causal_normalization(v[:80, 2])
    np.testing.assert_allclose(r.target[:, 0], (v[:80, 2] - oc) / scc, rtol=0, atol=1e-12)  # at t
    np.testing.assert_array_equal(r.truth, r.target)
    assert r.naive[0, 0] == 0 and np.array_equal(r.naive[1:], r.target[:-1])


def test_single_column_stream_equals_the_signal_path(tmp_path):
    raw = synthetic_signal(4000, 30.0, 0)
    np.save(tmp_path / "syn.npy", raw)
    s = load_stream(tmp_path / "syn.npy", max_steps=300)
    x, target = forecasting_stream(load_signal("synthetic", max_steps=301))
    np.testing.assert_array_equal(s.x, x)
    np.testing.assert_array_equal(s.target, target)


def test_clamp_warning_counts(tmp_path, capsys):
    v = np.sin(np.arange(300) / 4.0)
    v[200:203] = 1e5  # far beyond +-128 after normalisation on the first 30 rows
    path = write_csv(tmp_path / "spike.csv", ["load"], v[:, None])
    s = load_stream(path)
    assert s.clamped_inputs == 3 and s.clamped_targets == 3
    assert "3 of 299 input values" in s.clamp_warning() and "+-128" in s.clamp_warning()
    rc = main(["run", "--board", "host", "--data", path, "--steps", "250", "--hidden", "4",
               "--out", str(tmp_path / "r"), "--json"])
    cap = capsys.readouterr()
    assert rc in (0, 1)
    warn = [ln for ln in cap.err.splitlines() if "WARNING" in ln]
    assert len(warn) == 1 and "3 of 250 input values" in warn[0] and "clamps" in warn[0]
    summary = json.loads(cap.out)
    assert summary["data_file"]["clamped_inputs"] == 3
    assert "WARNING" in (tmp_path / "r" / "report.md").read_text()  # device report (host)


# -- runs through the CLI --------------------------------------------------------------------
@pytest.mark.parametrize("board", ["float", "host"])
def test_multi_column_run(board, multi_csv, tmp_path, capsys):
    out = tmp_path / board
    rc = main(["run", "--board", board, "--data", multi_csv, "--inputs", "a,b,c", "--targets", "b,c",
               "--steps", "120", "--hidden", "8", "--out", str(out), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert s["data"] == "m.csv" and s["data_file"]["file"] == multi_csv
    assert s["inputs"] == ["a", "b", "c"] and s["targets"] == ["b", "c"]
    assert s["data_file"]["mode"] == "regression"
    assert set(s["normalization"]["columns"]) == {"a", "b", "c"}
    assert "first 12 rows" in s["normalization"]["from"]
    assert "channels" in s["baselines"] and set(s["baselines"]["channels"]) == {"b", "c"}
    from pyrtrl.core.model_file import load_model

    m = load_model(out / "model_after.npz")
    assert (m.d, m.k) == (3, 2)
    head = (out / "channels.csv").read_text().splitlines()[0]
    assert head == "step,target_0,prediction_0,naive_0,target_1,prediction_1,naive_1"
    assert len((out / "channels.csv").read_text().splitlines()) == 121
    report = (out / "report.md").read_text()
    assert "m.csv" in report
    for fig in ("learning_curve.png", "prediction_start.png", "prediction_end.png"):
        assert (out / fig).stat().st_size > 1000
    if board == "host":
        assert s["weights_match_host"] is True and s["mse_device_last"] > 0
        # the report's numbers come from the saved stream: the float learner on 2 channels
        rj = json.loads((out / "report.json").read_text())
        assert abs(rj["mse_device_last"] - s["mse_device_last"]) < 1e-9
        assert rj["mse_float_last"] > 0
    else:
        assert s["mse_learner_last"] < s["mse_naive_last"]  # an easy linear target


def test_single_column_data_equals_builtin_signal_on_host(tmp_path, capsys):
    """The same values through --data FILE and --signal give the same C run, bit for bit."""
    raw = synthetic_signal(4000, 30.0, 0)
    path = write_csv(tmp_path / "syn.csv", ["pulse"], raw[:, None])
    common = ["--board", "host", "--steps", "120", "--hidden", "4", "--json"]
    assert main(["run", "--data", path, "--out", str(tmp_path / "file"), *common]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["run", "--signal", "synthetic", "--out", str(tmp_path / "sig"), *common]) == 0
    b = json.loads(capsys.readouterr().out)
    for key in ("mse_device_last", "mse_naive_last", "first_loss", "final_loss", "macs_per_step"):
        assert a[key] == b[key], key
    assert a["baselines"]["rls"]["mse_last"] == b["baselines"]["rls"]["mse_last"]
    wa = np.load(tmp_path / "file" / "model_after.npz")
    wb = np.load(tmp_path / "sig" / "model_after.npz")
    for name in ("W_u", "R_g", "W_o", "b_o"):
        np.testing.assert_array_equal(wa[name], wb[name])
    ta = (tmp_path / "file" / "telemetry.csv").read_text()
    assert ta == (tmp_path / "sig" / "telemetry.csv").read_text()


def test_multi_column_on_a_board_matches_host(multi_csv, tmp_path, capsys):
    """A board's firmware is built for the stream's d and k: 2 inputs, 2 targets on
    mps2-an386 under QEMU, weights bit-identical to the host C library (about 10 s)."""
    require_board("mps2-an386")
    out = tmp_path / "an386"
    rc = main(["run", "--board", "mps2-an386", "--data", multi_csv, "--inputs", "a,b",
               "--steps", "60", "--hidden", "6", "--out", str(out), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 0 and s["weights_match_host"] is True and s["frames_bad"] == 0
    assert s["inputs"] == s["targets"] == ["a", "b"] and s["qemu_exit_status"] == 0
    assert len((out / "channels.csv").read_text().splitlines()) == 61
    assert (out / "report.md").is_file()


def test_a_text_column_left_out_with_inputs_is_fine(tmp_path):
    """A time-stamp column (text) may sit in the file as long as no run selects it."""
    rows = [[f"2024-01-{i % 28 + 1:02d}T00:00", repr(float(np.sin(i / 5.0)))] for i in range(200)]
    p = write_csv(tmp_path / "t.csv", ["time", "v"], rows)
    s = load_stream(p, inputs="v")
    assert s.inputs == ["v"] and s.steps == 199
    with pytest.raises(PyrtrlError, match=r"non-numeric value '2024-01-01T00:00' at row 1, column 0 \('time'\)"):
        load_stream(p)  # every column by default: the text one too
    with pytest.raises(PyrtrlError, match="choose the numeric columns with --targets"):
        load_stream(p, inputs="v", targets="time")
