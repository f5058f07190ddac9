"""``pyrtrl bench --quality``: learning quality beside cost, and the baselines, in one run."""

import json

from pyrtrl.cli import main
from pyrtrl.benchmarks.quality import evaluate


def test_quick_quality_writes_the_document(tmp_path, capsys):
    rc = main(["bench", "--quality", "--quick", "--out", str(tmp_path), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    md = (tmp_path / "quality.md").read_text()
    res = json.loads((tmp_path / "bench" / "quality.json").read_text())
    assert (tmp_path / "bench" / "quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(tmp_path / "quality.md") in summary["files"]
    # every horizon row has its frozen-cell twin, and the baselines of its stream
    rows = res["horizons"]
    assert {r["train"] for r in rows} == {"all", "readout"}
    for r in rows:
        assert 0 < r["ratio"] < 1.0, r  # the learner beats naive on every quick run
        assert f"{r['signal']}/{r['horizon']}" in res["baselines"]
    assert "| ppg | 1 |" in md and "NLMS" in md and "RLS" in md
    assert all(r["macs_per_step"] > 0 for r in res["frontier"])
    # both optimizers beside the frozen cell, with and without input taps
    assert {r["optimizer"] for r in rows if r["train"] == "all"} == {"sgd", "adam"}
    nt = res["no_taps"]
    assert {(r["train"], r["optimizer"]) for r in nt} >= {("all", "sgd"), ("all", "adam")}
    assert all(r["taps"] == 0 for r in nt) and "Without input taps" in md
    # the RTRL gain across seeds: every configuration has each seed with and without the cell
    sd = res["seeds"]
    assert len({r["seed"] for r in sd}) >= 2 and "across seeds" in md
    for r in sd:
        assert sum(1 for q in sd if (q["signal"], q["seed"], q["optimizer"], q["lr"], q["taps"], q["density"])
                   == (r["signal"], r["seed"], r["optimizer"], r["lr"], r["taps"], r["density"])) == 2
    assert res["device"] == [] and "were not measured in this run" in md  # --quick skips QEMU
    # the headroom: random-feature forecasters on every quick stream, and its table
    assert {(r["signal"], r["horizon"]) for r in res["headroom"]} == {(r["signal"], r["horizon"]) for r in rows}
    assert all(r["ratio"] > 0 for r in res["headroom"]) and "How much room a trained cell has" in md


def test_sparsity_costs_fewer_macs_at_similar_error():
    dense = evaluate("ppg", hidden=16, density=1.0, eps=1.0, max_samples=500)
    sparse = evaluate("ppg", hidden=16, density=0.2, eps=0.2, max_samples=500)
    assert sparse["macs_per_step"] * 5 < dense["macs_per_step"]
    assert sparse["ratio"] < 1.0 and dense["ratio"] < 1.0


def test_device_cost_prices_a_configuration_in_instructions():
    """The frontier's device column: exact instructions per step under QEMU, the device's
    weights equal to the host's, and a model too big for the board reported, not run."""
    from needs import require_board

    from pyrtrl.benchmarks.quality import DEVICE_BOARD, device_cost, device_note, frontier_table

    require_board(DEVICE_BOARD)
    small = device_cost(16, 0.2, 0.2, steps=6)
    assert small["fits"] and small["weights_match_host"] is True
    assert 1e3 < small["instructions_per_step"] < 1e7
    huge = device_cost(120, 1.0, 1.0, steps=6)  # ~10 MB of influence: not on a 4 MB board
    assert huge["fits"] is False and "instructions_per_step" not in huge
    res = {"device": [small, huge], "baselines": {"ppg/1/frontier": {"nlms": {"ratio": 0.4}, "rls": {"ratio": 0.1}}},
           "frontier": [dict(signal="ppg", hidden=16, density=0.2, eps=0.2, macs_per_step=1e4, ratio=0.12),
                        dict(signal="ppg", hidden=120, density=1.0, eps=1.0, macs_per_step=1e8, ratio=0.12)]}
    _, rows = frontier_table(res)
    assert rows[0][5] == f"{small['instructions_per_step']:.3g}" and rows[1][5].startswith("does not fit")
    assert "1 of 1 equal" in device_note(res)


def test_growth_fits_the_exponent_of_each_configuration():
    from pyrtrl.benchmarks.quality import growth
    from pyrtrl.core.rtrl_dense import dense_step_macs

    rows = [dict(signal="ppg", hidden=n, density=0.2, eps=0.2, macs_per_step=3.0 * n ** 2.5, params=4 * n * n)
            for n in (16, 32, 64)]
    rows.append(dict(signal="ppg", hidden=16, density=1.0, eps=1.0, macs_per_step=1e6, params=900))  # one size: no fit
    rows.append(dict(signal="ppg-long", hidden=8, density=0.2, eps=0.2, macs_per_step=1.0, params=10))  # other signal
    (g,) = growth({"frontier": rows[:3] + rows[4:], "growth_extra": [rows[3]]})
    assert g["hidden"] == [16, 32, 64] and abs(g["exp_sparse"] - 2.5) < 1e-9
    dense = [sum(dense_step_macs(n, 1, 4 * n * n)) for n in (16, 32, 64)]
    assert g["macs_dense"] == dense and 3.5 < g["exp_dense"] < 4.0  # n^2 P with P ~ n^2
    assert abs(g["gap"] - (g["exp_dense"] - 2.5)) < 1e-12
