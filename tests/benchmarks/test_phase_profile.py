"""tools/phase_profile.py: the per-phase instruction split of a learning step under QEMU adds
up exactly to the whole step's count (the plugin pyrtrl run uses, loaded beside it), every
phase of a step with a forecast does work, the per-phase MACs add up to the device's own MAC
counter, and the profiled device still learns bit for bit as the host C library."""

import importlib.util
from pathlib import Path

from needs import require_board


ROOT = Path(__file__).resolve().parents[2]
BOARD = "mps2-an386"


def _tool():
    spec = importlib.util.spec_from_file_location("phase_profile", ROOT / "tools" / "phase_profile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _need() -> None:
    require_board(BOARD, "cc", "arm-none-eabi-nm", why="to profile the step by phase")


def test_phases_add_up_to_the_step(tmp_path):
    _need()
    pp = _tool()
    # horizon 8: the step runs every phase, the forecast included
    config = next(c for c in pp.CONFIGS if c[0] == "horizon 8")
    r = pp.profile(BOARD, config, steps=40, warmup=10, work=tmp_path)
    assert r["split_equals_total"], "the phases' counts do not add up to stepcount.so's per step"
    assert r["weights_match_host"]
    assert set(r["phases"]) == set(pp.PHASE_NAMES)
    for p in pp.PHASE_NAMES:
        assert r["phase_nonzero_steps"][p] == 30, f"phase {p} ran no instruction in some step"
    total = sum(r["phases"].values())
    assert abs(total - r["instructions_per_step"]) <= 1e-6 * total
    # the influence update and the cell gradient are where the products are
    assert "rtrl_row_update" in r["functions_per_step"]["influence"]
    assert "rtrl_grad_row" in r["functions_per_step"]["readout+gradient"]
    assert r["macs"]["influence"] > 0 and r["macs"]["forecast"] > 0
    assert abs(sum(r["macs"].values()) - r["macs_per_step"]) <= 1e-6 * r["macs_per_step"]



def test_benchmarks_md_has_the_rendered_phase_section():
    """docs/benchmarks.md's per-phase section is what benchdoc renders from
    docs/bench/phase_profile.json (so pyrtrl bench --all keeps it), its tables parse, and
    every measured row added up and stayed bit-exact."""
    import json

    from pyrtrl.benchmarks.document import parse_tables, phase_profile_md, splice_section

    js = ROOT / "docs" / "bench" / "phase_profile.json"
    md = (ROOT / "docs" / "benchmarks.md").read_text()
    section = phase_profile_md(js)
    assert section in md
    assert splice_section(md, section) == md
    rows = json.loads(js.read_text())["rows"]
    assert rows and all(r["split_equals_total"] and r["weights_match_host"] for r in rows)
    boards = {r["board"] for r in rows}
    assert {"mps2-an386", "microbit"} <= boards
    tables = parse_tables(section)
    same = json.loads(js.read_text()).get("same_model")
    assert len(tables) == len(boards) + 1 + bool(same and same.get("rows"))
