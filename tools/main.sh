#!/usr/bin/env bash
# The main job from a fresh clone: installs what is missing (Debian's Arm toolchain and QEMU
# when run as root, else one line saying what to install; the Python packages into .venv),
# builds the learner firmware, boots the default board (mps2-an386) under QEMU, streams the
# recorded PPG signal to it, lets it learn online, and writes the run directory with its
# report to runs/latest (report.md). Extra arguments go to `pyrtrl run` (see --help), e.g.
# --board microbit, --steps 500, --board float for the host float learner.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
source tools/system_deps.sh
system_deps main
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/pyrtrl run --out runs/latest "$@"
