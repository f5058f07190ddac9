"""Divergence and saturation are never silent: status and messages for every case."""

import math

from pyrtrl.core.health import DIVERGED_RATIO, assess


def test_ok():
    assert assess(0.12, 0, 100) == {"status": "ok", "messages": []}
    assert assess(None) == {"status": "ok", "messages": []}


def test_worse_than_naive_is_a_warning():
    h = assess(1.3)
    assert h["status"] == "warning" and "worse than repeating" in h["messages"][0]


def test_diverged():
    for r in (DIVERGED_RATIO * 1.01, math.inf, math.nan):
        h = assess(r)
        assert h["status"] == "diverged", r
        assert "diverged" in h["messages"][0]


def test_saturation_is_reported_with_its_rate():
    h = assess(0.2, saturations=50, steps=100)
    assert h["status"] == "warning"
    assert "50 values saturated" in h["messages"][0] and "0.5 per step" in h["messages"][0]
    assert assess(8.0, saturations=5, steps=10)["status"] == "diverged"


def test_a_device_run_that_saturates_says_so(tmp_path, capsys):
    """lr 100 drives the weights onto their rails: the summary, --json, the text output and
    report.md all say so (the run itself still completes)."""
    import json

    from pyrtrl.cli import main

    rc = main(["run", "--board", "host", "--steps", "300", "--lr", "100", "--readout-rule",
               "gradient", "--out", str(tmp_path / "r"), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert s["health"]["status"] in ("warning", "diverged")
    assert any("saturated" in m for m in s["health"]["messages"])
    assert rc == 0 or not s["weights_match_host"]
    report = (tmp_path / "r" / "report.md").read_text()
    assert "saturated" in report
    main(["report", str(tmp_path / "r")])
    main(["run", "--board", "host", "--steps", "300", "--lr", "100", "--readout-rule", "gradient",
          "--out", str(tmp_path / "r2")])
    out = capsys.readouterr().out
    assert "saturated" in out and ("WARNING" in out or "DIVERGED" in out)
