"""``pyrtrl bench --all --quick``: docs/benchmarks.md regenerates and checks itself (issue 6)."""

import shutil

from pyrtrl.benchdoc import MIN_EXPONENT_GAP, check_outputs, fit_exponent, parse_tables
from pyrtrl.boards import get_board
from pyrtrl.cli import main


def test_bench_all_quick(tmp_path, capsys):
    have_qemu = all(shutil.which(t) for t in (get_board("mps2-an386").qemu, "make", "arm-none-eabi-gcc"))
    out = tmp_path / "docs"
    rc = main(["bench", "--all", "--quick", "--out", str(out), "--work", str(tmp_path / "work"), "--json"])
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

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    table = (root / "docs" / "benchmarks_readme_table.md").read_text().strip()
    start = readme.index("<!-- benchmarks table")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- end of benchmarks table -->")].strip()
    assert block == table
    doc = (root / "docs" / "benchmarks.md").read_text()
    import re

    for num in re.findall(r"\d+(?:\.\d+)?(?:e[+-]\d+)?", table):
        assert num in doc, num
