"""A short fuzzing run of the C runtime (runtime_c/fuzz/fuzz_rtrl.c): libFuzzer under
ASan+UBSan when clang has it, else the seeded random driver under gcc's sanitizers.
The long campaign (`make -C runtime_c fuzz`, 10^6 executions per width) is in
docs/reliability.md."""

import subprocess
from pathlib import Path

from needs import require

RUNTIME = Path(__file__).resolve().parents[2] / "runtime_c"


def test_fuzz_short():
    require("make", "gcc", why="the fuzz harness: libFuzzer under clang, else a seeded driver under gcc")
    r = subprocess.run(["make", "-s", "-C", str(RUNTIME), "fuzz-short", "FUZZ_SECONDS=2"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if "0 findings" in ln]
    assert len(lines) == 2, r.stdout  # both influence-matrix widths
