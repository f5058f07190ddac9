"""README's main command, short variant, end to end: install, build, QEMU, learn, report."""

import json
import subprocess
from pathlib import Path

from needs import require_board

ROOT = Path(__file__).resolve().parents[1]


def test_main_job_short_variant(tmp_path):
    require_board("mps2-an386")
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
