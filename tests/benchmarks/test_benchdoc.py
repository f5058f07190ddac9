"""``pyrtrl bench --all --quick``: docs/benchmarks.md regenerates and checks itself (issue 6)."""

import shutil

from pyrtrl.benchmarks.document import MIN_EXPONENT_GAP, check_outputs, fit_exponent, parse_tables
from pyrtrl.boards import get_board
from pyrtrl.cli import main


def test_bench_all_quick(tmp_path, capsys):
    have_qemu = all(shutil.which(t) for t in (get_board("mps2-an386").qemu, "make", "arm-none-eabi-gcc"))
    out = tmp_path / "docs"
    # the quality part has its own test (tests/benchmarks/test_quality.py); here only that --all runs it
    rc = main(["bench", "--all", "--quick", "--no-quality", "--out", str(out), "--work", str(tmp_path / "work"),
               "--json"])
    problems = check_outputs(str(out), require_device=have_qemu)
    assert problems == [], problems
    assert rc == 0
    # the growth criterion, recomputed from the printed growth table
    md = (out / "benchmarks.md").read_text()
    growth = next(t for t in parse_tables(md) if t[0][:2] == ["n", "MACs full"])
    n = [int(r[0]) for r in growth[1:]]
    dense = [float(r[2]) for r in growth[1:]]
    sparse = [float(r[3]) for r in growth[1:]]
    assert fit_exponent(n, dense) - fit_exponent(n, sparse) >= MIN_EXPONENT_GAP


def test_parse_tables_rejects_ragged():
    import pytest

    assert parse_tables("| a | b |\n|---|---|\n| 1 | 2 |\n") == [[["a", "b"], ["1", "2"]]]
    with pytest.raises(ValueError):
        parse_tables("| a | b |\n|---|---|\n| 1 |\n")


def test_readme_table_is_the_benchmark_run():
    """Every number in README's performance table comes from docs/benchmarks.md's run."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    table = (root / "docs" / "benchmarks_readme_table.md").read_text().strip()
    start = readme.index("<!-- benchmarks table")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- end of benchmarks table -->")].strip()
    assert block == table
    doc = (root / "docs" / "benchmarks.md").read_text()
    import re

    for num in re.findall(r"\d+(?:\.\d+)?(?:e[+-]\d+)?", table):
        assert num in doc, num


def test_bench_all_runs_the_quality_part_too(tmp_path, monkeypatch, capsys):
    """Every figure of cost is read next to one of quality: --all also writes quality.md."""
    import json

    import pyrtrl.benchmarks.document
    import pyrtrl.benchmarks.quality

    calls = []
    monkeypatch.setattr(pyrtrl.benchmarks.document, "regenerate",
                        lambda out, **kw: calls.append(("cost", out, kw["quick"])) or
                        {"timings": {}, "growth": {"exp_dense": 3.0, "exp_sparse": 2.0, "criterion_met": True}})
    monkeypatch.setattr(pyrtrl.benchmarks.quality, "regenerate",
                        lambda out, **kw: calls.append(("quality", out, kw["quick"])) or [f"{out}/quality.md"])
    assert main(["bench", "--all", "--quick", "--out", str(tmp_path), "--json"]) == 0
    assert calls == [("cost", str(tmp_path), True), ("quality", str(tmp_path), True)]
    assert json.loads(capsys.readouterr().out)["quality_files"] == [f"{tmp_path}/quality.md"]
    calls.clear()
    assert main(["bench", "--all", "--quick", "--no-quality", "--out", str(tmp_path), "--json"]) == 0
    assert [c[0] for c in calls] == ["cost"]
    assert main(["bench", "--no-quality"]) != 0  # only with --all: one line, not a run
