"""``pyrtrl bench --quality``: learning quality beside cost, and the baselines, in one run."""

import json

from pyrtrl.cli import main
from pyrtrl.quality import evaluate


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


def test_sparsity_costs_fewer_macs_at_similar_error():
    dense = evaluate("ppg", hidden=16, density=1.0, eps=1.0, max_samples=500)
    sparse = evaluate("ppg", hidden=16, density=0.2, eps=0.2, max_samples=500)
    assert sparse["macs_per_step"] * 5 < dense["macs_per_step"]
    assert sparse["ratio"] < 1.0 and dense["ratio"] < 1.0
