"""``pyrtrl bench``: the headline configuration meets the issue's cost targets, measured in one run."""

import json

import numpy as np

from pyrtrl.benchmarks.bench import BenchRow, bench_config, grid, run_bench
from pyrtrl.cli import main
from pyrtrl.core.kernels import HAVE_C_KERNELS
from pyrtrl.deploy.runtime import KERNEL_NAMES

KEYS = {"hidden", "density", "eps", "shared_mask", "params", "fwd_activity", "bwd_activity",
        "macs_full", "macs_dense", "macs_sparse", "us_dense", "us_sparse", "influence_bytes",
        "bptt_bytes_T1000", "final_loss", "us_c_sparse", "us_c_dense", "c_kernel"}


def test_headline_configuration():
    """n = 64, density 0.2, eps 0.2, shared masks, after brief training that visibly learned.

    Counts only: wall-time ratios depend on the host's CPU and load, so they are printed by
    the benchmark beside their same-run baseline (docs/benchmarks.md), never asserted here."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        row = bench_config(64, 0.2, 0.2, True)
    assert row.final_loss < 0.5 * row.initial_loss, "the net did not learn in the brief training"
    assert row.macs_full / row.macs_sparse >= 70
    assert row.macs_dense / row.macs_sparse >= 15
    assert 0 < row.fwd_activity < row.bwd_activity < 1
    assert row.bptt_bytes_T1000 > 0 and row.influence_bytes == 64 * (row.params - 2 * 64 - 2) * 8
    assert row.us_dense > 0 and row.us_sparse > 0
    if HAVE_C_KERNELS:
        assert row.us_c_sparse > 0 and row.us_c_dense > 0


def test_grid_filters():
    assert len(grid()) == 3 * 4 * 3 * 2
    g = grid(hidden=[16], density=[0.5], eps=[0.2, 1.0], masks=["shared"])
    assert g == [(16, 0.5, 0.2, True), (16, 0.5, 1.0, True)]


def test_cli_bench_quick_json(capsys):
    rc = main(["bench", "--quick", "--hidden", "16", "--density", "0.5", "--eps", "0.5", "--json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["shared_mask"] for r in rows} == {False, True}
    for r in rows:
        assert KEYS <= set(r)
        assert r["macs_full"] >= r["macs_dense"] > r["macs_sparse"] > 0
        assert np.isfinite(r["final_loss"])
        assert r["bptt_bytes_T1000"] == 1000 * (1 + 5 * 16) * 8
        assert r["c_kernel"] in KERNEL_NAMES  # which runtime_c kernel was timed


def test_run_bench_rows_are_dicts():
    rows = run_bench([(8, 1.0, 1.0, False)], quick=True, progress=False)
    assert set(rows[0]) == set(BenchRow.__dataclass_fields__)


def test_cli_bench_text_names_the_kernel(capsys):
    from pyrtrl.deploy.runtime import kernel_name

    rc = main(["bench", "--quick", "--hidden", "8", "--density", "1", "--eps", "1", "--masks", "shared"])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"C runtime kernel: {kernel_name(32)} " in out, out
    assert "us C sp" in out
