"""README's main command, short variant, end to end: install, build, QEMU, learn, report."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_main_job_short_variant(tmp_path):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        if os.environ.get("CI"):
            pytest.fail("CI lacks QEMU or the Arm toolchain: .ci/run must install them")
        pytest.skip("MISSING TOOLS: apt-get install qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi")
    out = tmp_path / "run"
    r = subprocess.run(["bash", str(ROOT / "tools" / "main.sh"), "--steps", "300", "--out", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["board"] == "mps2-an386" and summary["steps"] == 300
    assert summary["weights_match_host"] and summary["frames_bad"] == 0
    assert summary["qemu_exit_status"] == 0
    for name in ("report.md", "report.json", "learning_curve.png", "memory.png", "telemetry.csv"):
        assert (out / name).stat().st_size > 0, name
